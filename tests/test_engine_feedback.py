"""``Engine.feedback``: ratings kept with the session, by every store, and observed."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import redis_prefix

from dialogue import Engine
from dialogue.errors import FeedbackError, SessionNotFound
from dialogue.observe import Event, FeedbackGiven
from dialogue.session import MAX_FEEDBACK, Feedback, Session

SHOP = Path(__file__).resolve().parent.parent / "flows" / "customer_service.yaml"
NOON = datetime.datetime(2026, 5, 4, 12, 0, 0)


def shop(**options: object) -> Engine:
    return Engine.from_path(SHOP, llm=None, clock=lambda: NOON, **options)  # type: ignore[arg-type]


def test_a_rating_is_kept_with_the_session_and_observed() -> None:
    events: list[Event] = []
    with shop(observers=[events.append]) as engine:
        engine.start("s")
        engine.handle("s", "where is my order")
        events.clear()
        entry = engine.feedback("s", 2, "down", "I wanted a person")
        assert entry == Feedback(2, "down", "I wanted a person", "2026-05-04T12:00:00")
        assert events == [FeedbackGiven("s", 2, "down")]
        engine.feedback("s", 1, 5)
        engine.feedback("s", 2, "up")  # a new rating of turn 2 replaces the first
        stored = engine.session("s")
    assert stored is not None
    assert [(f.turn, f.rating, f.comment) for f in stored.feedback] == [(1, 5, ""), (2, "up", "")]
    assert stored.turn == 2  # feedback is not a turn


def test_feedback_for_what_does_not_exist_is_refused() -> None:
    with shop() as engine:
        with pytest.raises(SessionNotFound) as missing:
            engine.feedback("nobody", 1, "up")
        assert missing.value.code == "session_not_found"
        engine.start("s")
        for turn in (0, 2, -1):
            with pytest.raises(FeedbackError, match=r"has had turns 1 to 1, not"):
                engine.feedback("s", turn, "up")
        for rating in ("meh", 0, 6, True, "5"):
            with pytest.raises(FeedbackError, match=r"neither 'up', 'down' nor 1 to 5"):
                engine.feedback("s", 1, rating)  # type: ignore[arg-type]
        stored = engine.session("s")
        assert stored is not None and stored.feedback == () and stored.version == 1


def test_the_async_face_keeps_it_too() -> None:
    async def run() -> Session | None:
        engine = shop()
        await engine.astart("s")
        await engine.afeedback("s", 1, "up", "quick")
        found = await engine.asession("s")
        await engine.aclose()
        return found

    stored = asyncio.run(run())
    assert stored is not None and stored.feedback == (
        Feedback(1, "up", "quick", "2026-05-04T12:00:00"),
    )


def test_a_session_keeps_the_latest_ratings_only() -> None:
    session = Session("s", "f", "a", turn=500)
    for turn in range(1, 151):
        session.rate(Feedback(turn, "up", "", ""))
    assert len(session.feedback) == MAX_FEEDBACK
    assert session.feedback[0].turn == 51 and session.feedback[-1].turn == 150


def test_sessions_saved_before_feedback_existed_still_load() -> None:
    data = Session("s", "f", "a").to_dict()
    del data["feedback"]
    assert Session.from_dict(data).feedback == ()


@pytest.fixture
def redis_url() -> Iterator[str]:
    with redis_prefix("redis://127.0.0.1:6379/11", "server") as prefix:
        yield f"redis://127.0.0.1:6379/11?prefix={prefix}"


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_stores_keep_ratings_across_engines(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path}/s.db" if kind == "sqlite" else request.getfixturevalue("redis_url")
    with shop(store=url) as engine:
        engine.start("s")
        engine.feedback("s", 1, 4, "nice greeting")
    with shop(store=url) as engine:  # a restart, another worker
        stored = engine.session("s")
        assert stored is not None
        assert stored.feedback == (Feedback(1, 4, "nice greeting", "2026-05-04T12:00:00"),)
        engine.handle("s", "where is my order")  # a turn keeps them
        later = engine.session("s")
    assert later is not None and later.feedback == stored.feedback
