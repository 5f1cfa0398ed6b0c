"""Conversations under test, from Python: say something, check what happened.

::

    from dialogue.testing import Conversation

    with Conversation.from_path("flows/customer_service.yaml") as conv:
        conv.say("where is my order").expect(state="tracking", intent="track")
        conv.say("AB123456").expect(bot_contains="on its way", state="menu")

The expectations are those of conversation test files (`dialogue.testing.spec.Expect`).
A failed one raises `ConversationFailure`, an ``AssertionError`` whose message is the
transcript so far and, for each failed expectation, what was expected and what happened.

LLM answers are scripted per turn (``say(text, llm={"reply": "..."})``) or up front
(``llm_replies=[...]``) and served by a `FakeLLM`: a real Chat Completions server on
127.0.0.1 that the real `OpenAIChatClient` talks to.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

from pydantic import ValidationError

from dialogue.engine import Engine
from dialogue.errors import ConfigurationError, ConversationFailure
from dialogue.testing.expectations import (
    Mismatch,
    check,
    conversation_failure,
    llm_called,
    show,
)
from dialogue.testing.fake_llm import (
    FAULT_TIMEOUT,
    Answer,
    FakeLLM,
    as_answer,
    load_bot,
    make_actions,
    make_engine,
    seeded_first,
    seeded_start,
)
from dialogue.testing.spec import Expect, Greeting, LLMFault
from dialogue.trace import Option, TurnResult


class Exchange:
    """One turn of a conversation under test: what the user said and what came of it."""

    def __init__(
        self, conversation: Conversation, index: int, user: str | None, result: TurnResult
    ) -> None:
        self.conversation = conversation
        self.index = index
        self.user = user
        self.result = result
        self.problems: list[Mismatch] = []
        """What went wrong with the scripted LLM answers this turn."""

    @property
    def replies(self) -> list[str]:
        return self.result.replies

    @property
    def label(self) -> str:
        if self.user is None:
            return "the greeting"
        separate = self.conversation.greeting == "separate"
        return f"turn {self.index if separate else self.index + 1}"

    def expect(self, **expectations: Any) -> Exchange:
        """Check this turn; raises `ConversationFailure` listing every failed expectation."""
        try:
            expect = Expect.model_validate(expectations)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(map(str, first["loc"]))
            raise TypeError(f"expect({where}=...): {first['msg']}") from None
        mismatches = check(expect, self.result)
        if mismatches:
            raise self.conversation.failure(self, [("", m) for m in mismatches])
        return self


class Conversation:
    """A conversation with an engine, one turn at a time, keeping the transcript.

    ``slots`` and ``meta`` seed the session before the greeting, ``language`` sets its
    language (one the flow speaks; default: the first); ``on_turn`` sees
    every `TurnResult` (coverage). With ``greeting="separate"`` (the default) the
    greeting turn runs on the first `say`, or on `start`, which returns it to check;
    with ``greeting="with_first_message"`` the first `say` goes to a new session, as
    a host's first message does, and its reply holds the greeting and the answer.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        llm: FakeLLM | None = None,
        slots: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
        session_id: str = "test",
        name: str = "",
        on_turn: Callable[[TurnResult], object] | None = None,
        language: str | None = None,
        greeting: Greeting = "separate",
    ) -> None:
        if greeting not in ("separate", "with_first_message"):
            raise ConfigurationError(
                f"greeting={greeting!r}", hint="'separate' or 'with_first_message'"
            )
        self.engine = engine
        self.greeting: Greeting = greeting
        self.llm = llm
        self.session_id = session_id
        self.name = name
        self.transcript: list[Exchange] = []
        self._slots = dict(slots or {})
        self._meta = dict(meta or {})
        self._language = language
        self._on_turn = on_turn
        self._owned: list[Engine | FakeLLM] = []

    @classmethod
    def from_path(
        cls,
        flow: str | os.PathLike[str],
        *,
        main: str | None = None,
        actions: Mapping[str, Any] | None = None,
        llm_replies: Sequence[Answer | Mapping[str, Any]] | None = None,
        llm: FakeLLM | None = None,
        today: datetime.date | None = None,
        **options: Any,
    ) -> Conversation:
        """A conversation with a flow file, on a fixed date, offline unless LLM answers
        are scripted (``llm_replies``, even empty, or ``llm``).

        ``actions`` replaces some of the flow's actions: a callable, or a stub
        ``{"returns": value}`` / ``{"raises": "message"}`` (a list: one per call).
        """
        bot, defaults = load_bot(flow, main=main)
        fake = llm if llm is not None or llm_replies is None else FakeLLM()
        engine = make_engine(bot, actions=make_actions(defaults, actions), llm=fake, today=today)
        conversation = cls(engine, llm=fake, **options)
        conversation._owned = [engine] + ([fake] if fake is not None and llm is None else [])
        if fake is not None and llm_replies:
            fake.script(*llm_replies)
        return conversation

    # -- talking -----------------------------------------------------------------

    def start(self) -> Exchange:
        """The greeting turn (run once; later calls return it again)."""
        if self.greeting == "with_first_message":
            raise ConfigurationError(
                "this conversation greets with its first message: there is no greeting turn",
                hint="check the first say()'s reply, or use greeting='separate'",
            )
        if self.transcript:
            return self.transcript[0]
        result = seeded_start(self.engine, self.session_id, self._slots, self._meta, self._language)
        return self._record(None, result)

    def resume(self) -> None:
        """Give the conversation back to the bot after a handoff, as a host does
        (``Engine.resume``)."""
        self.engine.resume(self.session_id)

    def say(self, text: str, *, llm: Answer | Mapping[str, Any] | None = None) -> Exchange:
        """Send a user message; ``llm`` scripts the LLM's answer for this turn."""
        exchange = self.turn(text, llm=llm)
        if exchange.problems:
            raise self.failure(exchange, [("", p) for p in exchange.problems])
        return exchange

    def turn(self, text: str, *, llm: Answer | Mapping[str, Any] | None = None) -> Exchange:
        """Like `say`, but problems with the scripted LLM answer are only recorded."""
        if self.greeting == "separate":
            self.start()
        answer = None if llm is None else as_answer(llm)
        fake = self.llm
        if answer is not None and fake is None:
            raise ConfigurationError(
                "this conversation has no fake LLM to script",
                hint="pass llm_replies=[] (or llm=FakeLLM()) to Conversation.from_path",
            )
        calls, unscripted = (fake.calls, fake.unscripted) if fake else (0, 0)
        if fake is not None and answer is not None:
            fake.script(answer)
        result = self._handle(text, slow=isinstance(answer, LLMFault) and answer.fault == "timeout")
        exchange = self._record(text, result)
        if fake is not None:
            exchange.problems = _llm_problems(fake, answer, result, calls, unscripted)
        return exchange

    def event(self, name: str, data: Mapping[str, Any] | None = None) -> Exchange:
        """Send an event from the host (``Engine.event``) instead of a user message; the
        transcript shows it as ``(event NAME)``."""
        self.start()
        result = self.engine.event(self.session_id, name, data=data)
        return self._record(f"(event {name})", result)

    def option(self, label: str) -> Option | None:
        """The quick reply labelled ``label`` the last turn offered, if it offered one."""
        last = self.transcript[-1] if self.transcript else self.start()
        return next((o for o in last.result.options if o.label == label), None)

    def choose(self, label: str, *, llm: Answer | Mapping[str, Any] | None = None) -> Exchange:
        """Choose the quick reply labelled ``label`` (as a user taps a button): its text is
        sent. Raises `ConversationFailure` when the last turn did not offer it."""
        option = self.option(label)
        if option is None:
            last = self.transcript[-1]
            have = [o.label for o in last.result.options]
            problem = Mismatch(("choose",), f"an option {show(label)}", f"options {show(have)}")
            raise self.failure(last, [("", problem)])
        return self.say(option.text, llm=llm)

    def _handle(self, text: str, *, slow: bool) -> TurnResult:
        if not slow:
            return self._send(text)
        settings = self.engine.llm_settings
        self.engine.llm_settings = {**settings, "timeout": FAULT_TIMEOUT}
        try:
            return self._send(text)
        finally:
            self.engine.llm_settings = settings

    def _send(self, text: str) -> TurnResult:
        if self.transcript:
            return self.engine.handle(self.session_id, text)
        return seeded_first(
            self.engine, self.session_id, text, self._slots, self._meta, self._language
        )

    def _record(self, text: str | None, result: TurnResult) -> Exchange:
        if self._on_turn is not None:
            self._on_turn(result)
        exchange = Exchange(self, len(self.transcript), text, result)
        self.transcript.append(exchange)
        return exchange

    def failure(
        self,
        exchange: Exchange,
        failures: list[tuple[str, Mismatch]],
        *,
        label: str = "",
        where: str = "",
    ) -> ConversationFailure:
        """The error for failed expectations of ``exchange`` (``failures``: (where, mismatch))."""
        turns = [(e.user, e.result) for e in self.transcript[: exchange.index + 1]]
        return conversation_failure(
            self.name, label or exchange.label, turns, failures, where=where
        )

    # -- the end -----------------------------------------------------------------

    def close(self) -> None:
        """Close the engine and fake LLM this conversation made (not those it was given)."""
        for owned in reversed(self._owned):
            owned.close()
        self._owned = []

    def __enter__(self) -> Conversation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _llm_problems(
    fake: FakeLLM, answer: Answer | None, result: TurnResult, calls: int, unscripted: int
) -> list[Mismatch]:
    """A scripted answer the turn did not use, or an LLM call nobody scripted."""
    problems = []
    if fake.unscripted > unscripted:
        problems.append(
            Mismatch(
                ("user",),
                "no LLM call (no answer is scripted for this turn)",
                f"the LLM was asked (rule {show(result.trace.rule)}); script its answer: 'llm:'",
            )
        )
    if answer is not None and fake.calls == calls:
        problems.append(
            Mismatch(("llm",), "the LLM to be asked (an answer is scripted)", _not_asked(result))
        )
        fake.reset()
    return problems


def _not_asked(result: TurnResult) -> str:
    trace = result.trace
    if trace.llm is not None and not llm_called(result):
        return f"the LLM was not asked: it is {trace.llm.outcome} (rule {show(trace.rule)})"
    skipped = [e for e in trace.raw_events if e[0] == "LLMDecided" and not e[5]]
    if skipped:  # the slot's llm setting kept the message from the LLM
        _, _, _, slot, when, _, why = skipped[-1]
        return f"the LLM was not asked: slot {show(slot)} has llm: {when} ({why})"
    what = f"intent {show(trace.intent)}" if trace.intent else f"rule {show(trace.rule)}"
    return f"the LLM was not asked: {what} answered"
