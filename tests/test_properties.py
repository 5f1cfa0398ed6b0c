"""Properties that hold whatever the input (hypothesis).

* Flow files: the example flows mutated (lines deleted, doubled, swapped,
  re-indented, cut; values replaced by YAML's surprises; YAML syntax inserted)
  and random YAML documents are loaded and validated as ``dialogue validate``
  does; nothing but a ``DialogueError`` comes out.
* Conversations: random messages (keywords of the flow, random Unicode, both
  mixed) against the example flows, with a fake LLM (a real loopback Chat
  Completions server) answering at random (intents of any state or none, slots
  of any name and type, replies, garbage, HTTP errors, refusals, the prompt
  echoed): no turn raises, the session is always in a state of its flow, its
  pending slot and stack name what exists, and every declared slot holds a value
  of its declared type.

Example counts are modest, so each test takes a few seconds.
"""

from __future__ import annotations

import datetime
import json
import shutil
import uuid
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dialogue import DialogueError, Engine, compile_flows, load_flows
from dialogue.assemble import check_actions, flow_actions, nlu_trainer
from dialogue.llm.openai_client import OpenAIChatClient
from dialogue.runtime.actions import ActionRunner
from dialogue.session import Session
from dialogue.testing import FakeChatServer, FakeReply

ROOT = Path(__file__).resolve().parent.parent
FLOWS = ROOT / "flows"
EXAMPLES = ["customer_service.yaml", "restaurant.yaml"]
TALKS = {
    "customer_service.yaml": ("customer_service.yaml", "en"),
    "customer_service.yaml zh": ("customer_service.yaml", "zh"),  # one flow, two languages
    "restaurant.yaml": ("restaurant.yaml", "en"),
}
"""The conversations: a label -> the flow file and the language the host sets."""
TEXTS = {
    name: (FLOWS / name).read_text(encoding="utf-8") for name in [*EXAMPLES, "contact_details.yaml"]
}

# --------------------------------------------------------------------------- flow files

SURPRISES = [
    "true", "null", "~", "1.10", "0x1F", "1e3", "-1", "0", "99999999999999999999", ".nan",
    "''", '""', "[]", "{}", "[a, [b, {c: d}]]", "{{ 7*7 }}", "'{% for %}'", "*anchor",
    "&anchor x", "!!python/object/apply:os.system ['id']", "!!binary aGVsbG8=", "/dev/zero",
    "../../../../etc/passwd", "prompts/../../x.j2", "'(a+)+$'", "'\\1(?=x)'", "2026-13-45",
    "'x' * 9999999", "\"\\u0000\"", "|\n  block", ">-\n  folded", "? complex\n: key",
]  # fmt: skip
"""Values that YAML or the flow format read in surprising ways."""
TOKENS = [
    ": ",
    "- ",
    "{",
    "}",
    "[",
    "]",
    "&a ",
    "*a",
    "<<: *a\n",
    "'",
    '"',
    "\t",
    "#",
    "---\n",
    "%YAML 1.1\n",
    "!!str ",
    "? ",
    "|",
    ">",
    ",",
    "\\",
    "\u0085",
    "\u2028",
    "\ufeff",
]
"""YAML syntax to drop anywhere."""
ODD_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)


@st.composite
def mutated_flow(draw: st.DrawFn) -> tuple[str, str]:
    """An example flow file with one to three random edits."""
    name = draw(st.sampled_from(sorted(TEXTS)))
    lines = TEXTS[name].splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 3))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        kind = draw(
            st.sampled_from(
                ["delete", "double", "swap", "indent", "dedent", "cut", "value", "token", "char"]
            )
        )
        if kind == "delete":
            del lines[i]
        elif kind == "double":
            lines.insert(i, line)
        elif kind == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "indent":
            lines[i] = " " * draw(st.sampled_from([1, 2, 4])) + line
        elif kind == "dedent":
            lines[i] = line.lstrip(" ")
        elif kind == "cut":
            lines[i] = line[: draw(st.integers(0, len(line)))] + "\n"
        elif kind == "value" and ": " in line:
            value = draw(st.one_of(st.sampled_from(SURPRISES), ODD_TEXT))
            lines[i] = line[: line.index(": ") + 2] + value + "\n"
        else:
            at = draw(st.integers(0, len(line)))
            piece = draw(st.sampled_from(TOKENS)) if kind == "token" else draw(ODD_TEXT)
            lines[i] = line[:at] + piece + line[at:]
    return name, "".join(lines)


KEYS = [
    "flow",
    "start",
    "states",
    "slots",
    "intents",
    "say",
    "on",
    "next",
    "goto",
    "collect",
    "call",
    "fallback",
    "type",
    "values",
    "pattern",
    "keywords",
    "examples",
    "imports",
    "knowledge",
    "prompt",
    "if",
    "final",
    "settings",
    "llm",
    "mode",
    "ask",
    "invalid",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.sampled_from(KEYS),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20),
)
YAML_DATA = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), inner, max_size=5),
    ),
    max_leaves=25,
)


@st.composite
def random_yaml(draw: st.DrawFn) -> str:
    """A YAML document: random data (mostly a mapping of the format's keys), or any text."""
    kind = draw(st.sampled_from(["data", "flow-like", "text"]))
    if kind == "text":
        return draw(st.text(max_size=200))
    if kind == "data":
        return yaml.safe_dump(draw(YAML_DATA), allow_unicode=True)
    data = draw(st.dictionaries(st.sampled_from(KEYS), YAML_DATA, min_size=1, max_size=8))
    return yaml.safe_dump(data, allow_unicode=True)


@pytest.fixture(scope="module")
def flow_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of ``flows/`` (prompts, knowledge and actions beside the flows)."""
    target = tmp_path_factory.mktemp("flows") / "flows"
    shutil.copytree(FLOWS, target, ignore=shutil.ignore_patterns("tests", "eval"))
    shutil.copytree(ROOT / "prompts", target.parent / "prompts")
    return target


def validate(path: Path) -> None:
    """What ``dialogue validate`` does with a file."""
    loaded = load_flows(path)
    bot = compile_flows(loaded, trainer=nlu_trainer(path))
    if any(lf.flow.actions_module for lf in loaded):
        check_actions(bot, ActionRunner(flow_actions(loaded)))


def only_dialogue_errors(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        validate(path)
    except DialogueError:
        pass  # a broken flow is refused, with a position and a hint


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(mutant=mutated_flow())
def test_a_mutated_flow_file_gives_a_dialogue_error_or_loads(
    flow_dir: Path, mutant: tuple[str, str]
) -> None:
    name, text = mutant
    only_dialogue_errors(flow_dir / f"mutant_{name}", text)


@settings(max_examples=60)
@given(text=random_yaml())
def test_random_yaml_gives_a_dialogue_error(flow_dir: Path, text: str) -> None:
    only_dialogue_errors(flow_dir / "random.yaml", text)


def test_the_unmutated_examples_load(flow_dir: Path) -> None:
    """The control: the mutation test starts from flows that load."""
    for name in EXAMPLES:
        validate(flow_dir / name)


# --------------------------------------------------------------------------- conversations

WORDS = {
    "customer_service.yaml": [
        "where is my order", "track", "return", "refund", "AB123456", "CD654321", "ZZ999999",
        "it arrived broken", "wrong item", "changed my mind", "yes", "no", "agent", "help",
        "cancel", "hi", "bye", "thanks",
    ],
    "customer_service.yaml zh": [
        "我的订单在哪", "查订单", "退货", "退款", "AB123456", "坏了", "发错了", "不想要了",
        "是", "不是", "人工", "帮助", "取消", "你好", "再见", "谢谢",
    ],
    "restaurant.yaml": [
        "book a table for 4", "booking", "tomorrow", "friday", "7pm", "19:30", "3am", "4",
        "200", "ann smith", "555 0199", "yes", "no", "cancel", "opening hours", "bye", "hi",
    ],
}  # fmt: skip
ANY_TEXT = st.text(st.characters(codec=None), max_size=40)
"""Any Unicode, lone surrogates, controls, bidi overrides and zero-width characters too."""


def message(flow: str) -> st.SearchStrategy[str]:
    words = st.sampled_from(WORDS[flow])
    mixed = st.builds(lambda a, b, c: a + b + c, ANY_TEXT, words, ANY_TEXT)
    return st.one_of(words, words, ANY_TEXT, mixed)


NAMES = st.sampled_from(
    ["track", "return", "human", "cancel", "greet", "goodbye", "book", "hours", "menu",
     "handoff", "filing", "confirm", "order_id", "reason", "confirmed", "date", "time",
     "party_size", "name", "phone", "退货", "", "HUMAN", "__class__"]
)  # fmt: skip
JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(10**12), 10**12), st.floats(
        allow_nan=False, allow_infinity=False), ANY_TEXT.filter(lambda s: s == s.encode(
            "utf-8", "replace").decode("utf-8"))),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(NAMES, inner, max_size=3)),
    max_leaves=6,
)  # fmt: skip


def _leak(request: dict[str, Any]) -> FakeReply:
    system = request["messages"][0]["content"]
    return FakeReply.json({"intent": None, "slots": {}, "reply": system})


PLAUSIBLE: dict[str, list[Any]] = {
    "order_id": ["AB123456", "ab123456", "nope", 12345678, None],
    "reason": ["damaged", "wrong item", "changed mind", "坏了", "banana", 3],
    "confirmed": [True, False, "yes", "no", 1, None],
    "party_size": [4, "4", 200, -1, 2.5, True, "four"],
    "date": ["2026-11-27", "tomorrow", "2020-01-01", "2026-02-30", 5],
    "time": ["19:30", "7pm", "25:00", "03:00", 1930],
    "name": ["Ann Smith", "{{ 7*7 }}", "x" * 100, "", ["a"]],
    "phone": ["555 0199", "abc", 5550199],
}
"""Slot values an LLM might give: right, wrong, of another type."""


def intents_of(talk: str) -> list[str]:
    return sorted(yaml.safe_load(TEXTS[TALKS[talk][0]]).get("intents", {}))


def llm_answers(flow: str) -> st.SearchStrategy[Any]:
    """What the fake LLM answers: mostly well-formed answers naming this flow's
    intents and plausible slot values, else anything (garbage, errors, a leak)."""
    plausible = st.builds(
        lambda intent, slots, reply: FakeReply.json(
            {"intent": intent, "slots": slots, "reply": reply}
        ),
        st.one_of(st.none(), st.sampled_from(intents_of(flow)), NAMES),
        st.fixed_dictionaries({}, optional={k: st.sampled_from(v) for k, v in PLAUSIBLE.items()}),
        st.one_of(st.none(), st.sampled_from(["Sure.", "好的。"]), st.text(max_size=80)),
    )
    anything = st.one_of(
        st.builds(
            lambda intent, slots, reply: FakeReply.json(
                {"intent": intent, "slots": slots, "reply": reply}
            ),
            st.one_of(st.none(), NAMES),
            st.dictionaries(NAMES, JSONISH, max_size=4),
            st.one_of(st.none(), st.text(max_size=80)),
        ),
        st.builds(FakeReply.json, JSONISH),
        st.builds(FakeReply.text, st.text(max_size=80)),
        st.builds(FakeReply.error, st.sampled_from([400, 429, 500, 503])),
        st.builds(FakeReply.refusal, st.text(max_size=20)),
        st.builds(FakeReply.raw, st.sampled_from(["not json", "{", "<html>oops</html>", "[]"])),
        st.just("leak"),
    )
    return st.one_of(plausible, plausible, anything)


def on_a_tuesday() -> datetime.datetime:
    return datetime.datetime(2026, 11, 24, 10, 0)


@pytest.fixture(scope="module")
def engines(server: FakeChatServer) -> Iterator[dict[str, Engine]]:
    client = OpenAIChatClient(api_key="test-key", base_url=server.url)
    made = {
        name: Engine.from_path(
            FLOWS / name,
            llm=client,
            llm_settings={"retries": 0, "timeout": 5.0},
            clock=on_a_tuesday,
            nlu_cache=False,
        )
        for name in EXAMPLES
    }
    yield made
    for engine in made.values():
        engine.close()
    client.close()


TYPES: dict[str, tuple[type, ...]] = {
    "text": (str,),
    "pattern": (str,),
    "email": (str,),
    "phone": (str,),
    "date": (str,),
    "time": (str,),
    "enum": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def check_session(engine: Engine, session: Session) -> None:
    """The session is somewhere its flows define, and its slots have their types."""
    bot = engine.bot
    assert session.flow in bot.flows, session.flow
    flow = bot.flows[session.flow]
    assert session.state in flow.states, (session.flow, session.state)
    if session.pending is not None:
        assert session.pending in flow.slots, session.pending
    for frame in session.stack:
        assert frame.flow in bot.flows and frame.state in bot.flows[frame.flow].states
    declared = {n: s for f in bot.flows.values() for n, s in f.slots.items()}
    event(f"{len(set(session.slots) & set(declared))} slots filled")
    today = on_a_tuesday().date()
    for name, value in session.slots.items():
        slot = declared.get(name)
        if slot is None:  # an action's result (``into``), not a declared slot
            continue
        kind = slot.parser.type
        if value is None or kind == "any":
            continue
        assert isinstance(value, TYPES[kind]), (name, kind, value)
        assert not (kind in ("integer", "number") and isinstance(value, bool)), (name, value)
        checked = slot.parser.validate(value, today=today)
        assert checked.ok and checked.value == value, (name, kind, value, checked)
    json.dumps(session.to_dict())  # storable


@pytest.mark.parametrize("flow", sorted(TALKS))
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_conversations_never_raise_and_stay_well_formed(
    engines: dict[str, Engine], server: FakeChatServer, flow: str, data: st.DataObject
) -> None:
    path, language = TALKS[flow]
    engine = engines[path]
    turns = data.draw(
        st.lists(st.tuples(message(flow), llm_answers(flow)), min_size=1, max_size=10)
    )
    answers = deque(answer for _, answer in turns)

    def respond(request: dict[str, Any]) -> FakeReply:
        answer = answers.popleft() if answers else FakeReply.json({"intent": None})
        return _leak(request) if answer == "leak" else answer

    server.reset()
    server.responder = respond
    sid = f"prop-{uuid.uuid4().hex}"
    try:
        engine.start(sid, language=language)
        for text, _ in turns:
            result = engine.handle(sid, text)
            assert (
                result.replies is not None and result.state in engine.bot.flows[result.flow].states
            )
            session = engine.session(sid)
            assert session is not None
            check_session(engine, session)
            llm = result.trace.llm
            event(f"rule {result.trace.rule}, llm {llm.outcome if llm else None}")
    finally:
        server.responder = None
