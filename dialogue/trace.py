"""What a turn did (``Trace``) and what it returns (``TurnResult``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ActionTrace:
    name: str
    ok: bool
    seconds: float
    error: str = ""


@dataclass(slots=True)
class LLMTrace:
    """What the LLM fallback did in a turn."""

    prompt: str
    mode: str
    outcome: str = ""
    """``intent``, ``slots``, ``reply``, ``nothing``, ``rejected``, ``failed``,
    ``budget`` (the session's token budget is spent: no call) or ``offline``."""
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False
    """Token counts were estimated (a stream ended without usage)."""
    seconds: float = 0.0
    cached: bool = False
    error: str = ""
    messages: list[dict[str, str]] | None = None
    """The rendered messages, when the engine runs with ``trace_prompts=True``."""


@dataclass(slots=True)
class Trace:
    """A record of one turn, for tests, logs and ``dialogue chat --trace``.

    ``rule`` says what answered the message: ``intent`` (a keyword or pattern
    of ``intent``), ``slot`` (slot values taken from the text), ``invalid``
    (the pending slot's answer did not parse), ``no_match``, ``no_input``
    (empty text), ``start`` (a new session's greeting only), ``too_long``,
    ``llm`` (the LLM fallback's answer was applied), ``intent_blocked`` (an intent
    matched but none of its guarded transitions' conditions held), ``status``
    (``start`` on a running session: nothing said), or ``error`` (the turn failed
    and the session was left unchanged).
    """

    session_id: str
    turn: int
    flow_before: str
    state_before: str
    flow_after: str = ""
    state_after: str = ""
    rule: str = ""
    intent: str | None = None
    matched: str | None = None
    """The keyword or pattern that fired."""
    transition: str | None = None
    """Where the (last) transition taken is written, e.g. ``menu.on.track[0]``."""
    transitions: list[str] = field(default_factory=list)
    """Every transition taken this turn, in order, as ``flow:label``."""
    entered: list[tuple[str, str]] = field(default_factory=list)
    """Every ``(flow, state)`` entered this turn, in order (re-entries included)."""
    slot_changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    """Slot -> (before, after), for every slot whose value changed."""
    no_match_count: int = 0
    steps: list[str] = field(default_factory=list)
    """What happened, in order: ``enter tracking``, ``ask order_id``, ``call lookup_order`` ..."""
    actions: list[ActionTrace] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    llm: LLMTrace | None = None
    """Set when the LLM fallback was consulted (or would have been: ``budget``, ``offline``)."""
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for a terminal."""
        what = self.rule
        if self.intent:
            what += f" {self.intent}"
            if self.matched:
                what += f" ({self.matched!r})"
        changes = ", ".join(f"{k}={new!r}" for k, (_, new) in self.slot_changes.items())
        line = f"[{what}] {self.state_before} -> {self.state_after}"
        if changes:
            line += f" | {changes}"
        if self.llm is not None:
            llm = self.llm
            line += f" | llm {llm.outcome}"
            if llm.model:
                line += f" ({llm.model}, {llm.prompt_tokens}+{llm.completion_tokens} tokens, "
                line += f"{llm.seconds * 1000:.0f} ms)"
        if self.errors:
            line += " | errors: " + "; ".join(self.errors)
        return line


@dataclass(frozen=True, slots=True)
class TurnResult:
    session_id: str
    replies: list[str]
    flow: str
    state: str
    slots: dict[str, Any]
    ended: bool
    trace: Trace

    @property
    def text(self) -> str:
        """The replies joined by newlines."""
        return "\n".join(self.replies)
