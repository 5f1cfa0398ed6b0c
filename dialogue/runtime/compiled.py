"""What the compiler produces: immutable values shared by every session.

``Bot`` holds one ``CompiledFlow`` per flow; a ``CompiledFlow`` holds its
states (``CState``) with their transitions, matchers and templates already
compiled, its slots' parsers, and its state machine. The compiler hands out
its mappings as read-only views (``types.MappingProxyType``).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol

from dialogue import schema
from dialogue.errors import Diagnostic, Loc
from dialogue.llm.openai_client import LLMSettings
from dialogue.runtime.llm_contract import OpenSlot
from dialogue.runtime.machine import FlowMachine
from dialogue.runtime.options import COption
from dialogue.runtime.rules import IntentMatcher
from dialogue.runtime.slots import SlotParser
from dialogue.runtime.templates import Expression, Text
from dialogue.trace import AskMode, MoveKind

if TYPE_CHECKING:  # typing only: the runtime never reads where a flow came from
    from dialogue.runtime.classify import StateClassifier  # loaded with a flow with examples

    class Placer(Protocol):
        """Places a diagnostic at a location of a flow file (authoring's ``SourceMap``)."""

        def diagnostic(
            self,
            loc: Sequence[str | int],
            code: str,
            message: str,
            hint: str = "",
            *,
            severity: str = "error",
            at_key: bool = False,
        ) -> Diagnostic: ...

    class FlowSource(Protocol):
        """Where a compiled flow came from (authoring's ``LoadedFlow``); the runtime never
        reads it, the engine's set-up uses it to place errors found after compiling."""

        @property
        def flow(self) -> schema.Flow: ...
        @property
        def source(self) -> Placer: ...
        @property
        def path(self) -> Path | None: ...


@dataclass(frozen=True, slots=True)
class Const:
    """A literal value in ``set`` or ``with``."""

    value: Any

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        return self.value


Value = Expression | Const


@dataclass(frozen=True, slots=True)
class CCall:
    action: str
    arguments: tuple[tuple[str, Value], ...]
    into: str | None
    timeout: float
    on_error: str | None
    error_say: tuple[Text, ...]


@dataclass(frozen=True, slots=True)
class CTransition:
    label: str
    """Where it is written, for traces: ``menu.on.track[0]``, ``tracking.next[1]``."""
    kind: Literal["on", "next"]
    cond: Expression | None
    set: tuple[tuple[str, Value], ...]
    clear: tuple[str, ...]
    call: CCall | None
    say: tuple[Text, ...]
    goto: str | None
    options: tuple[COption, ...] = ()


@dataclass(frozen=True, slots=True)
class CEscalation:
    """What an escalation says and sets on its way to its ``goto`` (``schema.Escalation``)."""

    say: tuple[Text, ...] = ()
    set: tuple[tuple[str, Value], ...] = ()


@dataclass(frozen=True, slots=True)
class CHandoff:
    """A state where a person takes over (``schema.Handoff``)."""

    reason: Value
    transcript: int


@dataclass(frozen=True, slots=True)
class CNoMatch:
    say: tuple[Text, ...]
    max: int
    goto: str | None
    escalation: CEscalation | None = None
    """What the escalation to ``goto`` says and sets."""


@dataclass(frozen=True, slots=True)
class CSlot:
    name: str
    parser: SlotParser
    ask: tuple[Text, ...]
    invalid: tuple[Text, ...]
    max_attempts: int
    on_exhausted: str | None
    exhausted: CEscalation | None = None
    """What the escalation to ``on_exhausted`` says and sets."""
    options: tuple[COption, ...] = ()
    """Quick replies offered with ``ask``."""
    am_or_pm: tuple[Text, ...] = ()
    """Time slots: said when an answer could be morning or evening (reason ``am_or_pm``)."""


EXTRACTABLE = frozenset({"pattern", "enum", "email", "phone", "date", "time"})
"""Slot types whose values identify themselves in any message (so any message may fill them)."""


@dataclass(frozen=True, slots=True)
class CFailure:
    """What a failed LLM call does in a state (``fallback.failure_reply`` ...)."""

    say: tuple[Text, ...]
    max: int
    goto: str | None
    escalation: CEscalation | None = None
    """What ``on_failure`` says and sets on its way (``{goto, say, set}``)."""


@dataclass(frozen=True, slots=True)
class CFallback:
    mode: AskMode
    prompt_name: str
    prompt: Text
    knowledge: str
    intents: tuple[str, ...]
    """The intents the LLM may choose here: the state's own, then the global ones."""
    intent_info: tuple[Mapping[str, Any], ...]
    slots: tuple[OpenSlot, ...]
    """Every slot the state collects."""
    schemas: Mapping[str | None, Mapping[str, Any] | None]
    """The answer schema for each pending slot (``None``: no question pending)."""
    failure: CFailure = CFailure((), 3, None)
    """What a failed call does here (``runtime/llm_gate.py``)."""
    asks: Mapping[str, schema.LLMWhen] = field(default_factory=dict)
    """Slot -> when an unparsed answer to its question goes to the LLM (its ``llm``)."""

    def open(self, pending: str | None) -> tuple[OpenSlot, ...]:
        """The slots the LLM may fill now: as with the rules, a slot whose values do not
        identify themselves (yes/no, a number, free text) only as the answer to its own
        question, so the LLM cannot, say, confirm what was never asked."""
        return tuple(o for o in self.slots if o.type in EXTRACTABLE or o.name == pending)


@dataclass(frozen=True, slots=True)
class CState:
    name: str
    description: str
    clear: tuple[str, ...]
    set: tuple[tuple[str, Value], ...]
    say: tuple[Text, ...]
    collect: tuple[str, ...]
    call: CCall | None
    flow: str | None
    next: tuple[CTransition, ...]
    on: Mapping[str, tuple[CTransition, ...]]
    no_match: CNoMatch
    final: bool
    matcher: IntentMatcher
    """The state's own intents first, then the flow's global intents."""
    extract: tuple[str, ...]
    """Slots of ``collect`` that can be picked out of any message."""
    fallback: CFallback | None = None
    """The LLM fallback here (``None``: mode ``off``)."""
    classifier: StateClassifier | None = None
    """The example-trained matcher over the intents allowed here (``None``: no examples)."""
    handoff: CHandoff | None = None
    """Entering the state hands the conversation to a person."""
    options: tuple[COption, ...] = ()
    """Quick replies offered with ``say`` (and after a no-match here)."""
    correct: tuple[str, ...] = ()
    """Filled slots of ``collect`` a message may replace while a question here waits."""

    @property
    def waits_idle(self) -> bool:
        """Whether the state can wait for a message with no question of its own pending,
        so that a message can be a no-match there. A final state never waits; one whose
        ``next`` always moves on waits only for the answers to its ``collect``, and an
        answer to a question is either a value or invalid (the reprompt ladder)."""
        if self.final:
            return False
        for t in self.next:
            if t.goto is None:
                return True  # taken, it stays here
            if t.cond is None:
                return False
        return True

    @property
    def receives_messages(self) -> bool:
        """Whether a message can arrive in this state: it asks for a slot, or waits idle."""
        return bool(self.collect) or self.waits_idle


ANY = "*any*"
"""The source of a global intent's move: it leaves every state of its flow."""


@dataclass(frozen=True, slots=True)
class Move:
    """One way a flow can go from a state, as written: computed once by the compiler and
    read by the machine, diagrams, flow coverage and the static checks."""

    source: str
    """The state it leaves (``ANY`` for a global intent's ``goto``)."""
    dest: str | None
    """The state it enters; ``None`` for a transition without ``goto`` (it stays)."""
    kind: MoveKind
    key: str
    """Its name in traces and flow coverage: a transition's label (``menu.on.track[0]``,
    ``tracking.next[1]``), ``intents.NAME.goto``, ``STATE.call.ACTION.on_error``,
    ``STATE.collect.SLOT.on_exhausted`` or ``STATE.no_match.goto``."""
    label: str
    """How a diagram labels it: ``track``, ``track [cond]``, ``next``, ``lookup fails``,
    ``order_id attempts exhausted``, ``3 no-matches``, or the global intent's name."""


@dataclass(frozen=True, slots=True)
class CGlobal:
    name: str
    say: tuple[Text, ...]
    goto: str | None
    flow: str | None
    clear: tuple[str, ...]
    set: tuple[tuple[str, Value], ...] = ()
    options: tuple[COption, ...] = ()
    language: str | None = None
    """The language the session switches to (``language:`` of the intent)."""


@dataclass(frozen=True, slots=True)
class CEvent:
    """An event the host may send (``events:``); a local one only names its slots."""

    name: str
    scope: Literal["local", "global"]
    slots: tuple[str, ...]
    """Slots its data may fill."""
    say: tuple[Text, ...] = ()
    options: tuple[COption, ...] = ()
    goto: str | None = None
    flow: str | None = None
    clear: tuple[str, ...] = ()


@dataclass(frozen=True)
class CompiledFlow:
    name: str
    description: str
    language: str
    start: str
    states: Mapping[str, CState]
    slots: Mapping[str, CSlot]
    globals: Mapping[str, CGlobal]
    global_matcher: IntentMatcher
    machine: FlowMachine
    settings: schema.Settings
    base_context: Mapping[str, Any]
    """Every name a template may read, set to ``None``; slot values are laid over it."""
    too_long: tuple[Text, ...]
    action_error: tuple[Text, ...]
    invalid_default: tuple[Text, ...]
    llm: LLMSettings
    llm_config: schema.LLMConfig
    definition: schema.Flow
    source: FlowSource
    warnings: tuple[Diagnostic, ...] = field(default=())
    global_classifier: StateClassifier | None = None
    """The example-trained matcher over the global intents (for sub-flows it calls)."""
    budget_reply: tuple[Text, ...] = field(default=())
    """Said when the session's token budget is spent (``settings.budget_reply``)."""
    fingerprint: str = ""
    """A hash of the flow's definition (``Flow`` as JSON): changes when the flow does."""
    moves: tuple[Move, ...] = field(default=())
    """Every move of the flow, in file order: each state's ``on`` and ``next``
    transitions, the ``on_error`` of its calls, the ``on_exhausted`` of the slots it
    collects and its no-match escalation (when it can wait idle), then the ``goto`` of
    each global intent (from ``ANY``)."""
    action_refs: tuple[tuple[str, Loc], ...] = field(default=())
    """Every action the flow calls, with where: the engine checks them against its registry."""
    events: Mapping[str, CEvent] = field(default_factory=dict)
    """The events the host may send (``events:``), by name."""


@dataclass(frozen=True)
class Bot:
    """Compiled flows that call each other; ``main`` is where conversations start."""

    flows: Mapping[str, CompiledFlow]
    main: str
    translations: Mapping[str, Bot] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, repr=False
    )
    """The same flows in every language the main flow speaks (``languages``), this bot
    among them, by code, the default first; empty for a bot of one language."""

    @property
    def language(self) -> str:
        """The language of these flows (the main flow's)."""
        return self.flows[self.main].language

    @property
    def languages(self) -> tuple[str, ...]:
        """Every language the bot speaks, the default first."""
        return tuple(self.translations) or (self.language,)

    def in_language(self, language: str | None) -> Bot:
        """The bot in ``language``; itself for None or a language it does not speak."""
        if language is None or not self.translations:
            return self
        return self.translations.get(language, self)

    @functools.cached_property
    def fingerprint(self) -> str:
        """A short hash of every flow's definition: sessions saved with another
        fingerprint were saved under other flows, and are checked when loaded."""
        digest = hashlib.sha256()
        for name in sorted(self.flows):
            digest.update(f"{name}\0{self.flows[name].fingerprint}\0".encode())
        return digest.hexdigest()[:16]

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        """Every flow's warnings, by position (path, line, column)."""
        found = [w for flow in self.flows.values() for w in flow.warnings]
        return tuple(sorted(found, key=lambda d: (d.path, d.line, d.col)))
