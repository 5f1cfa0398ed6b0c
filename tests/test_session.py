import asyncio
import json

import pytest

from dialogue.errors import ConflictError, SessionError
from dialogue.session import Frame, Session
from dialogue.stores import AsyncSessionStore, MemoryStore, SessionStore


def sample() -> Session:
    return Session(
        "u1",
        "shop",
        "menu",
        slots={"order_id": "AB123456"},
        stack=(Frame("shop", "menu", 2, None),),
        history=("hi", "hello"),
        meta={"channel": "web"},
    )


def test_round_trip_through_json() -> None:
    s = sample()
    data = json.loads(json.dumps(s.to_dict()))
    assert Session.from_dict(data) == s


def test_copy_is_independent() -> None:
    s = sample()
    c = s.copy()
    c.slots["order_id"] = "X"
    assert c.meta is not None
    c.meta["channel"] = "sms"
    assert s.slots["order_id"] == "AB123456" and s.meta == {"channel": "web"}
    # stack and history are tuples: changed by replacing them, never in place
    assert isinstance(c.stack, tuple) and isinstance(c.history, tuple)


@pytest.mark.parametrize("data", [{}, {"format": 99}, {"format": 1, "id": "x"}, [1, 2]])
def test_corrupt_data_is_a_session_error(data: object) -> None:
    with pytest.raises(SessionError):
        Session.from_dict(data)  # type: ignore[arg-type]


def test_memory_store_is_versioned() -> None:
    store = MemoryStore()
    assert isinstance(store, SessionStore) and isinstance(store, AsyncSessionStore)
    assert store.load("u1") is None
    s = sample()
    store.save(s)
    assert s.version == 1
    a, b = store.load("u1"), store.load("u1")
    assert a is not None and b is not None
    a.slots["order_id"] = "CD654321"
    store.save(a)
    assert store.load("u1").slots["order_id"] == "CD654321"  # type: ignore[union-attr]
    with pytest.raises(ConflictError):
        store.save(b)
    assert store.load("u1").version == 2  # type: ignore[union-attr]


def test_memory_store_hands_out_copies() -> None:
    store = MemoryStore()
    store.save(sample())
    loaded = store.load("u1")
    assert loaded is not None
    loaded.slots.clear()
    assert store.load("u1").slots == {"order_id": "AB123456"}  # type: ignore[union-attr]
    store.delete("u1")
    assert store.load("u1") is None and len(store) == 0


def test_memory_store_async_face() -> None:
    async def main() -> Session | None:
        store = MemoryStore()
        await store.asave(sample())
        return await store.aload("u1")

    loaded = asyncio.run(main())
    assert loaded is not None and loaded.version == 1
