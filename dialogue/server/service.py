"""What the endpoints share: the engine, the metrics and the app's options."""

from __future__ import annotations

from dataclasses import dataclass, field

from dialogue.engine import Engine
from dialogue.server.metrics import Metrics
from dialogue.server.security import RateLimit


@dataclass(frozen=True)
class Service:
    engine: Engine
    metrics: Metrics
    token: str | None
    max_text_chars: int
    rate_limit: RateLimit | None
    debug: bool
    count_sessions: bool
    handoff_states: frozenset[str] = field(default=frozenset({"handoff"}))
