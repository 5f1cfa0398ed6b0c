"""Conversation test files: the format (pydantic models) and loading them with positions.

A test file names the flow under test and lists conversations; each
conversation is a list of steps, a user message and what should happen::

    flow: ../customer_service.yaml        # relative to this file
    conversations:
      - name: track an order
        steps:
          - user: where is my order AB123456
            bot_contains: on its way
            state: menu

`parse_spec` is pure (text in, `LoadedSpec` out); `load_spec` reads a file.
Every problem is a `FlowError` at ``path:line:col``, like a flow file's.
``spec_json_schema()`` is the JSON Schema for editors.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from dialogue.authoring.yaml_source import SourceMap, load_yaml, show
from dialogue.errors import Diagnostic, FlowError, FlowErrors, Loc, did_you_mean
from dialogue.testing.spec_diagnostics import Explainer, explain

DEFAULT_TODAY = datetime.date(2026, 6, 1)
"""The date conversations run on unless they say ``today:`` (a Monday), at 12:00."""

Rule = Literal[
    "start", "intent", "intent_blocked", "slot", "invalid", "no_match", "no_input", "llm",
    "too_long", "error", "handed_off", "llm_failed", "event", "event_ignored",
]  # fmt: skip
"""What can answer a message (``Trace.rule``)."""
LLMOutcome = Literal[
    "intent", "slots", "reply", "nothing", "rejected", "failed", "budget", "offline", "leaked"
]  # fmt: skip
"""What the LLM fallback did (``LLMTrace.outcome``)."""
Greeting = Literal["separate", "with_first_message"]
"""How a conversation under test starts: the bot greets in a step of its own
(``separate``, as ``dialogue chat`` shows it), or the first user message goes to a
new session and its reply holds the greeting and the answer (``with_first_message``,
as ``Engine.handle`` answers a host's first message)."""
FAULTS = ("timeout", "malformed", "refusal")
"""Named LLM faults; an HTTP status (400-599) is a fault too."""

MAX_BYTES = 1_000_000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


def _as_list(value: Any) -> Any:
    """One value where a list is expected: a list of one."""
    return value if isinstance(value, (list, tuple)) else [value]


def _regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{show(pattern)} is not a valid regular expression: {exc}") from None
    return pattern


_ONE_OR_MORE = BeforeValidator(_as_list, json_schema_input_type=str | list[str])
Texts = Annotated[tuple[str, ...], _ONE_OR_MORE]
"""One string or a list of strings."""
Regexes = Annotated[tuple[Annotated[str, BeforeValidator(_regex)], ...], _ONE_OR_MORE]
Name = Annotated[str, Field(pattern=r"^[^\W\d]\w*$")]


class ActionStub(_Model):
    """What a stubbed business action does when called: return a value or fail."""

    returns: Any = None
    raises: str | None = None
    """The action fails with this message (the flow's ``on_error`` path runs)."""

    @model_validator(mode="after")
    def _one(self) -> ActionStub:
        if len(self.model_fields_set & {"returns", "raises"}) != 1:
            raise ValueError("a stub either 'returns' a value or 'raises' an error message")
        return self


Stubs = dict[
    Name,
    Annotated[
        tuple[ActionStub, ...],
        BeforeValidator(_as_list, json_schema_input_type=ActionStub | list[ActionStub]),
    ],
]
"""Action name -> its stub, or a list of stubs for successive calls (the last repeats)."""


class LLMAnswer(_Model):
    """A structured LLM answer: an intent, slot values and/or a reply (all optional)."""

    intent: str | None = None
    slots: dict[str, Any] = Field(default_factory=dict)
    reply: str | None = None

    def data(self) -> dict[str, Any]:
        """The JSON object the model answers: only the keys written."""
        return {
            key: getattr(self, key)
            for key in ("intent", "slots", "reply")
            if key in self.model_fields_set
        }


class LLMText(_Model):
    """A free-text LLM answer, sent as is (for ``mode: respond``, or to send non-JSON)."""

    text: str


def _fault(value: int | str) -> int | str:
    if isinstance(value, int) and 400 <= value <= 599 or value in FAULTS:
        return value
    hint = did_you_mean(value, FAULTS)
    listed = ", ".join(f"'{f}'" for f in FAULTS)
    message = f"{show(value)} is not an HTTP error status (400-599) nor one of {listed}"
    raise ValueError(message + (f"; {hint}" if hint else ""))


class LLMFault(_Model):
    """The LLM endpoint fails: an HTTP status, or timeout, malformed body, refusal."""

    fault: Annotated[int | str, AfterValidator(_fault)]
    """An HTTP status (400-599), ``timeout``, ``malformed`` (not a chat completion) or
    ``refusal``."""


def _llm_kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "fault" if "fault" in value else "text" if "text" in value else "answer"
    return (
        "fault"
        if isinstance(value, LLMFault)
        else "text"
        if isinstance(value, LLMText)
        else "answer"
    )


LLMScript = Annotated[
    Annotated[LLMAnswer, Tag("answer")]
    | Annotated[LLMText, Tag("text")]
    | Annotated[LLMFault, Tag("fault")],
    Discriminator(_llm_kind),
]
"""What the fake LLM answers to one request."""


class Expect(_Model):
    """What should have happened in a turn. Every key is optional; unset keys are not checked."""

    bot: Texts | None = None
    """The replies, exactly (one string: the turn has exactly that one reply)."""
    bot_contains: Texts | None = None
    """Each text appears somewhere in the replies (case matters)."""
    bot_contains_ci: Texts | None = None
    """Each text appears somewhere in the replies, ignoring case (``casefold``)."""
    bot_matches: Regexes | None = None
    """Each regular expression matches somewhere in the replies (``re.search``)."""
    bot_one_of: tuple[str, ...] | None = Field(None, min_length=1)
    """The replies (joined by a newline) are exactly one of these."""
    state: str | None = None
    """The state after the turn; ``flow.state`` to name the flow too."""
    flow: str | None = None
    """The flow the conversation is in after the turn (sub-flows)."""
    slots: dict[str, Any] | None = None
    """These slots have these values after the turn (``null``: unset)."""
    slots_set: Texts | None = None
    """These slots have a value after the turn."""
    slots_unset: Texts | None = None
    """These slots have no value after the turn."""
    intent: str | None = None
    """The intent that fired (by a rule or the LLM)."""
    rule: Rule | None = None
    """What answered the message: ``intent``, ``slot``, ``llm``, ``no_match``..."""
    llm_called: bool | None = None
    """Whether the LLM was asked this turn."""
    llm_outcome: LLMOutcome | None = None
    """What the LLM fallback did: ``reply``, ``intent``, ``failed``, ``offline``..."""
    calls: Texts | None = None
    """The business actions called this turn, in order."""
    ended: bool | None = None
    """The conversation reached a final state."""
    language: str | None = None
    """The language the bot answered in (``TurnResult.language``)."""
    handed_off: bool | None = None
    """A person has the conversation (a handoff state was reached, not resumed)."""
    handoff_reason: str | None = None
    """This turn handed the conversation to a person, for this reason."""
    options: Texts | None = None
    """The labels of the quick replies offered with the last reply, in order (``[]``: none)."""

    def given(self) -> list[str]:
        """The expectation keys that were written."""
        return [key for key in Expect.model_fields if key in self.model_fields_set]


class StepSpec(Expect):
    """One turn: what the user says (and the LLM answers, if asked), and the expectations.

    Instead of ``user``, ``choose`` picks a quick reply the last turn offered (by its
    label) and ``event`` sends an event from the host (with ``data``). Without any of
    them (first step only) the step checks the bot's greeting.
    """

    user: str | None = None
    resume: bool = False
    """Before this step's message, the host gives a conversation handed to a person back
    to the bot (``Engine.resume``)."""
    choose: str | None = None
    """The label of a quick reply the previous turn offered: its text is sent."""
    event: Name | None = None
    """An event from the host (``events:`` of the flow) instead of a user message."""
    data: dict[Name, Any] | None = None
    """The event's data: slot values."""
    llm: LLMScript | None = None
    """The LLM's answer this turn (the conversation then runs with a fake LLM)."""

    @property
    def sends(self) -> list[str]:
        """What the step sends, of ``user``, ``choose`` and ``event``."""
        return [k for k in ("user", "choose", "event") if getattr(self, k) is not None]


class ConversationSpec(_Model):
    name: str = Field(min_length=1)
    description: str = ""
    skip: str | None = None
    """Skip this conversation, giving the reason."""
    today: datetime.date | None = None
    slots: dict[Name, Any] = Field(default_factory=dict)
    """Slot values the session starts with (before the greeting)."""
    meta: dict[str, Any] = Field(default_factory=dict)
    """Session metadata (``Session.meta``) the session starts with."""
    language: str | None = None
    """The language the session starts in (default: the file's ``language``)."""
    actions: Stubs = Field(default_factory=dict)
    """Stubbed business actions, over the file's ``actions``."""
    greeting: Greeting | None = None
    """``separate`` (the bot greets in a step of its own) or ``with_first_message`` (the
    first step's reply holds the greeting, as ``Engine.handle`` gives it); default:
    the file's."""
    steps: tuple[StepSpec, ...] = Field(min_length=1)

    @property
    def uses_llm(self) -> bool:
        return any(step.llm is not None for step in self.steps)


class SpecFile(_Model):
    """A conversation test file."""

    flow: str = Field(min_length=1)
    """The flow file under test, relative to this file."""
    main: Name | None = None
    """The flow to start in, when the file imports several."""
    today: datetime.date | None = None
    """The date every conversation runs on (default 2026-06-01)."""
    language: str | None = None
    """The language every conversation starts in, one the flow speaks (default: its
    first); the host sets it, as ``Engine.start(..., language=)`` does."""
    actions: Stubs = Field(default_factory=dict)
    """Stubbed business actions of every conversation; the others are the flow's own."""
    greeting: Greeting = "separate"
    """How every conversation starts (a conversation may say otherwise)."""
    conversations: tuple[ConversationSpec, ...] = Field(min_length=1)

    def greeting_of(self, conversation: ConversationSpec) -> Greeting:
        return conversation.greeting or self.greeting

    @field_validator("flow")
    @classmethod
    def _yaml_file(cls, value: str) -> str:
        if not value.endswith((".yaml", ".yml")):
            raise ValueError(f"{show(value)} is not a flow file (a .yaml path)")
        return value


@dataclass(frozen=True)
class LoadedSpec:
    """A validated test file with where it came from."""

    path: Path
    spec: SpecFile
    source: SourceMap

    @property
    def flow_path(self) -> Path:
        return self.path.parent / self.spec.flow

    def line(self, loc: Loc) -> int:
        """The line of a key (or the nearest enclosing one) in the file."""
        return self.source.key_position(loc)[0]


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema of conversation test files."""
    return SpecFile.model_json_schema()


def parse_spec(text: str | bytes, *, path: str | os.PathLike[str] = "<string>") -> LoadedSpec:
    """Parse and check a test file's text; raises `FlowError` (``path:line:col``)."""
    name = os.fspath(path)
    data, source = load_yaml(text, path=name, max_bytes=MAX_BYTES)
    try:
        spec = SpecFile.model_validate(data)
    except ValidationError as exc:
        raise FlowErrors(explain(exc, data, source, _EXPLAINER)) from None
    problems = _check(spec, source)
    if problems:
        raise FlowErrors(problems)
    return LoadedSpec(Path(name), spec, source)


def load_spec(path: str | os.PathLike[str], *, display: str | None = None) -> LoadedSpec:
    """Read, parse and check a test file, and that the flow file it names exists.

    Messages name the file ``display`` (default: ``path`` as given).
    """
    file = Path(path)
    name = os.fspath(path) if display is None else display
    try:
        data = file.read_bytes()
    except OSError as exc:
        message = f"cannot read the test file: {exc.strerror}"
        raise FlowError(Diagnostic(name, 1, 1, "unreadable", message)) from None
    loaded = parse_spec(data, path=name)
    loaded = LoadedSpec(file, loaded.spec, loaded.source)
    if not loaded.flow_path.is_file():
        shown = Path(name).parent / loaded.spec.flow
        message = f"flow file '{loaded.spec.flow}' not found (looked for {shown})"
        hint = "the path is relative to the folder of this test file"
        raise FlowError(loaded.source.diagnostic(("flow",), "file_not_found", message, hint))
    return loaded


_SNIFF = re.compile(r"^(?:flow|conversations)[ \t]*:", re.MULTILINE)


def is_spec_file(path: Path) -> bool:
    """Whether a file is a conversation test: named ``test_*.yaml`` or ``*.test.yaml``
    (``.yml`` too), with a top-level ``flow:`` or ``conversations:`` key."""
    if path.suffix not in (".yaml", ".yml"):
        return False
    if not (path.name.startswith("test_") or path.stem.endswith(".test")):
        return False
    try:
        with path.open("rb") as file:
            head = file.read(65536).decode("utf-8", errors="replace")
    except OSError:
        return False
    return _SNIFF.search(head) is not None


# --------------------------------------------------------------------------- checks


def _check(spec: SpecFile, source: SourceMap) -> list[Diagnostic]:
    """Rules of the format that pydantic does not see: names, the greeting step."""
    problems: list[Diagnostic] = []
    first: dict[str, int] = {}
    for i, conv in enumerate(spec.conversations):
        loc: Loc = ("conversations", i)
        if conv.name in first:
            line = source.position(("conversations", first[conv.name], "name"))[0]
            message = f"two conversations are named '{conv.name}' (the first on line {line})"
            hint = "give each conversation its own name: it is the test's id"
            problems.append(source.diagnostic(loc + ("name",), "duplicate_name", message, hint))
        first.setdefault(conv.name, i)
        joined = spec.greeting_of(conv) == "with_first_message"
        for j, step in enumerate(conv.steps):
            problems += _check_step(source, loc + ("steps", j), j, conv.name, step, joined)
    return problems


def _check_step(
    source: SourceMap, where: Loc, j: int, name: str, step: StepSpec, joined: bool
) -> list[Diagnostic]:
    """``joined``: the conversation's greeting comes with its first message's reply."""
    sends = step.sends
    if len(sends) > 1:
        message = f"a step sends one thing: '{sends[0]}' or '{sends[1]}', not both"
        hint = "split it into two steps"
        return [source.diagnostic(where + (sends[1],), "invalid", message, hint)]
    if not sends and joined:
        message = f"step {j + 1} of conversation '{name}' has no 'user' message"
        hint = (
            "with 'greeting: with_first_message' the greeting is in the first "
            "step's reply: every step needs 'user'"
        )
        return [source.diagnostic(where, "missing_key", message, hint)]
    if not sends and step.resume:
        message = "'resume' needs a 'user' message: the bot answers it after resuming"
        return [source.diagnostic(where + ("resume",), "invalid", message)]
    if not sends and j > 0:
        message = f"step {j + 1} of conversation '{name}' has no 'user' message"
        hint = "only the first step may leave 'user' out: it then checks the greeting"
        return [source.diagnostic(where, "missing_key", message, hint)]
    if step.data is not None and step.event is None:
        message = "'data' goes with an 'event': it is the event's slot values"
        return [source.diagnostic(where + ("data",), "invalid", message)]
    if step.llm is not None and step.event is not None:
        message = "'llm' needs a 'user' message: an event never asks the LLM"
        return [source.diagnostic(where + ("llm",), "invalid", message)]
    if step.llm is not None and not sends:
        message = "'llm' needs a 'user' message: the greeting never asks the LLM"
        return [source.diagnostic(where + ("llm",), "invalid", message)]
    return []


def _place(loc: Loc, data: Any) -> tuple[str, Loc]:
    """Where ``loc`` is in designer's words, and the rest of it."""
    if len(loc) < 2 or loc[0] != "conversations" or not isinstance(loc[1], int):
        return "at the top level", loc
    conv = data["conversations"][loc[1]] if isinstance(data.get("conversations"), list) else None
    name = conv.get("name") if isinstance(conv, dict) else None
    where = f"conversation '{name}'" if isinstance(name, str) else f"conversation {loc[1] + 1}"
    if len(loc) >= 4 and loc[2] == "steps" and isinstance(loc[3], int):
        return f"in step {loc[3] + 1} of {where}", loc[4:]
    return f"in {where}", loc[2:]


_LLM_HINT = "an LLM answer is {intent:, slots:, reply:}, or {text: ...}, or {fault: ...}"
_EXPLAINER = Explainer(
    SpecFile,
    _place,
    key_hints={LLMText: _LLM_HINT, LLMFault: _LLM_HINT},
    names={"actions": "action ", "slots": "slot "},
)
