"""Moving a session through its flow, with no I/O of its own.

``FlowWalker`` enters states, runs their entry steps and settles them until they
need the user: it asks for missing slots, yields an ``ActionCall`` for each
business action (and is sent back an ``ActionOutcome``), calls and returns from
sub-flows and takes ``next`` transitions, firing the flow's machine for every
move and recording every step as a typed trace event. ``runtime/turn.py`` builds
the answer to a message on it.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Generator, Sequence
from typing import Any

from dialogue.errors import FlowLoopError
from dialogue.runtime.actions import ActionCall, ActionOutcome
from dialogue.runtime.compiled import (
    Bot,
    CCall,
    CEscalation,
    CompiledFlow,
    CState,
    CTransition,
    Value,
)
from dialogue.runtime.llm_contract import LLMCall
from dialogue.runtime.llm_step import LLMAccess
from dialogue.runtime.options import COption, render
from dialogue.runtime.rules import Prepared
from dialogue.runtime.slots import ParseResult
from dialogue.runtime.templates import Text
from dialogue.runtime.user_budget import TokensCharge, TokensHold
from dialogue.session import Frame, HandoffMark, Session
from dialogue.trace import ActionTrace, MoveKind, Option, RawEvent, Trace

MAX_STEPS = 64
"""Moves within one turn before the flow is declared to loop forever."""

Effects = ActionCall | LLMCall | TokensHold | TokensCharge
"""What a turn asks its driver to do: run a business action, ask the LLM, or hold and
charge tokens of the user's budget in the store (``runtime/user_budget.py``)."""
Steps = Generator[Effects, Any, None]
Moves = Generator[Effects, Any, bool]
OFFLINE = LLMAccess()


class FlowWalker:
    """Moves a session through its flow: enters states, settles them until they need the
    user (asking, calling actions and sub-flows, taking ``next``), and records each step
    as a trace event. ``Turn`` builds on it to answer one message."""

    def __init__(
        self,
        bot: Bot,
        session: Session,
        trace: Trace,
        *,
        today: Callable[[], datetime.date],
        llm: LLMAccess = OFFLINE,
    ) -> None:
        self.bot = bot
        self.session = session
        self.trace = trace
        self.replies: list[str] = []
        self._moved()
        self.slots_before = dict(session.slots)
        self._today = today
        self.llm = llm
        """What the turn may do with the LLM (``Turn`` asks it when no rule matched)."""
        self._date: datetime.date | None = None
        self.carry: Prepared | None = None
        """The message the current state was entered with, passed on along its ``next``."""
        self.taken: set[str] = set()
        """Slots already read from this turn's message, not read from it again."""
        self._answer: tuple[str, str, Prepared, ParseResult] | None = None
        """The last `read_pending`: flow, slot, message and what it read."""
        self.offered: tuple[int, tuple[Option, ...]] | None = None
        """The latest quick replies offered, with the index of the reply they go with."""

    # -- small helpers -----------------------------------------------------

    def _moved(self) -> None:
        """Look up the current flow and state again (after every move)."""
        self.flow: CompiledFlow = self.bot.flows[self.session.flow]
        self.state: CState = self.flow.states[self.session.state]

    @property
    def today(self) -> datetime.date:
        if self._date is None:
            self._date = self._today()
        return self._date

    def context(self) -> dict[str, Any]:
        ctx = dict(self.flow.base_context)
        ctx.update(self.session.slots)
        return ctx

    def say(self, texts: Sequence[Text], nth: int | None = None) -> None:
        """Say one of ``texts``: the ``nth`` (a ladder) or a variation by turn number."""
        if not texts:
            return
        index = self.session.turn if nth is None else min(nth, len(texts) - 1)
        text = texts[index % len(texts)]
        self.replies.append(text.source if text.static else text.render(self.context()))

    def offer(self, options: Sequence[COption]) -> None:
        """Offer quick replies with the reply just said."""
        if options:
            self.offered = (len(self.replies) - 1, render(options, self.context()))

    @property
    def options(self) -> tuple[Option, ...]:
        """The quick replies of the turn's last reply (none if it offered none)."""
        offered = self.offered
        if offered is None or offered[0] != len(self.replies) - 1:
            return ()
        return offered[1]

    def set_slot(self, name: str, value: Any) -> None:
        self.session.slots[name] = value

    def record(self, event: RawEvent) -> None:
        """Record a step: ``(EventClass, *fields)``, made into the typed event when the
        trace's ``events`` are read (a tuple costs a fraction of a named tuple)."""
        self.trace.raw_events.append(event)

    def moved(self, kind: MoveKind, key: str, dest: str | None) -> None:
        s = self.session
        self.record(("Moved", s.flow, s.state, kind, key, dest))

    # -- moving ----------------------------------------------------------------

    def goto(self, target: str, carry: Prepared | None = None) -> None:
        """Fire the machine to ``target`` and run the target's entry steps."""
        s = self.session
        s.state = self.flow.machine.fire(s.state, target)
        self._moved()
        self.enter(carry)

    def enter(self, carry: Prepared | None = None) -> None:
        s = self.session
        st = self.state
        s.step = s.attempts = s.no_match = 0
        s.pending = None
        self.trace.raw_events.append(("Entered", s.flow, st.name, bool(s.stack)))
        for name in st.clear:
            s.slots.pop(name, None)
        if st.set:
            ctx = self.context()
            for name, value in [(n, v.evaluate(ctx)) for n, v in st.set]:
                self.set_slot(name, value)
        self.say(st.say)
        self.offer(st.options)
        if st.handoff is not None:
            self.hand_off(st.handoff.reason)
        self.carry = carry
        if carry is not None:
            self.extract(carry, pending=False)

    def hand_off(self, reason: Value) -> None:
        """A person takes over: mark the session (the engine holds its messages from now
        on) and record why."""
        s = self.session
        value = reason.evaluate(self.context())
        why = "" if value is None else str(value)
        s.handoff = HandoffMark(why, s.flow, s.state, s.turn + 1)
        self.record(("HandedOff", s.flow, s.state, why))

    def escalate(self, then: CEscalation | None) -> None:
        """What an escalation sets and says on its way to its target state."""
        if then is None:
            return
        if then.set:
            ctx = self.context()
            for name, value in [(n, v.evaluate(ctx)) for n, v in then.set]:
                self.set_slot(name, value)
        self.say(then.say)

    def push(self, flow: str) -> None:
        """Call a sub-flow; it returns here when it reaches a final state."""
        s = self.session
        self.record(("FlowCalled", s.flow, s.state, flow))
        s.stack = (*s.stack, Frame(s.flow, s.state, s.step, s.pending))
        s.flow = flow
        s.state = self.bot.flows[flow].start
        self._moved()
        self.enter()

    def pop(self) -> bool:
        s = self.session
        if not s.stack:
            return False
        s.flow, s.state, s.step, s.pending = s.stack[-1]
        self._moved()
        s.stack = s.stack[:-1]
        s.attempts = s.no_match = 0
        self.carry = None
        self.record(("Returned", s.flow, s.state))
        return True

    def settle(self) -> Steps:
        """Run the current state until it needs the user: ask, call, move on."""
        s = self.session
        for _ in range(MAX_STEPS):
            st = self.state
            if s.step == 0:
                missing = next((n for n in st.collect if s.slots.get(n) is None), None)
                if missing is not None:
                    if s.pending != missing:
                        s.pending, s.attempts = missing, 0
                    self.ask(missing)
                    return
                s.pending = None
                s.step = 1
                if st.call is not None and (yield from self.call(st.call)):
                    continue
            if s.step == 1:
                s.step = 2
                if st.flow is not None:
                    self.push(st.flow)
                    continue
            if s.step == 3:  # next already evaluated on this visit: wait
                return
            chosen = self.choose(st.next)
            if chosen is not None and (yield from self.transition(chosen, self.carry)):
                continue
            s.step = 3
            if st.final:
                if self.pop():
                    continue
                s.ended = True
                self.record(("Ended", s.flow, s.state))
            return
        raise FlowLoopError(
            f"flow {s.flow!r} moved {MAX_STEPS} times in one turn without waiting",
            flow=s.flow,
            moves=MAX_STEPS,
        )

    def ask(self, slot: str) -> None:
        s = self.session
        self.trace.raw_events.append(("Asked", s.flow, s.state, slot))
        spec = self.flow.slots[slot]
        self.say(spec.ask)
        self.offer(spec.options)

    def choose(self, transitions: Sequence[CTransition]) -> CTransition | None:
        if not transitions:
            return None
        ctx = self.context()
        for t in transitions:
            if t.cond is None or t.cond.evaluate(ctx):
                return t
        return None

    def transition(self, t: CTransition, carry: Prepared | None = None) -> Moves:
        """Run a transition; True if it moved to another (or the same) state."""
        s = self.session
        self.trace.raw_events.append(("Moved", s.flow, s.state, t.kind, t.label, t.goto))
        if t.set:
            ctx = self.context()
            for name, value in [(n, v.evaluate(ctx)) for n, v in t.set]:
                self.set_slot(name, value)
        if t.call is not None and (yield from self.call(t.call)):
            return True
        self.say(t.say)
        self.offer(t.options)
        for name in t.clear:
            s.slots.pop(name, None)
        if t.goto is None:
            return False
        self.goto(t.goto, carry)
        return True

    def call(self, call: CCall) -> Moves:
        """Run a business action; True if its failure moved the conversation."""
        ctx = self.context()
        arguments = {name: value.evaluate(ctx) for name, value in call.arguments}
        s = self.session
        outcome = yield ActionCall(call.action, arguments, call.timeout, s.flow, s.state)
        assert isinstance(outcome, ActionOutcome)
        self.record(("ActionCalled", s.flow, s.state, call.action, outcome.ok))
        error = "" if outcome.error is None else str(outcome.error)
        ran = ActionTrace(call.action, outcome.ok, outcome.seconds, error, *outcome.keyed)
        self.trace.actions.append(ran)
        if outcome.ok:
            if call.into is not None:
                self.set_slot(call.into, outcome.value)
            return False
        self.trace.errors.append(error)
        if call.into is not None:
            self.session.slots.pop(call.into, None)
        self.say(call.error_say or self.flow.action_error)
        dest = call.on_error or self.flow.start
        self.moved("on_error", f"{s.state}.call.{call.action}.on_error", dest)
        self.goto(dest)
        return True

    # -- slots from the message ---------------------------------------------------

    def read_pending(self, text: Prepared) -> ParseResult:
        """``text`` read as the answer to the pending question (which must be set).

        Parsing depends only on the text and the day, so asking twice in a turn
        (is it an answer, rather than an intent? then: take the answer) reads once.
        """
        s = self.session
        assert s.pending is not None
        last = self._answer
        if last is not None and last[2] is text and last[1] == s.pending and last[0] == s.flow:
            return last[3]
        result = self.flow.slots[s.pending].parser.parse(text, today=self.today)
        self._answer = (s.flow, s.pending, text, result)
        return result

    def extract(self, text: Prepared, *, pending: bool = True) -> tuple[bool, bool]:
        """Fill slots from ``text``: (any slot filled, pending answer was invalid)."""
        s, flow = self.session, self.flow
        filled = invalid = False
        if pending and s.pending is not None:
            result = self.read_pending(text)
            if result.ok:
                self.set_slot(s.pending, result.value)
                filled = True
            else:
                invalid = True
        for name in self.state.extract:
            if s.slots.get(name) is None and name not in self.taken:
                value = flow.slots[name].parser.extract(text, today=self.today)
                if value is not None:
                    self.set_slot(name, value)
                    self.taken.add(name)
                    filled = True
        return filled, invalid and not filled
