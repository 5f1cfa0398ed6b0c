"""One turn of a conversation: the dialogue logic, with no I/O of its own.

``Turn.run`` is a generator. Whenever the flow needs a business action it
yields an ``ActionCall`` and is sent back an ``ActionOutcome``; the engine's
sync face runs the action in a thread, its async face awaits it. So the same
code serves ``handle`` and ``ahandle``, and the state machine itself only
ever fires synchronously.

Order of a user message, in the current state:

1. intents: the state's own (``on``) and the global ones (of this flow, then
   of the calling flows); the longest match wins;
2. otherwise slot values: the pending question's answer, and any slot of the
   state's ``collect`` that identifies itself (pattern, enum, email, ...);
3. otherwise, if a question was pending, its reprompt ladder (``invalid``);
4. otherwise the no-match ladder, then escalation.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any

from dialogue.errors import DialogueError
from dialogue.runtime.actions import ActionCall, ActionOutcome
from dialogue.runtime.compiled import Bot, CCall, CompiledFlow, CState, CTransition
from dialogue.runtime.llm_contract import Interpretation, LLMCall
from dialogue.runtime.llm_step import LLMAccess, ask
from dialogue.runtime.rules import IntentMatch, Prepared
from dialogue.runtime.templates import Text
from dialogue.session import Frame, Session
from dialogue.trace import (
    ActionCalled,
    ActionTrace,
    Asked,
    Ended,
    Entered,
    Escalated,
    Event,
    Exhausted,
    FlowCalled,
    IntentMatched,
    Moved,
    MoveKind,
    NoMatched,
    Reprompted,
    Returned,
    SlotRejected,
    Trace,
)

MAX_STEPS = 64
"""Moves within one turn before the flow is declared to loop forever."""

Effects = ActionCall | LLMCall
"""What a turn asks its driver to do: run a business action, or ask the LLM."""
Steps = Generator[Effects, Any, None]
Moves = Generator[Effects, Any, bool]
OFFLINE = LLMAccess()


class FlowLoopError(DialogueError):
    code = "flow_loop"


class Turn:
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
        self._date: datetime.date | None = None
        self.carry: Prepared | None = None
        """The message the current state was entered with, passed on along its ``next``."""
        self.taken: set[str] = set()
        """Slots already read from this turn's message, not read from it again."""

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

    def set_slot(self, name: str, value: Any) -> None:
        self.session.slots[name] = value

    def record(self, event: Event) -> None:
        self.trace.events.append(event)

    def moved(self, kind: MoveKind, key: str, dest: str | None) -> None:
        s = self.session
        self.record(Moved(s.flow, s.state, kind, key, dest))

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
        self.record(Entered(s.flow, st.name, bool(s.stack)))
        for name in st.clear:
            s.slots.pop(name, None)
        if st.set:
            ctx = self.context()
            for name, value in [(n, v.evaluate(ctx)) for n, v in st.set]:
                self.set_slot(name, value)
        self.say(st.say)
        self.carry = carry
        if carry is not None:
            self.extract(carry, pending=False)

    def push(self, flow: str) -> None:
        """Call a sub-flow; it returns here when it reaches a final state."""
        s = self.session
        self.record(FlowCalled(s.flow, s.state, flow))
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
        self.record(Returned(s.flow, s.state))
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
                self.record(Ended(s.flow, s.state))
            return
        raise FlowLoopError(f"flow {s.flow!r} moved {MAX_STEPS} times in one turn without waiting")

    def ask(self, slot: str) -> None:
        self.record(Asked(self.session.flow, self.session.state, slot))
        self.say(self.flow.slots[slot].ask)

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
        self.record(Moved(s.flow, s.state, t.kind, t.label, t.goto))
        if t.set:
            ctx = self.context()
            for name, value in [(n, v.evaluate(ctx)) for n, v in t.set]:
                self.set_slot(name, value)
        if t.call is not None and (yield from self.call(t.call)):
            return True
        self.say(t.say)
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
        outcome = yield ActionCall(call.action, arguments, call.timeout)
        assert isinstance(outcome, ActionOutcome)
        s = self.session
        self.record(ActionCalled(s.flow, s.state, call.action, outcome.ok))
        error = "" if outcome.error is None else str(outcome.error)
        self.trace.actions.append(ActionTrace(call.action, outcome.ok, outcome.seconds, error))
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

    # -- understanding -----------------------------------------------------------

    def extract(self, text: Prepared, *, pending: bool = True) -> tuple[bool, bool]:
        """Fill slots from ``text``: (any slot filled, pending answer was invalid)."""
        s, flow = self.session, self.flow
        filled = invalid = False
        if pending and s.pending is not None:
            result = flow.slots[s.pending].parser.parse(text, today=self.today)
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

    def match(self, text: Prepared) -> tuple[IntentMatch | None, str]:
        """The intent that fires, and the flow it belongs to."""
        s = self.session
        found, owner = self.state.matcher.match(text), s.flow
        for frame in reversed(s.stack):
            if found is not None:
                break
            found, owner = self.bot.flows[frame[0]].global_matcher.match(text), frame[0]
        if found is not None and self.answers_pending(found.intent, owner, text):
            return None, s.flow
        return found, owner

    def answers_pending(self, intent: str, owner: str, text: Prepared) -> bool:
        """A typed answer to the pending question beats a digression ("no thanks")."""
        pending = self.session.pending
        g = self.bot.flows[owner].globals.get(intent)
        if pending is None or g is None or g.goto is not None or g.flow is not None:
            return False
        parser = self.flow.slots[pending].parser
        return parser.type != "text" and parser.parse(text, today=self.today).ok

    def respond(self, text: Prepared, *, first: bool = False) -> Steps:
        """Answer a user message (``first``: the greeting was just given).

        Rules first; only when none applies is the LLM asked, and a checked answer
        of the LLM is applied through the same methods as a rule's match.
        """
        found, owner = self.match(text)
        if found is not None:
            trace = self.trace
            trace.rule, trace.intent, trace.matched = "intent", found.intent, found.matched
            s = self.session
            self.record(IntentMatched(s.flow, s.state, found.intent, owner, "rule"))
            if (yield from self.take_intent(found.intent, owner, text, groups=found.groups)):
                return
        # a new session's first message was not an answer to the greeting's question
        filled, invalid = self.extract(text, pending=not first)
        if filled:
            self.trace.rule = "slot"
            yield from self.filled()
            return
        if first:
            self.trace.rule = self.trace.rule or "start"
            return
        answer = yield from ask(
            text,
            session=self.session,
            flow=self.flow,
            state=self.state,
            today=self.today,
            access=self.llm,
            trace=self.trace,
        )
        if answer is not None and (yield from self.take_answer(answer, text)):
            return
        if invalid:
            self.trace.rule = "invalid"
            yield from self.reprompt()
        else:
            self.trace.rule = "no_match"
            yield from self.no_match()

    def take_intent(
        self,
        intent: str,
        owner: str,
        text: Prepared,
        *,
        groups: Mapping[str, Any] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> Moves:
        """Apply an intent, a rule's or the LLM's; False if its guards all said no.

        ``groups`` are raw slot values (a pattern's named groups), checked by each
        slot's parser; ``values`` were checked already (the LLM's answer).
        """
        if owner == self.session.flow and intent in self.state.on:
            return (yield from self.local_intent(intent, text, groups or {}, values or {}))
        yield from self.global_intent(owner, intent, text, groups, values)
        return True

    def take_answer(self, answer: Interpretation, text: Prepared) -> Moves:
        """Apply the LLM's checked answer: an intent, slot values, or a reply."""
        s, trace = self.session, self.trace
        assert trace.llm is not None
        if answer.intent is not None:
            self.record(IntentMatched(s.flow, s.state, answer.intent, s.flow, "llm"))
            if not (yield from self.take_intent(answer.intent, s.flow, text, values=answer.slots)):
                trace.llm.outcome = "nothing"  # every guard of the intent said no
                return False
            trace.rule, trace.intent, trace.matched = "llm", answer.intent, None
            trace.llm.outcome = "intent"
            return True
        trace.rule = "llm"
        if answer.slots:
            trace.llm.outcome = "slots"
            for name, value in answer.slots.items():
                self.set_slot(name, value)
            yield from self.filled()
            return True
        assert answer.reply is not None
        trace.llm.outcome = "reply"
        self.replies.append(answer.reply)
        s.no_match = 0
        if s.pending is not None:
            self.ask(s.pending)
        return True

    def filled(self) -> Steps:
        """Slots were filled from the message: carry on with the state."""
        self.session.no_match = 0
        yield from self.settle()

    def local_intent(
        self,
        intent: str,
        text: Prepared,
        groups: Mapping[str, Any],
        values: Mapping[str, Any],
    ) -> Moves:
        before = dict(self.session.slots)
        refused = set()
        for name, raw in groups.items():
            result = self.flow.slots[name].parser.validate(raw, today=self.today)
            if result.ok:
                self.set_slot(name, result.value)
            else:
                refused.add(name)
                self.record(SlotRejected(self.session.flow, self.session.state, name, raw))
        for name, value in values.items():
            self.set_slot(name, value)
        chosen = self.choose(self.state.on[intent])
        if chosen is None:
            self.trace.rule = "intent_blocked"
            self.session.slots = before
            return False
        self.session.no_match = 0
        moved = yield from self.transition(chosen, carry=text)
        if not moved:
            self.extract(text)
        yield from self.settle()
        self.refused_answer(refused)
        return True

    def refused_answer(self, refused: set[str]) -> None:
        """ "A table for 13" when 12 is the most: say why the value was not taken (the
        slot's first reprompt) before the question that follows, instead of silence."""
        s = self.session
        for name in sorted(refused):
            slot = self.flow.slots.get(name)
            if slot is None or not slot.invalid or name not in self.state.collect:
                continue
            if s.pending == name:
                s.attempts = 1
            self.record(Reprompted(s.flow, s.state, name, 1))
            question = self.replies.pop() if self.replies else None
            self.say(slot.invalid, nth=0)
            if question is not None:
                self.replies.append(question)

    def global_intent(
        self,
        owner: str,
        name: str,
        text: Prepared,
        groups: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> Steps:
        s = self.session
        flow = self.bot.flows[owner]
        intent = flow.globals[name]
        s.no_match = 0
        for slot, value in (values or {}).items():
            self.set_slot(slot, value)
        for slot, raw in (groups or {}).items():
            result = flow.slots[slot].parser.validate(raw, today=self.today)
            if result.ok:
                self.set_slot(slot, result.value)
            else:
                self.record(SlotRejected(s.flow, s.state, slot, raw))
        for slot in intent.clear:
            s.slots.pop(slot, None)
        if intent.goto is not None:
            while s.flow != owner and s.stack:
                s.flow, s.state = s.stack[-1][:2]
                self._moved()
                s.stack = s.stack[:-1]
            self.say(intent.say)
            self.moved("global", f"intents.{name}.goto", intent.goto)
            self.goto(intent.goto, carry=text)
        elif intent.flow is not None:
            self.say(intent.say)
            self.push(intent.flow)
        else:
            self.say(intent.say)
        yield from self.settle()

    def reprompt(self) -> Steps:
        s = self.session
        assert s.pending is not None
        slot = self.flow.slots[s.pending]
        s.attempts += 1
        if s.attempts >= slot.max_attempts and slot.on_exhausted is not None:
            self.record(Exhausted(s.flow, s.state, s.pending))
            key = f"{s.state}.collect.{s.pending}.on_exhausted"
            self.moved("on_exhausted", key, slot.on_exhausted)
            self.goto(slot.on_exhausted)
            yield from self.settle()
            return
        self.record(Reprompted(s.flow, s.state, s.pending, s.attempts))
        if slot.invalid:
            self.say(slot.invalid, nth=s.attempts - 1)
        else:
            self.say(self.flow.invalid_default, nth=0)
            self.ask(s.pending)

    def no_match(self) -> Steps:
        s = self.session
        policy = self.state.no_match
        s.no_match += 1
        self.trace.no_match_count = s.no_match
        if s.no_match >= policy.max and policy.goto is not None:
            self.record(Escalated(s.flow, s.state))
            self.moved("no_match", f"{s.state}.no_match.goto", policy.goto)
            self.goto(policy.goto)
            yield from self.settle()
            return
        self.record(NoMatched(s.flow, s.state, s.no_match))
        self.say(policy.say, nth=s.no_match - 1)
        if s.pending is not None:
            self.ask(s.pending)

    def no_input(self) -> None:
        self.trace.rule = "no_input"
        if self.session.pending is not None:
            self.ask(self.session.pending)
        else:
            self.say(self.state.no_match.say, nth=0)
