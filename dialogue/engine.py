"""The engine: sessions in, replies out. Sync and async faces over one core.

A turn is atomic. The engine loads a copy of the session, runs ``Turn`` on it,
and saves it; if anything fails on the way (a template, the store) the
stored session stays as it was and the caller gets a degraded reply (or, for
the store, a ``StoreError``). Turns of one session never interleave: they
queue on one per-session lock that both faces share (``runtime/session_locks.py``),
and so does ``reset``.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import functools
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from dialogue.assemble import NLUCache, check_actions, flow_actions, load_bot, worst_turn
from dialogue.errors import (
    ConfigurationError,
    ConflictError,
    DialogueError,
    RenderError,
    SessionNotFound,
    StoreError,
)
from dialogue.llm.openai_client import LLMClient, LLMRequest, OpenAIChatClient
from dialogue.llm.protocol import LLMResponse
from dialogue.llm.service import OFFLINE_NOTICE, LLMService
from dialogue.redact import Privacy, Redactor
from dialogue.runtime.actions import Action, ActionCall, ActionRunner
from dialogue.runtime.compiled import Bot
from dialogue.runtime.events_in import check_event
from dialogue.runtime.handoff import HandoffHook, acall_hook, call_hook, history_needed, released
from dialogue.runtime.hidden import sanitize
from dialogue.runtime.language import spoken
from dialogue.runtime.leak import StreamGuard, system_message
from dialogue.runtime.llm_contract import LLMCall
from dialogue.runtime.llm_step import LLMAccess
from dialogue.runtime.once import Ledger
from dialogue.runtime.reply_stream import reply_reader
from dialogue.runtime.results import degraded, finish
from dialogue.runtime.session_locks import SessionLocks
from dialogue.runtime.streaming import Sink, TurnStream
from dialogue.runtime.turn_setup import Incoming, Seed, TurnSetup, remember
from dialogue.runtime.user_budget import TokensCharge, TokensHold, count_key
from dialogue.runtime.walker import Steps
from dialogue.schema import UserBudget
from dialogue.session import Feedback, Session, rated
from dialogue.stores import open_store
from dialogue.stores.base import SessionStore
from dialogue.stores.guard import GuardedStore
from dialogue.stores.memory import MemoryStore
from dialogue.trace import TurnResult

if TYPE_CHECKING:  # observers are imported when there are some, or DEBUG is on
    from dialogue.observe import Observer

log = logging.getLogger("dialogue")


class _FromEnv(enum.Enum):
    """``Engine.from_path(llm=...)`` not given: make the client from the environment."""

    FROM_ENV = "from the environment"

    def __repr__(self) -> str:
        return "<llm from the environment>"


FROM_ENV = _FromEnv.FROM_ENV

CONFLICT_RETRIES = 3

R = TypeVar("R")
Change = Callable[[Session | None], tuple[Session | None, R]]
"""A change of one stored session (None: there is none): the session to save (None:
nothing to save) and what the caller gets."""
"""A turn whose save finds the session saved meanwhile runs again from a fresh load."""


class Engine:
    """Runs conversations over compiled flows.

    ``Engine(bot, *, actions=None, store=None, clock=None, max_text_length=None)``;
    every dependency is a keyword argument and nothing is read from the
    environment. ``Engine.from_path`` loads, validates and compiles flow files.
    """

    def __init__(
        self,
        bot: Bot,
        *,
        actions: Mapping[str, Action] | None = None,
        store: SessionStore | str | None = None,
        clock: Callable[[], datetime.datetime] | None = None,
        max_text_length: int | None = None,
        history_turns: int | None = None,
        llm: LLMClient | None = None,
        llm_settings: Mapping[str, Any] | None = None,
        llm_cache: int = 0,
        trace_prompts: bool = False,
        action_threads: bool = True,
        lease_ttl: float | None = None,
        lease_wait: float = 30.0,
        observers: Sequence[Observer] = (),
        redactor: Redactor | None = None,
        log_user_data: bool = False,
        redact_history: bool = False,
        offload: bool = True,
        turn_deadline: float = 15.0,
        on_handoff: HandoffHook | None = None,
        user_budget: UserBudget | Mapping[str, Any] | None = None,
    ) -> None:
        self.bot = bot
        self.main = bot.flows[bot.main]
        self.offload = offload
        if turn_deadline <= 0:
            raise ConfigurationError(f"turn_deadline must be positive, not {turn_deadline}")
        self.turn_deadline = turn_deadline
        """Seconds a turn may take: the LLM's attempts and waits fit in what is left."""
        """``ahandle`` runs a turn's own work (rules, templates) in a worker thread."""
        chosen: SessionStore | None = open_store(store) if isinstance(store, str) else store
        self.store: SessionStore = MemoryStore() if chosen is None else chosen
        self._owns_store = isinstance(store, str)
        """The engine opened the store from a URL, so ``close`` closes it."""
        self._store = GuardedStore(self.store)
        """The store as turns use it: leases (folded into load and save when the store
        can), failures as ``StoreError``."""
        self._leasing = self._store.leases
        """Turns take the store's lease on their session (a store shared by processes)."""
        designer = [p for flow in bot.flows.values() for p in flow.settings.redact]
        host = redactor.patterns if redactor is not None else ()
        self.redactor = Redactor([*host, *designer]) if designer else redactor or Redactor()
        """Hides e-mails, phone and card numbers, the host's patterns (``redactor=``) and
        the flows' ``settings.redact`` patterns in what is logged."""
        """Hides e-mails, phone and card numbers (and the host's patterns) in what is logged."""
        self.log_user_data = log_user_data
        self.redact_history = redact_history
        self._redact_history = self.redactor if redact_history else None
        """What redacts a turn's text before it is kept in ``Session.history``."""
        self._fingerprint = bot.fingerprint
        self._privacy = Privacy(self.redactor, log_user_data)
        self._actions = ActionRunner(actions, threads=action_threads, privacy=self._privacy)
        self._clock = clock or datetime.datetime.now
        self.max_text_length = (
            self.main.settings.max_text_length if max_text_length is None else max_text_length
        )
        configured = self.main.settings.history_turns if history_turns is None else history_turns
        self._locks = SessionLocks()
        self._llm = LLMService(llm, cache_size=llm_cache)
        self.llm_settings = dict(llm_settings or {})
        try:  # fail now, not on the first turn that asks the LLM
            dataclasses.replace(self.main.llm, **self.llm_settings)
        except TypeError as exc:
            raise ConfigurationError(
                f"llm_settings: {exc}",
                hint="keys: model, temperature, max_tokens, timeout, retries",
            ) from None
        self.trace_prompts = trace_prompts
        self._llm_access = LLMAccess(
            self._llm.enabled, self.llm_settings, trace_prompts, self._privacy
        )
        self.user_budget = _user_budget(user_budget, self.main.llm_config.user_budget)
        """Tokens a user (``handle(..., user=)``) may spend per period, across sessions:
        ``user_budget=`` if given, else the main flow's ``llm.user_budget``."""
        if self.user_budget is not None and not self._store.counts:
            raise ConfigurationError(
                f"a user budget is set ({self.user_budget.tokens} tokens per "
                f"{self.user_budget.per}) but the store {type(self.store).__name__} keeps "
                "no token counts",
                hint="use a store that implements dialogue.stores.TokenStore (memory://, "
                "sqlite:///..., redis://...), or remove llm.user_budget / user_budget=",
            )
        self._setup = TurnSetup(
            bot,
            clock=self._clock,
            llm=self._llm_access,
            privacy=self._privacy,
            user_budget=self.user_budget,
        )
        if configured is None:
            configured = self.main.llm_config.history_turns if self._llm.enabled else 0
            configured = max(configured, history_needed(bot))  # a handoff's transcript
        self.history_turns = configured
        self.on_handoff = on_handoff
        """Called with a `HandoffInfo` after a turn that handed a conversation to a person
        (a function or a coroutine function); a failure is logged and in the trace."""
        self.lease_ttl = (
            worst_turn(self.bot, self.main.llm, self.llm_settings, self._llm.enabled)
            if lease_ttl is None
            else lease_ttl
        )
        """Seconds a turn holds its session's lease: longer than the slowest turn."""
        self.lease_wait = lease_wait
        self._observers = tuple(observers)
        """Seconds a turn waits for another turn of its session (then ``LeaseTimeout``)."""
        check_actions(bot, self._actions)
        self.offline = not self._llm.enabled and any(
            st.fallback is not None for f in bot.flows.values() for st in f.states.values()
        )
        """True when flows would use the LLM fallback but there is no LLM client."""
        if self.offline:
            log.info("%s", OFFLINE_NOTICE)

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages the main flow speaks, the default first (``handle(language=)``)."""
        return self.bot.languages

    @classmethod
    def from_path(
        cls,
        path: str | os.PathLike[str],
        *,
        main: str | None = None,
        actions: Mapping[str, Action] | None = None,
        llm: LLMClient | None | Literal[_FromEnv.FROM_ENV] = FROM_ENV,
        nlu_cache: NLUCache = None,
        **options: Any,
    ) -> Engine:
        """Load the flow file (and the flows it imports), compile, and build an engine.

        Actions come from ``actions`` if given, else from the flows'
        ``actions_module``. The LLM client is ``llm`` if given (``None``: offline);
        by default it is made from ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` when the
        key is set, read now, not at import. Intent models trained on ``examples``
        are kept in ``nlu_cache``: a folder, ``None`` for ``.dialogue-cache/`` beside
        the flow files, ``False`` to train in memory at every start.
        """
        if isinstance(llm, str):  # the old spelling of "not given"
            raise ConfigurationError(
                f"llm={llm!r}: pass an LLM client or None",
                hint="leave llm out to make the client from OPENAI_API_KEY",
            )
        bot, loaded = load_bot(path, main=main, nlu_cache=nlu_cache)
        if actions is None:
            actions = flow_actions(loaded)
        client = OpenAIChatClient.from_env() if llm is FROM_ENV else llm
        return cls(bot, actions=actions, llm=client, **options)

    # -- the core ------------------------------------------------------------

    def _maybe_early(self, text: Incoming) -> bool:
        """Whether ``TurnSetup.early`` may answer without a turn: a start (status), a
        message too long, an event (ignored where no conversation runs)."""
        if isinstance(text, str):
            return len(text) > self.max_text_length
        return True

    def _check_text(self, text: str | None) -> str | None:
        if text is None:
            return None
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, not {type(text).__name__}")
        return sanitize(text)

    # -- the sync face -------------------------------------------------------

    def handle(
        self,
        session_id: str,
        text: str,
        *,
        message_id: str | None = None,
        language: str | None = None,
        user: str | None = None,
        existing: bool = False,
    ) -> TurnResult:
        """Answer one user message.

        With ``message_id``, a message delivered again with the same id (a client's
        retry, a queue's redelivery) changes nothing and gets the first answer again
        (``trace.rule == "duplicate"``); the latest 32 ids of a session are kept.
        ``language`` sets the session's language (one of ``languages``) from this
        turn on; it is kept with the session. ``user`` is the host's key of the user
        (an account id): an LLM call of the turn draws from that user's token budget
        for the period (``user_budget``), shared by all of the user's sessions. With
        ``existing=True`` a session id the store does not hold raises
        ``SessionNotFound`` (nothing is saved) instead of starting a conversation: a
        service whose sessions are created apart checks that in the turn's own load.
        """
        checked = self._check_text(text)
        return self._handle(
            session_id,
            checked,
            message_id=message_id,
            language=language,
            user=_user(user),
            existing=existing,
        )

    def event(
        self,
        session_id: str,
        name: str,
        *,
        data: Mapping[str, Any] | None = None,
        message_id: str | None = None,
    ) -> TurnResult:
        """Tell the session's flow that ``name`` happened (``events:``), instead of a
        user message: its state's ``on`` or a global event reacts, with the slots in
        ``data`` (checked by their types); the replies are the host's to deliver (a
        proactive message). An event the state does not handle changes nothing
        (``trace.rule == "event_ignored"``). Under the session's lock and lease like a
        message, ``message_id`` as for ``handle``; ``EventError`` for an event no flow
        declares or data it does not carry."""
        event = check_event(self.bot, name, data or {})
        return self._handle(session_id, event, message_id=message_id)

    async def aevent(
        self,
        session_id: str,
        name: str,
        *,
        data: Mapping[str, Any] | None = None,
        message_id: str | None = None,
    ) -> TurnResult:
        """``event`` for coroutines."""
        event = check_event(self.bot, name, data or {})
        return await self._ahandle(session_id, event, message_id=message_id)

    def start(
        self,
        session_id: str,
        *,
        slots: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
        language: str | None = None,
    ) -> TurnResult:
        """Greet a new session, optionally with initial ``slots`` and ``meta``, in
        ``language`` (default: the flow's first).

        For a session that is already running this says nothing and returns where it
        is (``trace.rule == "status"``); ``slots``/``meta`` are ignored, ``language``
        is kept for its next replies.
        """
        seed = (dict(slots or {}), dict(meta or {}))
        return self._handle(session_id, None, seed, language=language)

    def _handle(
        self,
        session_id: str,
        text: Incoming,
        seed: Seed = None,
        message_id: str | None = None,
        language: str | None = None,
        user: str | None = None,
        existing: bool = False,
    ) -> TurnResult:
        started = time.perf_counter()
        language = None if language is None else spoken(self.bot, language)
        try:
            result = self._run(
                session_id, text, seed, message_id, started, language, user, existing
            )
        except SessionNotFound:
            raise  # no turn: nothing failed
        except DialogueError as exc:
            self._failed(session_id, exc, started)
            raise
        if result.handoff is not None and self.on_handoff is not None:
            call_hook(self.on_handoff, result.handoff, result.trace, self._privacy)
        if self._observers or log.isEnabledFor(logging.DEBUG):
            from dialogue.observe import notify

            notify(self._observers, result, self._privacy)
        return result

    def _failed(self, session_id: str, exc: DialogueError, started: float) -> None:
        """Tell the observers about a turn that raised (a store failure, a busy session)."""
        if self._observers:
            kind, seconds = type(exc).__name__, time.perf_counter() - started
            from dialogue.observe import TurnFailed, tell

            event = TurnFailed(session_id, "", "", kind, seconds)
            tell(self._observers, [event], self._privacy)

    def _run(
        self,
        session_id: str,
        text: Incoming,
        seed: Seed,
        message_id: str | None,
        started: float,
        language: str | None = None,
        user: str | None = None,
        existing: bool = False,
    ) -> TurnResult:
        lock = self._locks.acquire(session_id)
        lease = None
        try:
            lease, stored = self._store.begin(session_id, ttl=self.lease_ttl, wait=self.lease_wait)
            if existing and stored is None:
                raise _not_found(session_id)
            ledger = Ledger(session_id, message_id)
            for attempt in range(CONFLICT_RETRIES + 1):
                if attempt:  # the lease is still held: load again
                    stored = self._store.load(session_id)
                    ledger.restart()
                restarted = None
                if stored is not None and stored.fingerprint != self._fingerprint:
                    restarted = self._setup.fit(stored)
                if message_id is not None or self._maybe_early(text):
                    early = self._setup.early(
                        session_id,
                        stored,
                        text,
                        message_id,
                        started,
                        self.max_text_length,
                        language,
                    )
                    if early is not None:
                        return early
                try:
                    turn, steps = self._setup.begin(
                        session_id, stored, text, seed, restarted, language, user
                    )
                    self._drive(steps, started + self.turn_deadline, ledger)
                    result = finish(
                        turn,
                        text if isinstance(text, str) else None,
                        started,
                        history_turns=self.history_turns,
                        redact=self._redact_history,
                    )
                except (DialogueError, RenderError) as exc:
                    # the turn changed its copy in place: answer from what the store holds
                    before, _ = self._setup.fitted(self._store.load(session_id))
                    return degraded(
                        self.bot, session_id, before, exc, started, privacy=self._privacy
                    )
                if message_id is not None:
                    remember(turn.session, message_id, result.replies)
                try:
                    lease = self._store.commit(turn.session, lease)
                except ConflictError:
                    if attempt == CONFLICT_RETRIES:
                        raise
                    who = self._privacy.ident(session_id)
                    log.info("session %s was saved meanwhile: turn run again", who)
                    continue
                return result
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            if lease is not None:
                self._store.release(session_id, lease)
            self._locks.release(session_id, lock)

    def _drive(self, steps: Steps, deadline: float, ledger: Ledger) -> None:
        try:
            effect = next(steps)
            while True:
                if isinstance(effect, ActionCall):
                    effect = steps.send(ledger.outcome(effect, self._actions))
                elif isinstance(effect, LLMCall):
                    effect = steps.send(self._llm.complete(_budgeted(effect.request, deadline)))
                elif isinstance(effect, TokensHold):
                    effect = steps.send(self._hold(effect))
                else:
                    effect = steps.send(self._charge(effect))
        except StopIteration:
            return

    def _hold(self, hold: TokensHold) -> int:
        """Hold tokens of the user's count; a store failure fails the turn (StoreError)."""
        limit = hold.limit
        return self._store.hold_tokens(
            limit.key, hold.want, least=hold.least, limit=limit.tokens, ttl=limit.ttl
        )

    def _charge(self, charge: TokensCharge) -> StoreError | None:
        """Correct the user's count after a call; a store failure is the turn's to record
        (the answer stands: the tokens held already bound what the call cost)."""
        try:
            self._store.charge_tokens(charge.limit.key, charge.tokens, ttl=charge.limit.ttl)
        except StoreError as exc:
            return exc
        return None

    async def _ahold(self, hold: TokensHold) -> int:
        limit = hold.limit
        return await self._store.ahold_tokens(
            limit.key, hold.want, least=hold.least, limit=limit.tokens, ttl=limit.ttl
        )

    async def _acharge(self, charge: TokensCharge) -> StoreError | None:
        try:
            limit = charge.limit
            await self._store.acharge_tokens(limit.key, charge.tokens, ttl=limit.ttl)
        except StoreError as exc:
            return exc
        return None

    def user_tokens(self, user: str) -> int:
        """Tokens ``user`` has spent in the current period of the user budget (0 when
        there is no user budget)."""
        if self.user_budget is None or _user(user) is None:
            return 0
        return self._store.used_tokens(count_key(self.user_budget, user, self._clock()))

    async def auser_tokens(self, user: str) -> int:
        """``user_tokens`` for coroutines."""
        if self.user_budget is None or _user(user) is None:
            return 0
        key = count_key(self.user_budget, user, self._clock())
        return await self._store.aused_tokens(key)

    # -- the async face ------------------------------------------------------

    async def ahandle(
        self,
        session_id: str,
        text: str,
        *,
        message_id: str | None = None,
        language: str | None = None,
        user: str | None = None,
        existing: bool = False,
    ) -> TurnResult:
        """Answer one user message without blocking the event loop (see ``handle``)."""
        checked = self._check_text(text)
        return await self._ahandle(
            session_id,
            checked,
            message_id=message_id,
            language=language,
            user=_user(user),
            existing=existing,
        )

    async def astart(
        self,
        session_id: str,
        *,
        slots: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
        language: str | None = None,
    ) -> TurnResult:
        """``start`` for coroutines."""
        seed = (dict(slots or {}), dict(meta or {}))
        return await self._ahandle(session_id, None, seed=seed, language=language)

    def astream(
        self,
        session_id: str,
        text: str,
        *,
        message_id: str | None = None,
        language: str | None = None,
        user: str | None = None,
    ) -> TurnStream:
        """Answer one message as a stream of text deltas: rule replies as soon as they
        are said, an LLM reply in pieces as it arrives (modes ``respond`` and ``both``);
        ``stream.result`` is the same ``TurnResult`` ``ahandle`` gives (``message_id``
        and ``user`` as there)."""
        checked = self._check_text(text)
        who = _user(user)
        return TurnStream(
            lambda sink: self._ahandle(
                session_id, checked, sink, message_id=message_id, language=language, user=who
            )
        )

    async def _ahandle(
        self,
        session_id: str,
        text: Incoming,
        sink: Sink | None = None,
        seed: Seed = None,
        message_id: str | None = None,
        language: str | None = None,
        user: str | None = None,
        existing: bool = False,
    ) -> TurnResult:
        started = time.perf_counter()
        language = None if language is None else spoken(self.bot, language)
        try:
            result = await self._arun(
                session_id, text, sink, seed, message_id, started, language, user, existing
            )
        except SessionNotFound:
            raise  # no turn: nothing failed
        except DialogueError as exc:
            self._failed(session_id, exc, started)
            raise
        if result.handoff is not None and self.on_handoff is not None:
            await acall_hook(self.on_handoff, result.handoff, result.trace, self._privacy)
        if self._observers or log.isEnabledFor(logging.DEBUG):
            from dialogue.observe import notify

            notify(self._observers, result, self._privacy)
        return result

    async def _arun(
        self,
        session_id: str,
        text: Incoming,
        sink: Sink | None,
        seed: Seed,
        message_id: str | None,
        started: float,
        language: str | None = None,
        user: str | None = None,
        existing: bool = False,
    ) -> TurnResult:
        lock = await self._locks.aacquire(session_id)
        lease = None
        try:
            lease, stored = await self._store.abegin(
                session_id, ttl=self.lease_ttl, wait=self.lease_wait
            )
            if existing and stored is None:
                raise _not_found(session_id)
            ledger = Ledger(session_id, message_id)
            for attempt in range(CONFLICT_RETRIES + 1):
                if attempt:  # the lease is still held: load again
                    stored = await self._store.aload(session_id)
                    ledger.restart()
                restarted = None
                if stored is not None and stored.fingerprint != self._fingerprint:
                    restarted = self._setup.fit(stored)
                if message_id is not None or self._maybe_early(text):
                    early = self._setup.early(
                        session_id,
                        stored,
                        text,
                        message_id,
                        started,
                        self.max_text_length,
                        language,
                    )
                    if early is not None:
                        return early
                try:
                    turn, steps = self._setup.begin(
                        session_id, stored, text, seed, restarted, language, user
                    )
                    on_text = None if sink is None else functools.partial(sink, turn.replies)
                    await self._adrive(steps, on_text, started + self.turn_deadline, ledger)
                    result = finish(
                        turn,
                        text if isinstance(text, str) else None,
                        started,
                        history_turns=self.history_turns,
                        redact=self._redact_history,
                    )
                except (DialogueError, RenderError) as exc:
                    before, _ = self._setup.fitted(await self._store.aload(session_id))
                    return degraded(
                        self.bot, session_id, before, exc, started, privacy=self._privacy
                    )
                if message_id is not None:
                    remember(turn.session, message_id, result.replies)
                try:
                    lease = await self._store.acommit(turn.session, lease)
                except ConflictError:
                    if attempt == CONFLICT_RETRIES:
                        raise
                    who = self._privacy.ident(session_id)
                    log.info("session %s was saved meanwhile: turn run again", who)
                    continue
                return result
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            if lease is not None:
                await self._store.arelease(session_id, lease)
            self._locks.release(session_id, lock)

    async def _adrive(
        self,
        steps: Steps,
        on_text: Callable[[str], Any] | None,
        deadline: float,
        ledger: Ledger,
    ) -> None:
        """Run a turn's effects; its own work (matching, rendering) runs in a worker thread
        (``offload``), so a slow template never stalls the other sessions' turns. With
        ``on_text`` (a stream's sink), the replies said so far are sent before each wait,
        and the LLM's reply as it arrives."""
        advance = _advance_in_thread if self.offload else _advance
        effect = await advance(steps, None)
        while effect is not _DONE:
            if on_text is not None:
                on_text("")  # "Let me check..." reaches the client before the wait
            if isinstance(effect, ActionCall):
                effect = await advance(steps, await ledger.aoutcome(effect, self._actions))
            elif isinstance(effect, LLMCall):
                effect = await advance(steps, await self._aask(effect, on_text, deadline))
            elif isinstance(effect, TokensHold):
                effect = await advance(steps, await self._ahold(effect))
            else:
                effect = await advance(steps, await self._acharge(effect))

    async def _aask(
        self, call: LLMCall, on_text: Callable[[str], Any] | None, deadline: float
    ) -> LLMResponse:
        """Ask the LLM; a stream gets the reply text of the answer as it arrives."""
        request = _budgeted(call.request, deadline)
        guard = StreamGuard(system=system_message(request), knowledge=call.knowledge)
        reader = None if on_text is None else reply_reader(call.mode, request.schema, guard)
        if reader is None or on_text is None:
            return await self._llm.acomplete(request)
        show = on_text

        def chunk(raw: str) -> None:
            if text := reader.feed(raw):
                show(text)

        return await self._llm.acomplete(request, chunk)

    # -- health --------------------------------------------------------------

    def check_health(self) -> None:
        """Raise what stops this engine from working as configured: `LLMKeyRejected`
        (a `ConfigurationError`) once the LLM API refused the API key (401/403).

        Until the key changes, no LLM request is sent; rules keep answering
        (``dialogue.llm.key_check``)."""
        rejected = self._llm.rejected
        if rejected is not None:
            from dialogue.llm.key_check import key_rejected

            raise key_rejected(rejected)

    # -- sessions ------------------------------------------------------------

    def session(self, session_id: str) -> Session | None:
        """A copy of a stored session (``None`` if there is none)."""
        return self._store.load(session_id)

    async def asession(self, session_id: str) -> Session | None:
        """``session`` for coroutines."""
        return await self._store.aload(session_id)

    def export(self, session_id: str) -> dict[str, Any] | None:
        """Everything stored about a session, as JSON-ready data (a user's right of
        access), or ``None``; ``reset`` erases it."""
        stored = self._store.load(session_id)
        return None if stored is None else stored.to_dict()

    async def aexport(self, session_id: str) -> dict[str, Any] | None:
        """``export`` for coroutines."""
        stored = await self._store.aload(session_id)
        return None if stored is None else stored.to_dict()

    def reset(self, session_id: str) -> None:
        """Forget a session: its next message starts a new conversation.

        Waits for a running turn of the session to finish (turns and resets of one
        session never interleave); a store failure raises ``StoreError``.
        """
        lock = self._locks.acquire(session_id)
        try:
            self._store.delete(session_id)
        finally:
            self._locks.release(session_id, lock)

    async def areset(self, session_id: str) -> None:
        """``reset`` for coroutines: waits for the session without blocking the event loop."""
        lock = await self._locks.aacquire(session_id)
        try:
            await self._store.adelete(session_id)
        finally:
            self._locks.release(session_id, lock)

    # -- handing back --------------------------------------------------------

    def resume(self, session_id: str) -> Session:
        """Give a conversation handed to a person back to the bot: its next message is
        answered again (where it was; after a final handoff state, a new conversation
        starts). Under the session's lock and lease, like a turn; returns the session
        saved (unchanged if it was not handed off); ``SessionNotFound`` if there is none."""
        return self._update(session_id, lambda stored: _released(stored, session_id)).copy()

    async def aresume(self, session_id: str) -> Session:
        """``resume`` for coroutines."""
        back = await self._aupdate(session_id, lambda stored: _released(stored, session_id))
        return back.copy()

    # -- feedback and observers ---------------------------------------------

    def feedback(
        self, session_id: str, turn: int, rating: str | int, comment: str = ""
    ) -> Feedback:
        """Keep a user's rating of turn ``turn`` (``up``/``down`` or 1 to 5) with the
        session, under its lock and lease like a turn; a later rating of the same turn
        replaces it. ``SessionNotFound`` when there is no such session,
        ``FeedbackError`` for a turn it has not had or a bad rating."""
        now = self._clock()
        entry = self._update(
            session_id, lambda loaded: rated(loaded, session_id, turn, rating, comment, now)
        )
        self._tell_feedback(session_id, entry)
        return entry

    async def afeedback(
        self, session_id: str, turn: int, rating: str | int, comment: str = ""
    ) -> Feedback:
        """``feedback`` for coroutines."""
        now = self._clock()
        entry = await self._aupdate(
            session_id, lambda loaded: rated(loaded, session_id, turn, rating, comment, now)
        )
        self._tell_feedback(session_id, entry)
        return entry

    def _update(self, session_id: str, change: Change[R]) -> R:
        """Load, change and save one session under its lock and lease, as a turn does: a
        conflict changes a fresh load again. ``change`` gives the session to save (None:
        nothing to save) and what to return."""
        lock = self._locks.acquire(session_id)
        lease = None
        try:
            if self._leasing:
                lease = self._store.acquire(session_id, ttl=self.lease_ttl, wait=self.lease_wait)
            for attempt in range(CONFLICT_RETRIES + 1):
                changed, out = change(self._store.load(session_id))
                if changed is None:
                    return out
                try:
                    self._store.save(changed)
                except ConflictError:
                    if attempt == CONFLICT_RETRIES:
                        raise
                    continue
                return out
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            if lease is not None:
                self._store.release(session_id, lease)
            self._locks.release(session_id, lock)

    async def _aupdate(self, session_id: str, change: Change[R]) -> R:
        """``_update`` for coroutines."""
        lock = await self._locks.aacquire(session_id)
        lease = None
        try:
            if self._leasing:
                lease = await self._store.aacquire(
                    session_id, ttl=self.lease_ttl, wait=self.lease_wait
                )
            for attempt in range(CONFLICT_RETRIES + 1):
                changed, out = change(await self._store.aload(session_id))
                if changed is None:
                    return out
                try:
                    await self._store.asave(changed)
                except ConflictError:
                    if attempt == CONFLICT_RETRIES:
                        raise
                    continue
                return out
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            if lease is not None:
                await self._store.arelease(session_id, lease)
            self._locks.release(session_id, lock)

    def _tell_feedback(self, session_id: str, entry: Feedback) -> None:
        if self._observers:
            from dialogue.observe import FeedbackGiven, tell

            event = FeedbackGiven(session_id, entry.turn, entry.rating)
            tell(self._observers, [event], self._privacy)

    def add_observer(self, observer: Observer) -> None:
        """Tell ``observer`` about every turn from now on (as ``observers=`` does)."""
        self._observers = (*self._observers, observer)

    def remove_observer(self, observer: Observer) -> None:
        """Stop telling ``observer`` (added by ``add_observer`` or ``observers=``)."""
        self._observers = tuple(o for o in self._observers if o is not observer)

    def close(self) -> None:
        """Stop the action worker threads and close the LLM client, and the store if
        the engine opened it from a URL (a store object given is the caller's to close)."""
        self._actions.close()
        self._llm.close()
        close = getattr(self.store, "close", None) if self._owns_store else None
        if close is not None:
            close()

    async def aclose(self) -> None:
        """``close`` for coroutines (a store's ``aclose`` is awaited if it has one)."""
        self._actions.close()
        await self._llm.aclose()
        if not self._owns_store:
            return
        aclose = getattr(self.store, "aclose", None)
        if aclose is not None:
            await aclose()
        elif (close := getattr(self.store, "close", None)) is not None:
            close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _not_found(session_id: str) -> SessionNotFound:
    return SessionNotFound(f"no session {session_id!r}", session_id=session_id)


def _user(user: str | None) -> str | None:
    if user is not None and not isinstance(user, str):
        raise TypeError(f"user must be a str, not {type(user).__name__}")
    return user


def _user_budget(
    given: UserBudget | Mapping[str, Any] | None, flow: UserBudget | None
) -> UserBudget | None:
    """The engine's user budget: ``user_budget=`` if given (checked), else the flow's."""
    if given is None or isinstance(given, UserBudget):
        return given or flow
    try:
        return UserBudget.model_validate(dict(given))
    except ValueError as exc:
        raise ConfigurationError(
            f"user_budget: {exc}",
            hint='e.g. user_budget={"tokens": 50000, "per": "day"} (per: hour, day or month)',
        ) from None


def _budgeted(request: LLMRequest, deadline: float) -> LLMRequest:
    """``request`` with the seconds left before the turn's ``deadline`` (``perf_counter``)."""
    return dataclasses.replace(request, budget=max(0.0, deadline - time.perf_counter()))


_DONE = object()
"""What advancing a turn's steps gives once the turn is over."""


async def _advance(steps: Steps, value: Any) -> Any:
    return _send(steps, value)


async def _advance_in_thread(steps: Steps, value: Any) -> Any:
    import asyncio  # not at ``import dialogue``

    return await asyncio.to_thread(_send, steps, value)


def _send(steps: Steps, value: Any) -> Any:
    """The turn's next effect, or `_DONE` (StopIteration cannot cross a coroutine)."""
    try:
        return steps.send(value)
    except StopIteration:
        return _DONE


def _released(stored: Session | None, session_id: str) -> tuple[Session | None, Session]:
    """``resume``'s change: a handed-off session given back (``SessionNotFound`` for none)."""
    if stored is not None and stored.handoff is None:
        return None, stored
    back = released(stored, session_id)
    return back, back
