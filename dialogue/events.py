"""The typed events of a turn's trace: each says where it happened and what it was.

A turn records its steps cheaply, as ``(class name, *fields)`` tuples
(``Trace.raw_events``); ``Trace.events`` makes these named tuples when it is read,
which is when this module is first imported: flow coverage, ``chat --trace``,
tests and observers read events, a turn itself never does.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from dialogue.kinds import MoveKind


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
    reason: str = ""
    """Why the answer was refused, as the slot's parser said (``no_match``, ``am_or_pm``,
    ``out_of_range`` ...: ``dialogue.runtime.slots.REASONS``); empty when no answer was read."""


class Corrected(NamedTuple):
    """A filled slot of the state's ``correct`` was given a new value by the message."""

    flow: str
    state: str
    slot: str
    old: Any
    new: Any


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


class LLMDecided(NamedTuple):
    """The answer to ``slot``'s question did not parse: whether it went to the LLM
    (``asked``), by the slot's ``llm`` setting ``when`` and ``why`` (``runtime/llm_gate.py``)."""

    flow: str
    state: str
    slot: str
    when: Literal["always", "implausible", "never"]
    asked: bool
    why: str


class LLMFailed(NamedTuple):
    """The LLM call failed (``kind``): the ``n``th failure in a row; not an attempt."""

    flow: str
    state: str
    kind: str
    n: int


class IntentMatched(NamedTuple):
    """``intent`` was understood, ``by`` a rule or the LLM; ``owner`` is the flow whose
    intent it is (a calling flow's, for its global intents)."""

    flow: str
    state: str
    intent: str
    owner: str
    by: Literal["rule", "classifier", "llm"]


class EventHandled(NamedTuple):
    """The host's event ``event`` was handled here: by the state's ``on``, or as a
    global event of flow ``owner``."""

    flow: str
    state: str
    event: str
    owner: str


class EventIgnored(NamedTuple):
    """The host's event ``event`` is not handled in this state: nothing changed."""

    flow: str
    state: str
    event: str


class Classified(NamedTuple):
    """The classifier trained on the intents' examples read the message (no rule fired):
    its best allowed intent, the runner-up, and whether the best was ``taken`` (its
    ``confidence`` reached ``threshold``; otherwise it abstained)."""

    flow: str
    state: str
    best: str
    confidence: float
    runner_up: str | None
    runner_up_confidence: float
    margin: float
    threshold: float
    taken: bool


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


class LanguageSet(NamedTuple):
    """The session's language became ``language``: set by the ``host``
    (``handle(..., language=)``), ``detected`` from the message
    (``settings.detect_language``), or switched by the user's ``intent`` (``language:``
    of a global intent)."""

    flow: str
    state: str
    language: str
    how: Literal["host", "detected", "intent"]
    # not a step of the flow: read it in ``Trace.events`` (``trace.language`` is the result)


class LeakBlocked(NamedTuple):
    """An LLM reply was withheld: it quoted ``source`` (``prompt``: the system prompt,
    ``private``: a private knowledge section, ``code``: a private code word) over
    ``run`` consecutive words or CJK characters (``runtime/leak.py``)."""

    flow: str
    state: str
    source: Literal["prompt", "private", "code"]
    run: int


class HandedOff(NamedTuple):
    """A handoff state was entered: a person takes the conversation over, for ``reason``."""

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
    | Corrected
    | Exhausted
    | NoMatched
    | Escalated
    | LLMDecided
    | LLMFailed
    | IntentMatched
    | EventHandled
    | EventIgnored
    | Classified
    | ActionCalled
    | FlowCalled
    | Returned
    | Restarted
    | LanguageSet
    | LeakBlocked
    | HandedOff
    | Ended
)


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
    return _answer_line(event)


def _answer_line(event: Event) -> str | None:
    """The lines of how a message or event was answered: ladders, host events."""
    match event:
        case Reprompted(_, _, slot, n):
            return f"reprompt {slot} {n}"
        case Corrected(_, _, slot, old, new):
            return f"correct {slot}: {old!r} -> {new!r}"
        case Exhausted(_, _, slot):
            return f"{slot} attempts exhausted"
        case NoMatched(_, _, n):
            return f"no-match {n}"
        case Escalated():
            return "no-match escalation"
        case EventHandled(_, _, name, _):
            return f"event {name}"
        case EventIgnored(_, _, name):
            return f"event {name} ignored"
    return _llm_line(event)


def _llm_line(event: Event) -> str | None:
    """The steps of the LLM policy: a skipped call, a failed one."""
    match event:
        case LLMDecided(_, _, slot, when, False, why):
            return f"no llm for {slot} ({when}: {why})"
        case LLMFailed(_, _, kind, n):
            return f"llm failed {n} ({kind})"
    return None


BY_NAME: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        Entered,
        Moved,
        Asked,
        SlotRejected,
        Reprompted,
        Corrected,
        Exhausted,
        NoMatched,
        Escalated,
        LLMDecided,
        LLMFailed,
        IntentMatched,
        EventHandled,
        EventIgnored,
        Classified,
        ActionCalled,
        FlowCalled,
        Returned,
        Restarted,
        LanguageSet,
        LeakBlocked,
        HandedOff,
        Ended,
    )
}
"""Every event class by its name, as ``Trace.raw_events`` records it."""
