"""What the engine tells observers: one typed event per thing worth counting.

``Engine(..., observers=[fn, ...])``: after every turn each observer is called
with the turn's events, in order: ``LLMCalled`` (when a request was made),
``ActionRun`` (each business action), ``ConversationHandedOff`` (a state with
``handoff`` was reached: a person takes over), ``ConversationEnded`` (a final
state of the main flow was reached: a handoff, a goodbye), then ``TurnFinished``; a turn that
failed (degraded reply) gives ``TurnFailed`` instead of ``TurnFinished``.
``Engine.feedback`` gives one ``FeedbackGiven``. The
server's metrics and a host's own telemetry plug in here; an observer that raises
is logged and ignored, never breaking a turn. Events carry no message text and no
slot values.

The same facts go to the ``dialogue`` logger at DEBUG, one line per turn, with
structured fields in ``extra`` (``session_id``, ``flow``, ``state``, ``outcome``,
``rule``, ``seconds``) for JSON log formatters.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from dialogue.events import Ended
from dialogue.redact import Privacy
from dialogue.trace import Rule, TurnResult

log = logging.getLogger("dialogue")

Outcome = Literal["rule", "llm", "llm_failed", "no_match", "start", "error", "other"]
"""How a turn was answered, for counting: by a rule (an intent, a slot value, a
reprompt), by the LLM, by the failure reply of a failed LLM call, by the no-match
ladder, a greeting only, a failure, or ``other`` (a status, a duplicate, an empty
or too long message, an event from the host)."""

_OUTCOMES: dict[Rule, Outcome] = {
    "intent": "rule",
    "slot": "rule",
    "invalid": "rule",
    "intent_blocked": "rule",
    "llm": "llm",
    "llm_failed": "llm_failed",
    "no_match": "no_match",
    "start": "start",
    "error": "error",
}


@dataclass(frozen=True, slots=True)
class TurnFinished:
    session_id: str
    flow: str
    state: str
    outcome: Outcome
    rule: Rule
    seconds: float
    ended: bool


@dataclass(frozen=True, slots=True)
class TurnFailed:
    """The turn failed and the caller got the flow's error reply; the session is as
    it was. ``kind`` is the failure's class name (``RenderError``, ``FlowLoopError`` ...)."""

    session_id: str
    flow: str
    state: str
    kind: str
    seconds: float


@dataclass(frozen=True, slots=True)
class LLMCalled:
    session_id: str
    flow: str
    state: str
    model: str
    outcome: str
    """``intent``, ``slots``, ``reply``, ``nothing``, ``rejected`` or ``failed``."""
    failure: str
    """The failure's kind (``timeout``, ``rate_limited`` ...) when ``outcome`` is ``failed``."""
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    cached: bool
    response_id: str = ""
    """The answer's ``id`` (``chatcmpl-...``), to find the call in the provider's logs."""


@dataclass(frozen=True, slots=True)
class ActionRun:
    session_id: str
    action: str
    ok: bool
    seconds: float


@dataclass(frozen=True, slots=True)
class ConversationEnded:
    session_id: str
    flow: str
    state: str
    """The final state reached (``handoff``, ``goodbye`` ...)."""


@dataclass(frozen=True, slots=True)
class ConversationHandedOff:
    """A state with ``handoff`` was reached: a person takes the conversation over (its
    reason is in the turn's result, not here: it may quote a slot)."""

    session_id: str
    flow: str
    state: str


@dataclass(frozen=True, slots=True)
class FeedbackGiven:
    """A user rated a turn (``Engine.feedback``); the comment is not carried."""

    session_id: str
    turn: int
    rating: str | int


Event = (
    TurnFinished
    | TurnFailed
    | LLMCalled
    | ActionRun
    | ConversationHandedOff
    | ConversationEnded
    | FeedbackGiven
)
Observer = Callable[[Event], object]


def outcome_of(rule: Rule) -> Outcome:
    return _OUTCOMES.get(rule, "other")


def events_of(result: TurnResult) -> Iterator[Event]:
    """The observed events of a finished turn, in order."""
    t, sid = result.trace, result.session_id
    llm = t.llm
    if llm is not None and llm.outcome not in ("offline", "budget"):
        failure = llm.error.partition(":")[0] if llm.outcome == "failed" else ""
        yield LLMCalled(
            sid,
            t.flow_before,
            t.state_before,
            llm.model,
            llm.outcome,
            failure,
            llm.prompt_tokens,
            llm.completion_tokens,
            llm.seconds,
            llm.cached,
            llm.response_id,
        )
    for action in t.actions:
        yield ActionRun(sid, action.name, action.ok, action.seconds)
    if result.handoff is not None:
        yield ConversationHandedOff(sid, result.handoff.flow, result.handoff.state)
    for e in t.events:
        if isinstance(e, Ended):
            yield ConversationEnded(sid, e.flow, e.state)
    if t.rule == "error":
        kind = t.errors[-1].partition(":")[0] if t.errors else "error"
        yield TurnFailed(sid, result.flow, result.state, kind, t.seconds)
    else:
        outcome = outcome_of(t.rule)
        yield TurnFinished(sid, result.flow, result.state, outcome, t.rule, t.seconds, result.ended)


def notify(observers: Sequence[Observer], result: TurnResult, privacy: Privacy) -> None:
    """Tell every observer about a turn, and log it at DEBUG with structured fields (the
    session id redacted, as in every log line)."""
    if log.isEnabledFor(logging.DEBUG):
        t = result.trace
        who = privacy.ident(result.session_id)
        log.debug(
            "turn %s of session %s: %s (%s) in %.1f ms",
            t.turn,
            who,
            outcome_of(t.rule),
            t.rule,
            t.seconds * 1000,
            extra={
                "session_id": who,
                "flow": result.flow,
                "state": result.state,
                "outcome": outcome_of(t.rule),
                "rule": t.rule,
                "seconds": t.seconds,
            },
        )
    if observers:
        tell(observers, events_of(result), privacy)


def tell(observers: Sequence[Observer], events: Iterable[Event], privacy: Privacy) -> None:
    """Call every observer with each event; one that raises is logged and ignored."""
    for event in events:
        for observer in observers:
            try:
                observer(event)
            except Exception as exc:
                log.error(
                    "observer %r failed on %s:\n%s",
                    observer,
                    type(event).__name__,
                    privacy.exception(exc),
                )
