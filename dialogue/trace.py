"""What a turn did (``Trace``, a list of typed events) and what it returns (``TurnResult``).

Every step of a turn is recorded as an event, a small named tuple that says where
it happened (``flow``, ``state``) and what it was: ``Entered`` a state, ``Moved``
along a move of the flow (``key`` as in ``CompiledFlow.moves``), ``Asked`` for a
slot, ``SlotRejected``, ``Reprompted`` (rung ``n``), ``Exhausted``, ``NoMatched``
(rung ``n``), ``Escalated``, ``IntentMatched`` (with the flow that owns the
intent), ``ActionCalled``, ``FlowCalled``, ``Returned``, ``Restarted``, ``Ended``. Flow coverage,
``dialogue chat --trace`` and tests read these; ``Trace.steps`` renders them as
the short lines a person reads (``enter tracking``, ``ask order_id``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

Rule = Literal[
    "",
    "intent",
    "slot",
    "invalid",
    "no_match",
    "no_input",
    "start",
    "too_long",
    "llm",
    "intent_blocked",
    "status",
    "error",
    "duplicate",
]
"""What answered a message; see ``Trace.rule``."""

LLMOutcome = Literal[
    "", "intent", "slots", "reply", "nothing", "rejected", "failed", "budget", "offline"
]
"""What the LLM step came to; see ``LLMTrace.outcome``."""

AskMode = Literal["both", "understand", "respond"]
"""How a state's LLM fallback is used (a state with ``mode: off`` has none)."""

MoveKind = Literal["on", "next", "global", "on_error", "on_exhausted", "no_match"]
"""Where a move is written: a state's ``on`` or ``next`` transition, a global
intent's ``goto``, a call's ``on_error``, a slot's ``on_exhausted``, or a state's
no-match escalation."""


class Entered(NamedTuple):
    """A state was entered (re-entries included)."""

    flow: str
    state: str
    nested: bool = False
    """Inside a called sub-flow."""


class Moved(NamedTuple):
    """A move of the flow was taken (a transition without ``goto`` too: ``dest`` None)."""

    flow: str
    state: str
    kind: MoveKind
    key: str
    dest: str | None


class Asked(NamedTuple):
    flow: str
    state: str
    slot: str


class SlotRejected(NamedTuple):
    """A value for ``slot`` in the message was refused by the slot's type or limits."""

    flow: str
    state: str
    slot: str
    value: Any


class Reprompted(NamedTuple):
    """The answer to ``slot``'s question was invalid: rung ``n`` of its reprompt ladder."""

    flow: str
    state: str
    slot: str
    n: int


class Exhausted(NamedTuple):
    """``slot``'s attempts ran out (its ``on_exhausted`` move follows)."""

    flow: str
    state: str
    slot: str


class NoMatched(NamedTuple):
    """Nothing understood the message: rung ``n`` of the state's no-match ladder."""

    flow: str
    state: str
    n: int


class Escalated(NamedTuple):
    """The no-match ladder ran out (its ``goto`` move follows)."""

    flow: str
    state: str


class IntentMatched(NamedTuple):
    """``intent`` was understood, ``by`` a rule or the LLM; ``owner`` is the flow whose
    intent it is (a calling flow's, for its global intents)."""

    flow: str
    state: str
    intent: str
    owner: str
    by: Literal["rule", "llm"]


class ActionCalled(NamedTuple):
    flow: str
    state: str
    action: str
    ok: bool


class FlowCalled(NamedTuple):
    """``callee`` was called as a sub-flow from ``flow``.``state``."""

    flow: str
    state: str
    callee: str


class Returned(NamedTuple):
    """A sub-flow ended and the conversation is back in ``flow``.``state``."""

    flow: str
    state: str


class Restarted(NamedTuple):
    """The stored session did not fit the flows any more (they changed): the
    conversation restarted at ``flow``.``state``, the main flow's start."""

    flow: str
    state: str
    reason: str


class Ended(NamedTuple):
    """The conversation reached a final state of its main flow."""

    flow: str
    state: str


Event = (
    Entered
    | Moved
    | Asked
    | SlotRejected
    | Reprompted
    | Exhausted
    | NoMatched
    | Escalated
    | IntentMatched
    | ActionCalled
    | FlowCalled
    | Returned
    | Restarted
    | Ended
)


RawEvent = tuple[Any, ...]
"""An event as a turn records it: ``(EventClass, *fields)``."""


def step_line(event: Event) -> str | None:
    """The line a person reads for an event (None: not shown as a step)."""
    match event:
        case Entered(flow, state, nested):
            return f"enter {flow}.{state}" if nested else f"enter {state}"
        case Asked(_, _, slot):
            return f"ask {slot}"
        case ActionCalled(_, _, action, _):
            return f"call {action}"
        case FlowCalled(_, _, callee):
            return f"call flow {callee}"
        case Returned(flow, state):
            return f"return to {flow}.{state}"
        case Ended():
            return "end"
        case Restarted(_, _, reason):
            return f"restart: {reason}"
        case Reprompted(_, _, slot, n):
            return f"reprompt {slot} {n}"
        case Exhausted(_, _, slot):
            return f"{slot} attempts exhausted"
        case NoMatched(_, _, n):
            return f"no-match {n}"
        case Escalated():
            return "no-match escalation"
    return None


@dataclass(slots=True)
class ActionTrace:
    name: str
    ok: bool
    seconds: float
    error: str = ""


@dataclass(slots=True)
class LLMTrace:
    """What the LLM fallback did in a turn."""

    prompt: str
    mode: AskMode
    outcome: LLMOutcome = ""
    """``intent``, ``slots``, ``reply``, ``nothing``, ``rejected``, ``failed``,
    ``budget`` (the session's token budget is spent: no call) or ``offline``."""
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False
    """Token counts were estimated (a stream ended without usage)."""
    seconds: float = 0.0
    cached: bool = False
    error: str = ""
    messages: list[dict[str, str]] | None = None
    """The rendered messages, when the engine runs with ``trace_prompts=True``."""


@dataclass(slots=True)
class Trace:
    """A record of one turn, for tests, logs and ``dialogue chat --trace``.

    ``rule`` says what answered the message: ``intent`` (a keyword or pattern
    of ``intent``), ``slot`` (slot values taken from the text), ``invalid``
    (the pending slot's answer did not parse), ``no_match``, ``no_input``
    (empty text), ``start`` (a new session's greeting only), ``too_long``,
    ``llm`` (the LLM fallback's answer was applied), ``intent_blocked`` (an intent
    matched but none of its guarded transitions' conditions held), ``status``
    (``start`` on a running session: nothing said), ``error`` (the turn failed
    and the session was left unchanged), or ``duplicate`` (a message id already
    answered: the first answer again, nothing changed).
    """

    session_id: str
    turn: int
    flow_before: str
    state_before: str
    flow_after: str = ""
    state_after: str = ""
    rule: Rule = ""
    intent: str | None = None
    matched: str | None = None
    """The keyword or pattern that fired."""
    raw_events: list[RawEvent] = field(default_factory=list)
    """What happened, in order, as recorded: ``(EventClass, *fields)``; read ``events``."""
    slot_changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    """Slot -> (before, after), for every slot whose value changed."""
    no_match_count: int = 0
    actions: list[ActionTrace] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    llm: LLMTrace | None = None
    """Set when the LLM fallback was consulted (or would have been: ``budget``, ``offline``)."""
    seconds: float = 0.0

    @property
    def events(self) -> list[Event]:
        """What happened, in order, as typed events (see the module docstring)."""
        new = tuple.__new__
        return [new(raw[0], raw[1:]) for raw in self.raw_events]

    def add(self, event: Event) -> None:
        """Record a typed event."""
        self.raw_events.append((type(event), *event))

    @property
    def steps(self) -> list[str]:
        """The events as a person reads them: ``enter tracking``, ``ask order_id``,
        ``call lookup_order``, ``reprompt order_id 1``, ``no-match 2``, ``end`` ..."""
        return [line for e in self.events if (line := step_line(e)) is not None]

    @property
    def entered(self) -> list[tuple[str, str]]:
        """Every ``(flow, state)`` entered this turn, in order (re-entries included)."""
        return [(e.flow, e.state) for e in self.events if isinstance(e, Entered)]

    @property
    def transitions(self) -> list[str]:
        """Every ``on`` and ``next`` transition taken this turn, in order, as ``flow:label``."""
        return [
            f"{e.flow}:{e.key}"
            for e in self.events
            if isinstance(e, Moved) and e.kind in ("on", "next")
        ]

    @property
    def transition(self) -> str | None:
        """Where the last ``on`` or ``next`` transition taken is written, e.g.
        ``menu.on.track[0]``."""
        taken = self.transitions
        return taken[-1].partition(":")[2] if taken else None

    def summary(self) -> str:
        """One line for a terminal."""
        what: str = self.rule
        if self.intent:
            what += f" {self.intent}"
            if self.matched:
                what += f" ({self.matched!r})"
        changes = ", ".join(f"{k}={new!r}" for k, (_, new) in self.slot_changes.items())
        line = f"[{what}] {self.state_before} -> {self.state_after}"
        if changes:
            line += f" | {changes}"
        if self.llm is not None:
            llm = self.llm
            line += f" | llm {llm.outcome}"
            if llm.model:
                line += f" ({llm.model}, {llm.prompt_tokens}+{llm.completion_tokens} tokens, "
                line += f"{llm.seconds * 1000:.0f} ms)"
        if self.errors:
            line += " | errors: " + "; ".join(self.errors)
        return line


@dataclass(frozen=True, slots=True)
class TurnResult:
    session_id: str
    replies: list[str]
    flow: str
    state: str
    slots: dict[str, Any]
    ended: bool
    trace: Trace

    @property
    def text(self) -> str:
        """The replies joined by newlines."""
        return "\n".join(self.replies)
