"""The engine: sessions in, replies out. Sync and async faces over one core.

A turn is atomic. The engine loads a copy of the session, runs ``Turn`` on it,
and saves it; if anything fails on the way (a template, the store) the
stored session stays as it was and the caller gets a degraded reply (or, for
the store, a ``StoreError``). Turns of one session never interleave: they
queue on a per-session lock (a thread lock for ``handle``, an asyncio lock for
``ahandle``).
"""

from __future__ import annotations

import datetime
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dialogue._locks import SessionLocks
from dialogue.actions import Action, ActionCall, ActionRunner, load_actions_module
from dialogue.compiled import Bot, CompiledFlow
from dialogue.compiler import compile_flows
from dialogue.errors import DialogueError, FlowErrors, StoreError
from dialogue.llm import LLMClient, OpenAIChatClient
from dialogue.llm_service import OFFLINE_NOTICE, LLMService
from dialogue.loader import load_flows
from dialogue.rules import prepare
from dialogue.session import Session
from dialogue.stores.base import SessionStore
from dialogue.stores.memory import MemoryStore
from dialogue.streaming import Sink, TurnStream
from dialogue.templates import RenderError, Text
from dialogue.trace import Trace, TurnResult
from dialogue.turn import Steps, Turn

if TYPE_CHECKING:
    pass

log = logging.getLogger("dialogue")

Seed = tuple[dict[str, Any], dict[str, Any]] | None
"""Initial slots and meta of a new session (``Engine.start(..., slots=, meta=)``)."""

_CONTROL = {c: None for c in range(32) if c not in (9, 10, 13)} | {127: None}


def sanitize(text: str) -> str:
    """Drop control characters; replace lone surrogates so the text is valid UTF-8."""
    text = text.translate(_CONTROL)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _render_safely(text: Text, flow: CompiledFlow, session: Session) -> str:
    """A built-in-path reply (too long, turn failed): rendered if it can be, else as written."""
    if text.static:
        return text.source
    try:
        return text.render({**flow.base_context, **session.slots})
    except RenderError:
        return text.source


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
        store: SessionStore | None = None,
        clock: Callable[[], datetime.datetime] | None = None,
        max_text_length: int | None = None,
        history_turns: int | None = None,
        llm: LLMClient | None = None,
        llm_settings: Mapping[str, Any] | None = None,
        llm_cache: int = 0,
        trace_prompts: bool = False,
        action_threads: bool = True,
    ) -> None:
        self.bot = bot
        self.main = bot.flows[bot.main]
        self.store: Any = MemoryStore() if store is None else store
        self.actions = ActionRunner(actions, threads=action_threads)
        self._clock = clock or datetime.datetime.now
        self.max_text_length = (
            self.main.settings.max_text_length if max_text_length is None else max_text_length
        )
        configured = self.main.settings.history_turns if history_turns is None else history_turns
        self._locks = SessionLocks()
        self.llm = LLMService(llm, cache_size=llm_cache)
        self.llm_settings = dict(llm_settings or {})
        self.trace_prompts = trace_prompts
        if configured is None:
            configured = self.main.llm_config.history_turns if self.llm.enabled else 0
        self.history_turns = configured
        self._check_actions()
        self.offline = not self.llm.enabled and any(
            st.fallback is not None for f in bot.flows.values() for st in f.states.values()
        )
        """True when flows would use the LLM fallback but there is no LLM client."""
        if self.offline:
            log.info("%s", OFFLINE_NOTICE)

    @classmethod
    def from_path(
        cls,
        path: str | os.PathLike[str],
        *,
        main: str | None = None,
        actions: Mapping[str, Action] | None = None,
        llm: LLMClient | None | str = "env",
        **options: Any,
    ) -> Engine:
        """Load the flow file (and the flows it imports), compile, and build an engine.

        Actions come from ``actions`` if given, else from the flows'
        ``actions_module``. The LLM client is ``llm`` if given (``None``: offline);
        by default it is made from ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` when the
        key is set, read now, not at import.
        """
        loaded = load_flows(path)
        bot = compile_flows(loaded, main=main)
        if actions is None:
            actions = {}
            for lf in loaded:
                module = lf.flow.actions_module
                if module is not None:
                    base = lf.path.parent if lf.path is not None else Path.cwd()
                    actions = {**load_actions_module(module, base=base), **actions}
        client = OpenAIChatClient.from_env() if llm == "env" else llm
        assert not isinstance(client, str), "llm is an LLMClient, None, or 'env'"
        return cls(bot, actions=actions, llm=client, **options)

    def _check_actions(self) -> None:
        problems = []
        for flow in self.bot.flows.values():
            for name, loc in flow.action_refs:
                if name not in self.actions:
                    known = sorted(self.actions.names)
                    hint = (
                        f"registered actions: {', '.join(known)}"
                        if known
                        else f"register it: Engine(..., actions={{'{name}': callable}}) "
                        "or name an actions_module in the flow"
                    )
                    problems.append(
                        flow.source.source.diagnostic(
                            loc, "unknown_action", f"unknown action '{name}'", hint
                        )
                    )
        if problems:
            raise FlowErrors(problems)

    # -- the core ------------------------------------------------------------

    def _new_session(self, session_id: str, meta: dict[str, Any] | None = None) -> Session:
        return Session(session_id, self.main.name, self.main.start, meta=meta)

    def _begin(
        self, session_id: str, stored: Session | None, text: str | None, seed: Seed = None
    ) -> tuple[Turn, Steps]:
        fresh = stored is None or stored.ended
        if stored is None:
            session = self._new_session(session_id)
        elif stored.ended:
            session = self._new_session(session_id, stored.meta)
            session.version = stored.version
        else:
            session = stored
        if fresh and seed is not None:
            slots, meta = seed
            session.slots.update(slots)
            if meta:
                session.meta = {**(session.meta or {}), **meta}
        trace = Trace(session_id, session.turn + 1, session.flow, session.state)
        turn = Turn(
            self.bot,
            session,
            trace,
            today=lambda: self._clock().date(),
            llm_enabled=self.llm.enabled,
            llm_overrides=self.llm_settings,
            trace_prompts=self.trace_prompts,
        )
        return turn, self._steps(turn, text, fresh)

    def _steps(self, turn: Turn, text: str | None, fresh: bool) -> Steps:
        if fresh:
            turn.trace.rule = "start"
            turn.enter()
            yield from turn.settle()
        if text is None:
            return
        prepared = prepare(text)
        if not prepared.folded:
            if not fresh:
                turn.no_input()
            return
        yield from turn.respond(prepared, first=fresh)

    def _finish(self, turn: Turn, text: str | None, started: float) -> TurnResult:
        s, trace = turn.session, turn.trace
        s.turn += 1
        old = turn.slots_before
        if old != s.slots:
            names = [*old, *(k for k in s.slots if k not in old)]
            trace.slot_changes = {
                k: (old.get(k), s.slots.get(k)) for k in names if old.get(k) != s.slots.get(k)
            }
        if self.history_turns:
            if text is not None:
                s.history = (*s.history, text[:500], "\n".join(turn.replies))
            s.history = s.history[-2 * self.history_turns :]
        trace.flow_after, trace.state_after = s.flow, s.state
        trace.seconds = time.perf_counter() - started
        return TurnResult(s.id, turn.replies, s.flow, s.state, dict(s.slots), s.ended, trace)

    def _degraded(
        self,
        session_id: str,
        stored: Session | None,
        error: Exception,
        started: float,
        rule: str = "error",
    ) -> TurnResult:
        """The turn failed: the stored session is untouched; say so politely."""
        session = stored or self._new_session(session_id)
        flow = self.bot.flows[session.flow]
        trace = Trace(
            session_id,
            session.turn + 1,
            session.flow,
            session.state,
            session.flow,
            session.state,
            rule=rule,
            seconds=time.perf_counter() - started,
        )
        texts = flow.too_long if rule == "too_long" else flow.action_error
        if rule != "too_long":
            trace.errors.append(f"{type(error).__name__}: {error}")
            log.error("turn failed for session %r: %s", session_id, error, exc_info=error)
        replies = [_render_safely(texts[session.turn % len(texts)], flow, session)] if texts else []
        return TurnResult(
            session_id,
            replies,
            session.flow,
            session.state,
            dict(session.slots),
            session.ended,
            trace,
        )

    def _status(self, session: Session, started: float) -> TurnResult:
        """Where a running session is, for ``start`` on it: nothing said, nothing saved."""
        trace = Trace(
            session.id,
            session.turn,
            session.flow,
            session.state,
            session.flow,
            session.state,
            rule="status",
            seconds=time.perf_counter() - started,
        )
        return TurnResult(
            session.id, [], session.flow, session.state, dict(session.slots), session.ended, trace
        )

    def _check_text(self, text: str | None) -> str | None:
        if text is None:
            return None
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, not {type(text).__name__}")
        return sanitize(text)

    # -- the sync face -------------------------------------------------------

    def handle(self, session_id: str, text: str) -> TurnResult:
        """Answer one user message."""
        return self._handle(session_id, self._check_text(text))

    def start(
        self,
        session_id: str,
        *,
        slots: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> TurnResult:
        """Greet a new session, optionally with initial ``slots`` and ``meta``.

        For a session that is already running this says nothing, saves nothing, and
        returns where it is (``trace.rule == "status"``); ``slots``/``meta`` are ignored.
        """
        return self._handle(session_id, None, (dict(slots or {}), dict(meta or {})))

    def _handle(self, session_id: str, text: str | None, seed: Seed = None) -> TurnResult:
        started = time.perf_counter()
        lock = self._locks.acquire(session_id)
        try:
            stored = self._load(session_id)
            if text is None and stored is not None and not stored.ended:
                return self._status(stored, started)
            if text is not None and len(text) > self.max_text_length:
                return self._degraded(
                    session_id, stored, ValueError("too long"), started, "too_long"
                )
            try:
                turn, steps = self._begin(session_id, stored, text, seed)
                self._drive(steps)
                result = self._finish(turn, text, started)
            except (DialogueError, RenderError) as exc:
                # the turn changed its copy in place: answer from what the store still holds
                return self._degraded(session_id, self._load(session_id), exc, started)
            self._save(turn.session)
            return result
        finally:
            self._locks.release(session_id, lock)

    def _drive(self, steps: Steps) -> None:
        try:
            effect = next(steps)
            while True:
                if isinstance(effect, ActionCall):
                    effect = steps.send(self.actions.outcome(effect))
                else:
                    effect = steps.send(self.llm.complete(effect))
        except StopIteration:
            return

    def _load(self, session_id: str) -> Session | None:
        try:
            session: Session | None = self.store.load(session_id)
            return session
        except DialogueError:
            raise
        except Exception as exc:
            raise StoreError(
                f"could not load session {session_id!r}: {exc}", session_id=session_id
            ) from exc

    def _save(self, session: Session) -> None:
        try:
            self.store.save(session)
        except DialogueError:
            raise
        except Exception as exc:
            raise StoreError(
                f"could not save session {session.id!r}: {exc}", session_id=session.id
            ) from exc

    # -- the async face ------------------------------------------------------

    async def ahandle(self, session_id: str, text: str) -> TurnResult:
        """Answer one user message without blocking the event loop."""
        return await self._ahandle(session_id, self._check_text(text))

    async def astart(
        self,
        session_id: str,
        *,
        slots: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> TurnResult:
        """``start`` for coroutines."""
        return await self._ahandle(session_id, None, seed=(dict(slots or {}), dict(meta or {})))

    def astream(self, session_id: str, text: str) -> TurnStream:
        """Answer one message as a stream of text deltas (a free-text LLM reply arrives
        in pieces); ``stream.result`` is the same ``TurnResult`` ``ahandle`` gives."""
        return TurnStream(lambda sink: self._ahandle(session_id, self._check_text(text), sink))

    async def _ahandle(
        self, session_id: str, text: str | None, sink: Sink | None = None, seed: Seed = None
    ) -> TurnResult:
        started = time.perf_counter()
        lock = self._locks.alock(session_id)
        try:
            async with lock:
                stored = await self._aload(session_id)
                if text is None and stored is not None and not stored.ended:
                    return self._status(stored, started)
                if text is not None and len(text) > self.max_text_length:
                    return self._degraded(
                        session_id, stored, ValueError("too long"), started, "too_long"
                    )
                try:
                    turn, steps = self._begin(session_id, stored, text, seed)
                    await self._adrive(
                        steps, None if sink is None else (lambda chunk: sink(turn.replies, chunk))
                    )
                    result = self._finish(turn, text, started)
                except (DialogueError, RenderError) as exc:
                    before = await self._aload(session_id)
                    return self._degraded(session_id, before, exc, started)
                await self._asave(turn.session)
                return result
        finally:
            self._locks.arelease(session_id, lock)

    async def _adrive(self, steps: Steps, on_text: Callable[[str], Any] | None = None) -> None:
        try:
            effect = next(steps)
            while True:
                if isinstance(effect, ActionCall):
                    effect = steps.send(await self.actions.aoutcome(effect))
                else:
                    effect = steps.send(await self.llm.acomplete(effect, on_text))
        except StopIteration:
            return

    async def _aload(self, session_id: str) -> Session | None:
        import asyncio

        if not hasattr(self.store, "aload"):
            return await asyncio.to_thread(self._load, session_id)
        try:
            session: Session | None = await self.store.aload(session_id)
            return session
        except DialogueError:
            raise
        except Exception as exc:
            raise StoreError(
                f"could not load session {session_id!r}: {exc}", session_id=session_id
            ) from exc

    async def _asave(self, session: Session) -> None:
        import asyncio

        if not hasattr(self.store, "asave"):
            await asyncio.to_thread(self._save, session)
            return
        try:
            await self.store.asave(session)
        except DialogueError:
            raise
        except Exception as exc:
            raise StoreError(
                f"could not save session {session.id!r}: {exc}", session_id=session.id
            ) from exc

    # -- sessions ------------------------------------------------------------

    def session(self, session_id: str) -> Session | None:
        """A copy of a stored session (``None`` if there is none)."""
        return self._load(session_id)

    def reset(self, session_id: str) -> None:
        """Forget a session: its next message starts a new conversation."""
        self.store.delete(session_id)

    def close(self) -> None:
        """Stop the action worker threads and close the LLM client."""
        self.actions.close()
        self.llm.close()

    async def aclose(self) -> None:
        self.actions.close()
        await self.llm.aclose()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
