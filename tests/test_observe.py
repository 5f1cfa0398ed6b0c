"""Observers: typed events after every turn, for metrics and telemetry."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from dialogue import Engine, StoreError
from dialogue.llm.openai_client import OpenAIChatClient
from dialogue.observe import (
    ActionRun,
    ConversationEnded,
    Event,
    LLMCalled,
    TurnFailed,
    TurnFinished,
)
from dialogue.stores import MemoryStore
from dialogue.testing import FakeChatServer, FakeReply

FLOWS = Path(__file__).resolve().parent.parent / "flows"


def shop(events: list[Event], **options: Any) -> Engine:
    return Engine.from_path(
        FLOWS / "customer_service.yaml", llm=None, observers=[events.append], **options
    )


def test_a_conversation_as_events() -> None:
    events: list[Event] = []
    engine = shop(events)
    engine.handle("s", "where is my order AB123456")
    assert [type(e) for e in events] == [ActionRun, TurnFinished]
    action, turn = events
    assert isinstance(action, ActionRun) and (action.action, action.ok) == ("lookup_order", True)
    assert isinstance(turn, TurnFinished)
    assert (turn.outcome, turn.rule, turn.state, turn.ended) == ("rule", "intent", "menu", False)
    events.clear()
    for _ in range(3):
        engine.handle("s", "blorp")
    assert [e.outcome for e in events if isinstance(e, TurnFinished)] == ["no_match"] * 3
    ended = [e for e in events if isinstance(e, ConversationEnded)]
    assert ended == [ConversationEnded("s", "customer_service", "handoff")]


def test_llm_calls_are_events(client: OpenAIChatClient, fake: FakeChatServer) -> None:
    events: list[Event] = []
    engine = Engine.from_path(
        FLOWS / "customer_service.yaml", llm=client, observers=[events.append]
    )
    engine.handle("s", "where is my order")
    events.clear()
    fake.script(FakeReply.json({"intent": None, "slots": {}, "reply": "We open at 8."}))
    engine.handle("s", "when do you open?")
    fake.script(*[FakeReply.error(500)] * 3)
    engine.handle("s", "hmm?")
    calls = [e for e in events if isinstance(e, LLMCalled)]
    assert [(c.outcome, c.failure) for c in calls] == [("reply", ""), ("failed", "server_error")]
    assert calls[0].model == "fake-model" and calls[0].prompt_tokens > 0
    turns = [e.outcome for e in events if isinstance(e, TurnFinished)]
    assert turns[0] == "llm"


def test_a_failing_observer_never_breaks_a_turn(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("telemetry is down for +44 20 7946 " + "0" + "958")

    engine = Engine.from_path(
        FLOWS / "customer_service.yaml", llm=None, observers=[broken, seen.append]
    )
    with caplog.at_level(logging.ERROR, logger="dialogue"):
        result = engine.handle("s", "hello")
    assert result.replies and isinstance(seen[-1], TurnFinished)
    assert "observer" in caplog.text and "RuntimeError (message withheld)" in caplog.text
    assert "7946 0958" not in caplog.text  # an exception's message may quote a user


def test_a_store_failure_is_a_failed_turn() -> None:
    class Broken(MemoryStore):
        def save(self, session: Any) -> None:
            raise OSError("disk full")

    events: list[Event] = []
    engine = shop(events, store=Broken())
    with pytest.raises(StoreError):
        engine.handle("s", "hello")
    assert [(type(e), getattr(e, "kind", "")) for e in events] == [(TurnFailed, "StoreError")]


def test_turns_are_logged_at_debug_with_structured_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = shop([])
    with caplog.at_level(logging.DEBUG, logger="dialogue"):
        engine.handle("s", "hello")
    record = next(r for r in caplog.records if r.getMessage().startswith("turn 1"))
    fields = {k: getattr(record, k) for k in ("session_id", "flow", "state", "outcome", "rule")}
    assert fields == {
        "session_id": "'s'",
        "flow": "customer_service",
        "state": "menu",
        "outcome": "rule",
        "rule": "intent",
    }
    assert "hello" not in record.getMessage()
