"""Unicode that hides things is taken out of user text; the files written round-trip any text."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialogue import Engine
from dialogue.llm.protocol import LLMRequest, LLMResponse, LLMSettings
from dialogue.runtime.hidden import sanitize
from dialogue.runtime.rules import prepare
from dialogue.stores.codec import dumps, loads
from dialogue.testing.cassette_file import _record, dump_cassette, load_cassette
from dialogue.testing.fake_llm import FakeLLM
from dialogue.testing.json_file import json_text, write_json

FLOWS = Path(__file__).resolve().parent.parent / "flows"

HIDDEN = (
    [chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"]
    + ["\x7f"]
    + [chr(c) for c in range(0x80, 0xA0)]
    + ["\u200b", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u200f", "\u061c"]
    + [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)]
    + ["\U000e0041", "\U000e007f"]
)
"""What never survives sanitize (U+0085 becomes a line break, the rest goes)."""

TRICKY = "\x85\u2028\u2029\r\t\ufeff\u200d\u200c\x9b\x00\ud800 #:'\"|>-\n"


def test_controls_invisible_and_bidi_characters_are_stripped() -> None:
    assert sanitize("pass\u200bword") == "password"
    assert sanitize("ref\u2060und\ufeff") == "refund"
    assert sanitize("\u202eevil\u202c txt\u2066x\u2069") == "evil txtx"
    assert sanitize("a\x9b31mred\x1b[0m") == "a31mred[0m"
    assert sanitize("line\x85two\r\nthree\rfour") == "line\ntwo\nthree\nfour"
    assert sanitize("tab\tand\nnewline") == "tab\tand\nnewline"
    assert sanitize("hi\U000e0069\U000e0067\U000e006e") == "hi"  # ASCII smuggling
    assert sanitize("bad \ud800 surrogate") == "bad ? surrogate"
    for char in HIDDEN:
        assert char not in sanitize(f"a{char}b{char}"), repr(char)


def test_joiners_stay_inside_emoji_and_scripts_and_go_elsewhere() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    rainbow = "\U0001f3f3\ufe0f\u200d\U0001f308"
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # "I want", with ZWNJ
    devanagari = "\u0915\u094d\u200d\u0937"
    for kept in (family, rainbow, persian, devanagari):
        assert sanitize(f"I am {kept}!") == f"I am {kept}!"
    assert sanitize("re\u200dfund \u200cx\u200d") == "refund x"
    assert sanitize("\u200d\U0001f468 \U0001f468\u200d") == "\U0001f468 \U0001f468"
    # rules match on a form with no joiner at all
    assert (
        prepare("\u0440\u0435\u200d\u0444\u0430\u043d\u0434").folded
        == "\u0440\u0435\u0444\u0430\u043d\u0434"
    )
    assert prepare(family).nfkc == family.replace("\u200d", "")
    assert prepare(family).raw == family


@given(st.text(alphabet=st.one_of(st.characters(codec=None), st.sampled_from(TRICKY))))
def test_sanitized_text_has_nothing_hidden_and_is_stable(text: str) -> None:
    clean = sanitize(text)
    assert not any(char in clean for char in HIDDEN)
    assert sanitize(clean) == clean
    clean.encode("utf-8")  # never raises


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with FakeLLM() as llm:
        yield llm


def test_hidden_characters_never_reach_matching_history_llm_or_trace(fake: FakeLLM) -> None:
    engine = Engine.from_path(FLOWS / "customer_service.yaml", llm=fake.client)
    engine.start("s")
    r = engine.handle("s", "I want a re\u200bfund\u202e\x9b")
    assert r.trace.rule == "intent" and r.trace.intent == "return"
    fake.script({"intent": None, "slots": {}, "reply": None})
    engine.handle("s", "\u2066the thing\u2069 I bought\x85never \ufeffshowed up\u200b")
    session = engine.session("s")
    assert session is not None
    said = json.dumps(engine.export("s"), ensure_ascii=False)
    sent = json.dumps(fake.server.requests, ensure_ascii=False)
    assert len(fake.server.requests) == 1 and "showed up" in sent
    for text in (said, sent, "".join(session.history)):
        assert not any(char in text for char in HIDDEN), text
    assert "the thing I bought\nnever showed up" in session.history


SETTINGS = LLMSettings(model="gpt-test")


def _exchange(text: str, answer: str) -> tuple[LLMRequest, LLMResponse]:
    messages = ({"role": "system", "content": "sys"}, {"role": "user", "content": text})
    request = LLMRequest(messages, SETTINGS, None)
    return request, LLMResponse(answer, None, None, None, "m", 0.0, "stop")


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    user=st.text(alphabet=st.one_of(st.characters(codec=None), st.sampled_from(TRICKY))),
    answer=st.text(alphabet=st.one_of(st.characters(codec=None), st.sampled_from(TRICKY))),
)
def test_a_cassette_gives_back_any_text_exactly(tmp_path: Path, user: str, answer: str) -> None:
    path = tmp_path / "c.yaml"
    request, response = _exchange(user, answer)
    path.write_text(dump_cassette({"k": _record(request, response)}), encoding="utf-8")
    found, _ = load_cassette(path)
    (interaction,) = found.values()
    assert interaction.request.messages[1]["content"] == user
    assert interaction.response.content == answer


def test_a_recorded_next_line_or_line_separator_replays(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    for text in ("a\x85b", "x\ny\x85", "a\u2028b\nc", "plain\x85", "\u2029"):
        request, response = _exchange(text, text)
        path.write_text(dump_cassette({"k": _record(request, response)}), encoding="utf-8")
        (interaction,) = load_cassette(path)[0].values()
        assert interaction.request.messages[1]["content"] == text
        assert interaction.response.content == text
    assert '"a\\Lb\\nc"' not in path.read_text(encoding="utf-8")  # the last one written
    assert '"\\P"' in path.read_text(encoding="utf-8")


@given(st.text(alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from(TRICKY[:-2]))))
def test_a_stored_session_gives_back_any_text(text: str) -> None:
    data = {"history": [text, sanitize(text)], "meta": {text: text}}
    assert loads(dumps(data).encode("utf-8")) == data


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.one_of(st.characters(codec=None), st.sampled_from(TRICKY))))
def test_a_json_report_gives_back_any_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "report.json"
    write_json(path, {"said": [text], text: 1})
    assert json.loads(path.read_bytes().decode("utf-8")) == {"said": [text], text: 1}


def test_a_json_report_keeps_readable_text_unless_it_cannot() -> None:
    assert (
        json_text({"a": "caf\u00e9 \u4f60\u597d \x85"})
        == '{\n  "a": "caf\u00e9 \u4f60\u597d \x85"\n}\n'
    )
    assert json_text({"a": "\ud800"}) == '{\n  "a": "\\ud800"\n}\n'


@pytest.mark.parametrize("text", ["1e3", "0o17", "+.5E2", ".inf", "null", "True", "42"])
def test_a_recorded_text_that_reads_as_a_number_replays_as_text(tmp_path: Path, text: str) -> None:
    # PyYAML's YAML 1.1 dumper writes '1e3' and '0o17' unquoted; this package reads
    # YAML 1.2, where they are numbers: they must be quoted to come back as text
    path = tmp_path / "c.yaml"
    request, response = _exchange(text, text)
    path.write_text(dump_cassette({"k": _record(request, response)}), encoding="utf-8")
    (interaction,) = load_cassette(path)[0].values()
    assert interaction.request.messages[1]["content"] == text
    assert interaction.response.content == text
