"""What the engine logs about a conversation: no user data by default, redacted always.

Each test drives one path that used to put user data in a log line (an LLM error
body, an action's exception, a failed turn, a cassette miss) and checks the log.
"""

from __future__ import annotations

import ast
import asyncio
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dialogue import Engine, FlowError, Redactor, compile_flows, parse_flow
from dialogue.llm.openai_client import OpenAIChatClient
from dialogue.testing import FakeChatServer, FakeReply
from dialogue.testing.cassette import CassetteClient

ROOT = Path(__file__).resolve().parent.parent
FLOWS = ROOT / "flows"
EMAIL, PHONE, ORDER = "jane@example.com", "+44 20 7946 0958", "AB123456"

Make = Callable[..., Engine]

LOOKUP = """
flow: lookup
start: menu
slots:
  email: {type: email, ask: "Your e-mail?"}
intents:
  find: {keywords: [find my order]}
states:
  menu:
    say: "Hi."
    on: {find: finding}
  finding:
    collect: [email]
    call: {action: find, with: {email: email}, into: found, on_error: menu}
    next:
      - say: "Found {{ found[email] }}."
        goto: menu
fallback:
  no_match: ["Pardon?"]
"""


def find_raising(email: str) -> dict[str, str]:
    raise LookupError(f"no order {ORDER} for {email}")


def find_nothing(email: str) -> dict[str, str]:
    return {}  # so the reply's found[email] fails to render, naming the e-mail


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], str]]:
    """Everything the dialogue logger wrote, formatted as a handler would, but for the
    turns' DEBUG lines (ids and outcomes only: tests/test_observe.py)."""
    with caplog.at_level(logging.DEBUG, logger="dialogue"):
        yield lambda: "\n".join(
            caplog.handler.format(r)
            for r in caplog.records
            if r.name == "dialogue" and r.module != "observe"
        )


def secrets_absent(text: str) -> None:
    for secret in (EMAIL, "7946", ORDER):
        assert secret not in text, f"{secret!r} in the log:\n{text}"


@pytest.fixture
def shop(client: OpenAIChatClient) -> Make:
    def make(**options: Any) -> Engine:
        options.setdefault("llm_settings", {"retries": 0, "timeout": 2.0})
        return Engine.from_path(FLOWS / "customer_service.yaml", llm=client, **options)

    return make


# --------------------------------------------------------------------------- the LLM


def test_an_llm_error_body_is_redacted(
    shop: Make, fake: FakeChatServer, logged: Callable[[], str]
) -> None:
    engine = shop()
    engine.start("s")
    body = {"error": {"message": f"Invalid content: user {EMAIL} (tel {PHONE}) is blocked"}}
    fake.script(FakeReply.error(400, body=body))
    r = engine.handle("s", "tell me a joke")
    assert r.trace.llm is not None and EMAIL in r.trace.llm.error  # the trace is the host's
    text = logged()
    secrets_absent(text)
    assert "LLM fallback failed in customer_service.menu: bad_request:" in text
    assert "400 - Invalid content: user [email] (tel [phone]) is blocked;" in text


def test_a_refusal_is_logged_by_kind_only(
    shop: Make, fake: FakeChatServer, logged: Callable[[], str]
) -> None:
    engine = shop()
    engine.start("s")
    fake.script(FakeReply.refusal(f"I can't discuss order {ORDER} with {EMAIL}."))
    engine.handle("s", "tell me a joke")
    assert logged().endswith(
        "LLM fallback failed in customer_service.menu: refusal (message withheld)"
    )
    secrets_absent(logged())


def test_a_cassette_miss_does_not_quote_the_user(
    tmp_path: Path, client: OpenAIChatClient, fake: FakeChatServer, logged: Callable[[], str]
) -> None:
    path = tmp_path / "cassette.yaml"
    fake.script(FakeReply.json({"intent": None, "slots": {}, "reply": "Ha."}))
    recorder = Engine.from_path(
        FLOWS / "customer_service.yaml", llm=CassetteClient(client, path, mode="record")
    )
    recorder.start("s")
    recorder.handle("s", "tell me a joke")
    player = CassetteClient(None, path)
    engine = Engine.from_path(FLOWS / "customer_service.yaml", llm=player)
    engine.start("s")
    r = engine.handle("s", f"I am {EMAIL}, order {ORDER}, call {PHONE}")
    assert r.trace.llm is not None and r.trace.llm.outcome == "failed"
    assert len(player.misses) == 1 and ORDER in str(player.misses[0])  # for the test writer
    text = logged()
    secrets_absent(text)
    assert "I am" not in text
    assert text.endswith("cassette_miss (message withheld)")


# --------------------------------------------------------------------------- actions


@pytest.mark.parametrize("threads", [True, False])
def test_an_action_failure_is_logged_by_type(
    make_engine: Make, logged: Callable[[], str], threads: bool
) -> None:
    engine = make_engine(LOOKUP, actions={"find": find_raising}, action_threads=threads)
    engine.handle("s", "find my order")
    r = engine.handle("s", EMAIL)
    assert r.trace.errors == [f"action 'find': raised LookupError: no order {ORDER} for {EMAIL}"]
    text = logged()
    secrets_absent(text)
    assert text.endswith("action 'find': raised LookupError (message withheld)")


def test_an_async_action_failure_is_logged_by_type(
    make_engine: Make, logged: Callable[[], str]
) -> None:
    engine = make_engine(LOOKUP, actions={"find": find_raising})

    async def talk() -> None:
        await engine.ahandle("s", "find my order")
        await engine.ahandle("s", EMAIL)

    asyncio.run(talk())
    secrets_absent(logged())
    assert logged().endswith("action 'find': raised LookupError (message withheld)")


def test_log_user_data_logs_the_message_redacted(
    make_engine: Make, logged: Callable[[], str]
) -> None:
    redactor = Redactor([r"\b[A-Z]{2}\d{6}\b"])
    engine = make_engine(
        LOOKUP, actions={"find": find_raising}, redactor=redactor, log_user_data=True
    )
    engine.handle("s", "find my order")
    engine.handle("s", EMAIL)
    text = logged()
    secrets_absent(text)
    assert text.endswith("action 'find': raised LookupError: no order [redacted] for [email]")


# --------------------------------------------------------------------------- failed turns


def test_a_failed_turn_logs_the_traceback_without_messages(
    make_engine: Make, logged: Callable[[], str]
) -> None:
    engine = make_engine(LOOKUP, actions={"find": find_nothing})
    engine.handle("+15551234567", "find my order")
    r = engine.handle("+15551234567", EMAIL)
    assert r.trace.rule == "error" and EMAIL in r.trace.errors[0]
    text = logged()
    secrets_absent(text)
    assert "+15551234567" not in text
    [first] = [line for line in text.splitlines() if "turn failed" in line]
    assert first.endswith(
        "turn failed for session '[phone]': "
        "RenderError in 'Found {{ found[email] }}.' (message withheld)"
    )
    assert "Traceback (most recent call last):" in text
    assert "jinja2.exceptions.UndefinedError (message withheld)" in text
    assert "dialogue.errors.RenderError (message withheld)" in text


def test_a_failed_turn_with_log_user_data_is_redacted(
    make_engine: Make, logged: Callable[[], str]
) -> None:
    engine = make_engine(LOOKUP, actions={"find": find_nothing}, log_user_data=True)
    engine.handle("s", "find my order")
    engine.handle("s", EMAIL)
    text = logged()
    secrets_absent(text)
    assert "UndefinedError: 'dict object' has no attribute '[email]'" in text


def test_a_failed_turn_record_has_no_exception_object(
    make_engine: Make, caplog: pytest.LogCaptureFixture
) -> None:
    """Handlers that read exc_info themselves (error trackers) get no raw exception."""
    engine = make_engine(LOOKUP, actions={"find": find_nothing})
    engine.handle("s", "find my order")
    with caplog.at_level(logging.ERROR, logger="dialogue"):
        engine.handle("s", EMAIL)
    [record] = caplog.records
    assert record.levelname == "ERROR" and record.exc_info is None


# --------------------------------------------------------------------------- history


def test_history_keeps_the_text_by_default(make_engine: Make) -> None:
    engine = make_engine(LOOKUP, actions={"find": find_raising}, history_turns=4)
    engine.handle("s", "find my order")
    engine.handle("s", f"it's {EMAIL}, call {PHONE}")
    history = engine.session("s").history  # type: ignore[union-attr]
    assert f"it's {EMAIL}, call {PHONE}" in history


def test_redact_history_stores_it_redacted(make_engine: Make) -> None:
    redactor = Redactor([r"\b[A-Z]{2}\d{6}\b"])
    engine = make_engine(
        LOOKUP,
        actions={"find": find_raising},
        history_turns=4,
        redact_history=True,
        redactor=redactor,
    )
    engine.handle("s", f"find my order {ORDER}")
    engine.handle("s", f"it's {EMAIL}, call {PHONE}")
    session = engine.session("s")
    assert session is not None
    assert session.history[0] == "find my order [redacted]"
    assert session.history[2] == "it's [email], call [phone]"
    assert session.slots["email"] == EMAIL  # slots keep what the flow needs
    secrets_absent("\n".join(session.history))


def test_redact_history_reaches_the_llm_redacted(shop: Make, fake: FakeChatServer) -> None:
    engine = shop(redact_history=True)
    fake.script(FakeReply.json({"intent": None, "slots": {}, "reply": "Noted."}))
    engine.start("s")
    engine.handle("s", f"my e-mail is {EMAIL}")
    fake.script(FakeReply.json({"intent": None, "slots": {}, "reply": "Sure."}))
    engine.handle("s", "and tell me a joke")
    messages = fake.requests[-1]["messages"]
    assert {"role": "user", "content": "my e-mail is [email]"} in messages
    assert EMAIL not in str(messages)


# --------------------------------------------------------------------------- every log call


LOG_CALLS = {
    "engine.py": 3,  # offline notice; saved meanwhile (sync, async)
    "runtime/turn_setup.py": 1,  # a session restarted under changed flows
    "observe.py": 2,  # the turn's DEBUG line (no text, no slots); an observer failing
    "runtime/actions.py": 2,  # a failed action (sync, async faces)
    "runtime/llm_step.py": 3,  # a failed LLM call; a withheld (leaking) reply, without its
    # text; a user token count not corrected (the store's error: the user key, redacted)
    "runtime/results.py": 1,  # a failed turn
    "runtime/handoff.py": 1,  # a failed on_handoff hook: its type (message with log_user_data)
    "llm/openai_client.py": 1,  # a retry: how long it waits (no text)
    "llm/key_check.py": 1,  # a rejected API key: its HTTP status and a hint (no body)
    "nlu/cache.py": 1,  # a trained model that could not be saved (a folder, an OS error)
    "server/problems.py": 2,  # a 5xx answer: the engine error's code; an unexpected failure
}


def test_every_log_call_is_known() -> None:
    """A new log call in the package: check it carries no message text, slot value or
    action result (``Privacy``), say so in docs/embedding.md#privacy, then count it here."""
    found: dict[str, int] = {}
    for path in sorted((ROOT / "dialogue").rglob("*.py")):
        if "cli" in path.parts:  # the CLI talks to the person at the terminal
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in ("log", "logger", "logging")
                and node.func.attr in ("debug", "info", "warning", "error", "exception", "log")
            ):
                name = path.relative_to(ROOT / "dialogue").as_posix()
                found[name] = found.get(name, 0) + 1
    assert found == LOG_CALLS


def test_a_flow_lists_its_own_patterns_to_redact() -> None:
    text = """
flow: shop
start: menu
settings:
  redact: ['\\b[A-Z]{2}\\d{6}\\b', 'cust-\\d+']
states:
  menu: {say: hi}
"""
    bot = compile_flows([parse_flow(text, path="shop.yaml")])
    engine = Engine(bot, redactor=Redactor([r"TICKET-\d+"]))
    said = engine.redactor("order AB123456 of cust-77, TICKET-9, jane@example.com")
    assert said == "order [redacted] of [redacted], [redacted], [email]"
    assert Engine(bot).redactor("AB123456") == "[redacted]"


def test_a_flows_redact_pattern_is_checked_where_it_is_written() -> None:
    text = (
        "flow: f\nstart: s\nsettings:\n  redact: ['ok\\\\d+', '(?i)ord-\\\\d+']\n"
        "states:\n  s: {say: hi}\n"
    )
    with pytest.raises(FlowError) as error:
        parse_flow(text, path="f.yaml")
    assert str(error.value).startswith(
        "f.yaml:4:22: 'redact[1]' in the flow's settings: redact pattern '(?i)ord-\\\\d+' "
        "has a global flag; scope it"
    )
