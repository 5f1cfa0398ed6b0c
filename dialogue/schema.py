"""Pydantic models of a flow file: the single source of truth for the format.

Every model is frozen and forbids unknown keys. ``Flow.model_json_schema()``
(``dialogue schema``) is the JSON Schema editors use. Shorthands a designer
may write (a single reply instead of a list, ``on: {track: tracking}``) are
normalised here by ``BeforeValidator``s, so the rest of the code sees one shape.

Cross-references (a ``goto`` naming a state that exists, a template naming a
slot that exists) are checked by the compiler, which has the whole flow.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from dialogue.regex import problem as linear_problem

NAME_RE = r"^[^\W\d]\w*$"
"""Slot, intent and state names: identifiers (letters of any script, digits, ``_``)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _as_tuple(value: Any) -> Any:
    """Let a designer write one string where a list of strings is expected."""
    if isinstance(value, str):
        return (value,)
    return value


def _int_as_str(value: Any) -> Any:
    """``version: 2`` means "2" (a float like 1.10 is refused: YAML already made it 1.1)."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _as_transitions(value: Any) -> Any:
    """``target`` -> ``[{goto: target}]``; one mapping -> a list of one."""
    if isinstance(value, str):
        return [{"goto": value}]
    if isinstance(value, dict):
        return [value]
    return value


NOT_TEXT = "not_text"
"""The pydantic error type of a value that must be text but YAML read as a boolean,
null or number (``values: [true, 1.10]``): the loader says to quote it."""


def _as_enum_values(value: Any) -> Any:
    """``[a, b]`` -> ``{a: [], b: []}``; ``{a: syn}`` -> ``{a: [syn]}``.

    An unquoted ``true``, ``null``, ``1.10`` or ``0x1F`` is not turned into text
    ('True', 'None', '1.1', '31': not what was written, nor what a user types):
    each is a ``not_text`` error at its place.
    """
    if isinstance(value, list):
        _require_text([((i,), v) for i, v in enumerate(value)])
        return {v: () for v in value}
    if isinstance(value, dict):
        items: list[tuple[tuple[str | int, ...], Any]] = []
        for k, v in value.items():
            if isinstance(v, list):
                items += [((k, i), s) for i, s in enumerate(v)]
            elif isinstance(v, (bool, int, float)):
                items.append(((k,), v))
        _require_text(items)
        return {
            k: ((v,) if isinstance(v, str) else (() if v is None else v)) for k, v in value.items()
        }
    return value


def _require_text(items: list[tuple[tuple[str | int, ...], Any]]) -> None:
    bad = [
        InitErrorDetails(
            type=PydanticCustomError(NOT_TEXT, "expected text, got {kind}", {"kind": repr(v)}),
            loc=loc,
            input=v,
        )
        for loc, v in items
        if not isinstance(v, str)
    ]
    if bad:
        raise ValidationError.from_exception_data("values", bad)


def _blank(word: str) -> bool:
    """Whether a keyword or enum word is empty once normalised as messages are."""
    return not unicodedata.normalize("NFKC", word).split()


def _pattern_problem(pattern: str) -> str:
    """What is wrong with a regular expression of the flow ("" if nothing): it must
    compile, and must need some text (one that matches "" matches every message)."""
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        return f"is not a valid regular expression: {exc}"
    except RecursionError:
        return "is nested too deeply to compile"
    if compiled.search("") is not None:
        return "matches an empty text"
    return linear_problem(pattern)


_REQUIRE = "make at least one character required"


def _redact_pattern(pattern: str) -> str:
    try:  # patterns are joined into one: flags must be scoped
        re.compile(f"(?:{pattern})")
    except re.error as exc:
        if "global flags" in str(exc):
            raise ValueError(
                f"redact pattern '{pattern}' has a global flag; scope it, "
                "e.g. (?i:ord-\\d+) instead of (?i)ord-\\d+"
            ) from None
    problem = _pattern_problem(pattern)
    if problem == "matches an empty text":
        raise ValueError(f"redact pattern '{pattern}' {problem}; {_REQUIRE}")
    if problem:
        raise ValueError(f"redact pattern '{pattern}' {problem}")
    return pattern


Texts = Annotated[
    tuple[str, ...],
    BeforeValidator(_as_tuple, json_schema_input_type=str | list[str] | dict[str, str | list[str]]),
]
"""One string or a list of strings. For replies, a list means variations.

In a file, any text may instead be a mapping of language code to text
(``{en: Hi, zh: 你好}``): ``authoring/localize.py`` picks one language's text
before the model is validated, so the model itself always holds one language."""

LocalText = Annotated[
    str, BeforeValidator(lambda v: v, json_schema_input_type=str | dict[str, str])
]
"""One string (a description, a prompt or knowledge file); per language like `Texts`."""

LANGUAGE_RE = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"


def _language_code(code: str) -> str:
    if not re.match(LANGUAGE_RE, code):
        raise ValueError(
            f"'{code}' is not a language code: two or three lowercase letters "
            "(ISO 639-1), e.g. en, zh, es, fr, de, ja"
        )
    return code


Language = Annotated[str, AfterValidator(_language_code)]

LOCALIZED_KEYS = frozenset(
    {
        "description", "say", "ask", "invalid", "keywords", "examples", "no_match",
        "error_say", "action_error_reply", "too_long_reply", "budget_reply",
        "invalid_reply", "prompt", "knowledge", "am_or_pm", "failure_reply", "label",
        "text",
    }
)  # fmt: skip
"""The keys whose value may be given per language (a mapping of language code to
text); enum synonyms may be too (``values: {damaged: {en: [broken], zh: [坏了]}}``).
``say`` covers every say: a state's, a transition's, an escalation's, a global
intent's or event's; ``label`` and ``text`` are a quick reply's.
``tests/test_localize.py`` checks every text field of the models is here."""

Name = Annotated[str, Field(pattern=NAME_RE)]

LLMWhen = Literal["always", "implausible", "never"]
"""When a message that does not answer the pending question is sent to the LLM:
``always``, ``implausible`` (only when it does not look like an attempted value of
the slot) or ``never`` (the slot's reprompt ladder answers at once)."""

Normalize = Literal["none", "upper", "lower", "title", "strip_spaces"]


def _as_escalation(value: Any) -> Any:
    """``handoff`` -> ``{goto: handoff}``: the old string form of an escalation."""
    return {"goto": value} if isinstance(value, str) else value


class Escalation(_Model):
    """Where a ladder that ran out goes, and what it says and sets on the way:
    ``on_exhausted: handoff`` or ``{goto: handoff, say: ..., set: {handoff_reason: ...}}``."""

    goto: str
    """The state to go to."""
    say: Texts = ()
    """Said before the target state's own replies (several strings are variations)."""
    set: dict[str, Any] = Field(default_factory=dict)
    """Slot -> expression (strings) or literal value, set before moving (e.g. the reason
    of a handoff: ``{handoff_reason: "'invalid_order'"}``)."""


Escalate = Annotated[
    Escalation | None,
    BeforeValidator(_as_escalation, json_schema_input_type=str | Escalation | None),
]
"""A state name, or an ``Escalation`` that also says and sets."""


# --------------------------------------------------------------------------- options


def _as_option(value: Any) -> Any:
    """``"Track an order"`` -> ``{label: "Track an order", text: "Track an order"}``."""
    if isinstance(value, str):
        return {"label": value}
    return value


class Option(_Model):
    """A quick reply (a button): its ``label``, and what choosing it sends: ``text`` (as
    if typed; default the label) or ``intent`` (that intent, whatever its keywords)."""

    label: LocalText = Field(min_length=1)
    """What the button shows (a template over slots, like a reply)."""
    text: LocalText | None = None
    """The message choosing it sends; default: the label."""
    intent: Name | None = None
    """The intent choosing it means (sent as ``/intent``): exact, whatever the wording."""

    @model_validator(mode="after")
    def _one_target(self) -> Option:
        if self.text is not None and self.intent is not None:
            raise ValueError("an option sends 'text' or 'intent', not both")
        if self.text is not None and _blank(self.text):
            raise ValueError("an option's 'text' is blank; remove it to send the label")
        return self


Options = Annotated[
    tuple[Annotated[Option, BeforeValidator(_as_option, json_schema_input_type=str | Option)], ...],
    BeforeValidator(_as_tuple, json_schema_input_type=str | list[str | Option]),
]
"""Quick replies offered with the reply: a label, ``{label, text}`` or ``{label, intent}``."""


# --------------------------------------------------------------------------- slots


class _SlotBase(_Model):
    description: LocalText = ""
    ask: Texts = ()
    """The question asked when the slot is missing; several strings are variations."""
    invalid: Texts = ()
    """The reprompt ladder: message N is said after the Nth invalid answer (the last repeats)."""
    max_attempts: int = Field(3, ge=1, le=50)
    """Invalid answers tolerated before ``on_exhausted``."""
    on_exhausted: Escalate = None
    """State to go to when attempts run out (or ``{goto, say, set}``); without it the slot
    is asked again."""
    normalize: Normalize = "none"
    options: Annotated[
        Literal["auto"] | Options,
        BeforeValidator(
            lambda v: v if v == "auto" else _as_tuple(v),
            json_schema_input_type=Literal["auto"] | list[str | Option],
        ),
    ] = ()
    """Quick replies offered with ``ask``; ``auto``: an enum's values, or yes/no."""

    @model_validator(mode="after")
    def _auto_options(self) -> _SlotBase:
        kind = getattr(self, "type", "")
        if self.options == "auto" and kind not in ("enum", "boolean"):
            raise ValueError(
                f"'options: auto' offers an enum's values or yes/no; a {kind} slot "
                "lists its options: options: [{label: ..., text: ...}]"
            )
        return self

    llm: LLMWhen | None = None
    """When an answer to this slot's question that does not parse goes to the LLM
    fallback: ``always``, ``implausible`` (only a message that does not look like an
    attempted value; ``12345`` for an order number gets the reprompt at once) or
    ``never``. Default: the flow's ``fallback.llm``, else ``implausible`` for integer,
    number, pattern, email, phone, date and time slots, ``always`` for the others."""


class TextSlot(_SlotBase):
    type: Literal["text"]
    min_length: int = Field(1, ge=0)
    max_length: int = Field(500, ge=1)
    refuse: Annotated[
        tuple[Literal["greetings", "intents"], ...],
        BeforeValidator(_as_tuple, json_schema_input_type=str | list[str]),
    ] = ("greetings", "intents")
    """Answers not taken as the value: a message made only of greetings (``hi``) and
    filler words, or of the flow's intent keywords and examples (``track my order``);
    ``[]`` takes any text."""


class IntegerSlot(_SlotBase):
    type: Literal["integer"]
    min: int | None = None
    max: int | None = None

    @model_validator(mode="after")
    def _bounds(self) -> IntegerSlot:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class NumberSlot(_SlotBase):
    type: Literal["number"]
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> NumberSlot:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class BooleanSlot(_SlotBase):
    type: Literal["boolean"]


class EnumSlot(_SlotBase):
    type: Literal["enum"]
    values: Annotated[
        dict[str, tuple[str, ...]],
        BeforeValidator(
            _as_enum_values,
            json_schema_input_type=list[str]
            | dict[str, str | list[str] | None | dict[str, str | list[str]]],
        ),
    ]
    """Canonical value -> synonyms. A list of values means no synonyms. The values are
    the same in every language; the synonyms may be given per language."""

    @model_validator(mode="after")
    def _non_empty(self) -> EnumSlot:
        if not self.values:
            raise ValueError("an enum slot needs at least one value")
        for value, synonyms in self.values.items():
            if _blank(value):
                raise ValueError(f"values include a blank one ({value!r}); remove it")
            if any(_blank(s) for s in synonyms):
                raise ValueError(f"values give {value!r} a blank synonym; remove it")
        return self


class PatternSlot(_SlotBase):
    type: Literal["pattern"]
    pattern: str
    """A regular expression; the whole match (or group ``value``) is the slot value."""

    @model_validator(mode="after")
    def _compiles(self) -> PatternSlot:
        problem = _pattern_problem(self.pattern)
        if problem == "matches an empty text":
            raise ValueError(f"pattern {problem}; {_REQUIRE}")
        if problem:
            raise ValueError(f"pattern {problem}")
        return self


class EmailSlot(_SlotBase):
    type: Literal["email"]


class PhoneSlot(_SlotBase):
    type: Literal["phone"]


class DateSlot(_SlotBase):
    type: Literal["date"]
    allow_past: bool = True
    allow_future: bool = True


_HHMM = r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$"


def _hhmm(value: str) -> str:
    if re.fullmatch(_HHMM, value) is None:
        raise ValueError(f"'{value}' is not a time of day as HH:MM (24-hour), like '09:00'")
    return value


HHMM = Annotated[str, AfterValidator(_hhmm), Field(json_schema_extra={"pattern": _HHMM})]


class TimeSlot(_SlotBase):
    type: Literal["time"]
    min: HHMM | None = None
    """The earliest time accepted, ``"HH:MM"`` (opening hours); a ``min`` after ``max``
    spans midnight (``"18:00"`` to ``"02:00"``)."""
    max: HHMM | None = None
    """The latest time accepted, ``"HH:MM"``."""
    am_or_pm: Texts = ()
    """Said when an answer could be morning or evening (``7``, ``half past seven``) and
    ``min``/``max`` do not tell; default: a built-in question in the flow's language."""


class AnySlot(_SlotBase):
    """A value set only by ``set`` or a business action; never taken from user text."""

    type: Literal["any"]


Slot = Annotated[
    TextSlot
    | IntegerSlot
    | NumberSlot
    | BooleanSlot
    | EnumSlot
    | PatternSlot
    | EmailSlot
    | PhoneSlot
    | DateSlot
    | TimeSlot
    | AnySlot,
    Field(discriminator="type"),
]

SLOT_TYPES: tuple[str, ...] = (
    "text", "integer", "number", "boolean", "enum", "pattern",
    "email", "phone", "date", "time", "any",
)  # fmt: skip


# --------------------------------------------------------------------------- intents


class Intent(_Model):
    description: LocalText = ""
    keywords: Texts = ()
    """Words or phrases; case-, width- and (for English) plural-insensitive; CJK by substring."""
    patterns: Texts = ()
    """Regular expressions; named groups fill the slots of the same name."""
    examples: Texts = ()
    """Example utterances: a classifier is trained on them (extra ``[nlu]``); the LLM sees them."""
    threshold: float | None = Field(None, ge=0, le=1)
    """The classifier's least confidence for this intent (default: ``nlu.threshold``)."""
    scope: Literal["local", "global"] = "local"
    """``global`` intents are available in every state of the flow (and of its sub-flows)."""
    say: Texts = ()
    """Global intents: the answer. Alone, it is a digression: answer, then resume."""
    options: Options = ()
    """Global intents: quick replies offered with ``say``."""
    goto: str | None = None
    """Global intents: switch task to this state (no return)."""
    flow: str | None = None
    """Global intents: run this sub-flow, then resume where we were."""
    clear: Texts = ()
    """Global intents: slots to clear when it fires."""
    set: dict[str, Any] = Field(default_factory=dict)
    """Global intents: slot -> expression (strings) or literal value, set when it fires
    (after ``clear``), e.g. ``{handoff_reason: "'asked_for_person'"}``."""
    language: Language | None = None
    """Global intents: switch the session to this language (one the flow declares),
    then answer (``say``) and resume, e.g. ``keywords: [中文, chinese], language: zh``."""

    @model_validator(mode="after")
    def _shape(self) -> Intent:
        if not self.keywords and not self.patterns and not self.examples:
            raise ValueError(
                "an intent needs 'keywords', 'patterns' or 'examples', or it can never match"
            )
        acts = [
            k
            for k in ("say", "options", "goto", "flow", "clear", "set", "language")
            if getattr(self, k)
        ]
        if self.scope == "local" and acts:
            raise ValueError(
                f"'{acts[0]}' is only for global intents; a local intent's moves are "
                "written in each state's 'on'"
            )
        if self.scope == "global" and not (self.say or self.goto or self.flow or self.language):
            raise ValueError(
                "a global intent needs 'say', 'goto', 'flow' or 'language' to say what it does"
            )
        if self.goto and self.flow:
            raise ValueError("a global intent takes 'goto' (switch) or 'flow' (digress), not both")
        blank = next((k for k in self.keywords if _blank(k)), None)
        if blank is not None:
            raise ValueError(f"keywords include a blank one ({blank!r}); remove it")
        for pattern in self.patterns:
            problem = _pattern_problem(pattern)
            if problem == "matches an empty text":
                # starts with the key, so the loader points at 'patterns'
                raise ValueError(
                    f"patterns include '{pattern}', which {problem}, so it would match "
                    f"every message; {_REQUIRE}"
                )
            if problem:
                raise ValueError(f"pattern '{pattern}' {problem}")
        return self


# --------------------------------------------------------------------------- events


class HostEvent(_Model):
    """Something the host tells the flow instead of a user message (``Engine.event``):
    a timeout, a page opened, a payment confirmed, a parcel shipped."""

    description: LocalText = ""
    scope: Literal["local", "global"] = "local"
    """``local``: handled by the states whose ``on`` names it (ignored elsewhere);
    ``global``: handled in every state by its own ``say`` / ``goto`` / ``flow``."""
    slots: Texts = ()
    """Slots the event's data may fill (each value checked by the slot's type)."""
    say: Texts = ()
    """Global events: what the bot says (a proactive message)."""
    options: Options = ()
    """Global events: quick replies offered with ``say``."""
    goto: str | None = None
    """Global events: the state to go to (no return)."""
    flow: str | None = None
    """Global events: run this sub-flow, then resume where we were."""
    clear: Texts = ()
    """Global events: slots to clear when it arrives."""

    @model_validator(mode="after")
    def _shape(self) -> HostEvent:
        acts = [k for k in ("say", "options", "goto", "flow", "clear") if getattr(self, k)]
        if self.scope == "local" and acts:
            raise ValueError(
                f"'{acts[0]}' is only for global events; a local event's moves are "
                "written in each state's 'on'"
            )
        if self.scope == "global" and not (self.say or self.goto or self.flow):
            raise ValueError("a global event needs 'say', 'goto' or 'flow' to say what it does")
        if self.goto and self.flow:
            raise ValueError("a global event takes 'goto' (switch) or 'flow' (digress), not both")
        return self


# --------------------------------------------------------------------------- steps


class Call(_Model):
    """A call to a business action registered with the engine."""

    action: str
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    """Argument name -> expression over slots (strings) or a literal value."""
    into: Name | None = None
    """Slot that receives the result."""
    timeout: float | None = Field(None, gt=0)
    """Seconds; default ``settings.action_timeout``."""
    on_error: str | None = None
    """State to go to when the action raises or times out."""
    error_say: Texts = ()
    """Said when the action fails (default: the flow's ``settings.action_error_reply``)."""


class Transition(_Model):
    """A guarded move. Its steps run in this order: set, call, say, clear, goto."""

    if_: str | None = Field(None, alias="if")
    """A Jinja expression over slots; the transition is taken only when it is true."""
    set: dict[str, Any] = Field(default_factory=dict)
    """Slot -> expression (strings) or literal value."""
    clear: Texts = ()
    call: Call | None = None
    say: Texts = ()
    options: Options = ()
    """Quick replies offered with ``say``."""
    goto: str | None = None
    """Target state. Without it the conversation stays in the current state."""


Transitions = Annotated[
    tuple[Transition, ...],
    BeforeValidator(_as_transitions, json_schema_input_type=str | Transition | list[Transition]),
]
"""A target state, one transition, or guarded transitions tried in order."""


class NoMatch(_Model):
    """What happens when nothing the user says matches, without any LLM."""

    say: Texts = ()
    """The ladder: message N after the Nth consecutive no-match (the last repeats)."""
    max: int = Field(3, ge=1, le=50)
    """Consecutive no-matches before ``goto``."""
    goto: Escalate = None
    """Escalation target (e.g. ``handoff``, or ``{goto: handoff, say: ..., set: ...}``);
    without it the ladder keeps repeating."""


def _as_handoff(value: Any) -> Any:
    """``handoff: true`` -> ``{}``; ``handoff: false`` -> none."""
    if value is True:
        return {}
    if value is False:
        return None
    return value


class Handoff(_Model):
    """Entering this state hands the conversation to a person: the engine reports it
    (``TurnResult.handoff``, the ``on_handoff`` hook) and stops answering the session's
    messages until the host resumes it (``Engine.resume``)."""

    reason: Any = None
    """An expression over slots (``handoff_reason``) or a literal (``"'asked'"`` in
    quotes, as in ``set``): why, for the person taking over."""
    transcript: int = Field(10, ge=0, le=100)
    """Recent turns the host is given (the engine keeps at least this much history)."""


class State(_Model):
    """A step of the conversation. On entry: clear, set, say, collect, call, flow, next."""

    description: LocalText = ""
    clear: Texts = ()
    set: dict[str, Any] = Field(default_factory=dict)
    say: Texts = ()
    options: Options = ()
    """Quick replies offered with ``say`` (and again after a no-match here)."""
    collect: Texts = ()
    """Slots to fill, asked in order; a slot already filled is not asked again."""
    correct: Texts = ()
    """Slots of ``collect`` a message may change once filled (``actually it's CD654321``,
    while a later question waits): the new value replaces the old one and the waiting
    question is asked again. Only slots that identify themselves (pattern, enum, email,
    phone, date, time)."""
    call: Call | None = None
    flow: str | None = None
    """Run this sub-flow (by its ``flow`` name) to its end, then continue with ``next``."""
    next: Transitions = ()
    """Conditional moves evaluated in order once collect/call/flow are done."""
    on: Annotated[dict[str, Transitions], Field(default_factory=dict)]
    """Intent or event -> target state, or guarded transitions tried in order."""
    no_match: NoMatch | None = None
    fallback: StateFallback | None = None
    """This state's LLM fallback mode, prompt or knowledge."""
    final: bool = False
    """The flow ends here (a sub-flow returns to its caller)."""
    handoff: Annotated[
        Handoff | None,
        BeforeValidator(_as_handoff, json_schema_input_type=bool | Handoff | None),
    ] = None
    """A person takes over here: ``handoff: true`` or ``{reason: handoff_reason}``."""


# --------------------------------------------------------------------------- flow


FallbackMode = Literal["both", "understand", "respond", "off"]
"""What the LLM fallback may do: ``understand`` (pick an allowed intent and slot
values), ``respond`` (answer in free text from the knowledge; state unchanged),
``both`` (either, from one request), ``off`` (no LLM: straight to no-match)."""


class Fallback(_Model):
    """What happens when no rule matches: the LLM (if configured), then the no-match ladder."""

    mode: FallbackMode = "both"
    prompt: LocalText = "default"
    """Prompt template: a path relative to this file (e.g. ``../prompts/shop.j2``) or
    the name of a built-in template (``default``)."""
    knowledge: LocalText | None = None
    """A text file (relative to this file) the LLM may answer from, e.g. an FAQ."""
    no_match: Texts = ()
    """The no-match ladder; default: built-in messages in the flow's language."""
    max_no_match: int = Field(3, ge=1, le=50)
    on_exhausted: Escalate = None
    """Where the no-match ladder escalates (a state, or ``{goto, say, set}``)."""
    llm: LLMWhen | None = None
    """When an unparsed answer to a slot's question goes to the LLM, for slots that do
    not say (``slots.NAME.llm``); default by slot type (see there)."""
    failure_reply: Texts = ()
    """Said when the LLM call fails (timeout, 5xx, an unreadable answer), instead of
    a no-match or reprompt rung; message N after the Nth failure in a row (the last
    repeats). Default: a built-in apology in the flow's language."""
    max_failures: int = Field(3, ge=1, le=50)
    """Failed LLM calls in a row before ``on_failure``. Failures never count as the
    user's attempts or no-matches."""
    on_failure: Escalate = None
    """Where to go after ``max_failures`` failed calls in a row (a state such as
    ``handoff``, or ``{goto, say, set}``); without it the apology is said and the
    question asked again."""


class StateFallback(_Model):
    """A state's own LLM fallback settings (each defaults to the flow's)."""

    mode: FallbackMode | None = None
    prompt: LocalText | None = None
    knowledge: LocalText | None = None
    llm: LLMWhen | None = None
    """When an unparsed answer to a question of this state goes to the LLM, for every
    slot it collects (over the slot's own ``llm``)."""
    failure_reply: Texts = ()
    """Said here when the LLM call fails (default: the flow's ``failure_reply``)."""
    max_failures: Annotated[int | None, Field(ge=1, le=50)] = None
    """Failed calls in a row before ``on_failure`` (default: the flow's)."""
    on_failure: Escalate = None
    """Where to go after ``max_failures`` failed calls in a row (default: the flow's)."""


Period = Literal["hour", "day", "month"]
"""A user budget's period: a calendar hour, day or month of the engine's clock."""


class UserBudget(_Model):
    """Tokens one user (the key the host passes as ``handle(..., user=)``) may spend in
    each calendar period, across all of the user's sessions."""

    tokens: int = Field(ge=1)
    """Tokens per period (prompt and completion), across the user's sessions."""
    per: Period = "day"
    """The period: ``hour``, ``day`` or ``month``, by the engine's clock."""


class LLMConfig(_Model):
    """The LLM used by the fallback; embedding code may override any of it."""

    model: str = "gpt-4o-mini"
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(300, ge=1, le=100_000)
    """Maximum completion tokens per call."""
    timeout: float = Field(10.0, gt=0)
    """Seconds per attempt."""
    retries: int = Field(2, ge=0, le=10)
    history_turns: int = Field(6, ge=0, le=100)
    """Recent turns sent with each request (as user/assistant messages)."""
    history_chars: int = Field(4000, ge=0)
    """Cap on the characters of history sent."""
    token_budget: int | None = Field(None, ge=1)
    """Tokens one session may spend, across its conversations; once spent, no more calls
    (``settings.budget_reply`` answers)."""
    user_budget: UserBudget | None = None
    """Tokens one user may spend per period, across their sessions (the main flow's;
    ``Engine(user_budget=)`` wins); applies to turns the host names a ``user`` for."""


class Settings(_Model):
    date_order: Literal["dmy", "mdy", "ymd"] | None = None
    """How a date such as ``1/2`` is read: day first (``dmy``: 1 February), month first
    (``mdy``: 2 January) or year first (``ymd``; without a year, month first). Default:
    ``mdy`` in an ``en`` flow, ``ymd`` in a ``zh`` flow."""
    max_text_length: int = Field(2000, ge=1)
    """Longer messages get ``too_long_reply`` and leave the session unchanged."""
    action_timeout: float = Field(5.0, gt=0)
    history_turns: int | None = Field(None, ge=0, le=1000)
    """How many recent turns a session keeps. Default: ``llm.history_turns`` when the
    engine has an LLM client (the fallback sends them), else none (sessions stay small)."""
    action_error_reply: Texts = ()
    too_long_reply: Texts = ()
    budget_reply: Texts = ()
    """Said instead of the no-match reply when the session's token budget
    (``llm.token_budget``) or the user's (``llm.user_budget``) is spent; default: a
    built-in message in the flow's language."""
    invalid_reply: Texts = ()
    """Said after an invalid answer to a slot without its own ``invalid`` ladder;
    default: a built-in message in the flow's language."""
    detect_language: bool = False
    """Guess the session's language from its first messages (script, common words)
    until one of the flow's ``languages`` is recognised, unless the host set it."""
    redact: Annotated[
        tuple[Annotated[str, AfterValidator(_redact_pattern)], ...],
        BeforeValidator(_as_tuple, json_schema_input_type=str | list[str]),
    ] = ()
    """Regular expressions of values to hide in logs (``[redacted]``), beside e-mails,
    phone and card numbers, which are always hidden: order numbers, customer ids."""


DEFAULT_THRESHOLDS = {"none": 0.5, "wordllama": 0.55}
"""The abstention threshold a designer gets without configuring one, per ``embeddings``."""


class NLU(_Model):
    """Matching intents by their ``examples`` (the optional extra ``[nlu]``)."""

    enabled: bool = True
    """Train a classifier on the examples (off: examples only guide the LLM)."""
    threshold: float | None = Field(None, ge=0, le=1)
    """Below this confidence the classifier abstains (the LLM or no-match ladder answers);
    unset: :attr:`cutoff`'s default, chosen on training data for each kind of model."""
    background: bool = True
    """Train a "none of these" class on everyday messages, so unrelated ones abstain."""
    candidates: bool = False
    """Name the classifier's best guesses in the LLM prompt when it abstained (off by
    default: the system message then depends on the user's text, which defeats the
    provider's prompt caching and makes recordings match less closely)."""
    min_examples: int = Field(5, ge=1)
    """``dialogue validate`` warns about an intent with fewer examples."""
    embeddings: Literal["none", "wordllama"] = "none"
    """Static word embeddings appended to the n-grams (extra ``[nlu-embeddings]``):
    paraphrases with no word in common come closer; English mostly."""

    @property
    def cutoff(self) -> float:
        """The flow-wide threshold: the designer's, else the default of the model kind
        (docs/benchmarks.md shows how each was chosen without the test set)."""
        if self.threshold is not None:
            return self.threshold
        return DEFAULT_THRESHOLDS[self.embeddings]


class Flow(_Model):
    """A flow file."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        json_schema_extra={"title": "dialogue flow"},
    )

    flow: Name
    """The flow's name; sub-flows are called by it."""
    description: LocalText = ""
    version: Annotated[str, BeforeValidator(_int_as_str, json_schema_input_type=str | int)] = "1"
    language: Language = "en"
    """The language of a flow that speaks one (ISO 639-1 code: en, zh, es, fr, de, ja ...)."""
    languages: tuple[Language, ...] = ()
    """The languages the flow speaks, the first being the default; any text may then
    be a mapping of language to text (``say: {en: Hi, zh: 你好}``)."""
    start: str
    imports: Texts = ()
    """Other flow files (paths relative to this one) whose flows this flow calls."""
    actions_module: str | None = None
    """A Python file (relative to this one) or dotted module providing business actions."""
    settings: Settings = Field(default_factory=lambda: Settings.model_validate({}))
    slots: dict[Name, Slot] = Field(default_factory=dict)
    intents: dict[Name, Intent] = Field(default_factory=dict)
    events: dict[Name, HostEvent] = Field(default_factory=dict)
    """Events the host may send (``Engine.event``); states react to them in ``on``."""
    states: dict[Name, State] = Field(min_length=1)
    fallback: Fallback = Field(default_factory=lambda: Fallback.model_validate({}))
    llm: LLMConfig = Field(default_factory=lambda: LLMConfig.model_validate({}))
    nlu: NLU = Field(default_factory=lambda: NLU.model_validate({}))

    @model_validator(mode="after")
    def _languages(self) -> Flow:
        if len(set(self.languages)) != len(self.languages):
            raise ValueError("'languages' names a language twice")
        if (
            self.languages
            and self.language not in self.languages
            and "language" in (self.model_fields_set)
        ):
            raise ValueError(
                f"'language' ({self.language}) is not one of 'languages'; "
                "give 'languages' alone (the first is the default)"
            )
        return self

    @model_validator(mode="after")
    def _event_names(self) -> Flow:
        both = sorted(set(self.events) & set(self.intents))
        if both:
            raise ValueError(
                f"'{both[0]}' is both an intent and an event; give the event its own name"
            )
        return self

    @property
    def spoken(self) -> tuple[str, ...]:
        """The languages the flow speaks, the default first."""
        return self.languages or (self.language,)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the flow format, for editors (yaml-language-server).

    Each field's docstring in this module becomes its ``description`` (read from
    the source here, not by pydantic at import: that cost every import ~25 ms).
    """
    schema = Flow.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    docs = _field_docs()
    models = {"Flow": schema, **schema.get("$defs", {})}
    classes = _models()
    for name, model in models.items():
        if name not in classes:
            continue
        for field, info in classes[name].model_fields.items():
            key = info.alias or field
            mro = classes[name].__mro__
            text = next((docs[k.__name__, field] for k in mro if (k.__name__, field) in docs), "")
            if text and key in model.get("properties", {}):
                model["properties"][key].setdefault("description", text)
    return schema


def _models() -> dict[str, type[BaseModel]]:
    return {
        name: value
        for name, value in globals().items()
        if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel
    }


def _field_docs() -> dict[tuple[str, str], str]:
    """(class, field) -> the docstring written under the field in this module."""
    import ast
    import inspect
    import sys

    tree = ast.parse(inspect.getsource(sys.modules[__name__]))
    found: dict[tuple[str, str], str] = {}
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for first, second in zip(cls.body, cls.body[1:], strict=False):
            if (
                isinstance(first, ast.AnnAssign)
                and isinstance(first.target, ast.Name)
                and isinstance(second, ast.Expr)
                and isinstance(second.value, ast.Constant)
                and isinstance(second.value.value, str)
            ):
                found[(cls.name, first.target.id)] = inspect.cleandoc(second.value.value)
    return found
