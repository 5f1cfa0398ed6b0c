"""How a turn's result is put together: after a turn, after a failure, for a status."""

from __future__ import annotations

import logging
import time

from dialogue.errors import RenderError
from dialogue.redact import Privacy, Redactor
from dialogue.runtime.compiled import Bot, CompiledFlow
from dialogue.runtime.handoff import info
from dialogue.runtime.templates import Text
from dialogue.runtime.turn import Turn
from dialogue.session import Session
from dialogue.trace import Rule, Trace, TurnResult

log = logging.getLogger("dialogue")


def render_safely(text: Text, flow: CompiledFlow, session: Session) -> str:
    """A built-in-path reply (too long, turn failed): rendered if it can be, else as written."""
    if text.static:
        return text.source
    try:
        return text.render({**flow.base_context, **session.slots})
    except RenderError:
        return text.source


def finish(
    turn: Turn,
    text: str | None,
    started: float,
    *,
    history_turns: int,
    redact: Redactor | None = None,
) -> TurnResult:
    """Close a turn that ran: count it, diff the slots, keep the history (redacted by
    ``redact`` if given), time it."""
    s, trace = turn.session, turn.trace
    s.turn += 1
    old = turn.slots_before
    if old != s.slots:
        names = [*old, *(k for k in s.slots if k not in old)]
        trace.slot_changes = {
            k: (old.get(k), s.slots.get(k)) for k in names if old.get(k) != s.slots.get(k)
        }
    if history_turns:
        if text is not None:
            said, replied = text[:500], "\n".join(turn.replies)
            if redact is not None:
                said, replied = redact(said), redact(replied)
            s.history = (*s.history, said, replied)
        s.history = s.history[-2 * history_turns :]
    trace.flow_after, trace.state_after = s.flow, s.state
    trace.seconds = time.perf_counter() - started
    handed = None
    if s.handoff is not None and any(raw[0] == "HandedOff" for raw in trace.raw_events):
        handed = info(turn.bot, s)
    return TurnResult(
        s.id,
        turn.replies,
        s.flow,
        s.state,
        dict(s.slots),
        s.ended,
        trace,
        handoff=handed,
        handed_off=s.handoff is not None,
        options=turn.options,
    )


def degraded(
    bot: Bot,
    session_id: str,
    stored: Session | None,
    error: Exception,
    started: float,
    rule: Rule = "error",
    privacy: Privacy | None = None,
) -> TurnResult:
    """The turn failed: the stored session is untouched; say so politely.

    The log gets the error's type and its traceback; its message (which may quote a
    slot value) only with ``privacy.log_user_data``."""
    session = stored or Session(session_id, bot.main, bot.flows[bot.main].start)
    bot = bot.in_language(session.language) if session.language else bot
    flow = bot.flows[session.flow]
    trace = Trace(
        session_id,
        session.turn + 1,
        session.flow,
        session.state,
        session.flow,
        session.state,
        rule=rule,
        seconds=time.perf_counter() - started,
        language=bot.language,
    )
    texts = flow.too_long if rule == "too_long" else flow.action_error
    if rule != "too_long":
        trace.errors.append(f"{type(error).__name__}: {error}")
        privacy = privacy or Privacy()
        who, what = privacy.ident(session_id), _headline(error, privacy)
        log.error("turn failed for session %s: %s\n%s", who, what, privacy.exception(error))
    replies = [render_safely(texts[session.turn % len(texts)], flow, session)] if texts else []
    return TurnResult(
        session_id,
        replies,
        session.flow,
        session.state,
        dict(session.slots),
        session.ended,
        trace,
        handed_off=session.handoff is not None,
    )


def _headline(error: Exception, privacy: Privacy) -> str:
    """The error's type; its message only with ``log_user_data``; a template's source
    (the designer's text, not the user's) always."""
    if privacy.log_user_data:
        return privacy(f"{type(error).__name__}: {error}")
    if isinstance(error, RenderError):
        source = error.source if len(error.source) <= 60 else error.source[:57] + "..."
        return f"RenderError in {source!r} (message withheld)"
    return f"{type(error).__name__} (message withheld)"


def status(session: Session, started: float) -> TurnResult:
    """Where a running session is, for ``start`` on it: nothing said, nothing saved."""
    return _unchanged(session, [], "status", started)


def duplicate(session: Session, replies: tuple[str, ...], started: float) -> TurnResult:
    """A message id already answered: the first answer again; nothing runs, nothing is saved."""
    return _unchanged(session, list(replies), "duplicate", started)


def event_ignored(session: Session, event: str, started: float) -> TurnResult:
    """An event nothing handles where the conversation would start (no session, or an
    ended one): nothing runs, nothing is saved; the trace says it was ignored."""
    result = _unchanged(session, [], "event_ignored", started)
    result.trace.raw_events.append(("EventIgnored", session.flow, session.state, event))
    return result


def _unchanged(session: Session, replies: list[str], rule: Rule, started: float) -> TurnResult:
    """A result that ran no turn: the session as stored, ``replies`` said."""
    s = session
    seconds = time.perf_counter() - started
    trace = Trace(s.id, s.turn, s.flow, s.state, s.flow, s.state, rule=rule, seconds=seconds)
    return TurnResult(
        s.id, replies, s.flow, s.state, dict(s.slots), s.ended, trace, handed_off=bool(s.handoff)
    )
