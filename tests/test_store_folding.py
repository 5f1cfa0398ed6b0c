"""The folded lease (``FoldingStore``: ``acquire_load`` / ``save_release``) on real SQLite
files and the real Redis server, and the engine over it.

Redis tests work in database 12 under a prefix of their own, deleted afterwards
(``DIALOGUE_SKIP_REDIS=1`` skips them). Processes that hold a lease are real
subprocesses; nothing asserts on wall-clock time: waits are shown by order (the
waiting call has not returned while the other process holds the lease).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dialogue import Engine, compile_flows, parse_flow
from dialogue.errors import ConflictError, LeaseTimeout, StoreError
from dialogue.session import Session
from dialogue.stores import AsyncFoldingStore, FoldingStore, LeasingStore
from dialogue.stores.guard import GuardedStore
from dialogue.stores.sqlite import SQLiteStore

REDIS_URL = "redis://127.0.0.1:6379/12"

FLOW = """
flow: shop
start: menu
slots:
  order_id: {type: pattern, pattern: '[A-Z]{2}\\d{6}', ask: "Which order?"}
intents:
  track: {keywords: [track]}
  help: {keywords: [help], scope: global, say: "I track orders."}
states:
  menu:
    say: "Hi!"
    on: {track: tracking}
  tracking:
    collect: [order_id]
    next:
      - say: "Tracking {{ order_id }}."
        goto: menu
"""


def engine(store: Any, **options: Any) -> Engine:
    return Engine(compile_flows([parse_flow(FLOW, path="shop.yaml")]), store=store, **options)


def session(session_id: str = "s1", **slots: Any) -> Session:
    return Session(session_id, "shop", "menu", slots=dict(slots))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the stores: SQLite on a file, Redis on the server (each with a URL for processes)


def sqlite_store(tmp_path: Path, **options: Any) -> tuple[Any, str]:
    path = tmp_path / "s.db"
    return SQLiteStore(path, **options), f"sqlite:///{path}"


def redis_store(tmp_path: Path, **options: Any) -> tuple[Any, str]:
    if os.environ.get("DIALOGUE_SKIP_REDIS") == "1":
        pytest.skip("DIALOGUE_SKIP_REDIS=1")
    from dialogue.stores.redis import RedisStore

    prefix = f"dialogue-fold:{secrets.token_hex(8)}:"
    return RedisStore(url=REDIS_URL, prefix=prefix, **options), f"{REDIS_URL}?prefix={prefix}"


def wipe(store: Any) -> None:
    if hasattr(store, "prefix"):
        for key in store._client.scan_iter(match=f"{store.prefix}*"):
            store._client.delete(key)
    store.close()


Make = Callable[..., tuple[Any, str]]


@pytest.fixture(params=["sqlite", "redis"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Make]:
    made: list[Any] = []

    def build(**options: Any) -> tuple[Any, str]:
        found = (sqlite_store if request.param == "sqlite" else redis_store)(tmp_path, **options)
        made.append(found[0])
        return found

    yield build
    for store in made:
        wipe(store)


HOLD = """
import sys
from dialogue.stores import open_store
store = open_store(sys.argv[1])
token, _ = store.acquire_load("s1", ttl=float(sys.argv[2]), wait=30)
print("holding", flush=True)
if sys.stdin.readline() == "release\\n":
    store.release("s1", token)
    print("released", flush=True)
    sys.stdin.readline()
"""


def holder(url: str, ttl: float) -> subprocess.Popen[str]:
    """A process that takes the lease of session s1 and holds it until told."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, url, str(ttl)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline() == "holding\n"
    return child


def stop(child: subprocess.Popen[str]) -> None:
    child.kill()
    child.wait(timeout=60)
    for pipe in (child.stdin, child.stdout):
        if pipe is not None:
            pipe.close()


# -- the store calls


def test_the_stores_fold_their_leases(make: Make) -> None:
    store, _ = make()
    assert isinstance(store, FoldingStore) and isinstance(store, AsyncFoldingStore)
    assert isinstance(store, LeasingStore)
    assert GuardedStore(store).folds


def test_acquire_load_then_save_release_is_a_turn(make: Make) -> None:
    store, _ = make()
    token, found = store.acquire_load("s1", ttl=30, wait=0)
    assert found is None  # nothing stored: and the lease shows nowhere
    assert store.load("s1") is None and list(store.session_ids()) == [] and store.count() == 0
    with pytest.raises(LeaseTimeout):
        store.acquire_load("s1", ttl=30, wait=0)
    first = session(n=1)
    store.save_release(first, token)
    assert first.version == 1
    token, found = store.acquire_load("s1", ttl=30, wait=0)  # the lease was given back
    assert found is not None and (found.slots, found.version) == ({"n": 1}, 1)
    found.slots["n"] = 2
    store.save_release(found, token)
    loaded = store.load("s1")
    assert loaded is not None and (loaded.slots, loaded.version) == ({"n": 2}, 2)
    assert list(store.session_ids()) == ["s1"]


def test_a_conflict_at_save_release_stores_nothing_and_keeps_the_lease(make: Make) -> None:
    store, _ = make()
    store.save(session(n=1))
    token, found = store.acquire_load("s1", ttl=30, wait=0)
    assert found is not None
    other = store.load("s1")
    assert other is not None
    other.slots["n"] = "other"
    store.save(other)  # a writer that ignores leases: the version check catches it
    found.slots["n"] = "mine"
    with pytest.raises(ConflictError) as conflict:
        store.save_release(found, token)
    assert "version 2, expected 1" in str(conflict.value) and found.version == 1
    with pytest.raises(LeaseTimeout):
        store.acquire_load("s1", ttl=30, wait=0)  # still held by token
    again = store.load("s1")
    assert again is not None and again.slots == {"n": "other"}
    again.slots["n"] = "mine"
    store.save_release(again, token)
    token, last = store.acquire_load("s1", ttl=30, wait=0)
    assert last is not None and (last.slots, last.version) == ({"n": "mine"}, 3)
    store.release("s1", token)


def test_release_of_a_session_never_saved_leaves_nothing(make: Make) -> None:
    store, _ = make()
    token, _ = store.acquire_load("new", ttl=30, wait=0)
    store.release("new", token)
    store.release("new", token)  # twice: a no-op
    assert store.load("new") is None and store.count() == 0
    if isinstance(store, SQLiteStore):
        with sqlite3.connect(store.path) as conn:
            assert conn.execute("SELECT COUNT(*) FROM sessions").fetchone() == (0,)
    else:
        assert store._client.exists(store._lease("new"), store._key("new")) == 0
    token, _ = store.acquire_load("new", ttl=30, wait=0)
    store.release("new", token)


def test_a_stale_token_does_not_release_the_new_holders_lease(make: Make) -> None:
    store, _ = make()
    store.save(session(n=1))
    old, _ = store.acquire_load("s1", ttl=0.05, wait=0)
    new, found = store.acquire_load("s1", ttl=30, wait=60)  # once the first expired
    assert found is not None and new != old
    store.release("s1", old)
    found.slots["n"] = 2
    store.save_release(found, old)  # saved (the version is right), the lease stays new's
    with pytest.raises(LeaseTimeout):
        store.acquire_load("s1", ttl=30, wait=0)
    store.release("s1", new)
    token, last = store.acquire_load("s1", ttl=30, wait=0)
    assert last is not None and last.slots == {"n": 2}
    store.release("s1", token)


def test_a_lease_held_by_another_process_is_waited_for_then_times_out(make: Make) -> None:
    store, url = make()
    store.save(session(n=1))
    child = holder(url, ttl=300)
    try:
        with pytest.raises(LeaseTimeout, match="is busy"):
            store.acquire_load("s1", ttl=30, wait=0.2)
        got: list[tuple[str, Session | None]] = []
        waiting = threading.Thread(
            target=lambda: got.append(store.acquire_load("s1", ttl=30, wait=120))
        )
        waiting.start()
        for _ in range(5):  # it waits while the child holds the lease
            waiting.join(0.02)
            assert waiting.is_alive() and got == []
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write("release\n")
        child.stdin.flush()
        assert child.stdout.readline() == "released\n"
        waiting.join(120)
        assert not waiting.is_alive()
        token, found = got[0]
        assert found is not None and found.slots == {"n": 1}
        store.save_release(found, token)
    finally:
        stop(child)


def test_a_dead_holders_lease_expires_and_is_taken_over(make: Make) -> None:
    store, url = make()
    store.save(session(n=1))
    child = holder(url, ttl=0.5)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    stop(child)
    token, found = store.acquire_load("s1", ttl=30, wait=120)
    assert found is not None and (found.slots, found.version) == ({"n": 1}, 1)
    found.slots["n"] = 2
    store.save_release(found, token)
    assert found.version == 2


def test_the_async_face_folds_too(make: Make) -> None:
    store, _ = make()

    async def run() -> Session | None:
        token, found = await store.aacquire_load("s1", ttl=30, wait=0)
        assert found is None
        with pytest.raises(LeaseTimeout):
            await store.aacquire_load("s1", ttl=30, wait=0)
        await store.asave_release(session(n=1), token)
        token, found = await store.aacquire_load("s1", ttl=30, wait=0)
        await store.arelease("s1", token)
        return found

    found = asyncio.run(run())
    assert found is not None and (found.slots, found.version) == ({"n": 1}, 1)


# -- SQLite specifics: the lease on the session row


def test_sqlite_expired_leases_and_sessions(tmp_path: Path) -> None:
    clock = Clock()
    store = SQLiteStore(tmp_path / "s.db", ttl=60, clock=clock)
    other = SQLiteStore(tmp_path / "s.db", ttl=60, clock=clock)
    store.save(session("old", n=1))
    clock.now += 61  # the session expired: a claim finds nothing
    token, found = store.acquire_load("old", ttl=30, wait=0)
    assert found is None
    assert other.sweep() == 0  # leased: not swept
    store.save_release(session("old", n=2), token)  # over the expired row, as version 1
    loaded = other.load("old")
    assert loaded is not None and (loaded.slots, loaded.version) == ({"n": 2}, 1)

    token, _ = store.acquire_load("gone", ttl=30, wait=0)  # its holder never comes back
    clock.now += 31
    taken, _ = other.acquire_load("gone", ttl=30, wait=0)  # expired: taken over
    assert taken != token
    other.release("gone", taken)
    store.acquire_load("abandoned", ttl=30, wait=0)
    clock.now += 100
    assert other.sweep() == 1  # "old" expired; the abandoned placeholder goes, uncounted
    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM sessions").fetchone() == (0,)


def test_sqlite_delete_during_a_lease_keeps_the_lease(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.save(session(n=1))
    token, found = store.acquire_load("s1", ttl=30, wait=0)
    assert found is not None
    store.delete("s1")  # Engine.reset from another process
    assert store.load("s1") is None and store.count() == 0
    with pytest.raises(LeaseTimeout):
        store.acquire_load("s1", ttl=30, wait=0)
    with pytest.raises(ConflictError, match="version 0, expected 1"):
        store.save_release(found, token)
    store.save_release(session(n=9), token)  # the retry, from the fresh (empty) load
    token, again = store.acquire_load("s1", ttl=30, wait=0)
    assert again is not None and (again.slots, again.version) == ({"n": 9}, 1)
    store.release("s1", token)


# -- the engine over folded leases


class Counting:
    """Wraps a folding store: records its calls; ``conflicts`` saves are preceded by
    another writer's save (one that takes no lease), so they conflict for real."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.calls: list[str] = []
        self.conflicts = 0

    def __getattr__(self, name: str) -> Any:
        if name.startswith("a"):  # no async face: the engine runs the sync one in a thread
            raise AttributeError(name)
        return getattr(self.store, name)

    def acquire_load(self, session_id: str, *, ttl: float, wait: float) -> Any:
        self.calls.append("acquire_load")
        return self.store.acquire_load(session_id, ttl=ttl, wait=wait)

    def load(self, session_id: str) -> Session | None:
        self.calls.append("load")
        return self.store.load(session_id)  # type: ignore[no-any-return]

    def save(self, session: Session) -> None:
        self.calls.append("save")
        self.store.save(session)

    def _interfere(self, session_id: str) -> None:
        if self.conflicts:
            self.conflicts -= 1
            other = self.store.load(session_id)
            other.meta = {"touched": (other.meta or {}).get("touched", 0) + 1}
            self.store.save(other)

    def save_release(self, session: Session, token: str) -> None:
        self.calls.append("save_release")
        self._interfere(session.id)
        self.store.save_release(session, token)

    def release(self, session_id: str, token: str) -> None:
        self.calls.append("release")
        self.store.release(session_id, token)

    def acquire(self, session_id: str, *, ttl: float, wait: float) -> str:
        self.calls.append("acquire")
        return self.store.acquire(session_id, ttl=ttl, wait=wait)  # type: ignore[no-any-return]


class AsyncCounting(Counting):
    """``Counting`` with the async face of the store."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def aload(self, session_id: str) -> Session | None:
        self.calls.append("load")
        return await self.store.aload(session_id)  # type: ignore[no-any-return]

    async def aacquire_load(self, session_id: str, *, ttl: float, wait: float) -> Any:
        self.calls.append("aacquire_load")
        return await self.store.aacquire_load(session_id, ttl=ttl, wait=wait)

    async def asave_release(self, session: Session, token: str) -> None:
        self.calls.append("asave_release")
        self._interfere(session.id)
        await self.store.asave_release(session, token)

    async def arelease(self, session_id: str, token: str) -> None:
        self.calls.append("arelease")
        await self.store.arelease(session_id, token)


def test_a_turn_is_two_calls(make: Make) -> None:
    store, _ = make()
    counted = AsyncCounting(store)
    bot = engine(counted)
    assert bot.handle("s", "track").replies[-1] == "Which order?"
    assert bot.handle("s", "AB123456").replies == ["Tracking AB123456.", "Hi!"]
    assert counted.calls == ["acquire_load", "save_release"] * 2
    counted.calls.clear()

    async def run() -> list[str]:
        return (await bot.ahandle("s", "help")).replies

    assert asyncio.run(run()) == ["I track orders."]
    assert counted.calls == ["aacquire_load", "asave_release"]
    token, _ = store.acquire_load("s", ttl=30, wait=0)  # every turn gave the lease back
    store.release("s", token)


def test_a_conflict_at_save_release_is_retried_by_the_engine(make: Make) -> None:
    store, _ = make()
    counted = AsyncCounting(store)
    bot = engine(counted)
    bot.handle("s", "track")
    counted.calls.clear()
    counted.conflicts = 2
    assert bot.handle("s", "AB123456").replies == ["Tracking AB123456.", "Hi!"]
    assert counted.calls == ["acquire_load", "save_release", *["load", "save_release"] * 2]
    stored = bot.session("s")
    assert stored is not None and stored.meta == {"touched": 2}  # the other writes kept
    assert stored.state == "menu" and stored.slots == {"order_id": "AB123456"}
    counted.calls.clear()
    counted.conflicts = 1

    async def run() -> list[str]:
        return (await bot.ahandle("s", "help")).replies

    assert asyncio.run(run()) == ["I track orders."]
    assert counted.calls == ["aacquire_load", "asave_release", "load", "asave_release"]


def test_a_failed_turn_releases_the_lease(make: Make) -> None:
    store, _ = make()
    counted = Counting(store)
    bot = engine(counted)
    bot.handle("s", "track")
    counted.calls.clear()
    counted.conflicts = 10
    with pytest.raises(ConflictError):
        bot.handle("s", "AB123456")
    assert counted.calls[0] == "acquire_load" and counted.calls[-1] == "release"
    counted.conflicts = 0
    token, found = store.acquire_load("s", ttl=30, wait=0)  # released
    assert found is not None and found.pending == "order_id"
    store.release("s", token)

    bot.handle("n", "track", message_id="m1")
    counted.calls.clear()
    assert bot.handle("n", "track", message_id="m1").trace.rule == "duplicate"
    assert counted.calls == ["acquire_load", "release"]  # nothing to save


def test_a_store_error_at_save_release_releases_the_lease(make: Make) -> None:
    store, _ = make()

    class Unsaveable(Counting):
        def save_release(self, session: Session, token: str) -> None:
            session.slots["bad"] = {1, 2}  # not JSON: the store refuses it
            super().save_release(session, token)

    counted = Unsaveable(store)
    bot = engine(counted)
    with pytest.raises(StoreError, match="not JSON"):
        bot.handle("s", "track")
    assert counted.calls == ["acquire_load", "save_release", "release"]
    token, found = store.acquire_load("s", ttl=30, wait=0)
    assert found is None
    store.release("s", token)


class Basic:
    """A third-party store with the basic protocols only (no folded calls)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.calls: list[str] = []

    def load(self, session_id: str) -> Session | None:
        self.calls.append("load")
        return self.store.load(session_id)  # type: ignore[no-any-return]

    def save(self, session: Session) -> None:
        self.calls.append("save")
        self.store.save(session)

    def delete(self, session_id: str) -> None:
        self.store.delete(session_id)

    def acquire(self, session_id: str, *, ttl: float, wait: float) -> str:
        self.calls.append("acquire")
        return self.store.acquire(session_id, ttl=ttl, wait=wait)  # type: ignore[no-any-return]

    def release(self, session_id: str, token: str) -> None:
        self.calls.append("release")
        self.store.release(session_id, token)


def test_a_store_without_the_folded_calls_is_leased_around_load_and_save(make: Make) -> None:
    store, _ = make()
    basic = Basic(store)
    assert not isinstance(basic, FoldingStore) and isinstance(basic, LeasingStore)
    bot, other = engine(basic), engine(store)
    bot.handle("s", "track")
    assert other.handle("s", "AB123456").replies == ["Tracking AB123456.", "Hi!"]
    assert bot.handle("s", "help").replies == ["I track orders."]
    assert basic.calls == ["acquire", "load", "save", "release"] * 2

    async def run() -> list[str]:
        return (await bot.ahandle("s", "help")).replies  # the sync calls, in a thread

    assert asyncio.run(run()) == ["I track orders."]
    assert basic.calls[-4:] == ["acquire", "load", "save", "release"]
    held = store.acquire("s", ttl=30, wait=0)
    with pytest.raises(LeaseTimeout):
        engine(basic, lease_wait=0).handle("s", "help")
    store.release("s", held)


def test_a_folding_store_without_async_calls_folds_in_a_thread(tmp_path: Path) -> None:
    counted = Counting(SQLiteStore(tmp_path / "s.db"))
    assert not hasattr(counted, "aacquire_load") and not hasattr(counted, "aload")
    bot = engine(counted)
    bot.handle("s", "track")
    counted.calls.clear()
    counted.conflicts = 1

    async def run() -> list[str]:
        return (await bot.ahandle("s", "AB123456")).replies

    assert asyncio.run(run()) == ["Tracking AB123456.", "Hi!"]
    assert counted.calls == ["acquire_load", "save_release", "load", "save_release"]
