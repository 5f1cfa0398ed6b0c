"""Turns over each session store (memory, SQLite, Redis), beside the store's bare round trip.

    python bench/stores.py            # 5 repetitions x 400 sessions, then 4 processes (~2-3 min)
    python bench/stores.py --quick    # 2 x 30 sessions, 2 processes (under 15 s)
    python bench/stores.py --redis-url redis://127.0.0.1:6379/8

Every session plays the rule-turn conversation of ``rule_turns.py`` (no business
action) through ``Engine.handle`` on flows/customer_service.yaml, with
``MemoryStore()``, ``SQLiteStore`` on a file in a temporary directory, and
``RedisStore`` on the server of ``--redis-url`` (keys under a random prefix,
deleted at the end). In the same run, interleaved with the engine block by
block (order alternating between repetitions), each store's *bare round trip*
for the same turns: a get + a set of the very bytes the store holds after that
turn (captured first), one per turn:

- memory: ``dict.get`` + ``dict[key] = bytes``;
- SQLite: ``SELECT data`` + an upsert of ``data``, autocommit, on a second file
  made by ``SQLiteStore`` itself (the same table, WAL, ``synchronous=NORMAL``);
- Redis: ``GET`` + ``SET`` with a redis-py client on the same server and db.

Between the two, to show where the time goes: the store's own ``load`` + ``save``
(sessions prepared beforehand, no engine); the same with the lease a turn takes
on a store shared by processes, folded into them (``acquire_load`` +
``save_release``, what the engine calls: "store + lease"), and as four calls
(``acquire``, ``load``, ``save``, ``release``: "store + lease, 4 calls", what
the engine calls on a store with only the basic protocols); the engine with
leases off (the store subclassed with ``in_process = True``), and the engine
over the store seen through the basic protocols only ("engine (4-call leases)").
Each call is timed with ``perf_counter_ns``; gc is disabled inside each block.
Per row: p50 and p99 over all turns of a block (median over repetitions), turns
per second (turns / summed time), and the difference of p50 to the bare round
trip, per repetition (median over repetitions; its range beside it).

Then: bytes per stored session (the stored JSON; Redis ``MEMORY USAGE``; the
SQLite file's used pages), and several processes (spawned, started together
after a go signal) running engines on one SQLite file and on one Redis db: over
disjoint sessions, and all over the same sessions (lease contention), beside one
process in the same run.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing as mp
import os
import re
import secrets
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _common as c
from rule_turns import SCRIPT

import dialogue
from dialogue.session import Session
from dialogue.stores import MemoryStore
from dialogue.stores.sqlite import SQLiteStore

TARGET_US = 50.0
"""The engine's cost per turn over the store's bare round trip (get + set)."""
DEFAULT_REDIS = "redis://127.0.0.1:6379/8"


@dataclass(frozen=True)
class Sizes:
    sessions: int  # per block
    reps: int
    warmup: int  # sessions before the first block of each row
    per_process: int  # sessions of each process (disjoint runs)
    contended: int  # sessions all processes share (contended runs)
    rounds: int  # of the process runs
    kept: int  # sessions kept to measure bytes per session
    processes: int

    @classmethod
    def of(cls, args: argparse.Namespace) -> Sizes:
        quick = args.quick
        return cls(
            sessions=args.sessions or (30 if quick else 400),
            reps=args.reps or (2 if quick else 5),
            warmup=10 if quick else 100,
            per_process=15 if quick else 100,
            contended=5 if quick else 25,
            rounds=1 if quick else 3,
            kept=50 if quick else 1000,
            processes=args.processes or (2 if quick else 4),
        )


Samples = list[int]
"""Nanoseconds, every turn of a block (session by session, turn by turn)."""
Block = Callable[[str, int], Samples]
"""Runs ``sessions`` new sessions whose ids start with the prefix; returns the samples."""
Results = dict[tuple[str, str], list[tuple[float, float, float]]]
"""(store, row) -> (p50 us, p99 us, turns/s) per repetition."""
Shared = dict[tuple[str, str], list[dict[str, Any]]]
"""(store, run) -> the results of each round."""
BARE = "bare get + set"


class BasicProtocol:
    """A store seen through the basic protocols only (as a third-party store without
    ``acquire_load``/``save_release``): the engine leases with four calls a turn."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def load(self, session_id: str) -> Session | None:
        return self.store.load(session_id)  # type: ignore[no-any-return]

    def save(self, session: Session) -> None:
        self.store.save(session)

    def delete(self, session_id: str) -> None:
        self.store.delete(session_id)

    def acquire(self, session_id: str, *, ttl: float, wait: float) -> str:
        return self.store.acquire(session_id, ttl=ttl, wait=wait)  # type: ignore[no-any-return]

    def release(self, session_id: str, token: str) -> None:
        self.store.release(session_id, token)


class LeaselessSQLite(SQLiteStore):
    """The SQLite store, but the engine takes no lease (as for a store in this process)."""

    in_process = True


def leaseless_redis(url: str) -> Any:
    from dialogue.stores.redis import RedisStore

    class LeaselessRedis(RedisStore):
        in_process = True

    return LeaselessRedis.from_url(url)


def redis_store(url: str) -> Any:
    from dialogue.stores.redis import RedisStore

    return RedisStore.from_url(url)


def with_prefix(url: str, prefix: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}prefix={prefix}"


# ---------------------------------------------------------------------- blocks


def timed(ids: Sequence[str], turn: Callable[[str, int], object]) -> Samples:
    """``turn(sid, i)`` for every session and turn of the script, each call timed."""
    clock = time.perf_counter_ns
    n = len(SCRIPT)
    samples = [0] * (len(ids) * n)
    k = 0
    gc.collect()
    gc.disable()
    try:
        for sid in ids:
            for i in range(n):
                t0 = clock()
                turn(sid, i)
                samples[k] = clock() - t0
                k += 1
    finally:
        gc.enable()
    return samples


def engine_block(engine: dialogue.Engine) -> Block:
    def block(prefix: str, sessions: int) -> Samples:
        ids = [f"{prefix}-{j}" for j in range(sessions)]
        handle = engine.handle
        samples = timed(ids, lambda sid, i: handle(sid, SCRIPT[i]))
        for sid in ids:
            engine.reset(sid)
        return samples

    return block


def store_block(store: Any, snapshots: Sequence[dict[str, Any]], leases: str = "") -> Block:
    """The store's own calls for each turn, no engine: load save (``leases=""``),
    acquire_load save_release (``"folded"``), acquire load save release (``"4 calls"``)."""

    def block(prefix: str, sessions: int) -> Samples:
        ids = [f"{prefix}-{j}" for j in range(sessions)]
        made = {
            sid: [Session.from_dict({**snap, "id": sid, "version": 0}) for snap in snapshots]
            for sid in ids
        }
        load, save = store.load, store.save

        def turn(sid: str, i: int) -> None:
            session = made[sid][i]
            if leases == "folded":
                token, loaded = store.acquire_load(sid, ttl=10.0, wait=10.0)
                session.version = 0 if loaded is None else loaded.version
                store.save_release(session, token)
                return
            token = store.acquire(sid, ttl=10.0, wait=10.0) if leases else None
            loaded = load(sid)
            session.version = 0 if loaded is None else loaded.version
            save(session)
            if token is not None:
                store.release(sid, token)

        samples = timed(ids, turn)
        for sid in ids:
            store.delete(sid)
        return samples

    return block


def bare_memory(payloads: Sequence[bytes]) -> Block:
    table: dict[str, bytes] = {}

    def block(prefix: str, sessions: int) -> Samples:
        ids = [f"{prefix}-{j}" for j in range(sessions)]
        get = table.get

        def turn(sid: str, i: int) -> None:
            get(sid)
            table[sid] = payloads[i]

        samples = timed(ids, turn)
        table.clear()
        return samples

    return block


def bare_sqlite(path: Path, payloads: Sequence[str]) -> tuple[Block, sqlite3.Connection]:
    SQLiteStore(path).close()  # the store's own schema and journal mode
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA synchronous = NORMAL")  # as the store sets it, per connection
    select = "SELECT data FROM sessions WHERE id = ?"
    upsert = (
        "INSERT INTO sessions (id, version, data, expires_at, updated_at) VALUES (?, 1, ?, NULL, 0)"
        " ON CONFLICT (id) DO UPDATE SET data = excluded.data"
    )

    def block(prefix: str, sessions: int) -> Samples:
        ids = [f"{prefix}-{j}" for j in range(sessions)]
        execute = conn.execute

        def turn(sid: str, i: int) -> None:
            execute(select, (sid,)).fetchone()
            execute(upsert, (sid, payloads[i]))

        samples = timed(ids, turn)
        conn.execute("DELETE FROM sessions")
        return samples

    return block, conn


def bare_redis(client: Any, prefix: str, payloads: Sequence[bytes]) -> Block:
    def block(name: str, sessions: int) -> Samples:
        keys = [f"{prefix}bare:{name}-{j}" for j in range(sessions)]
        get, set_ = client.get, client.set

        def turn(key: str, i: int) -> None:
            get(key)
            set_(key, payloads[i])

        samples = timed(keys, turn)
        client.delete(*keys)
        return samples

    return block


# ---------------------------------------------------------------------- checks


def conversation(engine: dialogue.Engine, sid: str) -> tuple[list[list[str]], list[Session]]:
    """Play the script once: the replies (return numbers masked) and the session after each."""
    number = re.compile(r"\bR\d+\b")
    replies, sessions = [], []
    for text in SCRIPT:
        result = engine.handle(sid, text)
        replies.append([number.sub("R#", r) for r in result.replies])
        stored = engine.session(sid)
        assert stored is not None
        sessions.append(stored)
    engine.reset(sid)
    return replies, sessions


def stored_bytes(kind: str, store: Any, engine: dialogue.Engine, sid: str) -> list[bytes]:
    """What the store holds after each turn of the script (its raw bytes)."""
    out = []
    for text in SCRIPT:
        engine.handle(sid, text)
        if kind == "SQLite":
            conn = sqlite3.connect(store.path)
            row = conn.execute("SELECT data FROM sessions WHERE id = ?", (sid,)).fetchone()
            conn.close()
            out.append(row[0].encode())
        elif kind == "Redis":
            out.append(store._client.get(store._key(sid)))
        else:
            stored = engine.session(sid)
            assert stored is not None
            out.append(json.dumps(stored.to_dict(), separators=(",", ":")).encode())
    engine.reset(sid)
    return out


# ---------------------------------------------------------------------- statistics


def stats(samples: Samples) -> tuple[float, float, float]:
    """(p50 us, p99 us, turns per second) of one block."""
    ordered = sorted(samples)
    return (
        c.percentile(ordered, 50) / 1000,
        c.percentile(ordered, 99) / 1000,
        len(samples) / (sum(samples) / 1e9),
    )


# ---------------------------------------------------------------------- processes


def worker(
    index: int,
    commands: Any,
    results: Any,
    go: Any,
    sqlite_path: str,
    redis_url: str,
) -> None:
    """A process with one engine per shared store; runs the blocks it is sent."""
    engines = {
        "SQLite": dialogue.Engine.from_path(c.FLOW, llm=None, store=SQLiteStore(sqlite_path)),
        "Redis": dialogue.Engine.from_path(c.FLOW, llm=None, store=redis_store(redis_url)),
    }
    results.put(("up", index))
    while True:
        command = commands.get()
        if command is None:
            break
        kind, ids, warm = command
        engine = engines[kind]
        for sid in warm:
            for text in SCRIPT:
                engine.handle(sid, text)
        results.put(("ready", index))
        go.wait()
        errors = 0
        clock = time.perf_counter_ns
        samples = []
        gc.collect()
        gc.disable()
        start = time.monotonic_ns()
        try:
            for sid in ids:
                for text in SCRIPT:
                    t0 = clock()
                    try:
                        engine.handle(sid, text)
                    except dialogue.DialogueError:
                        errors += 1
                    samples.append(clock() - t0)
        finally:
            end = time.monotonic_ns()
            gc.enable()
        results.put(("done", index, start, end, samples, errors))
    for engine in engines.values():
        engine.store.close()  # type: ignore[attr-defined]
        engine.close()


class Workers:
    """``n`` spawned processes, each told what to run; started together with an Event."""

    def __init__(self, n: int, sqlite_path: str, redis_url: str) -> None:
        ctx = mp.get_context("spawn")
        self.go = ctx.Event()
        self.results = ctx.Queue()
        self.commands = [ctx.Queue() for _ in range(n)]
        self.procs = [
            ctx.Process(
                target=worker,
                args=(i, self.commands[i], self.results, self.go, sqlite_path, redis_url),
                daemon=True,
            )
            for i in range(n)
        ]
        for p in self.procs:
            p.start()
        for _ in range(n):
            self._get("up")

    def _get(self, what: str) -> tuple[Any, ...]:
        message = self.results.get(timeout=120)
        if message[0] != what:
            raise RuntimeError(f"worker said {message!r}, expected {what!r}")
        return message  # type: ignore[no-any-return]

    def run(self, kind: str, plan: Sequence[tuple[list[str], list[str]]]) -> dict[str, Any]:
        """``plan[i]`` = (session ids, warm-up ids) of worker i; all start at once."""
        for i, (ids, warm) in enumerate(plan):
            self.commands[i].put((kind, ids, warm))
        for _ in plan:
            self._get("ready")
        self.go.set()
        done = [self._get("done") for _ in plan]
        self.go.clear()  # every worker that ran has finished: none waits on it now
        start = min(d[2] for d in done)
        end = max(d[3] for d in done)
        samples = sorted(s for d in done for s in d[4])
        return {
            "turns/s": len(samples) / ((end - start) / 1e9),
            "p50": c.percentile(samples, 50) / 1000,
            "p99": c.percentile(samples, 99) / 1000,
            "errors": sum(d[5] for d in done),
            "turns": len(samples),
        }

    def close(self) -> None:
        for q in self.commands:
            q.put(None)
        for p in self.procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()


# ---------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run for smoke tests")
    parser.add_argument("--sessions", type=int, help="sessions per block")
    parser.add_argument("--reps", type=int, help="repetitions")
    parser.add_argument("--processes", type=int, help="processes sharing a store (4; quick: 2)")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS, help="server and db to use")
    parser.add_argument("--dir", help="directory for the SQLite files (default: a temp dir)")
    args = parser.parse_args(argv)
    sizes = Sizes.of(args)

    import redis

    tag = f"bench-{secrets.token_hex(4)}:"  # every key of this run starts with it
    client = redis.Redis.from_url(args.redis_url)
    client.ping()
    tmp = tempfile.TemporaryDirectory(prefix="dialogue-bench-", dir=args.dir)
    closers: list[Callable[[], object]] = []
    try:
        run(args.redis_url, sizes, tag, client, Path(tmp.name), closers)
    finally:
        for close in reversed(closers):
            close()
        leftover = list(client.scan_iter(match=tag + "*", count=1000))
        for i in range(0, len(leftover), 500):
            client.delete(*leftover[i : i + 500])
        client.close()
        tmp.cleanup()
    return 0


def build_rows(
    url: str, client: Any, tag: str, folder: Path, closers: list[Callable[[], object]]
) -> dict[str, dict[str, Block]]:
    """Per store, the rows to time; checks first that every store gives the same replies."""
    stores = {
        "memory": (MemoryStore(), None),
        "SQLite": (SQLiteStore(folder / "store.db"), LeaselessSQLite(folder / "store.db")),
        "Redis": (redis_store(url), leaseless_redis(url)),
    }
    for store, lean in stores.values():
        for s in (store, lean):
            if s is not None and hasattr(s, "close"):
                closers.append(s.close)
    memory = dialogue.Engine.from_path(c.FLOW, llm=None)
    reference, _ = conversation(memory, "check")
    memory.close()
    rows: dict[str, dict[str, Block]] = {}
    for kind, (store, lean) in stores.items():
        engine = dialogue.Engine.from_path(c.FLOW, llm=None, store=store)
        closers.append(engine.close)
        replies, snaps = conversation(engine, "check")
        if replies != reference:
            sys.exit(f"{kind}: the engine said {replies}, over memory {reference}")
        payloads = stored_bytes(kind, store, engine, "payload")
        snapshots = [snap.to_dict() for snap in snaps]
        blocks: dict[str, Block] = {}
        if kind == "memory":
            blocks[BARE] = bare_memory(payloads)
        elif kind == "SQLite":
            blocks[BARE], conn = bare_sqlite(folder / "bare.db", [p.decode() for p in payloads])
            closers.append(conn.close)
        else:
            blocks[BARE] = bare_redis(client, tag, payloads)
        blocks["store load + save"] = store_block(store, snapshots)
        if lean is None:
            blocks["engine"] = engine_block(engine)
        else:
            plain = dialogue.Engine.from_path(c.FLOW, llm=None, store=lean)
            basic = dialogue.Engine.from_path(c.FLOW, llm=None, store=BasicProtocol(store))
            closers += [plain.close, basic.close]
            blocks["store + lease"] = store_block(store, snapshots, leases="folded")
            blocks["store + lease, 4 calls"] = store_block(store, snapshots, leases="4 calls")
            blocks["engine, no lease"] = engine_block(plain)
            blocks["engine (leases)"] = engine_block(engine)
            blocks["engine (4-call leases)"] = engine_block(basic)
        rows[kind] = blocks
    return rows


def run(
    base_url: str,
    sizes: Sizes,
    tag: str,
    client: Any,
    folder: Path,
    closers: list[Callable[[], object]],
) -> None:
    started = time.monotonic()
    rows = build_rows(with_prefix(base_url, tag), client, tag, folder, closers)

    # warm-up, then the repetitions: every row of every store, order alternating
    order = [(kind, name) for kind, blocks in rows.items() for name in blocks]
    for kind, name in order:
        rows[kind][name](f"warm-{kind}-{name}".replace(" ", ""), sizes.warmup)
    results: Results = {o: [] for o in order}
    for rep in range(sizes.reps):
        for kind, name in order if rep % 2 == 0 else list(reversed(order)):
            samples = rows[kind][name](f"{kind}-{name}-{rep}".replace(" ", ""), sizes.sessions)
            results[(kind, name)].append(stats(samples))
    timed_for = time.monotonic() - started

    stored = measure_sizes(folder, with_prefix(base_url, tag + "kept:"), client, sizes.kept)
    started = time.monotonic()
    shared = measure_processes(sizes, folder / "shared.db", with_prefix(base_url, tag + "mp:"))
    shared_for = time.monotonic() - started

    print("session stores: Engine.handle on flows/customer_service.yaml over each store,")
    print("                beside the store's bare round trip (get + set of the same bytes)")
    print(f"machine:  {c.machine()}; load average {os.getloadavg()[0]:.1f} at the end")
    print(
        f"dialogue: {dialogue.__version__}; SQLite {sqlite3.sqlite_version}, "
        f"redis-py {_version('redis')}, Redis server {_server_version(client)} at {base_url}"
    )
    print()
    report_turns(sizes, results, rows, timed_for)
    print()
    report_sizes(sizes, stored)
    print()
    report_processes(sizes, shared, shared_for)
    print()
    report_verdict(results, rows)


def play_all(engine: dialogue.Engine, ids: Sequence[str]) -> None:
    for sid in ids:
        for text in SCRIPT:
            engine.handle(sid, text)


def measure_sizes(folder: Path, url: str, client: Any, n: int) -> dict[str, dict[str, float]]:
    """Bytes per session after ``n`` sessions played the conversation, in fresh stores."""
    ids = [f"kept-{j}" for j in range(n)]
    engine = dialogue.Engine.from_path(c.FLOW, llm=None)
    play_all(engine, ids)
    text = [json.dumps(_stored(engine, sid).to_dict(), separators=(",", ":")) for sid in ids]
    engine.close()
    out = {"memory": {"json": sum(len(t.encode()) for t in text) / n}}

    path = folder / "kept.db"
    with SQLiteStore(path) as store:
        engine = dialogue.Engine.from_path(c.FLOW, llm=None, store=store)
        play_all(engine, ids)
        engine.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = conn.execute("SELECT AVG(LENGTH(CAST(data AS BLOB))) FROM sessions").fetchone()[0]
    pages, free, size = (
        conn.execute(f"PRAGMA {name}").fetchone()[0]
        for name in ("page_count", "freelist_count", "page_size")
    )
    conn.close()
    out["SQLite"] = {"json": float(data), "file": (pages - free) * size / n}

    redis = redis_store(url)
    engine = dialogue.Engine.from_path(c.FLOW, llm=None, store=redis)
    play_all(engine, ids)
    engine.close()
    pipe = client.pipeline(transaction=False)
    for sid in ids:
        pipe.strlen(redis._key(sid))
        pipe.memory_usage(redis._key(sid), samples=0)
    answers = pipe.execute()
    redis.close()
    out["Redis"] = {"json": sum(answers[0::2]) / n, "memory usage": sum(answers[1::2]) / n}
    return out


def _stored(engine: dialogue.Engine, sid: str) -> Session:
    session = engine.session(sid)
    assert session is not None
    return session


def measure_processes(sizes: Sizes, path: Path, url: str) -> Shared:
    """One process, then ``sizes.processes`` on disjoint sessions, then on the same ones."""
    SQLiteStore(path).close()  # the schema, before the processes race to make it
    n = sizes.processes
    workers = Workers(n, str(path), url)
    out: Shared = {}
    warm = max(5, sizes.warmup // 10)
    modes = ("1 process", f"{n} processes, disjoint", f"{n} processes, same sessions")
    try:
        run_no = 0
        for rnd in range(sizes.rounds):
            for kind in ("SQLite", "Redis") if rnd % 2 == 0 else ("Redis", "SQLite"):
                for mode in modes:
                    run_no += 1
                    r = f"r{run_no}"
                    same = [f"{r}-{j}" for j in range(sizes.contended)]
                    plan = [
                        (
                            same
                            if mode == modes[2]
                            else [f"{r}-p{i}-{j}" for j in range(sizes.per_process)],
                            [f"{r}-w{i}-{j}" for j in range(warm)],
                        )
                        for i in range(1 if mode == modes[0] else n)
                    ]
                    out.setdefault((kind, mode), []).append(workers.run(kind, plan))
    finally:
        workers.close()
    return out


def report_turns(
    sizes: Sizes, results: Results, rows: dict[str, dict[str, Block]], took: float
) -> None:
    print(
        f"method:   {sizes.reps} repetitions x {sizes.sessions:,} sessions x {len(SCRIPT)} "
        f"turns per row (rule_turns.py's conversation), after {sizes.warmup} warm-up"
    )
    print(
        "          sessions per row; rows interleaved, order alternating; gc off per block. "
        "p50, p99 over"
    )
    print(
        "          the turns of a block, median over repetitions; turns/s = turns / their "
        "summed time (bare:"
    )
    print(
        "          get+set pairs/s); - bare = p50 minus the bare row's p50 in the same "
        "repetition, median"
    )
    print(f"          [min to max] over repetitions. Times in us. ({took:.0f} s)")
    print()
    table = []
    for kind, blocks in rows.items():
        bare = results[(kind, BARE)]
        for name in blocks:
            runs = results[(kind, name)]
            p50, p99, rate = (c.median([r[i] for r in runs]) for i in range(3))
            if name == BARE:
                table.append([kind, name, p50, p99, rate, "", ""])
                continue
            d = [r[0] - b[0] for r, b in zip(runs, bare, strict=True)]
            table.append([kind, name, p50, p99, rate, c.median(d), f"{min(d):.1f} to {max(d):.1f}"])
    print(c.table(["store", "row", "p50", "p99", "turns/s", "- bare", "range"], table))
    print()
    print("where the time goes (differences of p50 between rows, per repetition, median):")
    split = []
    for kind, blocks in rows.items():
        engine = "engine" if "engine" in blocks else "engine, no lease"

        def gap(a: str, b: str, kind: str = kind) -> float:
            pairs = zip(results[(kind, a)], results[(kind, b)], strict=True)
            return c.median([x[0] - y[0] for x, y in pairs])

        leased = "engine (leases)" in blocks

        def lease(a: str, b: str, leased: bool = leased, gap: Any = gap) -> str | float:
            return gap(a, b) if leased else ""

        split.append(
            [
                kind,
                c.median([r[0] for r in results[(kind, BARE)]]),
                gap("store load + save", BARE),
                gap(engine, "store load + save"),
                lease("engine (leases)", "engine, no lease"),
                lease("store + lease", "store load + save"),
                lease("engine (4-call leases)", "engine, no lease"),
                lease("store + lease, 4 calls", "store load + save"),
            ]
        )
    headers = ["store", "bare", "+ store's load/save", "+ engine's turn", "+ leases"]
    print(c.table([*headers, "(store only)", "4 calls", "(store only)"], split))
    print(
        "  store's load/save = its load + save - bare; engine's turn = engine without leases -\n"
        "  store load + save; leases = engine (leases) - engine, no lease (the lease folded\n"
        "  into the load and the save; in brackets the same measured on the store alone);\n"
        "  4 calls = the same with acquire + load + save + release (basic protocols)."
    )


def report_sizes(sizes: Sizes, stored: dict[str, dict[str, float]]) -> None:
    print(f"bytes per stored session ({sizes.kept:,} sessions after the whole conversation):")
    rows = [
        ["memory", stored["memory"]["json"], "Session objects (session_memory.py measures them)"],
        ["SQLite", stored["SQLite"]["json"], f"{stored['SQLite']['file']:,.0f} (file pages used)"],
        [
            "Redis",
            stored["Redis"]["json"],
            f"{stored['Redis']['memory usage']:,.0f} (MEMORY USAGE)",
        ],
    ]
    print(c.table(["store", "JSON bytes", "bytes held per session"], rows))
    print(
        "  memory: the JSON it would be (the store keeps the objects); SQLite: the data column,\n"
        "  and the file's pages in use (after a checkpoint) / sessions; Redis: the value, with\n"
        "  its version first and a write id, and MEMORY USAGE of the key (SAMPLES 0)."
    )


def report_processes(sizes: Sizes, shared: Shared, took: float) -> None:
    print(
        f"processes sharing one store: {sizes.processes} spawned processes, each with its engine, "
        "started together"
    )
    print(
        f"(go signal), {sizes.per_process} sessions x {len(SCRIPT)} turns each, or all on the "
        f"same {sizes.contended} sessions (every turn"
    )
    print(
        "waits for the others' leases); beside 1 process alone. turns/s = all turns / (last end -"
    )
    print(
        f"first start); {sizes.rounds} round(s), stores alternating; medians over rounds; "
        f"p50, p99 per turn in us. ({took:.0f} s)"
    )
    print()
    rows = []
    for kind in ("SQLite", "Redis"):
        runs_of = {mode: runs for (k, mode), runs in shared.items() if k == kind}
        one = c.median([r["turns/s"] for r in runs_of["1 process"]])
        for mode, runs in runs_of.items():
            rate = c.median([r["turns/s"] for r in runs])
            rows.append(
                [
                    kind,
                    mode,
                    runs[0]["turns"],
                    rate,
                    f"{rate / one:.2f}",
                    c.median([r["p50"] for r in runs]),
                    c.median([r["p99"] for r in runs]),
                    sum(r["errors"] for r in runs),
                ]
            )
    headers = ["store", "run", "turns", "turns/s", "/ 1 process", "p50", "p99", "errors"]
    print(c.table(headers, rows))


def report_verdict(results: Results, rows: dict[str, dict[str, Block]]) -> None:
    print(
        f"target: the engine adds <= {TARGET_US:g} us per turn (p50) over the store's bare "
        "round trip"
    )
    for kind, blocks in rows.items():
        name = "engine" if "engine" in blocks else "engine (leases)"
        pairs = zip(results[(kind, name)], results[(kind, BARE)], strict=True)
        d = c.median([x[0] - y[0] for x, y in pairs])
        line = f"  {kind}: {'PASS' if d <= TARGET_US else 'FAIL'} ({d:+.1f} us"
        if "engine, no lease" in blocks:
            pairs = zip(results[(kind, "engine, no lease")], results[(kind, BARE)], strict=True)
            lean = c.median([x[0] - y[0] for x, y in pairs])
            line += f"; without leases {'PASS' if lean <= TARGET_US else 'FAIL'}, {lean:+.1f} us"
        print(line + ")")


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def _server_version(client: Any) -> str:
    return str(client.info("server")["redis_version"])


if __name__ == "__main__":
    raise SystemExit(main())
