"""The fixed sets of values a trace speaks in, as ``Literal`` types.

Shared by the trace (``dialogue.trace``), its events (``dialogue.events``) and the
compiled values, so that none of them needs the others to name a kind.
"""

from __future__ import annotations

from typing import Literal

Rule = Literal[
    "",
    "intent",
    "slot",
    "invalid",
    "no_match",
    "no_input",
    "start",
    "too_long",
    "llm",
    "intent_blocked",
    "status",
    "error",
    "duplicate",
    "llm_failed",
    "handed_off",
    "event",
    "event_ignored",
]
"""What answered a message; see ``Trace.rule``."""

LLMOutcome = Literal[
    "",
    "intent",
    "slots",
    "reply",
    "nothing",
    "rejected",
    "failed",
    "budget",
    "offline",
    "leaked",
]
"""What the LLM step came to; see ``LLMTrace.outcome``."""

AskMode = Literal["both", "understand", "respond"]
"""How a state's LLM fallback is used (a state with ``mode: off`` has none)."""

MoveKind = Literal["on", "next", "global", "on_error", "on_exhausted", "no_match", "on_failure"]
"""Where a move is written: a state's ``on`` or ``next`` transition, a global
intent's ``goto``, a call's ``on_error``, a slot's ``on_exhausted``, a state's
no-match escalation, or its escalation after failed LLM calls (``on_failure``)."""
