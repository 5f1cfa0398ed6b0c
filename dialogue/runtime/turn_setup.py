"""From a stored session to a running turn, the same for both of the engine's faces.

``TurnSetup`` fits a stored session to the flows (they may have changed since it
was saved), answers without a turn when none is needed (a status, a redelivered
message, a message too long), and otherwise builds the ``Turn`` and the generator
of its steps: a new or ended session is greeted first, then the message is
answered. ``remember`` keeps a message id with its replies for redeliveries.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import Callable
from typing import Any

from dialogue.redact import Privacy
from dialogue.runtime.compiled import Bot
from dialogue.runtime.events_in import EventIn, event_steps, handled_at_start
from dialogue.runtime.language import set_language
from dialogue.runtime.llm_step import LLMAccess
from dialogue.runtime.results import degraded, duplicate, event_ignored, status
from dialogue.runtime.rules import prepare
from dialogue.runtime.turn import Turn
from dialogue.runtime.user_budget import user_limit
from dialogue.runtime.walker import Steps
from dialogue.schema import UserBudget
from dialogue.session import Session
from dialogue.trace import Trace, TurnResult

log = logging.getLogger("dialogue")

ANSWERED = 32
"""Message ids a session remembers (``handle(..., message_id=)``)."""

Incoming = str | EventIn | None
"""What a turn answers: a message, an event from the host, or nothing (a start)."""

Seed = tuple[dict[str, Any], dict[str, Any]] | None
"""Initial slots and meta of a new session (``Engine.start(..., slots=, meta=)``)."""


class TurnSetup:
    def __init__(
        self,
        bot: Bot,
        *,
        clock: Callable[[], datetime.datetime],
        llm: LLMAccess,
        privacy: Privacy,
        user_budget: UserBudget | None = None,
    ) -> None:
        self.bot = bot
        self.main = bot.flows[bot.main]
        self._clock = clock
        self._llm = llm
        self._privacy = privacy
        self.user_budget = user_budget
        """Tokens per user and period (``Engine(user_budget=)`` or the main flow's)."""

    def new_session(self, session_id: str, meta: dict[str, Any] | None = None) -> Session:
        main, fingerprint = self.main, self.bot.fingerprint
        return Session(session_id, main.name, main.start, meta=meta, fingerprint=fingerprint)

    def fitted(self, stored: Session | None) -> tuple[Session | None, str | None]:
        """The stored session fitted to the flows (they may have changed since it was
        saved), and why it had to restart, if it did."""
        if stored is None or stored.fingerprint == self.bot.fingerprint:
            return stored, None
        return stored, self.fit(stored)

    def fit(self, stored: Session) -> str | None:
        """Fit a session saved under other flows (its fingerprint differs); why it had to
        restart, if it did. The engine checks the fingerprint itself, on its hot path;
        ``runtime/fit.py`` is imported the first time a session needs it."""
        from dialogue.runtime.fit import fit

        return fit(self.bot, stored)

    def early(
        self,
        session_id: str,
        stored: Session | None,
        text: Incoming,
        message_id: str | None,
        started: float,
        max_text_length: int,
        language: str | None = None,
    ) -> TurnResult | None:
        """The answer when no turn runs: a status, a redelivery, a message too long, an
        event that would start a conversation only to be ignored."""
        held = stored is not None and stored.handoff is not None
        if text is None and stored is not None and (not stored.ended or held):
            if held or language is None or language == stored.language:
                return self._spoken(status(stored, started), stored)
        if message_id is not None and stored is not None:
            for seen, replies in stored.answered:
                if seen == message_id:
                    return self._spoken(duplicate(stored, replies, started), stored)
        if isinstance(text, str) and len(text) > max_text_length and not held:
            too_long = ValueError("too long")
            bot = self.bot.in_language(language or (stored.language if stored else None))
            return degraded(bot, session_id, stored, too_long, started, "too_long")
        if isinstance(text, EventIn) and (stored is None or stored.ended):
            if not handled_at_start(self.bot, text.name):
                session = stored or self.new_session(session_id)
                return self._spoken(event_ignored(session, text.name, started), session)
        return None

    def _spoken(self, result: TurnResult, stored: Session) -> TurnResult:
        """A result without a turn, saying the session's language all the same."""
        result.trace.language = self.bot.in_language(stored.language).language
        return result

    def begin(
        self,
        session_id: str,
        stored: Session | None,
        text: Incoming,
        seed: Seed = None,
        restarted: str | None = None,
        language: str | None = None,
        user: str | None = None,
    ) -> tuple[Turn, Steps]:
        """The turn over a copy of the session, and the generator of its steps;
        ``language`` (the host's) sets the session's language first; ``user`` (the
        host's user key) names the user budget the turn's LLM call draws from."""
        if stored is not None and stored.handoff is not None:
            return self._held(stored, restarted)
        fresh = stored is None or stored.ended or restarted is not None
        if stored is None:
            session = self.new_session(session_id)
        elif stored.ended:
            session = self.new_session(session_id, stored.meta)
            session.version = stored.version
            session.answered = stored.answered
            session.tokens = (
                stored.tokens
            )  # the token budget is the session's, not per conversation
            session.language = stored.language
        else:
            session = stored
        if fresh and seed is not None:
            slots, meta = seed
            session.slots.update(slots)
            if meta:
                session.meta = {**(session.meta or {}), **meta}
        trace = Trace(session_id, session.turn + 1, session.flow, session.state)
        set_language(self.bot, session, trace, language, text if isinstance(text, str) else None)
        bot = self.bot.in_language(session.language)
        trace.language = bot.language
        clock = self._clock
        access = self._llm
        if user is not None and self.user_budget is not None and access.enabled:
            limit = user_limit(self.user_budget, user, clock())
            access = dataclasses.replace(access, user=limit)
        turn = Turn(bot, session, trace, today=lambda: clock().date(), llm=access)
        if restarted is not None:
            trace.raw_events.append(("Restarted", session.flow, session.state, restarted))
            log.warning("session %s restarted: %s", self._privacy.ident(session_id), restarted)
        return turn, _steps(turn, text, fresh)

    def _held(self, session: Session, restarted: str | None) -> tuple[Turn, Steps]:
        """A person has the conversation: a turn that answers nothing (the message is
        kept in the history for them, by ``finish``)."""
        trace = Trace(session.id, session.turn + 1, session.flow, session.state)
        trace.rule = "handed_off"
        bot = self.bot.in_language(session.language)
        trace.language = bot.language
        clock = self._clock
        turn = Turn(bot, session, trace, today=lambda: clock().date(), llm=self._llm)
        if restarted is not None:
            trace.raw_events.append(("Restarted", session.flow, session.state, restarted))
        return turn, _nothing()


def _steps(turn: Turn, text: Incoming, fresh: bool) -> Steps:
    if isinstance(text, EventIn):
        yield from event_steps(turn, text, fresh=fresh)
        return
    if fresh:
        turn.trace.rule = "start"
        turn.enter()
        yield from turn.settle()
    if text is None:
        turn.trace.rule = turn.trace.rule or "status"  # only the language was set
        return
    prepared = prepare(text)
    if not prepared.folded:
        if not fresh:
            turn.no_input()
        return
    yield from turn.respond(prepared, first=fresh)


def _nothing() -> Steps:
    yield from ()


def remember(session: Session, message_id: str | None, replies: list[str]) -> None:
    """Keep the message id and the turn's replies, so a redelivery gets them again."""
    if message_id is not None:
        session.answered = (*session.answered, (message_id, tuple(replies)))[-ANSWERED:]
