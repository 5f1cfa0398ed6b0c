"""Bytes per stored session: flows/customer_service.yaml in the default MemoryStore.

    python bench/session_memory.py            # 10,000 sessions (about a minute)
    python bench/session_memory.py --quick    # 500 sessions (under 10 s)

The engine is built and warmed up first; then tracemalloc starts, and N new
sessions each play the same 4-turn conversation (the first four messages of
``SCRIPT`` in ``_common.py``). The engine (its MemoryStore) is the only thing
holding the sessions: the results of ``handle`` are dropped at once. The
growth of traced memory between two snapshots (``gc.collect()`` before each;
tracemalloc's own allocations filtered out), divided by N, is the cost of a
session. Then: where that memory was allocated (top lines), and what one stored
session is made of (its fields, counting only objects no other session shares).
The default engine has no LLM client, so it keeps no history; the same run
repeats the measurement with ``history_turns=10`` (what an engine with an LLM
keeps by default) to show the cost of the history (not in ``--quick``).
"""

from __future__ import annotations

import argparse
import gc
import sys
import tracemalloc
from collections.abc import Iterable, Sequence
from dataclasses import fields
from typing import Any

import _common as c

import dialogue

TARGET_BYTES = 1024
TURNS = c.SCRIPT[:4]
_NOT_OURS = (
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    tracemalloc.Filter(False, "<unknown>"),
)


def play(engine: dialogue.Engine, ids: Iterable[str]) -> None:
    for sid in ids:
        for text in TURNS:
            engine.handle(sid, text)


def measure(
    engine: dialogue.Engine, n: int, prefix: str, warmup: int = 300
) -> tuple[int, list[tracemalloc.StatisticDiff]]:
    """Traced-memory growth for ``n`` new sessions, and its statistics by line."""
    warm = [f"warm-{prefix}-{i}" for i in range(warmup)]
    play(engine, warm)
    for sid in warm:
        engine.reset(sid)
    gc.collect()
    tracemalloc.start(1)
    try:
        gc.collect()
        before = tracemalloc.take_snapshot().filter_traces(_NOT_OURS)
        play(engine, (f"{prefix}-{i:06d}" for i in range(n)))
        gc.collect()
        after = tracemalloc.take_snapshot().filter_traces(_NOT_OURS)
    finally:
        tracemalloc.stop()
    growth = sum(s.size for s in after.statistics("filename")) - sum(
        s.size for s in before.statistics("filename")
    )
    return growth, after.compare_to(before, "lineno")


def reachable(obj: Any, seen: set[int]) -> Iterable[Any]:
    """``obj`` and the containers and values inside it, each once."""
    stack = [obj]
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        yield o
        if isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, list | tuple | set | frozenset):
            stack.extend(o)


def anatomy(engine: dialogue.Engine, sid: str, other: str) -> list[list[object]]:
    """Bytes of each field of one stored session that another session does not share."""
    session, twin = engine.session(sid), engine.session(other)
    assert session is not None and twin is not None
    shared: set[int] = set()
    for f in fields(twin):
        for _ in reachable(getattr(twin, f.name), shared):
            pass
    seen = set(shared)

    def row(label: str, *objs: Any) -> list[object]:
        found = [o for obj in objs for o in reachable(obj, seen)]
        kinds = ", ".join(sorted({type(o).__name__ for o in found})) or "-"
        return [label, kinds, sum(sys.getsizeof(o) for o in found), len(found)]

    rows = [row("Session object (dataclass, slots=True)", session)]
    seen.add(id(session))
    for f in fields(session):
        value = getattr(session, f.name)
        if f.name == "slots":
            seen.add(id(value))
            rows.append([f"  .slots (dict, {len(value)} keys)", "dict", sys.getsizeof(value), 1])
            for key, item in value.items():
                rows.append(row(f"    slots[{key!r}]", key, item))
        elif f.name == "history":
            seen.add(id(value))
            rows.append([f"  .history (list, {len(value)} items)", "list", sys.getsizeof(value), 1])
            rows.append(row("    user messages", *value[0::2]))
            rows.append(row("    bot replies", *value[1::2]))
        else:
            rows.append(row(f"  .{f.name}", value))
    return [r for r in rows if r[3]]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 sessions instead of 10,000")
    parser.add_argument("--sessions", type=int, help="number of sessions")
    args = parser.parse_args(argv)
    n = args.sessions or (500 if args.quick else 10_000)
    warmup = 100 if args.quick else 300

    engine = dialogue.Engine.from_path(c.FLOW, llm=None)
    growth, by_line = measure(engine, n, "s", warmup)
    rows = anatomy(engine, "s-000001", "s-000002")
    store_table = sys.getsizeof(getattr(engine.store, "_sessions", {}))
    engine.close()
    del engine
    gc.collect()

    lean_growth: int | None = None
    if not args.quick:  # a second Engine.from_path would not fit a 10 s smoke run
        lean = dialogue.Engine.from_path(c.FLOW, llm=None, history_turns=10)
        lean_growth, _ = measure(lean, n, "s", warmup)
        lean.close()

    per = growth / n
    print("session memory: flows/customer_service.yaml, default MemoryStore")
    print(f"machine:  {c.machine()}")
    print(f"dialogue: {dialogue.__version__} from {dialogue.__file__}; {c.versions()}")
    print(
        f"method:   {n:,} sessions x {len(TURNS)} turns {list(TURNS)};\n"
        f"          tracemalloc started after engine construction and {warmup} warm-up sessions\n"
        "          (then reset); gc.collect() before each snapshot; growth of traced memory\n"
        "          (tracemalloc's own allocations excluded) / sessions."
    )
    print()
    print(
        c.table(
            ["configuration", "bytes/session", "KiB/session", "total growth"],
            [
                ["default (no LLM: no history kept)", per, per / 1024, growth],
                ["history_turns=10", lean_growth / n, lean_growth / n / 1024, lean_growth]
                if lean_growth is not None
                else ["history_turns=10", "skipped (--quick)", "", ""],
            ],
        )
    )
    print()
    verdict = "PASS" if per <= TARGET_BYTES else "FAIL"
    print(f"target: <= {TARGET_BYTES} bytes per session (default settings): {verdict} ({per:.0f})")
    print()
    print("where the growth was allocated (tracemalloc, by line, top 10, default settings):")
    top = [
        [
            f"{s.traceback[0].filename.replace(str(c.REPO) + '/', '')}:{s.traceback[0].lineno}",
            s.size_diff / n,
            s.count_diff / n,
            _source(s.traceback[0].filename, s.traceback[0].lineno),
        ]
        for s in by_line[:10]
    ]
    print(c.table(["line", "bytes/session", "blocks/session", "source"], top))
    print()
    print("one stored session, by field (sys.getsizeof, objects no other session shares):")
    rows.append(["store dict slot (its table / sessions)", "dict", store_table / n, 0])
    total = sum(float(r[2]) for r in rows)  # type: ignore[arg-type]
    rows.append(["total", "", total, sum(int(r[3]) for r in rows)])  # type: ignore[call-overload]
    print(c.table(["part", "types", "bytes", "objects"], rows))
    print()
    print(
        "note: tracemalloc charges a block to the line that first allocated it; CPython keeps\n"
        "freed dicts, lists and small blocks on free lists and hands them out again, so a\n"
        "dict made in one place (e.g. jinja2's render context) can later hold a session's\n"
        "data and still be charged to jinja2. The by-field table is exact per object."
    )
    return 0


def _source(filename: str, lineno: int) -> str:
    try:
        with open(filename, encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                if i == lineno:
                    text = line.strip()
                    return text if len(text) <= 60 else text[:57] + "..."
    except OSError:
        pass
    return ""


if __name__ == "__main__":
    raise SystemExit(main())
