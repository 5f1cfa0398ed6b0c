"""Handing a conversation to a person, and giving it back: what the host is told.

A state with ``handoff`` marks the session (``Session.handoff``, set by
``FlowWalker.hand_off``). The turn that does so carries a `HandoffInfo` (the
reason, the slots, a short transcript) and the engine passes it to its
``on_handoff`` hook. From then on the session's messages are *held*: kept in the
history for the person, answered by nobody, until the host calls
``Engine.resume``. No I/O here but the hook's own; the engine calls these.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from dialogue.errors import SessionNotFound
from dialogue.redact import Privacy
from dialogue.runtime.compiled import Bot
from dialogue.session import Session
from dialogue.trace import HandoffInfo, Trace, TranscriptLine

log = logging.getLogger("dialogue")

HandoffHook = Callable[[HandoffInfo], None | Awaitable[None]]
"""``Engine(on_handoff=...)``: a function or a coroutine function of a `HandoffInfo`."""


def history_needed(bot: Bot) -> int:
    """The turns of history the bot's handoff states give the host (0: none has any)."""
    return max(
        (
            st.handoff.transcript
            for flow in bot.flows.values()
            for st in flow.states.values()
            if st.handoff is not None
        ),
        default=0,
    )


def transcript(history: tuple[str, ...], turns: int) -> tuple[TranscriptLine, ...]:
    """The latest ``turns`` of a session's history as lines; a held message (no reply)
    and a turn without replies give a user line only."""
    pairs = history[-2 * turns :] if turns else ()
    lines: list[TranscriptLine] = []
    for i in range(0, len(pairs) - 1, 2):
        said, replied = pairs[i], pairs[i + 1]
        lines.append(TranscriptLine("user", said))
        if replied:
            lines.append(TranscriptLine("bot", replied))
    return tuple(lines)


def info(bot: Bot, session: Session) -> HandoffInfo:
    """What the host is given about a session handed off (``session.handoff`` is set)."""
    mark = session.handoff
    assert mark is not None
    flow = bot.flows.get(mark.flow)
    state = flow.states.get(mark.state) if flow is not None else None
    turns = state.handoff.transcript if state is not None and state.handoff else 10
    return HandoffInfo(
        session.id,
        mark.reason,
        mark.flow,
        mark.state,
        dict(session.slots),
        transcript(session.history, turns),
        mark.turn,
        dict(session.meta or {}),
    )


def released(stored: Session | None, session_id: str) -> Session:
    """``stored`` given back to the bot (``Engine.resume``); ``SessionNotFound`` if none.
    A session that was not handed off comes back unchanged."""
    if stored is None:
        raise SessionNotFound(f"no session {session_id!r}", session_id=session_id)
    stored.handoff = None
    return stored


# -- the host's hook ---------------------------------------------------------------


def call_hook(hook: HandoffHook, handed: HandoffInfo, trace: Trace, privacy: Privacy) -> None:
    """Run the hook from the sync face; a coroutine function runs in its own event loop
    (none may be running in this thread). A failure is logged and put in the trace."""
    try:
        outcome = hook(handed)
        if inspect.isawaitable(outcome):
            _run_awaitable(outcome)
    except Exception as exc:
        _failed(exc, handed, trace, privacy)


async def acall_hook(
    hook: HandoffHook, handed: HandoffInfo, trace: Trace, privacy: Privacy
) -> None:
    """Run the hook from the async face: a coroutine function is awaited, a plain
    function runs in a worker thread (a ticket system's API may block)."""
    import asyncio  # not at ``import dialogue``

    try:
        if inspect.iscoroutinefunction(hook):
            await hook(handed)
            return
        outcome = await asyncio.to_thread(hook, handed)
        if inspect.isawaitable(outcome):
            await outcome
    except Exception as exc:
        _failed(exc, handed, trace, privacy)


def _run_awaitable(outcome: Awaitable[Any]) -> None:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        if inspect.iscoroutine(outcome):
            outcome.close()
        raise RuntimeError("an async on_handoff hook needs the async face (ahandle) here")

    async def wait() -> None:
        await outcome

    asyncio.run(wait())


def _failed(exc: Exception, handed: HandoffInfo, trace: Trace, privacy: Privacy) -> None:
    """A hook that failed: the turn stands (it is saved); the log and the trace say so."""
    trace.errors.append(f"on_handoff failed: {type(exc).__name__}: {exc}")
    what = f"{type(exc).__name__}: {exc}" if privacy.log_user_data else type(exc).__name__
    log.error(
        "on_handoff hook failed for session %s: %s\n%s",
        privacy.ident(handed.session_id),
        privacy(what),
        privacy.exception(exc),
    )
