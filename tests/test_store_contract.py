"""The session store contract (``dialogue/stores/base.py``), run against every store.

Each store registers a factory in ``FACTORIES``: ``factory(tmp_path, **options)``
returns a fresh, empty store; ``options`` are ``ttl`` and ``clock`` (a function
returning seconds, for expiry without waiting). A factory that cannot take a
fake clock raises ``pytest.skip`` when given one (its own tests cover expiry).
A store that leaves something behind (keys on a shared server) names a cleanup in
``CLEANUPS``, called with every store the factory made once the test is over.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dialogue.errors import ConflictError, LeaseTimeout
from dialogue.session import Frame, Session
from dialogue.stores import MemoryStore
from dialogue.stores.base import (
    AsyncLeasingStore,
    AsyncSessionStore,
    LeasingStore,
    ListingStore,
    SessionStore,
)
from dialogue.stores.sqlite import SQLiteStore

Factory = Callable[..., Any]


def memory(tmp_path: Path, **options: Any) -> MemoryStore:
    return MemoryStore(**options)


def sqlite(tmp_path: Path, **options: Any) -> SQLiteStore:
    return SQLiteStore(tmp_path / "s.db", **options)


REDIS_URL = "redis://127.0.0.1:6379/9"


def redis_store(tmp_path: Path, **options: Any) -> Any:
    """A RedisStore on the test server (database 9) under a prefix of its own."""
    if os.environ.get("DIALOGUE_SKIP_REDIS") == "1":
        pytest.skip("DIALOGUE_SKIP_REDIS=1")
    if "clock" in options:
        pytest.skip("Redis expires keys itself: tests/test_store_redis.py covers expiry")
    from dialogue.stores.redis import RedisStore

    return RedisStore(url=REDIS_URL, prefix=f"dialogue-test:{secrets.token_hex(8)}:", **options)


def wipe_redis(store: Any) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        for key in client.scan_iter(match=f"{store.prefix}*"):
            client.delete(key)
    finally:
        client.close()
        store.close()


FACTORIES: dict[str, Factory] = {"memory": memory, "sqlite": sqlite, "redis": redis_store}
CLEANUPS: dict[str, Callable[[Any], None]] = {"redis": wipe_redis}


@pytest.fixture(params=sorted(FACTORIES))
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    factory = FACTORIES[request.param]
    made: list[Any] = []

    def build(**options: Any) -> Any:
        made.append(factory(tmp_path, **options))
        return made[-1]

    yield build
    cleanup = CLEANUPS.get(request.param)
    for store in made if cleanup else []:
        cleanup(store)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rich(session_id: str = "s1") -> Session:
    return Session(
        session_id,
        "shop",
        "tracking",
        slots={"order_id": "AB123456", "order": {"status": "late", "items": [1, 2]}, "n": 3},
        pending="confirmed",
        attempts=1,
        no_match=2,
        step=3,
        stack=(Frame("main", "menu", 2, None),),
        turn=7,
        tokens=120,
        history=("where is my order", "Which order?"),
        meta={"channel": "web"},
    )


def test_a_store_follows_the_protocols(make: Callable[..., Any]) -> None:
    store = make()
    assert isinstance(store, SessionStore)
    assert isinstance(store, AsyncSessionStore)
    assert isinstance(store, LeasingStore)
    assert isinstance(store, ListingStore)


def test_save_load_round_trip_and_versions(make: Callable[..., Any]) -> None:
    store = make()
    assert store.load("s1") is None
    session = rich()
    store.save(session)
    assert session.version == 1
    loaded = store.load("s1")
    assert loaded is not None and loaded.to_dict() == session.to_dict()
    loaded.slots["order_id"] = "changed"
    loaded.state = "menu"
    again = store.load("s1")
    assert again is not None and again.slots["order_id"] == "AB123456"
    assert again.state == "tracking"
    store.save(loaded)
    assert loaded.version == 2
    latest = store.load("s1")
    assert latest is not None and (latest.state, latest.version) == ("menu", 2)


def test_a_stale_save_is_a_conflict_and_changes_nothing(make: Callable[..., Any]) -> None:
    store = make()
    store.save(rich())
    first, second = store.load("s1"), store.load("s1")
    assert first is not None and second is not None
    first.state = "first"
    store.save(first)
    second.state = "second"
    with pytest.raises(ConflictError) as conflict:
        store.save(second)
    assert conflict.value.session_id == "s1"
    stored = store.load("s1")
    assert stored is not None and (stored.state, stored.version) == ("first", 2)
    new = rich("s2")
    new.version = 5  # claims a version that was never stored
    with pytest.raises(ConflictError):
        store.save(new)
    assert store.load("s2") is None


def test_delete(make: Callable[..., Any]) -> None:
    store = make()
    store.save(rich())
    store.delete("s1")
    store.delete("never")
    assert store.load("s1") is None
    fresh = rich()
    store.save(fresh)  # a deleted session starts again at version 1
    assert fresh.version == 1


def test_listing_and_counting(make: Callable[..., Any]) -> None:
    store = make()
    assert (list(store.session_ids()), store.count()) == ([], 0)
    for name in ["a", "b", "c"]:
        store.save(rich(name))
    store.delete("b")
    assert sorted(store.session_ids()) == ["a", "c"]
    assert store.count() == 2


def test_expiry_slides_with_each_save(make: Callable[..., Any]) -> None:
    clock = Clock()
    store = make(ttl=60, clock=clock)
    session = rich()
    store.save(session)
    clock.now += 50
    assert store.load("s1") is not None
    store.save(session)  # a turn: the session lives 60 s from now
    clock.now += 50
    assert store.load("s1") is not None and store.count() == 1
    clock.now += 11
    assert store.load("s1") is None
    assert store.count() == 0 and list(store.session_ids()) == []
    restart = rich()
    store.save(restart)  # an expired session is gone: a new one starts at version 1
    assert restart.version == 1


def test_a_lease_is_exclusive_until_released_or_expired(make: Callable[..., Any]) -> None:
    clock = Clock()
    store = make(clock=clock)
    token = store.acquire("s1", ttl=30, wait=0)
    with pytest.raises(LeaseTimeout) as busy:
        store.acquire("s1", ttl=30, wait=0)
    assert busy.value.session_id == "s1" and busy.value.code == "lease_timeout"
    other = store.acquire("s2", ttl=30, wait=0)  # leases are per session
    store.release("s1", "not-the-token")  # a stranger cannot release it
    with pytest.raises(LeaseTimeout):
        store.acquire("s1", ttl=30, wait=0)
    store.release("s1", token)
    second = store.acquire("s1", ttl=30, wait=0)
    clock.now += 31  # its holder crashed: the lease expires by itself
    third = store.acquire("s1", ttl=30, wait=0)
    store.release("s1", second)  # the expired holder's release leaves the new lease alone
    with pytest.raises(LeaseTimeout):
        store.acquire("s1", ttl=30, wait=0)
    store.release("s1", third)
    store.release("s2", other)


def test_a_waiting_acquire_gets_the_lease_when_it_is_released(make: Callable[..., Any]) -> None:
    store = make()
    token = store.acquire("s1", ttl=30, wait=0)
    waiting = threading.Event()
    got: list[str] = []

    def take() -> None:
        waiting.set()
        got.append(store.acquire("s1", ttl=30, wait=30))

    thread = threading.Thread(target=take)
    thread.start()
    assert waiting.wait(10)
    assert got == []  # still held
    store.release("s1", token)
    thread.join(30)
    assert len(got) == 1 and got[0] != token
    store.release("s1", got[0])


def test_the_async_face_matches(make: Callable[..., Any]) -> None:
    store = make()

    async def run() -> None:
        assert await store.aload("s1") is None
        session = rich()
        await store.asave(session)
        loaded = await store.aload("s1")
        assert loaded is not None and loaded.to_dict() == session.to_dict()
        stale = rich()
        with pytest.raises(ConflictError):
            await store.asave(stale)
        if isinstance(store, AsyncLeasingStore):
            token = await store.aacquire("s1", ttl=30, wait=0)
            with pytest.raises(LeaseTimeout):
                await store.aacquire("s1", ttl=30, wait=0)
            await store.arelease("s1", token)
        await store.adelete("s1")
        assert await store.aload("s1") is None

    asyncio.run(run())
