"""What a turn did (``Trace``, a list of typed events) and what it returns (``TurnResult``).

Every step of a turn is recorded as an event, a small named tuple that says where
it happened (``flow``, ``state``) and what it was: ``Entered`` a state, ``Moved``
along a move of the flow (``key`` as in ``CompiledFlow.moves``), ``Asked`` for a
slot, ``SlotRejected``, ``Reprompted`` (rung ``n``, the parser's reason), ``Corrected``
(a filled slot replaced: old and new value), ``Exhausted``, ``NoMatched``
(rung ``n``), ``Escalated``, ``IntentMatched`` (with the flow that owns the
intent), ``Classified`` (what the example-trained classifier made of the message:
confidence, runner-up, margin, taken or abstained), ``ActionCalled``, ``FlowCalled``,
``Returned``, ``Restarted``, ``LanguageSet``, ``HandedOff`` (a handoff state was
entered), ``Ended``. Flow coverage,
``dialogue chat --trace`` and tests read these; ``Trace.steps`` renders them as
the short lines a person reads (``enter tracking``, ``ask order_id``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from dialogue.kinds import AskMode, LLMOutcome, MoveKind, Rule

if TYPE_CHECKING:
    from dialogue.events import Event

__all__ = [  # the kinds are re-exported: the vocabulary a trace speaks in
    "ActionTrace",
    "AskMode",
    "HandoffInfo",
    "LLMOutcome",
    "LLMTrace",
    "MoveKind",
    "Option",
    "RawEvent",
    "Rule",
    "Trace",
    "TranscriptLine",
    "TurnResult",
]

RawEvent = tuple[Any, ...]
"""An event as a turn records it: ``(class name, *fields)``; ``Trace.events`` makes
the typed events of ``dialogue.events`` (imported then, not at ``import dialogue``)."""


@dataclass(slots=True)
class ActionTrace:
    name: str
    ok: bool
    seconds: float
    error: str = ""
    key: str = ""
    """The call's idempotency key: the same each time this call is made for one message
    (``runtime/once.py``)."""
    reused: bool = False
    """The turn ran again after a conflict and took the outcome of the action's first
    run: the action did not run again."""


@dataclass(slots=True)
class LLMTrace:
    """What the LLM fallback did in a turn."""

    prompt: str
    mode: AskMode
    outcome: LLMOutcome = ""
    """``intent``, ``slots``, ``reply``, ``nothing``, ``rejected``, ``failed``,
    ``budget`` (the session's or the user's token budget is spent, or too little is
    left for the prompt and a short answer: no call; ``budget`` says which),
    ``offline`` or ``leaked`` (the reply quoted the system prompt or private
    knowledge: withheld, ``runtime/leak.py``)."""
    budget: Literal["", "session", "user"] = ""
    """Which token budget stopped the call when ``outcome`` is ``budget``: the session's
    (``llm.token_budget``) or the user's (``llm.user_budget``)."""
    model: str = ""
    response_id: str = ""
    """The answer's ``id`` (``chatcmpl-...``): find the call in the provider's logs."""
    created: int | None = None
    """The answer's ``created`` (Unix seconds, by the provider's clock)."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False
    """Token counts were estimated (a stream ended without usage)."""
    seconds: float = 0.0
    cached: bool = False
    error: str = ""
    failure: str = ""
    """The failure's kind (``timeout``, ``server_error`` ...) when ``outcome`` is ``failed``."""
    messages: list[dict[str, str]] | None = None
    """The rendered messages, when the engine runs with ``trace_prompts=True``."""


@dataclass(slots=True)
class Trace:
    """A record of one turn, for tests, logs and ``dialogue chat --trace``.

    ``rule`` says what answered the message: ``intent`` (a keyword or pattern
    of ``intent``), ``slot`` (slot values taken from the text), ``invalid``
    (the pending slot's answer did not parse), ``event`` (a host event was handled),
    ``event_ignored`` (the current state does not handle the event: nothing changed),
    ``no_match``, ``no_input``
    (empty text), ``start`` (a new session's greeting only), ``too_long``,
    ``llm`` (the LLM fallback's answer was applied), ``llm_failed`` (the LLM call
    failed: the flow's ``failure_reply``, no attempt counted), ``intent_blocked`` (an intent
    matched but none of its guarded transitions' conditions held), ``status``
    (``start`` on a running session: nothing said), ``error`` (the turn failed
    and the session was left unchanged), ``duplicate`` (a message id already
    answered: the first answer again, nothing changed), or ``handed_off`` (a person
    has the conversation: the message is kept in the history, the bot does not answer).
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
    confidence: float | None = None
    """The classifier's confidence, when it matched the intent (see ``Classified`` events)."""
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
    language: str = ""
    """The language the turn answered in (the session's; the flow's default when unset)."""

    @property
    def events(self) -> list[Event]:
        """What happened, in order, as typed events (see the module docstring)."""
        from dialogue.events import BY_NAME

        new = tuple.__new__
        return [new(BY_NAME[raw[0]], raw[1:]) for raw in self.raw_events]

    def add(self, event: Event) -> None:
        """Record a typed event."""
        self.raw_events.append((type(event).__name__, *event))

    @property
    def steps(self) -> list[str]:
        """The events as a person reads them: ``enter tracking``, ``ask order_id``,
        ``call lookup_order``, ``reprompt order_id 1``, ``no-match 2``, ``end`` ..."""
        from dialogue.events import step_line

        return [line for e in self.events if (line := step_line(e)) is not None]

    @property
    def entered(self) -> list[tuple[str, str]]:
        """Every ``(flow, state)`` entered this turn, in order (re-entries included)."""
        return [(raw[1], raw[2]) for raw in self.raw_events if raw[0] == "Entered"]

    @property
    def transitions(self) -> list[str]:
        """Every ``on`` and ``next`` transition taken this turn, in order, as ``flow:label``."""
        return [
            f"{raw[1]}:{raw[4]}"
            for raw in self.raw_events
            if raw[0] == "Moved" and raw[3] in ("on", "next")
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
        host = [raw[3] for raw in self.raw_events if raw[0] in ("EventHandled", "EventIgnored")]
        if host:
            what += f" {host[-1]}"
        if self.intent:
            what += f" {self.intent}"
            if self.matched:
                what += f" ({self.matched!r})"
            elif self.confidence is not None:
                what += f" (p={self.confidence:.2f})"
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


class TranscriptLine(NamedTuple):
    """One line of a handoff's transcript: who said it and what."""

    role: Literal["user", "bot"]
    text: str


@dataclass(frozen=True, slots=True)
class HandoffInfo:
    """What a person taking over a conversation needs: the turn that handed it off gives
    it (``TurnResult.handoff``), and so does the engine's ``on_handoff`` hook."""

    session_id: str
    reason: str
    """Why (the handoff state's ``reason``; "" when it gives none)."""
    flow: str
    state: str
    """The handoff state."""
    slots: dict[str, Any]
    transcript: tuple[TranscriptLine, ...]
    """The latest turns, oldest first, as the session keeps its history (redacted when
    the engine runs with ``redact_history=True``)."""
    turn: int
    """The turn that handed the conversation off."""
    meta: dict[str, Any] = field(default_factory=dict)
    """The session's ``meta`` (channel, user id ... as the host gave them)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (a ticket's body, the HTTP API's ``handoff_info``)."""
        return {
            "session_id": self.session_id,
            "reason": self.reason,
            "flow": self.flow,
            "state": self.state,
            "slots": self.slots,
            "transcript": [line._asdict() for line in self.transcript],
            "turn": self.turn,
            "meta": self.meta,
        }


@dataclass(frozen=True, slots=True)
class Option:
    """A quick reply offered with the last reply: a button ``label``, and the ``text``
    a client sends as the user's message when it is chosen (``/NAME`` for an option
    that means intent ``intent``; the engine takes it as that intent)."""

    label: str
    text: str
    intent: str | None = None


@dataclass(frozen=True, slots=True)
class TurnResult:
    session_id: str
    replies: list[str]
    flow: str
    state: str
    slots: dict[str, Any]
    ended: bool
    trace: Trace
    handoff: HandoffInfo | None = None
    """Set on the turn that handed the conversation to a person."""
    handed_off: bool = False
    """A person has the conversation (this turn handed it off, or it was handed off
    before: the bot did not answer, ``trace.rule == "handed_off"``), until the host
    resumes it (``Engine.resume``)."""
    options: tuple[Option, ...] = ()
    """Quick replies offered with the last reply (empty: none), in the flow's order."""

    @property
    def text(self) -> str:
        """The replies joined by newlines."""
        return "\n".join(self.replies)

    @property
    def language(self) -> str:
        """The language of the replies (``trace.language``)."""
        return self.trace.language


_EVENT_NAMES = frozenset(
    "Entered Moved Asked SlotRejected Reprompted Corrected Exhausted NoMatched Escalated "
    "IntentMatched Classified HandedOff LLMDecided LLMFailed LanguageSet "
    "ActionCalled FlowCalled Returned Restarted Ended Event step_line BY_NAME "
    "EventHandled EventIgnored".split()
)


def __getattr__(name: str) -> Any:
    """The event classes, for code that imports them from here: ``dialogue.events``."""
    if name in _EVENT_NAMES:
        from dialogue import events

        return getattr(events, name)
    raise AttributeError(f"module 'dialogue.trace' has no attribute {name!r}")
