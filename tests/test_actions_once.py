"""Side effects: an action runs at least once per message, and every run of one call
for one message carries the same idempotency key (``runtime/once.py``).

With real stores (memory, SQLite, Redis at 127.0.0.1:6379): a save that fails after
the action ran (the message is delivered again: the action runs again, same key),
a save that finds the session saved meanwhile (the turn runs again from a fresh
load: the action's first result is re-used, it does not run again), a turn that
fails after its action ran (sent again: run again, same key), and a
redelivery after a saved turn (the first answer, the action not run).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dialogue import Engine, MemoryStore, compile_flows, parse_flow
from dialogue.errors import ConflictError, StoreError
from dialogue.runtime.actions import ActionCall, ActionRunner, wants_key
from dialogue.stores.base import SessionStore
from dialogue.stores.sqlite import SQLiteStore

REDIS_URL = os.environ.get("DIALOGUE_TEST_REDIS", "redis://127.0.0.1:6379/0")

FLOW = """
flow: orders
start: menu
slots:
  order_id: {type: pattern, pattern: '[A-Z]{2}\\d{6}', ask: "Which order?"}
intents:
  cancel: {keywords: [cancel]}
states:
  menu:
    say: "Hi!"
    on: {cancel: cancelling}
  cancelling:
    collect: [order_id]
    call: {action: cancel_order, with: {order_id: order_id}, into: receipt}
    next:
      - say: "Cancelled {{ order_id }}: {{ receipt.number }}."
        clear: [order_id]
        goto: menu
"""


class Orders:
    """The business system: every cancellation it was asked for, with its key."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, str]] = []
        self.during: Callable[[], None] | None = None
        """Something that happens while the action runs (another writer saves)."""

    def cancel_order(self, order_id: str, idempotency_key: str) -> dict[str, str]:
        self.runs.append((order_id, idempotency_key))
        if self.during is not None:
            during, self.during = self.during, None
            during()
        return {"number": f"C{len(self.runs)}"}


# --------------------------------------------------------------------------- stores


class InjectedFault(ConnectionResetError):
    """What the store's connection does to a save: it drops."""


def failing(cls: type[Any]) -> type[Any]:
    """``cls`` whose next ``fail`` saves (whichever way the engine saves) drop the
    connection before anything is written."""

    def trip(self: Any, session_id: str) -> None:
        if self.fail:
            self.fail -= 1
            raise InjectedFault(f"injected: connection lost saving {session_id!r}")

    def sync(name: str) -> Callable[..., Any]:
        def method(self: Any, session: Any, *args: Any) -> Any:
            trip(self, session.id)
            return getattr(super(failing_cls, self), name)(session, *args)

        return method

    def async_(name: str) -> Callable[..., Any]:
        async def method(self: Any, session: Any, *args: Any) -> Any:
            trip(self, session.id)
            return await getattr(super(failing_cls, self), name)(session, *args)

        return method

    members: dict[str, Any] = {"fail": 0}
    for name in ("save", "save_release"):
        if hasattr(cls, name):
            members[name] = sync(name)
    for name in ("asave", "asave_release"):
        if hasattr(cls, name):
            members[name] = async_(name)
    failing_cls = type(f"Failing{cls.__name__}", (cls,), members)
    return failing_cls


def _redis_store() -> Iterator[Any]:
    pytest.importorskip("redis")
    import redis

    from dialogue.stores.redis import RedisStore

    prefix = f"test-once-{uuid.uuid4().hex[:8]}:"
    store = failing(RedisStore)(url=REDIS_URL, prefix=prefix)
    yield store
    raw = redis.Redis.from_url(REDIS_URL)
    for key in raw.scan_iter(match=prefix + "*"):
        raw.delete(key)
    raw.close()
    store.close()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "memory":
        yield failing(MemoryStore)()
    elif request.param == "sqlite":
        made = failing(SQLiteStore)(tmp_path / "sessions.db")
        yield made
        made.close()
    else:
        yield from _redis_store()


@pytest.fixture(params=["sync", "async"])
def face(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make(store: SessionStore, orders: Orders) -> Engine:
    bot = compile_flows([parse_flow(FLOW, path="orders.yaml")])
    return Engine(bot, store=store, actions={"cancel_order": orders.cancel_order})


def send(engine: Engine, face: str, text: str, message_id: str | None) -> Any:
    if face == "sync":
        return engine.handle("s", text, message_id=message_id)

    async def run() -> Any:
        try:
            return await engine.ahandle("s", text, message_id=message_id)
        finally:
            await engine.aclose()  # the store's clients of this loop

    return asyncio.run(run())


def another_writer(store: Any) -> Callable[[], None]:
    """A writer that saves the session meanwhile (as a worker whose lease ran out)."""

    def save() -> None:
        session = store.load("s")
        session.meta = {"touched": "by another worker"}
        super(type(store), store).save(session)  # its own connection: no injected fault

    return save


# --------------------------------------------------------------------------- tests


def test_a_failed_save_then_the_redelivery_runs_the_action_again_with_the_same_key(
    store: Any, face: str
) -> None:
    orders = Orders()
    engine = make(store, orders)
    engine.handle("s", "cancel", message_id="m1")
    store.fail = 1
    with pytest.raises(StoreError) as failed:
        send(engine, face, "AB123456", "m2")
    assert failed.value.retryable  # a lost connection: the client should send again
    assert isinstance(failed.value.__cause__, InjectedFault)
    kept = engine.session("s")
    assert kept is not None and kept.pending == "order_id" and kept.turn == 1
    assert len(orders.runs) == 1  # it ran; the session does not show it

    again = send(engine, face, "AB123456", "m2")  # the client sends it again
    assert again.replies == ["Cancelled AB123456: C2.", "Hi!"]
    assert [order for order, _ in orders.runs] == ["AB123456", "AB123456"]
    first_key, second_key = (key for _, key in orders.runs)
    assert first_key == second_key and again.trace.actions[0].key == first_key

    redelivered = send(engine, face, "AB123456", "m2")
    assert redelivered.trace.rule == "duplicate" and redelivered.replies == again.replies
    assert len(orders.runs) == 2  # a saved turn's action never runs again
    engine.close()


def test_a_conflict_runs_the_turn_again_and_re_uses_the_action_s_result(
    store: Any, face: str
) -> None:
    orders = Orders()
    engine = make(store, orders)
    engine.handle("s", "cancel", message_id="m1")
    orders.during = another_writer(store)
    result = send(engine, face, "AB123456", "m2")
    assert result.replies == ["Cancelled AB123456: C1.", "Hi!"]
    assert len(orders.runs) == 1  # the turn ran twice, the action once
    (action,) = result.trace.actions
    assert action.reused and action.ok and action.key == orders.runs[0][1]
    stored = engine.session("s")
    assert stored is not None and stored.state == "menu" and stored.turn == 2
    assert stored.meta == {"touched": "by another worker"}  # nothing of theirs lost
    assert [mid for mid, _ in stored.answered] == ["m1", "m2"]
    engine.close()


def test_a_conflict_and_a_failed_save_in_one_message_keep_one_key(store: Any) -> None:
    orders = Orders()
    engine = make(store, orders)
    engine.handle("s", "cancel", message_id="m1")
    orders.during = another_writer(store)
    store.fail = 1  # the retry after the conflict finds the store gone
    with pytest.raises(StoreError):
        engine.handle("s", "AB123456", message_id="m2")
    engine.handle("s", "AB123456", message_id="m2")
    keys = {key for _, key in orders.runs}
    assert len(orders.runs) == 2 and len(keys) == 1
    engine.close()


def test_a_turn_failing_after_its_action_keeps_the_session_and_the_redelivery_keeps_the_key(
    store: Any, face: str
) -> None:
    # the reply after the action names a field the action's first answer lacks: the
    # turn fails (the error reply, nothing saved), as a save that failed would
    orders = Orders()
    answers = iter([{"id": "C1"}, {"number": "C2"}])

    def cancel_order(order_id: str, idempotency_key: str) -> dict[str, str]:
        orders.runs.append((order_id, idempotency_key))
        return next(answers)

    bot = compile_flows([parse_flow(FLOW, path="orders.yaml")])
    engine = Engine(bot, store=store, actions={"cancel_order": cancel_order})
    engine.handle("s", "cancel", message_id="m1")
    failed = send(engine, face, "AB123456", "m2")
    assert failed.trace.rule == "error" and "number" in failed.trace.errors[0]
    kept = engine.session("s")
    assert kept is not None and kept.pending == "order_id" and kept.turn == 1
    assert [mid for mid, _ in kept.answered] == ["m1"]  # not answered: may come again

    again = send(engine, face, "AB123456", "m2")
    assert again.replies == ["Cancelled AB123456: C2.", "Hi!"]
    (first, _), (second, _) = orders.runs
    assert first == second == "AB123456"
    assert len({key for _, key in orders.runs}) == 1  # one call for one message: one key
    engine.close()


def test_keys_differ_by_message_and_session_and_not_by_engine() -> None:
    def key_of(session_id: str, message_id: str | None) -> str:
        orders = Orders()
        engine = make(MemoryStore(), orders)
        engine.handle(session_id, "cancel")
        engine.handle(session_id, "AB123456", message_id=message_id)
        engine.close()
        return orders.runs[0][1]

    assert key_of("s", "m2") == key_of("s", "m2")  # another worker, the same message
    assert key_of("s", "m2") != key_of("s", "m3")
    assert key_of("s", "m2") != key_of("t", "m2")
    assert key_of("s", None) != key_of("s", None)  # no id: one key per handle call
    assert len(key_of("s", "m2")) == 32


def test_the_same_call_twice_in_a_turn_is_two_side_effects() -> None:
    twice = FLOW.replace(
        "    call: {action: cancel_order, with: {order_id: order_id}, into: receipt}\n",
        "    call: {action: cancel_order, with: {order_id: order_id}, into: receipt}\n"
        "    next:\n"
        "      - if: receipt.number == 'C1'\n"
        "        call: {action: cancel_order, with: {order_id: order_id}, into: receipt}\n"
        "        say: 'Again.'\n"
        "        goto: menu\n",
    ).replace('    next:\n      - say: "Cancelled', '      - say: "Cancelled', 1)
    orders = Orders()
    engine = Engine(
        compile_flows([parse_flow(twice, path="twice.yaml")]),
        actions={"cancel_order": orders.cancel_order},
    )
    engine.handle("s", "cancel")
    result = engine.handle("s", "AB123456", message_id="m2")
    assert len(orders.runs) == 2 and orders.runs[0][1] != orders.runs[1][1]
    assert [a.key for a in result.trace.actions] == [key for _, key in orders.runs]


def test_only_an_action_that_names_the_parameter_is_given_the_key() -> None:
    seen: list[dict[str, Any]] = []

    def plain(order_id: str) -> None:
        seen.append({"order_id": order_id})

    def forwarding(**kwargs: Any) -> None:
        seen.append(kwargs)

    def keyed(order_id: str, *, idempotency_key: str = "") -> None:
        seen.append({"order_id": order_id, "idempotency_key": idempotency_key})

    assert (wants_key(plain), wants_key(forwarding), wants_key(keyed)) == (False, False, True)
    runner = ActionRunner({"plain": plain, "forwarding": forwarding, "keyed": keyed})
    for name in ("plain", "forwarding", "keyed"):
        runner.run(ActionCall(name, {"order_id": "AB123456"}, 5.0, key="k" * 32))
    asyncio.run(runner.arun(ActionCall("keyed", {"order_id": "X"}, 5.0, key="a" * 32)))
    runner.close()
    assert seen == [
        {"order_id": "AB123456"},
        {"order_id": "AB123456"},
        {"order_id": "AB123456", "idempotency_key": "k" * 32},
        {"order_id": "X", "idempotency_key": "a" * 32},
    ]


def test_a_failed_action_is_run_again_when_the_turn_runs_again() -> None:
    """Only a success is re-used: a failure may pass, so a run again tries again."""
    store = MemoryStore()
    runs: list[str] = []

    def cancel_order(order_id: str, idempotency_key: str) -> dict[str, str]:
        runs.append(idempotency_key)
        if len(runs) == 1:
            session = store.load("s")
            assert session is not None
            store.save(session)  # another writer: the turn will run again
            raise RuntimeError("order system busy")
        return {"number": "C9"}

    engine = Engine(
        compile_flows([parse_flow(FLOW, path="orders.yaml")]),
        store=store,
        actions={"cancel_order": cancel_order},
    )
    engine.handle("s", "cancel")
    result = engine.handle("s", "AB123456", message_id="m2")
    assert result.replies == ["Cancelled AB123456: C9.", "Hi!"]
    assert len(runs) == 2 and runs[0] == runs[1]
    assert not result.trace.actions[0].reused


def test_too_many_conflicts_still_raise_and_the_action_ran_once() -> None:
    store = MemoryStore()
    runs: list[str] = []

    def cancel_order(order_id: str, idempotency_key: str) -> dict[str, str]:
        runs.append(idempotency_key)
        return {"number": "C1"}

    class Busy(MemoryStore):
        def save(self, session: Any) -> None:
            if session.turn == 2:
                raise ConflictError("saved meanwhile", session_id=session.id)
            super().save(session)

    store = Busy()
    engine = Engine(
        compile_flows([parse_flow(FLOW, path="orders.yaml")]),
        store=store,
        actions={"cancel_order": cancel_order},
    )
    engine.handle("s", "cancel")
    with pytest.raises(ConflictError):
        engine.handle("s", "AB123456", message_id="m2")
    assert len(runs) == 1  # four runs of the turn, one run of the action
