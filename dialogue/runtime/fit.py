"""Fitting a stored session to the flows it is loaded under.

A session saved under other flows (its ``fingerprint`` differs from the bot's)
may name a flow, state, question or slot that the new flows no longer have. Such
a session still loads: ``fit`` drops the slots that no flow declares any more
and, when the conversation cannot go on where it was, restarts it at the main
flow's start, keeping the slots that still exist. It says why, for the trace.
"""

from __future__ import annotations

from dialogue.runtime.compiled import Bot
from dialogue.session import Session


def fit(bot: Bot, session: Session) -> str | None:
    """Make ``session`` fit ``bot`` in place; the reason it had to restart, or None.

    Slots that no flow declares are dropped whether or not it restarts, except the
    results of business actions (``into``), which flows read as undeclared slots.
    """
    session.fingerprint = bot.fingerprint
    reason = _misfit(bot, session)
    known = {name for flow in bot.flows.values() for name in flow.base_context}
    for name in [n for n in session.slots if n not in known]:
        del session.slots[name]
    if reason is None:
        return None
    main = bot.flows[bot.main]
    session.flow, session.state, session.stack = main.name, main.start, ()
    session.pending, session.step, session.attempts, session.no_match = None, 0, 0, 0
    return reason


def _misfit(bot: Bot, session: Session) -> str | None:
    """Why the conversation cannot go on where it was, or None."""
    places = [*((f.flow, f.state) for f in session.stack), (session.flow, session.state)]
    for flow, state in places:
        compiled = bot.flows.get(flow)
        if compiled is None:
            return f"flow {flow!r} no longer exists"
        if state not in compiled.states:
            return f"state {state!r} no longer exists in flow {flow!r}"
    for frame in session.stack:
        if frame.pending is not None and frame.pending not in bot.flows[frame.flow].slots:
            return f"slot {frame.pending!r} is no longer asked in flow {frame.flow!r}"
    here = bot.flows[session.flow]
    if session.pending is not None and session.pending not in here.slots:
        return f"slot {session.pending!r} is no longer asked in flow {session.flow!r}"
    return None
