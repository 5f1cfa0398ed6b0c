"""RedisStore against a real server (the contract runs in test_store_contract.py).

Needs Redis on 127.0.0.1:6379 (``.ci/run`` starts one) and fails without it;
``DIALOGUE_SKIP_REDIS=1`` skips instead. Every test works in database 9 under a
prefix of its own, deleted afterwards, so ``pytest -n 4`` runs never collide.
Worker processes are spawned and import this module by name.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from dialogue.errors import ConfigurationError, ConflictError, StoreError
from dialogue.session import Session
from dialogue.stores import open_store
from dialogue.testing.live_server import free_port

if os.environ.get("DIALOGUE_SKIP_REDIS") == "1":
    pytest.skip("DIALOGUE_SKIP_REDIS=1", allow_module_level=True)

import redis  # noqa: E402

from dialogue.stores.redis import RedisStore  # noqa: E402

URL = "redis://127.0.0.1:6379/9"
SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture
def raw() -> Iterator[redis.Redis]:
    """A plain client on the test database, to look at the keys."""
    client = redis.Redis.from_url(URL)
    yield client
    client.close()


@pytest.fixture
def prefix(raw: redis.Redis) -> Iterator[str]:
    name = f"dialogue-test:{os.urandom(8).hex()}:"
    yield name
    for key in raw.scan_iter(match=f"{name}*"):
        raw.delete(key)


@pytest.fixture
def store(prefix: str) -> Iterator[RedisStore]:
    made = RedisStore(url=URL, prefix=prefix)
    yield made
    made.close()


def session(session_id: str = "s1", **slots: Any) -> Session:
    return Session(session_id, "shop", "menu", slots=dict(slots))


def eventually(check: Any, seconds: float = 30.0) -> bool:
    """Poll ``check()`` until it is true; a generous bound, not a timing assertion."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# -- layout and basics


def test_import_dialogue_does_not_import_redis() -> None:
    code = "import sys, dialogue, dialogue.stores\nassert 'redis' not in sys.modules\n"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_session_is_one_json_key_with_the_version_first(
    store: RedisStore, raw: redis.Redis, prefix: str
) -> None:
    saved = session(order="AB1")
    store.save(saved)
    value = raw.get(f"{prefix}session:s1")
    assert value is not None and value.startswith(b'{"version":1,')
    data = json.loads(value)
    assert Session.from_dict(data).to_dict() == saved.to_dict()
    assert raw.pttl(f"{prefix}session:s1") == -1  # no ttl: kept until deleted


def test_two_stores_share_the_sessions(prefix: str) -> None:
    first, second = RedisStore(url=URL, prefix=prefix), RedisStore(url=URL, prefix=prefix)
    try:
        first.save(session(n=1))
        loaded = second.load("s1")
        assert loaded is not None and loaded.slots == {"n": 1}
        loaded.slots["n"] = 2
        second.save(loaded)
        again = first.load("s1")
        assert again is not None and (again.version, again.slots) == (2, {"n": 2})
        assert RedisStore(url=URL, prefix=prefix + "other:").load("s1") is None
    finally:
        first.close()
        second.close()


def test_a_prefix_is_matched_literally_when_listing(prefix: str) -> None:
    star = RedisStore(url=URL, prefix=prefix + "a*:")
    plain = RedisStore(url=URL, prefix=prefix + "ab:")
    plain.save(session("x"))
    star.save(session("y"))
    assert list(star.session_ids()) == ["y"] and plain.count() == 1
    star.close()
    plain.close()


def test_a_retried_save_that_went_through_is_not_a_conflict(
    store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dialogue.stores.redis as module

    store.save(session())
    loaded = store.load("s1")
    assert loaded is not None
    run, replies = module._run, []

    def twice(client: Any, script: Any, key: str, *args: object) -> Any:
        replies.append(run(client, script, key, *args))  # its reply lost, redis-py resends it
        return run(client, script, key, *args)

    monkeypatch.setattr(module, "_run", twice)
    store.save(loaded)
    assert loaded.version == 2 and replies == [-1]
    with pytest.raises(ConflictError):
        store.save(session())  # version 0 with the same slots is still a conflict


# -- failures become StoreError


def test_what_is_not_a_session_is_a_store_error(
    store: RedisStore, raw: redis.Redis, prefix: str
) -> None:
    raw.set(f"{prefix}session:s1", b"not json")
    with pytest.raises(StoreError) as bad:
        store.load("s1")
    assert bad.value.session_id == "s1"
    assert str(bad.value).startswith(
        f"could not load session 's1': '{prefix}session:s1' in Redis at 127.0.0.1:6379/9 "
        "does not hold a dialogue session ("
    )
    assert not bad.value.retryable
    with pytest.raises(StoreError) as refused:
        store.save(session())
    assert str(refused.value) == (
        "could not save session 's1' in Redis at 127.0.0.1:6379/9: ResponseError: "
        "the stored value is not a dialogue session"
    )
    assert raw.get(f"{prefix}session:s1") == b"not json"
    raw.delete(f"{prefix}session:s1")
    raw.rpush(f"{prefix}session:s1", b"a list")  # WRONGTYPE from the server
    with pytest.raises(
        StoreError, match="could not load session 's1' in Redis at .*WRONGTYPE"
    ) as wrong:
        store.load("s1")
    assert not refused.value.retryable and not wrong.value.retryable


def test_a_session_that_is_not_json_data_is_not_saved(store: RedisStore) -> None:
    odd = session(when=object())
    with pytest.raises(StoreError, match="could not save session 's1': it holds data that is not"):
        store.save(odd)
    assert odd.version == 0 and store.load("s1") is None


# -- expiry, in real time with generous bounds


def test_a_session_expires_after_its_ttl(prefix: str, raw: redis.Redis) -> None:
    store = RedisStore(url=URL, prefix=prefix, ttl=0.3)
    store.save(session())
    assert 0 < raw.pttl(f"{prefix}session:s1") <= 300
    assert eventually(lambda: store.load("s1") is None)
    assert store.count() == 0
    again = session()
    store.save(again)
    assert again.version == 1


def test_each_save_restarts_the_ttl(prefix: str, raw: redis.Redis) -> None:
    store = RedisStore(url=URL, prefix=prefix, ttl=600)
    saved = session()
    store.save(saved)
    raw.pexpire(f"{prefix}session:s1", 1000)  # as if 599 s had passed
    store.save(saved)
    assert raw.pttl(f"{prefix}session:s1") > 1000


def test_a_lease_expires_by_itself(store: RedisStore, raw: redis.Redis, prefix: str) -> None:
    first = store.acquire("s1", ttl=0.2, wait=0)
    assert 0 < raw.pttl(f"{prefix}lease:s1") <= 200
    second = store.acquire("s1", ttl=30, wait=30)  # waits for the expiry
    assert second != first
    store.release("s1", first)  # the expired holder leaves the new lease alone
    assert raw.get(f"{prefix}lease:s1") == second.encode()
    store.release("s1", second)
    assert raw.exists(f"{prefix}lease:s1") == 0


# -- URLs and construction


def test_from_url_reads_ttl_and_prefix_and_passes_the_rest_to_redis() -> None:
    store = RedisStore.from_url("redis://127.0.0.1:6379/9?ttl=3600&prefix=bot:&socket_timeout=2")
    assert (store.ttl, store.prefix, store.where) == (3600.0, "bot:", "127.0.0.1:6379/9")
    assert store._client.connection_pool.connection_kwargs["socket_timeout"] == 2.0
    assert RedisStore.from_url("redis://127.0.0.1:6379/9?ttl=60", ttl=5).ttl == 5
    plain = RedisStore.from_url("redis://127.0.0.1:6379")
    assert (plain.ttl, plain.prefix, plain.where) == (None, "dialogue:", "127.0.0.1:6379/0")
    for made in (store, plain):
        made.close()


def test_open_store_makes_a_redis_store(prefix: str) -> None:
    store = open_store(f"redis://127.0.0.1:6379/0?prefix={prefix}")
    assert isinstance(store, RedisStore) and store.prefix == prefix
    assert store.count() == 0
    store.close()


def test_wrong_options_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError) as unknown:
        open_store("redis://:secret@127.0.0.1:6379/9?colour=red")
    assert str(unknown.value).startswith("store URL 'redis://:***@127.0.0.1:6379/9?colour=red': ")
    assert "secret" not in str(unknown.value)
    with pytest.raises(ConfigurationError, match="ttl='soon' is not a number"):
        open_store("redis://127.0.0.1:6379/9?ttl=soon")
    with pytest.raises(ConfigurationError, match="ttl=0"):
        RedisStore(url=URL, ttl=0)
    with pytest.raises(ConfigurationError, match="ttl and prefix are arguments here"):
        RedisStore(url=URL + "?ttl=5")
    with pytest.raises(ConfigurationError, match="client= or url=, not both"):
        RedisStore(redis.Redis(), url=URL)


def test_an_unreachable_server_is_a_store_error_at_construction() -> None:
    port = free_port()
    with pytest.raises(StoreError) as down:
        open_store(f"redis://:secret@127.0.0.1:{port}/0")
    message = str(down.value)
    assert down.value.retryable
    assert message.startswith(f"cannot reach Redis at 127.0.0.1:{port}/0: ")
    assert message.endswith(
        f"\n    hint: start a server (redis-server --port {port}) "
        "or fix the store URL (redis://host:port/db)"
    )
    assert "secret" not in message


def test_a_wrong_password_is_a_store_error_that_waiting_will_not_fix() -> None:
    """redis-py makes a refused login a ``ConnectionError``; retrying it would not help."""
    with pytest.raises(StoreError) as refused:
        open_store("redis://nobody:wrong-secret@127.0.0.1:6379/0")
    assert not refused.value.retryable
    assert isinstance(refused.value.__cause__, redis.exceptions.AuthenticationError)
    assert "wrong-secret" not in str(refused.value)


def test_a_missing_redis_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # import redis now fails
    monkeypatch.delitem(sys.modules, "dialogue.stores.redis")
    with pytest.raises(ConfigurationError) as missing:
        open_store("rediss://127.0.0.1:6379/0")
    assert str(missing.value) == (
        "the rediss:// store needs a package that is not installed: redis\n"
        "    hint: pip install 'dialogue[redis]'"
    )


# -- the async face


def test_each_event_loop_gets_its_own_client(store: RedisStore) -> None:
    async def turn(n: int) -> int:
        loaded = await store.aload("s1") or session()
        loaded.slots["n"] = n
        await store.asave(loaded)
        return loaded.version

    assert asyncio.run(turn(1)) == 1
    assert asyncio.run(turn(2)) == 2  # a new loop: the first one's client was closed with it

    async def many() -> list[str]:
        tokens = await asyncio.gather(*(store.aacquire(f"c{i}", ttl=30, wait=0) for i in range(8)))
        await asyncio.gather(*(store.arelease(f"c{i}", t) for i, t in enumerate(tokens)))
        await store.aclose()
        return tokens

    assert len(set(asyncio.run(many()))) == 8
    assert store.load("s1") is not None  # closing leaves the store usable


def test_a_store_given_clients_uses_them(prefix: str) -> None:
    client = redis.Redis.from_url(URL)
    store = RedisStore(client, prefix=prefix)

    async def run(with_async: bool) -> Session | None:
        face = store
        if with_async:
            given = redis.asyncio.Redis.from_url(URL)
            face = RedisStore(client, prefix=prefix, async_client=given)
        await face.asave(session(f"a{with_async}"))
        loaded = await face.aload(f"a{with_async}")
        if with_async:
            await given.aclose()
        return loaded

    assert asyncio.run(run(False)) is not None  # no async client: a worker thread
    assert asyncio.run(run(True)) is not None
    store.close()  # a client passed in is the caller's: still open
    assert client.ping()
    client.close()


# -- many processes


def worker(url: str, ids: list[str], name: str, rounds: int) -> int:
    """acquire -> load -> append to a list slot -> save -> release, in a shuffled order."""
    store = RedisStore.from_url(url)
    order = [sid for sid in ids for _ in range(rounds)]
    random.Random(name).shuffle(order)
    for sid in order:
        token = store.acquire(sid, ttl=30, wait=60)
        try:
            current = store.load(sid) or session(sid, log=[])
            current.slots["log"] = [*current.slots["log"], name]
            store.save(current)
        finally:
            store.release(sid, token)
    store.close()
    return len(order)


def test_four_processes_on_twenty_sessions_lose_nothing(prefix: str) -> None:
    ids = [f"s{i}" for i in range(20)]
    url = f"{URL}?prefix={prefix}"
    with SPAWN.Pool(4) as pool:
        done = pool.starmap(worker, [(url, ids, f"w{n}", 3) for n in range(4)])
    assert done == [60] * 4  # a ConflictError in a worker would have been raised here
    store = RedisStore.from_url(url)
    for sid in ids:
        stored = store.load(sid)
        assert stored is not None and stored.version == 12
        assert sorted(stored.slots["log"]) == sorted([f"w{n}" for n in range(4)] * 3)
    assert store.count() == 20
    store.close()


def save_one(url: str, session_id: str) -> tuple[int, dict[str, Any]]:
    store = RedisStore.from_url(url)
    current = store.load(session_id) or session(session_id, seen=[])
    current.slots["seen"] = [*current.slots["seen"], os.getpid()]
    store.save(current)
    store.close()
    return current.version, current.slots


def test_sessions_outlive_the_process_that_saved_them(prefix: str) -> None:
    url = f"{URL}?prefix={prefix}"
    with SPAWN.Pool(1) as pool:
        first = pool.apply(save_one, (url, "p1"))
    with SPAWN.Pool(1) as pool:
        second = pool.apply(save_one, (url, "p1"))
    assert (first[0], second[0]) == (1, 2)
    assert second[1]["seen"][0] == first[1]["seen"][0] and len(second[1]["seen"]) == 2


def hold_and_hang(url: str, holding: Any) -> None:
    store = RedisStore.from_url(url)
    store.acquire("s1", ttl=0.5, wait=60)
    half = store.load("s1")
    assert half is not None
    half.slots["n"] = "half-done"  # never saved
    holding.set()
    time.sleep(600)


def test_a_worker_killed_holding_a_lease_leaves_the_session_usable(
    store: RedisStore, prefix: str
) -> None:
    before = session(n=1)
    store.save(before)
    holding = SPAWN.Event()
    child = SPAWN.Process(target=hold_and_hang, args=(f"{URL}?prefix={prefix}", holding))
    child.start()
    try:
        assert holding.wait(60)
    finally:
        os.kill(child.pid or 0, signal.SIGKILL)
        child.join(60)
    assert child.exitcode == -signal.SIGKILL
    token = store.acquire("s1", ttl=30, wait=60)  # once the dead worker's lease expired
    stored = store.load("s1")
    assert stored is not None and (stored.version, stored.slots) == (1, {"n": 1})
    stored.slots["n"] = 2
    store.save(stored)
    store.release("s1", token)
    assert stored.version == 2


# -- a server that goes away mid-run


def start_server(port: int) -> subprocess.Popen[bytes]:
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
    args += ["--save", "", "--appendonly", "no"]
    server = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    probe = redis.Redis(port=port)

    def up() -> bool:
        try:
            return bool(probe.ping())
        except redis.ConnectionError:
            return False

    try:
        assert eventually(up), f"redis-server on port {port} did not start"
    finally:
        probe.close()
    return server


def stop_server(server: subprocess.Popen[bytes], port: int) -> None:
    client = redis.Redis(port=port)
    client.shutdown(nosave=True)
    client.close()
    server.wait(60)


def test_a_server_going_away_is_a_store_error_and_the_store_recovers() -> None:
    port = free_port()
    server = start_server(port)
    try:
        store = RedisStore(url=f"redis://127.0.0.1:{port}/0")
        kept = session(n=1)
        store.save(kept)
        stop_server(server, port)
        failures = []
        for attempt in (
            lambda: store.load("s1"),
            lambda: store.save(kept),
            lambda: store.acquire("s1", ttl=30, wait=0),
            lambda: asyncio.run(store.aload("s1")),
        ):
            with pytest.raises(StoreError) as failed:
                attempt()
            failures.append(failed.value)
        assert all(type(f) is StoreError and f.session_id == "s1" for f in failures)
        assert all(f.retryable for f in failures)  # a server that went away may come back
        assert str(failures[0]).startswith(
            f"could not load session 's1' in Redis at 127.0.0.1:{port}/0: ConnectionError: "
        )
        assert str(failures[1]).startswith(
            f"could not save session 's1' in Redis at 127.0.0.1:{port}"
        )
        assert (kept.version, kept.slots) == (1, {"n": 1})  # the failed save changed nothing
        server = start_server(port)  # it kept nothing (--save ""): a new session
        assert store.load("s1") is None
        fresh = session(n=2)
        store.save(fresh)
        loaded = store.load("s1")
        assert loaded is not None and (loaded.version, loaded.slots) == (1, {"n": 2})
        store.close()
    finally:
        server.kill()
        server.wait(60)


# -- behind an engine

FORM = """
flow: shop
start: menu
slots:
  order_id: {type: pattern, pattern: '[A-Z]{2}\\d{6}', normalize: upper, ask: "Order number?"}
intents:
  track: {keywords: [track]}
states:
  menu:
    say: "Hi! Say track."
    on: {track: tracking}
  tracking:
    collect: [order_id]
    next:
      - say: "Tracking {{ order_id }}."
        goto: menu
"""


def test_two_engines_share_a_conversation_through_redis(make_engine: Any, prefix: str) -> None:
    first = make_engine(FORM, store=RedisStore(url=URL, prefix=prefix))
    second = make_engine(FORM, store=RedisStore(url=URL, prefix=prefix))
    assert first.handle("u1", "track").replies == ["Hi! Say track.", "Order number?"]
    answer = asyncio.run(second.ahandle("u1", "ab123456"))  # another worker, the async face
    assert answer.replies[0] == "Tracking AB123456."
    stored = first.session("u1")
    assert stored is not None and stored.slots["order_id"] == "AB123456"
    for engine in (first, second):
        engine.store.close()
