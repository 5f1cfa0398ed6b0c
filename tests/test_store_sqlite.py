"""The SQLite store beyond the contract: real files, several instances and processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dialogue.errors import ConfigurationError, ConflictError, StoreError
from dialogue.session import Session
from dialogue.stores import open_store
from dialogue.stores import sqlite as sqlite_module
from dialogue.stores.sqlite import SCHEMA_VERSION, SQLiteStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def session(session_id: str = "s1", **slots: object) -> Session:
    return Session(session_id, "shop", "menu", slots=dict(slots))


def python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )


@contextmanager
def raw(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain connection to the file, committed and closed afterwards."""
    conn = sqlite3.connect(path)
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with raw(path) as conn:
        return conn.execute(sql).fetchall()


# --------------------------------------------------------------------------- one file


def test_two_stores_on_one_file_share_sessions_and_versions(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "s.db") as a, SQLiteStore(tmp_path / "s.db") as b:
        a.save(session(n=1))
        loaded = b.load("s1")
        assert loaded is not None and (loaded.slots, loaded.version) == ({"n": 1}, 1)
        stale = a.load("s1")
        loaded.slots["n"] = 2
        b.save(loaded)
        assert stale is not None
        with pytest.raises(ConflictError) as conflict:
            a.save(stale)
        assert conflict.value.session_id == "s1"
        again = a.load("s1")
        assert again is not None and (again.slots, again.version) == ({"n": 2}, 2)
        assert list(a.session_ids()) == ["s1"] and b.count() == 1


def test_the_file_has_the_documented_schema(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "s.db", ttl=60, clock=Clock()).save(session())
    assert rows(tmp_path / "s.db", "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert rows(tmp_path / "s.db", "PRAGMA journal_mode") == [("wal",)]
    ((sid, version, data, expires_at, updated_at, lease, lease_expires),) = rows(
        tmp_path / "s.db", "SELECT * FROM sessions"
    )
    assert (sid, version, expires_at, updated_at) == ("s1", 1, 1060.0, 1000.0)
    assert isinstance(data, str) and json.loads(data)["version"] == 1
    assert (lease, lease_expires) == (None, None)
    tables = rows(tmp_path / "s.db", "SELECT name FROM sqlite_master WHERE type = 'table'")
    assert tables == [("sessions",)]


def test_a_file_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    with raw(tmp_path / "s.db") as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(ConfigurationError) as error:
        SQLiteStore(tmp_path / "s.db")
    assert str(error.value) == (
        f"SQLite store {str(tmp_path / 's.db')!r} has schema version 99; "
        "this version of dialogue reads version 2\n    hint: upgrade dialogue, or use another file"
    )


def test_a_file_that_is_not_a_database_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "s.db").write_text("not a database, just text " * 100)
    with pytest.raises(ConfigurationError, match="cannot be used: DatabaseError: file is not"):
        SQLiteStore(tmp_path / "s.db")


def test_a_missing_directory_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "s.db"
    with pytest.raises(ConfigurationError) as error:
        SQLiteStore(path)
    assert str(error.value) == (
        f"SQLite store {str(path)!r}: the directory {str(tmp_path / 'nowhere')!r} does not "
        "exist\n    hint: create it first (the store creates the file, not its directory), "
        "or correct the path"
    )
    assert not (tmp_path / "nowhere").exists()


def test_corrupt_rows_are_store_errors(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.save(session("bad-json"))
    store.save(session("bad-session"))
    with raw(tmp_path / "s.db") as conn:
        conn.execute("UPDATE sessions SET data = '{not json' WHERE id = 'bad-json'")
        conn.execute("UPDATE sessions SET data = '{\"format\": 1}' WHERE id = 'bad-session'")
    with pytest.raises(StoreError, match="is corrupt: not JSON") as not_json:
        store.load("bad-json")
    with pytest.raises(StoreError, match="is corrupt: stored session is corrupt") as not_session:
        store.load("bad-session")
    assert (not_json.value.session_id, not_session.value.session_id) == ("bad-json", "bad-session")
    where = f"session 'bad-json' in the SQLite database {str(tmp_path / 's.db')!r}"
    assert str(not_json.value).startswith(f"{where} is corrupt: not JSON: ")
    assert not not_json.value.retryable and not not_session.value.retryable  # waiting won't fix it


def test_a_session_that_is_not_json_is_not_saved(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    odd = session(when={1, 2})
    with pytest.raises(StoreError, match="holds data that is not JSON") as error:
        store.save(odd)
    assert error.value.session_id == "s1" and odd.version == 0 and store.load("s1") is None


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.close()
    store.close()
    with pytest.raises(
        StoreError, match=r"could not load session 's1': the SQLite store .* is closed"
    ):
        store.load("s1")


# --------------------------------------------------------------------------- expiry


def test_sweep_deletes_expired_rows_and_saves_sweep_now_and_then(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    store = SQLiteStore(tmp_path / "s.db", ttl=60, clock=clock)
    store.save(session("a"))
    store.save(session("b"))
    store.acquire("a", ttl=30, wait=0)
    clock.now += 61
    assert store.count() == 0  # expired rows are invisible at once ...
    assert len(rows(tmp_path / "s.db", "SELECT id FROM sessions")) == 2  # ... and still there
    assert store.sweep() == 2
    assert rows(tmp_path / "s.db", "SELECT id FROM sessions") == []

    monkeypatch.setattr(sqlite_module, "SWEEP_EVERY", 3)
    store.save(session("c"))  # the 3rd save of this store
    clock.now += 61
    store.save(session("d"))
    assert len(rows(tmp_path / "s.db", "SELECT id FROM sessions")) == 2  # c expired, kept
    store.save(session("e"))
    store.save(session("f"))  # the 6th: sweeps c
    assert [r[0] for r in rows(tmp_path / "s.db", "SELECT id FROM sessions ORDER BY id")] == [
        "d",
        "e",
        "f",
    ]


# --------------------------------------------------------------------------- URLs


def test_urls_name_relative_and_absolute_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    relative = SQLiteStore.from_url("sqlite:///bot.db?ttl=3600")
    assert (relative.path, relative.ttl, relative.busy_timeout) == (Path("bot.db"), 3600.0, 5.0)
    assert (tmp_path / "bot.db").is_file()
    absolute = SQLiteStore.from_url(f"sqlite:///{tmp_path}/my%20bot.db?busy_timeout=0.5")
    assert str(tmp_path).startswith("/") and absolute.path == tmp_path / "my bot.db"
    assert (absolute.ttl, absolute.busy_timeout) == (None, 0.5)
    assert SQLiteStore.from_url("sqlite:///bot.db", ttl=5).ttl == 5  # keywords win
    opened = open_store("sqlite:///bot.db")
    assert isinstance(opened, SQLiteStore) and opened.path == Path("bot.db")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://bot.db", "store URL 'sqlite://bot.db' names no SQLite file"),
        ("sqlite:///", "store URL 'sqlite:///' names no SQLite file"),
        ("sqlite:///bot.db?tll=60", "store URL 'sqlite:///bot.db?tll=60': unknown option 'tll'"),
        ("sqlite:///bot.db?ttl=soon", "store URL 'sqlite:///bot.db?ttl=soon': ttl='soon' is not"),
    ],
)
def test_bad_urls_say_what_to_write(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        open_store(url)
    assert str(error.value).startswith(message)


def test_options_out_of_range_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as ttl:
        SQLiteStore(tmp_path / "s.db", ttl=0)
    assert str(ttl.value) == (
        "SQLiteStore: ttl=0 is not a number of seconds > 0\n"
        "    hint: ttl=None keeps sessions for ever"
    )
    with pytest.raises(ConfigurationError, match=r"busy_timeout=-1.0 is not a number of seconds"):
        open_store(f"sqlite:///{tmp_path}/s.db?busy_timeout=-1")
    assert not (tmp_path / "s.db").exists()


# --------------------------------------------------------------------------- other writers


def test_a_database_locked_by_another_writer_is_a_store_error(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db", busy_timeout=0.05)
    store.save(session())
    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    other.execute("UPDATE sessions SET updated_at = 0")
    loaded = store.load("s1")  # WAL: readers do not wait for the writer
    assert loaded is not None
    with pytest.raises(StoreError) as locked:
        store.save(loaded)
    assert type(locked.value) is StoreError and locked.value.session_id == "s1"
    assert str(locked.value) == (
        f"could not save session 's1': another writer held the SQLite database "
        f"{str(tmp_path / 's.db')!r} for more than busy_timeout=0.05 s; retry, look for a "
        "process that keeps a write transaction open, or raise busy_timeout"
    )
    assert isinstance(locked.value.__cause__, sqlite3.OperationalError)
    assert locked.value.retryable  # the writer will be done
    assert loaded.version == 1
    other.execute("COMMIT")
    other.close()
    store.save(loaded)
    latest = store.load("s1")
    assert latest is not None and latest.version == 2


def test_other_sqlite_errors_are_store_errors(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    with raw(tmp_path / "s.db") as conn:
        conn.execute("ALTER TABLE sessions RENAME TO elsewhere")
    with pytest.raises(StoreError) as error:
        store.acquire("s1", ttl=30, wait=0)
    assert error.value.session_id == "s1"
    assert str(error.value) == (
        f"could not lease session 's1' in the SQLite database {str(tmp_path / 's.db')!r}: "
        "OperationalError: no such table: sessions"
    )


VERSION_1 = (
    "CREATE TABLE sessions (id TEXT PRIMARY KEY, version INTEGER NOT NULL, "
    "data TEXT NOT NULL, expires_at REAL, updated_at REAL NOT NULL)",
    "CREATE INDEX sessions_expires_at ON sessions (expires_at) WHERE expires_at IS NOT NULL",
    "CREATE TABLE leases (id TEXT PRIMARY KEY, token TEXT NOT NULL, expires_at REAL NOT NULL)",
    "PRAGMA user_version = 1",
)


def test_a_file_of_schema_version_1_is_migrated_and_keeps_its_sessions(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    stored = session(n=1)
    stored.version = 3
    with raw(path) as conn:
        for statement in VERSION_1:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO sessions VALUES ('s1', 3, ?, NULL, 0)", (json.dumps(stored.to_dict()),)
        )
        conn.execute("INSERT INTO leases VALUES ('s1', 'old', 1e12)")  # lost: see the docs
    store = SQLiteStore(path)
    assert rows(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    tables = rows(path, "SELECT name FROM sqlite_master WHERE type = 'table'")
    assert tables == [("sessions",)]
    token, loaded = store.acquire_load("s1", ttl=30, wait=0)
    assert loaded is not None and (loaded.slots, loaded.version) == ({"n": 1}, 3)
    loaded.slots["n"] = 2
    store.save_release(loaded, token)
    assert rows(path, "SELECT version, lease FROM sessions") == [(4, None)]


# --------------------------------------------------------------------------- processes

WRITE = """
import sys
from dialogue.session import Session
from dialogue.stores.sqlite import SQLiteStore
store = SQLiteStore(sys.argv[1])
store.save(Session("s1", "shop", "menu", slots={"written_by": "child"}))
"""


def test_sessions_outlive_the_process_that_wrote_them(tmp_path: Path) -> None:
    done = python(WRITE, str(tmp_path / "s.db"))
    assert done.returncode == 0, done.stderr
    loaded = SQLiteStore(tmp_path / "s.db").load("s1")
    assert loaded is not None and (loaded.slots, loaded.version) == ({"written_by": "child"}, 1)


WORKER = """
import json, random, sys
from dialogue.errors import ConflictError
from dialogue.session import Session
from dialogue.stores.sqlite import SQLiteStore

path, worker, rounds, sessions = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
store = SQLiteStore(path, busy_timeout=30)
conflicts = 0
print("ready", flush=True)
assert sys.stdin.readline() == "go\\n"  # start together, imports done
for r in range(rounds):
    ids = [f"s{i}" for i in range(sessions)]
    random.Random(worker * 1000 + r).shuffle(ids)
    for sid in ids:
        token = store.acquire(sid, ttl=60, wait=120)
        try:
            while True:
                s = store.load(sid) or Session(sid, "shop", "menu")
                s.slots["log"] = [*s.slots.get("log", []), f"{worker}:{r}"]
                try:
                    store.save(s)
                    break
                except ConflictError:
                    conflicts += 1
        finally:
            store.release(sid, token)
print(json.dumps({"conflicts": conflicts}))
"""


def test_four_processes_lease_and_append_without_losing_an_update(tmp_path: Path) -> None:
    path, workers, rounds, sessions = tmp_path / "s.db", 4, 5, 20
    SQLiteStore(path).close()  # the file and its schema exist before the workers race
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(path), str(w), str(rounds), str(sessions)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(workers)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    for proc in procs:  # all ready: start them together
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    conflicts = [json.loads(out)["conflicts"] for out, _ in outputs]
    assert conflicts == [0] * workers  # the lease serialised every turn
    store = SQLiteStore(path)
    expected = sorted(f"{w}:{r}" for w in range(workers) for r in range(rounds))
    for i in range(sessions):
        loaded = store.load(f"s{i}")
        assert loaded is not None
        assert sorted(loaded.slots["log"]) == expected
        assert loaded.version == workers * rounds
    assert rows(path, "SELECT id FROM sessions WHERE lease IS NOT NULL") == []


CRASH = """
import sqlite3, sys, time
from dialogue.stores.sqlite import SQLiteStore
store = SQLiteStore(sys.argv[1])
store.acquire("s1", ttl=0.5, wait=0)
s = store.load("s1")
s.slots["n"] = 99
raw = sqlite3.connect(sys.argv[1], isolation_level=None)  # a write caught half-way
raw.execute("BEGIN IMMEDIATE")
raw.execute("UPDATE sessions SET version = 99, data = '{}' WHERE id = 's1'")
print("holding", flush=True)
time.sleep(300)
"""


def test_a_killed_lease_holder_leaves_the_session_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SQLiteStore(path)
    store.save(session(n=1))
    child = subprocess.Popen(
        [sys.executable, "-c", CRASH, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "holding\n"
        assert rows(path, "SELECT id FROM sessions WHERE lease IS NOT NULL") == [("s1",)]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    token = store.acquire("s1", ttl=30, wait=60)  # once the dead holder's lease expires
    loaded = store.load("s1")
    assert loaded is not None and (loaded.slots, loaded.version) == ({"n": 1}, 1)
    loaded.slots["n"] = 2
    store.save(loaded)  # the dead writer's database lock went with it
    store.release("s1", token)
    assert loaded.version == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_opens_its_own_connection(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.save(session())
    inherited = store._conn
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads, 3.12+
        pid = os.fork()
    if pid == 0:  # the child: report by exit code only
        try:
            loaded = store.load("s1")
            assert loaded is not None and store._conn is not inherited
            store.save(loaded)
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store._conn is inherited
    loaded = store.load("s1")
    assert loaded is not None and loaded.version == 2


# --------------------------------------------------------------------------- async face


def test_a_waiting_aacquire_leaves_the_event_loop_free(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    token = store.acquire("s1", ttl=30, wait=0)

    async def run() -> tuple[int, str]:
        ticks = 0
        waiting = asyncio.create_task(store.aacquire("s1", ttl=30, wait=60))
        while ticks < 5:  # the loop runs while aacquire waits
            await asyncio.sleep(0.001)
            ticks += 1
            assert not waiting.done()
        await asyncio.to_thread(store.release, "s1", token)
        return ticks, await waiting

    ticks, second = asyncio.run(run())
    assert ticks == 5 and second != token
    store.release("s1", second)


def test_the_store_module_does_not_import_asyncio() -> None:
    code = "import sys\nimport dialogue.stores.sqlite\nassert 'asyncio' not in sys.modules\n"
    done = python(code)
    assert done.returncode == 0, done.stderr


def test_the_async_face_runs_calls_that_need_not_wait_on_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteStore(tmp_path / "s.db", busy_timeout=5.0)
    hops: list[str] = []
    real = asyncio.to_thread

    async def counted(call: object, *args: object, **kwargs: object) -> object:
        hops.append(getattr(call, "__name__", "?"))
        return await real(call, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(asyncio, "to_thread", counted)
    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)

    async def turns() -> None:
        token, loaded = await store.aacquire_load("s1", ttl=10.0, wait=1.0)
        assert loaded is None
        await store.asave_release(session("s1", n=1), token)
        assert (await store.aload("s1")).slots == {"n": 1}  # type: ignore[union-attr]
        assert hops == []  # nothing had to wait: no worker thread
        loop = asyncio.get_running_loop()
        other.execute("BEGIN IMMEDIATE")  # another writer holds the file a little while
        loop.call_later(0.05, other.execute, "COMMIT")
        token, loaded = await store.aacquire_load("s1", ttl=10.0, wait=1.0)
        assert hops == ["_claim"] and loaded is not None  # it had to wait: in a thread
        other.execute("BEGIN IMMEDIATE")
        loop.call_later(0.05, other.execute, "COMMIT")
        await store.asave_release(loaded, token)  # waits in a thread, then writes
        assert hops == ["_claim", "save_release"]

    try:
        asyncio.run(turns())
    finally:
        other.close()
        store.close()
    reread = SQLiteStore(tmp_path / "s.db")
    found = reread.load("s1")
    assert found is not None and found.version == 2
    assert reread.busy_timeout == 5.0
    reread.close()
