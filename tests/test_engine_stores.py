"""The engine over a store: URLs, leases, conflicts retried, redelivered messages,
sessions stored under flows that changed since, export."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dialogue import (
    ConfigurationError,
    ConflictError,
    Engine,
    MemoryStore,
    compile_flows,
    parse_flow,
)
from dialogue.errors import LeaseTimeout, StoreError
from dialogue.session import Session
from dialogue.stores.sqlite import SQLiteStore
from dialogue.stores.url import BUILTIN
from dialogue.trace import Restarted

Make = Callable[..., Engine]

FLOW = """
flow: shop
start: menu
slots:
  order_id: {type: pattern, pattern: '[A-Z]{2}\\d{6}', ask: "Which order?"}
  note: {type: text, ask: "Any note?"}
intents:
  track: {keywords: [track]}
  help: {keywords: [help], scope: global, say: "I track orders."}
states:
  menu:
    say: "Hi!"
    on: {track: tracking}
  tracking:
    collect: [order_id, note]
    next:
      - say: "Tracking {{ order_id }} ({{ note }})."
        goto: menu
"""

# the same flow after a release that renamed the state and dropped the note slot
CHANGED = """
flow: shop
start: menu
slots:
  order_id: {type: pattern, pattern: '[A-Z]{2}\\d{6}', ask: "Which order?"}
intents:
  track: {keywords: [track]}
states:
  menu:
    say: "Hello again!"
    on: {track: finding}
  finding:
    collect: [order_id]
    next:
      - say: "Finding {{ order_id }}."
        goto: menu
"""


def engine(text: str = FLOW, **options: Any) -> Engine:
    return Engine(compile_flows([parse_flow(text, path="shop.yaml")]), **options)


class SharedStore(MemoryStore):
    """A MemoryStore that behaves like a store shared by processes: the engine takes
    its leases. It counts calls and can make saves conflict, as another writer would."""

    in_process = False

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.calls: list[str] = []
        self.conflicts = 0

    def acquire(self, session_id: str, *, ttl: float, wait: float) -> str:
        self.calls.append("acquire")
        return super().acquire(session_id, ttl=ttl, wait=wait)

    def release(self, session_id: str, token: str) -> None:
        self.calls.append("release")
        super().release(session_id, token)

    def load(self, session_id: str) -> Session | None:
        self.calls.append("load")
        return super().load(session_id)

    def save(self, session: Session) -> None:
        self.calls.append("save")
        if self.conflicts:
            self.conflicts -= 1
            raise ConflictError("saved meanwhile", session_id=session.id)
        super().save(session)


def test_a_store_by_url() -> None:
    bot = engine(store="memory://?ttl=60")
    assert isinstance(bot.store, MemoryStore) and bot.store.ttl == 60
    with pytest.raises(ConfigurationError, match="no session store for the scheme 'mongo'"):
        engine(store="mongo://localhost")


def test_turns_hold_the_lease_of_a_shared_store() -> None:
    store = SharedStore()
    bot = engine(store=store)
    bot.handle("s", "track")
    assert store.calls == ["acquire", "load", "save", "release"]
    assert bot.lease_ttl >= 30


def test_an_in_process_store_takes_no_lease() -> None:
    class Counting(MemoryStore):
        taken = 0

        def acquire(self, session_id: str, *, ttl: float, wait: float) -> str:
            Counting.taken += 1
            return super().acquire(session_id, ttl=ttl, wait=wait)

    engine(store=Counting()).handle("s", "track")
    assert Counting.taken == 0


def test_a_busy_session_is_a_lease_timeout_and_nothing_changes() -> None:
    store = SharedStore()
    bot = engine(store=store, lease_wait=0)
    bot.handle("s", "track")
    token = store.acquire("s", ttl=60, wait=0)  # another worker is in a turn
    with pytest.raises(LeaseTimeout):
        bot.handle("s", "AB123456")
    store.release("s", token)
    assert bot.session("s").pending == "order_id"  # type: ignore[union-attr]
    assert bot.handle("s", "AB123456").replies == ["Any note?"]


def test_a_conflict_is_retried_from_a_fresh_load_never_dropped() -> None:
    store = SharedStore()
    bot = engine(store=store)
    bot.handle("s", "track")
    store.calls.clear()
    store.conflicts = 2
    result = bot.handle("s", "AB123456")
    assert result.replies == ["Any note?"]
    assert store.calls == ["acquire", *["load", "save"] * 3, "release"]
    assert bot.session("s").slots == {"order_id": "AB123456"}  # type: ignore[union-attr]


def test_too_many_conflicts_raise_and_keep_the_session() -> None:
    store = SharedStore()
    bot = engine(store=store)
    bot.handle("s", "track")
    store.conflicts = 10
    with pytest.raises(ConflictError):
        bot.handle("s", "AB123456")
    assert store.calls[-1] == "release"
    store.conflicts = 0
    assert bot.session("s").pending == "order_id"  # type: ignore[union-attr]


def test_a_redelivered_message_gets_the_first_answer_and_changes_nothing() -> None:
    bot = engine()
    bot.handle("s", "track", message_id="m1")
    first = bot.handle("s", "AB123456", message_id="m2")
    again = bot.handle("s", "AB123456", message_id="m2")
    assert again.replies == first.replies == ["Any note?"]
    assert again.trace.rule == "duplicate"
    stored = bot.session("s")
    assert stored is not None and stored.turn == 2 and stored.pending == "note"
    assert bot.handle("s", "fragile", message_id="m3").replies == [
        "Tracking AB123456 (fragile).",
        "Hi!",
    ]
    assert bot.handle("s", "track", message_id="m1").trace.rule == "duplicate"


def test_only_the_latest_message_ids_are_kept() -> None:
    bot = engine()
    for i in range(40):
        bot.handle("s", "help", message_id=f"m{i}")
    stored = bot.session("s")
    assert stored is not None
    assert [m for m, _ in stored.answered] == [f"m{i}" for i in range(8, 40)]
    assert bot.handle("s", "help", message_id="m0").trace.rule != "duplicate"


def test_a_session_stored_under_changed_flows_restarts_gracefully() -> None:
    store = MemoryStore()
    old = engine(store=store)
    old.handle("s", "track")
    old.handle("s", "AB123456")  # now asking for the note, in state 'tracking'
    new = engine(CHANGED, store=store)
    result = new.handle("s", "track")
    restarted = [e for e in result.trace.events if isinstance(e, Restarted)]
    assert restarted == [
        Restarted("shop", "menu", "state 'tracking' no longer exists in flow 'shop'")
    ]
    assert result.trace.steps[0] == "restart: state 'tracking' no longer exists in flow 'shop'"
    # greeted again, then the message is answered: the order number is still known
    assert result.replies == ["Hello again!", "Finding AB123456.", "Hello again!"]
    stored = store.load("s")
    assert stored is not None and stored.fingerprint == new.bot.fingerprint
    assert "note" not in stored.slots


def test_a_session_that_still_fits_changed_flows_goes_on() -> None:
    store = MemoryStore()
    engine(store=store).handle("s", "track")  # waiting for order_id in 'tracking'
    moved = FLOW.replace('say: "Hi!"', 'say: "Hi there!"')
    result = engine(moved, store=store).handle("s", "AB123456")
    assert result.replies == ["Any note?"]
    assert not any(isinstance(e, Restarted) for e in result.trace.events)


def test_fifty_concurrent_turns_of_one_session_are_all_kept_in_order() -> None:
    store = SharedStore()
    bot = engine(store=store, history_turns=100)

    async def run() -> None:
        await asyncio.gather(*(bot.ahandle("s", f"help {i}") for i in range(50)))

    asyncio.run(run())
    stored = store.load("s")
    assert stored is not None and stored.turn == 50
    said = [text for text in stored.history[0::2]]
    assert sorted(said, key=lambda t: int(t.split()[1])) == [f"help {i}" for i in range(50)]
    assert len(set(said)) == 50
    assert store.calls.count("acquire") == store.calls.count("release") == 50


def test_export() -> None:
    bot = engine()
    assert bot.export("s") is None
    bot.handle("s", "track")
    data = bot.export("s")
    assert data is not None and data["state"] == "tracking" and data["id"] == "s"
    assert asyncio.run(bot.aexport("s")) == data
    bot.reset("s")
    assert bot.export("s") is None


def test_closing_the_engine_closes_a_store_it_opened_from_a_url(tmp_path: Path) -> None:
    opened = engine(store=f"sqlite:///{tmp_path / 'a.db'}")
    opened.handle("s", "track")
    opened.close()
    with pytest.raises(StoreError, match="is closed"):
        opened.store.load("s")

    mine = SQLiteStore(tmp_path / "b.db")
    given = engine(store=mine)
    given.close()
    assert mine.load("s") is None  # a store object given stays the caller's to close
    mine.close()


class ClosingStore(MemoryStore):
    """A store with an async ``aclose``, which says when it was awaited."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.closed = False

    @classmethod
    def from_url(cls, url: str, **options: Any) -> ClosingStore:
        return cls(**options)

    async def aclose(self) -> None:
        self.closed = True


def test_aclose_awaits_the_aclose_of_a_store_it_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(BUILTIN, "closing", f"{__name__}:ClosingStore.from_url")
    opened, given = engine(store="closing://"), engine(store=ClosingStore())
    asyncio.run(opened.aclose())
    asyncio.run(given.aclose())
    assert isinstance(opened.store, ClosingStore) and opened.store.closed
    assert isinstance(given.store, ClosingStore) and not given.store.closed
