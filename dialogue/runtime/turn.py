"""One turn of a conversation: understanding a message and answering it, no I/O.

``Turn.respond`` is a generator. Whenever the flow needs a business action it
yields an ``ActionCall`` (and is sent back an ``ActionOutcome``); when no rule
understood the message it yields an ``LLMCall`` (and is sent back the
``LLMResponse``). The engine's sync face runs these in threads, its async face
awaits them, so the same code serves ``handle`` and ``ahandle``, and the state
machine itself only ever fires synchronously. Moving through the flow is
``FlowWalker``'s (``runtime/walker.py``).

Order of a user message, in the current state:

1. intents: the state's own (``on``) and the global ones (of this flow, then
   of the calling flows); the longest keyword or pattern match wins; when none
   fires, the classifier trained on the intents' examples, over the same intents,
   unless the message answers the pending question; below its threshold it
   abstains (its best guesses go to the LLM's prompt if ``nlu.candidates``);
2. otherwise slot values: the pending question's answer, and any slot of the
   state's ``collect`` that identifies itself (pattern, enum, email, ...);
3. otherwise, if a question was pending, its reprompt ladder (``invalid``);
4. otherwise the no-match ladder, then escalation.

Before 3 and 4 the LLM fallback is asked, unless the pending slot's ``llm`` setting
says the message is an attempted value (``runtime/llm_gate.py``); a failed call is
answered by the flow's ``failure_reply`` and counts as no attempt.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dialogue.runtime.corrections import corrections
from dialogue.runtime.llm_contract import Interpretation
from dialogue.runtime.llm_gate import decide, is_outage, when_for
from dialogue.runtime.llm_step import ask
from dialogue.runtime.options import payload_intent
from dialogue.runtime.rules import IntentMatch, Prepared
from dialogue.runtime.walker import FlowWalker, Moves, Steps

if TYPE_CHECKING:
    from dialogue.runtime.classify import Classification


class Turn(FlowWalker):
    """Answers one message: rules first, then the LLM step, then the ladders."""

    # -- understanding -----------------------------------------------------------

    def match(self, text: Prepared) -> tuple[IntentMatch | None, str]:
        """The intent that fires, and the flow it belongs to."""
        s = self.session
        chosen = self.chosen_option(text)
        if chosen is not None:
            return chosen
        found, owner = self.state.matcher.match(text), s.flow
        for frame in reversed(s.stack):
            if found is not None:
                break
            found, owner = self.bot.flows[frame[0]].global_matcher.match(text), frame[0]
        if found is not None and self.answers_pending(found.intent, owner, text):
            return None, s.flow
        return found, owner

    def chosen_option(self, text: Prepared) -> tuple[IntentMatch, str] | None:
        """A quick reply's payload (``/track``) naming an intent allowed here: that intent,
        and its flow (an intent not allowed here is an ordinary message)."""
        name = payload_intent(text.raw)
        if name is None:
            return None
        s = self.session
        owners = [(self.flow, s.flow), *((self.bot.flows[f[0]], f[0]) for f in reversed(s.stack))]
        for index, (flow, owner) in enumerate(owners):
            local = index == 0 and name in self.state.on and name in flow.definition.intents
            if local or name in flow.globals:
                return IntentMatch(name, "option", text.raw, {}, (0, len(text.nfkc))), owner
        return None

    def classify(self, text: Prepared) -> tuple[Classification | None, str]:
        """The example-trained classifier's best guess when no rule fired, and the flow
        whose intent it is: the state's classifier, then the calling flows' global ones.
        A message the pending question's slot accepts is an answer, not an intent."""
        s = self.session
        if s.pending is not None and self.read_pending(text).ok:
            return None, s.flow
        first: Classification | None = None
        chain = [(self.state.classifier, s.flow)]
        chain += [(self.bot.flows[f[0]].global_classifier, f[0]) for f in reversed(s.stack)]
        for classifier, owner in chain:
            guess = classifier.classify(text) if classifier is not None else None
            if guess is None:
                continue
            self.record(
                (
                    "Classified",
                    s.flow,
                    s.state,
                    guess.best,
                    guess.confidence,
                    guess.runner_up,
                    guess.runner_up_confidence,
                    guess.margin,
                    guess.threshold,
                    guess.taken,
                )
            )
            if guess.taken:
                return guess, owner
            first = first or guess
        return first, s.flow

    def candidates(self, guess: Classification | None) -> list[dict[str, object]]:
        """The classifier's best guesses for the LLM prompt, when the flow asks for them."""
        if guess is None or guess.taken or not self.flow.definition.nlu.candidates:
            return []
        return guess.candidates()

    def answers_pending(self, intent: str, owner: str, text: Prepared) -> bool:
        """A typed answer to the pending question beats a digression ("no thanks")."""
        pending = self.session.pending
        g = self.bot.flows[owner].globals.get(intent)
        if pending is None or g is None or g.goto is not None or g.flow is not None:
            return False
        return self.flow.slots[pending].parser.type != "text" and self.read_pending(text).ok

    def respond(self, text: Prepared, *, first: bool = False) -> Steps:
        """Answer a user message (``first``: the greeting was just given).

        Rules first; only when none applies is the LLM asked, and a checked answer
        of the LLM is applied through the same methods as a rule's match.
        """
        failures, self.session.llm_failures = self.session.llm_failures, 0
        found, owner = self.match(text)
        if found is not None:
            trace = self.trace
            trace.rule, trace.intent, trace.matched = "intent", found.intent, found.matched
            s = self.session
            self.record(("IntentMatched", s.flow, s.state, found.intent, owner, "rule"))
            if (yield from self.take_intent(found.intent, owner, text, groups=found.groups)):
                return
        if (yield from self.corrected(text)):
            return
        guess = None
        if found is None:
            guess, owner = self.classify(text)
            if guess is not None and guess.taken:
                trace = self.trace
                trace.rule, trace.intent, trace.matched = "intent", guess.best, None
                trace.confidence = guess.confidence
                s = self.session
                self.record(("IntentMatched", s.flow, s.state, guess.best, owner, "classifier"))
                if (yield from self.take_intent(guess.best, owner, text)):
                    return
        # a new session's first message was not an answer to the greeting's question
        filled, invalid = self.extract(text, pending=not first)
        if filled:
            self.trace.rule = "slot"
            self.session.no_match = 0
            yield from self.settle()
            return
        if first:
            self.trace.rule = self.trace.rule or "start"
            return
        yield from self.unmatched(text, guess, invalid, failures)

    def unmatched(
        self, text: Prepared, guess: Classification | None, invalid: bool, failures: int
    ) -> Steps:
        """No rule understood the message: the LLM (unless the pending slot's ``llm``
        setting says no), then the reprompt or no-match ladder."""
        if invalid and not self.llm_wanted(text):
            self.trace.rule = "invalid"
            yield from self.reprompt()
            return
        answer = yield from ask(
            text,
            session=self.session,
            flow=self.flow,
            state=self.state,
            today=self.today,
            access=self.llm,
            trace=self.trace,
            candidates=self.candidates(guess),
        )
        if answer is not None and (yield from self.take_answer(answer, text)):
            return
        llm = self.trace.llm
        if llm is not None and llm.outcome == "failed" and is_outage(llm.failure):
            yield from self.llm_failed(failures + 1, llm.failure)
            return
        if self.trace.llm is not None and self.trace.llm.outcome == "budget" and not invalid:
            self.trace.rule = "no_match"
            self.over_budget()
            return
        if invalid:
            self.trace.rule = "invalid"
            yield from self.reprompt()
        else:
            self.trace.rule = "no_match"
            yield from self.no_match()

    def corrected(self, text: Prepared) -> Moves:
        """A new value for a filled slot of the state's ``correct`` (``actually it's
        CD654321``): replace it, then ask the waiting question again. A message that
        answers a waiting question of a type not picked out of messages (a bare ``no``
        to a yes/no question) is that answer, not a correction."""
        s = self.session
        if s.pending is None or not self.state.correct:
            return False
        if not self.flow.slots[s.pending].parser.extractable and self.read_pending(text).ok:
            return False  # "不需要" answers the confirmation; it is not a new reason
        changes = corrections(self.flow, self.state, s.slots, text, today=self.today)
        if not changes:
            return False
        for name, old, new in changes:
            self.record(("Corrected", s.flow, s.state, name, old, new))
            self.set_slot(name, new)
            self.taken.add(name)
        self.trace.rule = "slot"
        s.attempts = s.no_match = 0
        self.extract(text)
        yield from self.settle()
        return True

    def llm_wanted(self, text: Prepared) -> bool:
        """Whether the unparsed answer to the pending question goes to the LLM, by the
        slot's ``llm`` setting; the decision is an ``LLMDecided`` event."""
        s, fb = self.session, self.state.fallback
        if fb is None or s.pending is None:
            return True
        when = when_for(fb.asks, s.pending)
        slot_type = self.flow.slots[s.pending].parser.type
        asked, why = decide(when, slot_type, self.read_pending(text), text)
        self.record(("LLMDecided", s.flow, s.state, s.pending, when, asked, why))
        return asked

    def llm_failed(self, n: int, kind: str) -> Steps:
        """The LLM call failed: the failure reply, then the question again, with no
        attempt or no-match counted; the ``n``th failure in a row escalates at the
        state's ``max_failures`` when it has an ``on_failure``."""
        s, fb = self.session, self.state.fallback
        assert fb is not None
        s.llm_failures = n
        self.trace.rule = "llm_failed"
        self.record(("LLMFailed", s.flow, s.state, kind, n))
        self.say(fb.failure.say, nth=n - 1)
        if n >= fb.failure.max and fb.failure.goto is not None:
            s.llm_failures = 0
            self.moved("on_failure", f"{s.state}.fallback.on_failure", fb.failure.goto)
            self.escalate(fb.failure.escalation)
            self.goto(fb.failure.goto)
            yield from self.settle()
            return
        if s.pending is not None:
            self.ask(s.pending)

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
            self.record(("IntentMatched", s.flow, s.state, answer.intent, s.flow, "llm"))
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
        refused: dict[str, str] = {}
        for name, raw in groups.items():
            result = self.flow.slots[name].parser.validate(raw, today=self.today)
            if result.ok:
                self.set_slot(name, result.value)
            else:
                refused[name] = result.reason
                self.record(("SlotRejected", self.session.flow, self.session.state, name, raw))
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

    def refused_answer(self, refused: Mapping[str, str]) -> None:
        """ "A table for 13" when 12 is the most: say why the value was not taken (the
        slot's first reprompt) before the question that follows, instead of silence."""
        s = self.session
        for name in sorted(refused):
            slot = self.flow.slots.get(name)
            if slot is None or not slot.invalid or name not in self.state.collect:
                continue
            if s.pending == name:
                s.attempts = 1
            self.record(("Reprompted", s.flow, s.state, name, 1, refused[name]))
            offered = self.options
            question = self.replies.pop() if self.replies else None
            self.say(slot.invalid, nth=0)
            if question is not None:
                self.replies.append(question)
                self.offered = (len(self.replies) - 1, offered) if offered else self.offered

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
        if intent.language is not None and intent.language != self.bot.language:
            self.switch_language(intent.language)  # this turn answers in it already
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
                self.record(("SlotRejected", s.flow, s.state, slot, raw))
        for slot in intent.clear:
            s.slots.pop(slot, None)
        if intent.set:
            ctx = self.context()
            for slot, value in [(n, v.evaluate(ctx)) for n, v in intent.set]:
                self.set_slot(slot, value)
        if intent.goto is not None:
            while s.flow != owner and s.stack:
                s.flow, s.state = s.stack[-1][:2]
                self._moved()
                s.stack = s.stack[:-1]
            self.say(intent.say)
            self.offer(intent.options)
            self.moved("global", f"intents.{name}.goto", intent.goto)
            self.goto(intent.goto, carry=text)
        elif intent.flow is not None:
            self.say(intent.say)
            self.offer(intent.options)
            self.push(intent.flow)
        else:
            self.say(intent.say)
            self.offer(intent.options)
        yield from self.settle()

    def switch_language(self, language: str) -> None:
        """The user asked for another language (a global intent's ``language:``)."""
        s = self.session
        s.language = language
        self.bot = self.bot.in_language(language)
        self.trace.language = self.bot.language
        self._moved()
        self.record(("LanguageSet", s.flow, s.state, language, "intent"))

    def reprompt(self) -> Steps:
        s = self.session
        assert s.pending is not None
        slot = self.flow.slots[s.pending]
        s.attempts += 1
        if s.attempts >= slot.max_attempts and slot.on_exhausted is not None:
            self.record(("Exhausted", s.flow, s.state, s.pending))
            key = f"{s.state}.collect.{s.pending}.on_exhausted"
            self.moved("on_exhausted", key, slot.on_exhausted)
            self.escalate(slot.exhausted)
            self.goto(slot.on_exhausted)
            yield from self.settle()
            return
        last = self._answer
        reason = last[3].reason if last is not None and last[:2] == (s.flow, s.pending) else ""
        self.record(("Reprompted", s.flow, s.state, s.pending, s.attempts, reason))
        if reason == "am_or_pm" and slot.am_or_pm:
            self.say(slot.am_or_pm, nth=0)
        elif slot.invalid:
            self.say(slot.invalid, nth=s.attempts - 1)
            self.offer(slot.options)
        else:
            self.say(self.flow.invalid_default, nth=0)
            self.ask(s.pending)

    def no_match(self) -> Steps:
        s = self.session
        policy = self.state.no_match
        s.no_match += 1
        self.trace.no_match_count = s.no_match
        if s.no_match >= policy.max and policy.goto is not None:
            self.record(("Escalated", s.flow, s.state))
            self.moved("no_match", f"{s.state}.no_match.goto", policy.goto)
            self.escalate(policy.escalation)
            self.goto(policy.goto)
            yield from self.settle()
            return
        self.record(("NoMatched", s.flow, s.state, s.no_match))
        self.say(policy.say, nth=s.no_match - 1)
        if s.pending is not None:
            self.ask(s.pending)
        else:
            self.offer(self.state.options)

    def over_budget(self) -> None:
        """The token budget is spent: the flow's budget reply, not a no-match rung (the
        user was not misunderstood), then the pending question again."""
        self.say(self.flow.budget_reply)
        if self.session.pending is not None:
            self.ask(self.session.pending)

    def no_input(self) -> None:
        self.trace.rule = "no_input"
        if self.session.pending is not None:
            self.ask(self.session.pending)
        else:
            self.say(self.state.no_match.say, nth=0)
