"""``Engine.reset`` / ``areset``: through the guarded store and the per-session lock.

Ordering is proven with events and logs, never with the clock: a turn is held
inside its action until the test lets it go, and a spy on the session locks
tells when the reset has found the session busy.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from dialogue import Engine, MemoryStore, Session, StoreError
from dialogue.runtime.session_locks import SessionLocks

Make = Callable[..., Engine]

FLOW = """
flow: shop
start: menu
slots:
  order_id: {type: pattern, pattern: '[A-Z]{2}\\d{6}', ask: "Order number?"}
intents:
  track: {keywords: [track]}
states:
  menu:
    say: "Hi! Say track."
    on: {track: tracking}
  tracking:
    collect: [order_id]
    call: {action: lookup, with: {order_id: order_id}, into: order}
    next:
      - say: "{{ order_id }} is {{ order.status }}."
        goto: menu
"""

WAIT = 30.0  # seconds; only reached when the engine is broken (then the test fails, not hangs)


def lookup(order_id: str) -> dict[str, str]:
    return {"status": "shipped"}


class LoggedStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.log: list[str] = []

    def save(self, session: Session) -> None:
        super().save(session)
        self.log.append("save")

    def delete(self, session_id: str) -> None:
        super().delete(session_id)
        self.log.append("delete")


class FailingStore(MemoryStore):
    def delete(self, session_id: str) -> None:
        raise OSError("disk gone")


class FailingAsyncStore(MemoryStore):
    async def adelete(self, session_id: str) -> None:
        raise ConnectionError("redis gone")


class SyncOnlyStore:
    """A store without the ``a``-methods: the async face runs it in a thread."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.threads: set[str] = set()

    def load(self, session_id: str) -> Session | None:
        return self.inner.load(session_id)

    def save(self, session: Session) -> None:
        self.inner.save(session)

    def delete(self, session_id: str) -> None:
        self.threads.add(threading.current_thread().name)
        self.inner.delete(session_id)


class SpyLocks(SessionLocks):
    """Session locks that say when someone came for a lock another holds."""

    def __init__(self) -> None:
        super().__init__()
        self.contended = threading.Event()

    def _join(self, key: str) -> threading.Lock:
        lock = super()._join(key)
        if lock.locked():
            self.contended.set()
        return lock


class HeldAction:
    """A lookup action that waits, inside the turn, until the test releases it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, order_id: str) -> dict[str, str]:
        self.entered.set()
        assert self.release.wait(WAIT), "the test never released the action"
        return {"status": "shipped"}


def test_reset_starts_the_conversation_over(make_engine: Make) -> None:
    engine = make_engine(FLOW, actions={"lookup": lookup})
    engine.handle("s", "track")
    engine.reset("s")
    assert engine.session("s") is None
    assert engine.handle("s", "hello").replies[0] == "Hi! Say track."
    engine.reset("never-seen")  # forgetting an unknown session is fine


def test_areset_starts_the_conversation_over(make_engine: Make) -> None:
    engine = make_engine(FLOW, actions={"lookup": lookup})

    async def run() -> list[str]:
        await engine.ahandle("s", "track")
        await engine.areset("s")
        assert engine.session("s") is None
        return (await engine.ahandle("s", "hello")).replies

    assert asyncio.run(run())[0] == "Hi! Say track."


def test_areset_runs_a_sync_only_store_off_the_event_loop(make_engine: Make) -> None:
    store = SyncOnlyStore()
    engine = make_engine(FLOW, actions={"lookup": lookup}, store=store)
    engine.handle("s", "track")
    asyncio.run(engine.areset("s"))
    assert engine.session("s") is None
    assert store.threads and threading.current_thread().name not in store.threads


def test_engine_store_is_the_store_given(make_engine: Make) -> None:
    store = LoggedStore()
    assert make_engine(FLOW, actions={"lookup": lookup}, store=store).store is store


def _reset(engine: Engine) -> None:
    engine.reset("s")


def _areset(engine: Engine) -> None:
    asyncio.run(engine.areset("s"))


@pytest.mark.parametrize(
    ("store", "reset", "cause"),
    [
        (FailingStore, _reset, "disk gone"),
        (FailingStore, _areset, "disk gone"),  # a sync delete, run in a thread
        (FailingAsyncStore, _areset, "redis gone"),
    ],
)
def test_reset_store_failure_is_a_store_error(
    make_engine: Make, store: type[Any], reset: Callable[[Engine], None], cause: str
) -> None:
    engine = make_engine(FLOW, actions={"lookup": lookup}, store=store())
    engine.handle("s", "track")
    with pytest.raises(StoreError) as info:
        reset(engine)
    assert info.value.session_id == "s" and info.value.code == "store_error"
    assert str(info.value) == f"could not delete session 's': {cause}"
    assert isinstance(info.value.__cause__, OSError | ConnectionError)
    assert engine.session("s") is not None  # nothing was forgotten


def _held_engine(make_engine: Make) -> tuple[Engine, LoggedStore, HeldAction, SpyLocks]:
    store, held, locks = LoggedStore(), HeldAction(), SpyLocks()
    engine = make_engine(FLOW, actions={"lookup": held}, store=store)
    engine._locks = locks  # spy on the engine's own per-session locks
    engine.start("s")
    return engine, store, held, locks


def test_reset_waits_for_a_running_turn_of_the_session(make_engine: Make) -> None:
    engine, store, held, locks = _held_engine(make_engine)
    results: list[Any] = []
    turn = threading.Thread(target=lambda: results.append(engine.handle("s", "track AB123456")))
    turn.start()
    assert held.entered.wait(WAIT)  # the turn now holds the session
    reset = threading.Thread(target=engine.reset, args=("s",))
    reset.start()
    assert locks.contended.wait(WAIT)  # the reset came for the session's lock ...
    assert store.log == ["save"]  # ... and has deleted nothing while the turn runs
    held.release.set()
    turn.join()
    reset.join()
    assert store.log == ["save", "save", "delete"]  # greeting, turn, then the reset
    assert results[0].replies == ["AB123456 is shipped.", "Hi! Say track."]
    assert engine.session("s") is None


def test_areset_waits_for_a_running_turn_without_blocking_the_loop(make_engine: Make) -> None:
    engine, store, held, locks = _held_engine(make_engine)
    turn = threading.Thread(target=engine.handle, args=("s", "track AB123456"))
    turn.start()
    assert held.entered.wait(WAIT)

    async def run() -> None:
        reset = asyncio.create_task(engine.areset("s"))
        # the loop keeps running while the reset waits: this thread hop completes
        assert await asyncio.to_thread(locks.contended.wait, WAIT)
        assert not reset.done() and store.log == ["save"]
        held.release.set()
        await reset

    asyncio.run(run())
    turn.join()
    assert store.log == ["save", "save", "delete"]
    assert engine.session("s") is None


def test_a_turn_waits_for_a_running_reset(make_engine: Make) -> None:
    entered, release = threading.Event(), threading.Event()

    class HeldDelete(LoggedStore):
        def delete(self, session_id: str) -> None:
            entered.set()
            assert release.wait(WAIT)
            super().delete(session_id)

    store, locks = HeldDelete(), SpyLocks()
    engine = make_engine(FLOW, actions={"lookup": lookup}, store=store)
    engine._locks = locks
    engine.handle("s", "track")
    reset = threading.Thread(target=engine.reset, args=("s",))
    reset.start()
    assert entered.wait(WAIT)
    results: list[Any] = []
    turn = threading.Thread(target=lambda: results.append(engine.handle("s", "AB123456")))
    turn.start()
    assert locks.contended.wait(WAIT)
    release.set()
    reset.join()
    turn.join()
    assert store.log == ["save", "delete", "save"]
    # the message came after the reset: a new conversation, not the order number
    assert results[0].replies[0] == "Hi! Say track." and results[0].state == "menu"
