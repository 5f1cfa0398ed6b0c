"""Events from the host: a turn that answers an event instead of a message.

The host sends ``Engine.event(session_id, name, data=...)``: a timeout, a page
opened, a parcel shipped. A state's ``on`` handles the event like an intent;
otherwise a global event of the flow (or of a calling flow) handles it with its
``say`` / ``goto`` / ``flow``; otherwise it is ignored: the turn says nothing,
changes nothing, and its trace says so (``rule == "event_ignored"``). The event's
data fills the slots the event declares (``slots``), each value checked by the
slot's type; a refused value is a ``SlotRejected`` event, not taken.

A new (or ended) session is greeted before the event is handled, unless a global
event moves it (``goto`` or ``flow``): then the bot speaks first with the event's
``say`` (a proactive message) and the target's entry. An event a new conversation
would not handle, sent to no session or an ended one, starts nothing: it is
ignored before any turn (``TurnSetup.early``), and nothing is saved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dialogue.errors import EventError, did_you_mean
from dialogue.runtime.compiled import Bot, CEvent, CompiledFlow
from dialogue.runtime.turn import Turn
from dialogue.runtime.walker import Steps


@dataclass(frozen=True, slots=True)
class EventIn:
    """An event the host sent: its name and its data (slot values)."""

    name: str
    data: Mapping[str, Any] = field(default_factory=dict)


def check_event(bot: Bot, name: str, data: Mapping[str, Any]) -> EventIn:
    """The event, if some flow declares it and every data key is one of its slots."""
    declared = [f.events[name] for f in bot.flows.values() if name in f.events]
    if not declared:
        known = sorted({e for f in bot.flows.values() for e in f.events})
        hint = did_you_mean(name, known) or (
            f"known events: {', '.join(known)}" if known else "the flows declare no 'events:'"
        )
        raise EventError(f"no flow declares event {name!r}", event=name, hint=hint)
    carried = {slot for e in declared for slot in e.slots}
    for key in data:
        if key not in carried:
            hint = did_you_mean(key, sorted(carried)) or (
                f"event {name!r} carries: {', '.join(sorted(carried))}"
                if carried
                else f"list the slot under 'slots' of event {name!r}"
            )
            raise EventError(f"event {name!r} carries no slot {key!r}", event=name, hint=hint)
    return EventIn(name, dict(data))


def handled_at_start(bot: Bot, name: str) -> bool:
    """Whether a new conversation would handle the event (its start state's ``on``, or a
    global event of the main flow): if not, an event to no session, or to an ended one,
    is ignored without starting a conversation."""
    main = bot.flows[bot.main]
    event = main.events.get(name)
    return event is not None and (event.scope == "global" or name in main.states[main.start].on)


def _handler(turn: Turn, name: str) -> tuple[str, CEvent | None] | None:
    """Who handles the event here: ``(flow, None)`` for the state's ``on``, ``(owner,
    event)`` for a global event of the flow or of a calling flow; None: nobody."""
    s = turn.session
    if name in turn.state.on and name in turn.flow.events:
        return s.flow, None
    for owner in [s.flow, *(f[0] for f in reversed(s.stack))]:
        event = turn.bot.flows[owner].events.get(name)
        if event is not None and event.scope == "global":
            return owner, event
    return None


def event_steps(turn: Turn, event: EventIn, *, fresh: bool) -> Steps:
    """The steps of a turn answering ``event`` (``fresh``: a new conversation)."""
    found = _handler(turn, event.name)
    moves = found is not None and found[1] is not None and bool(found[1].goto or found[1].flow)
    if fresh and not moves:
        turn.trace.rule = "start"
        turn.enter()
        yield from turn.settle()
        found = _handler(turn, event.name)
    yield from react(turn, event, found)


def react(turn: Turn, event: EventIn, found: tuple[str, CEvent | None] | None) -> Steps:
    s = turn.session
    name = event.name
    if found is None:
        _ignored(turn, name)
        return
    owner, spec = found
    before = dict(s.slots)
    _take_data(turn, turn.bot.flows[owner], event)
    if spec is None:
        chosen = turn.choose(turn.state.on[name])
        if chosen is None:  # every guard said no
            s.slots = before
            _ignored(turn, name)
            return
        _handled(turn, name, owner)
        s.no_match = 0
        yield from turn.transition(chosen)
        yield from turn.settle()
        return
    _handled(turn, name, owner)
    s.no_match = 0
    for slot in spec.clear:
        s.slots.pop(slot, None)
    if spec.goto is not None:
        while s.flow != owner and s.stack:
            s.flow, s.state = s.stack[-1][:2]
            turn._moved()
            s.stack = s.stack[:-1]
        turn.say(spec.say)
        turn.offer(spec.options)
        turn.moved("global", f"events.{name}.goto", spec.goto)
        turn.goto(spec.goto)
    else:
        turn.say(spec.say)
        turn.offer(spec.options)
        if spec.flow is not None:
            turn.push(spec.flow)
    yield from turn.settle()


def _take_data(turn: Turn, flow: CompiledFlow, event: EventIn) -> None:
    """Fill the slots the event carries (in this flow's declaration), each checked."""
    s = turn.session
    carried = flow.events[event.name].slots
    for key, raw in event.data.items():
        slot = flow.slots.get(key)
        if key not in carried:
            turn.record(("SlotRejected", s.flow, s.state, key, raw))
            continue
        if slot is None:  # an action's result (type any): taken as given
            turn.set_slot(key, raw)
            continue
        result = slot.parser.validate(raw, today=turn.today)
        if result.ok:
            turn.set_slot(key, result.value)
        else:
            turn.record(("SlotRejected", s.flow, s.state, key, raw))


def _handled(turn: Turn, name: str, owner: str) -> None:
    s = turn.session
    turn.trace.rule = "event"
    turn.record(("EventHandled", s.flow, s.state, name, owner))


def _ignored(turn: Turn, name: str) -> None:
    s = turn.session
    if turn.trace.rule != "start":
        turn.trace.rule = "event_ignored"
    turn.record(("EventIgnored", s.flow, s.state, name))
