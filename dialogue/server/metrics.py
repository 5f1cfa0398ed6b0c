"""The app's Prometheus metrics, fed by the engine's observer events.

Each app has its own ``CollectorRegistry`` (two apps in one process never mix
their numbers, and nothing lands in ``prometheus_client``'s global registry).
Under ``dialogue serve --workers N`` the workers share their numbers through
prometheus-client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set by the
command before it starts them): any worker's ``/metrics`` shows the totals of all.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from dialogue.observe import (
    ActionRun,
    ConversationEnded,
    ConversationHandedOff,
    Event,
    FeedbackGiven,
    LLMCalled,
    TurnFailed,
    TurnFinished,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    """Counters, histograms and gauges of one app; ``observe`` is the engine observer."""

    def __init__(
        self, *, handoff_states: Collection[str] = ("handoff",), multiprocess_dir: str | None = None
    ) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.multiprocess_dir = multiprocess_dir
        """Where the workers' numbers are (multiprocess mode), or None: this process's."""
        self.handoff_states = frozenset(handoff_states)
        self.turns = Counter(
            "dialogue_turns", "Turns answered, by outcome.", ["outcome"], registry=r
        )
        self.failures = Counter(
            "dialogue_turn_failures", "Turns that failed, by kind of failure.", ["kind"], registry=r
        )
        self.latency = Histogram(
            "dialogue_turn_seconds", "Time to answer a turn.", buckets=LATENCY_BUCKETS, registry=r
        )
        self.ended = Counter(
            "dialogue_conversations_ended", "Conversations that reached a final state.",
            ["state"], registry=r,
        )  # fmt: skip
        self.handoffs = Counter(
            "dialogue_handoffs", "Conversations handed to a person.", registry=r
        )
        self.llm_calls = Counter(
            "dialogue_llm_calls", "LLM requests, by model and outcome.", ["model", "outcome"],
            registry=r,
        )  # fmt: skip
        self.llm_failures = Counter(
            "dialogue_llm_failures", "Failed LLM requests, by kind.", ["kind"], registry=r
        )
        self.tokens = Counter(
            "dialogue_llm_tokens", "LLM tokens spent, by kind.", ["kind"], registry=r
        )
        self.actions = Counter(
            "dialogue_actions", "Business actions run, by action and result.", ["action", "ok"],
            registry=r,
        )  # fmt: skip
        self.feedback = Counter(
            "dialogue_feedback", "Ratings given by users, by rating.", ["rating"], registry=r
        )
        self.sessions = Gauge(
            "dialogue_active_sessions",
            "Sessions in the store (unexpired).",
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.created = Counter(
            "dialogue_sessions_created", "Sessions started through the API.", registry=r
        )
        self._handlers: dict[type, Callable[..., None]] = {
            TurnFinished: self._finished,
            TurnFailed: self._failed,
            LLMCalled: self._llm,
            ActionRun: self._action,
            ConversationEnded: self._ended,
            ConversationHandedOff: self._handed_off,
            FeedbackGiven: self._feedback,
        }

    def observe(self, event: Event) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def _finished(self, e: TurnFinished) -> None:
        self.turns.labels(e.outcome).inc()
        self.latency.observe(e.seconds)

    def _failed(self, e: TurnFailed) -> None:
        self.turns.labels("error").inc()
        self.failures.labels(e.kind).inc()
        self.latency.observe(e.seconds)

    def _llm(self, e: LLMCalled) -> None:
        self.llm_calls.labels(e.model, e.outcome).inc()
        if e.outcome == "failed":
            self.llm_failures.labels(e.failure or "unknown").inc()
        if not e.cached:
            self.tokens.labels("prompt").inc(e.prompt_tokens)
            self.tokens.labels("completion").inc(e.completion_tokens)

    def _action(self, e: ActionRun) -> None:
        self.actions.labels(e.action, "true" if e.ok else "false").inc()

    def _ended(self, e: ConversationEnded) -> None:
        self.ended.labels(e.state).inc()
        if e.state in self.handoff_states:
            self.handoffs.inc()

    def _handed_off(self, e: ConversationHandedOff) -> None:
        self.handoffs.inc()

    def _feedback(self, e: FeedbackGiven) -> None:
        self.feedback.labels(str(e.rating)).inc()

    def render(self) -> bytes:
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        from prometheus_client.multiprocess import MultiProcessCollector

        every_worker = CollectorRegistry()
        MultiProcessCollector(every_worker, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(every_worker)
