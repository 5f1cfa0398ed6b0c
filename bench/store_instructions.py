"""One block of bench/stores.py, alone, for instruction counts (load-independent).

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        python bench/store_instructions.py MODE N

runs 20 warm-up sessions then N turns (N / 5 sessions of rule_turns.py's
conversation) of MODE on a SQLite file in a temporary directory; run it with two
values of N (100 and 400) and divide the difference of the instruction counts by
the difference of N for the instructions per turn, startup and warm-up cancelled.
MODE: bare (SELECT + upsert), store (load + save), store-folded (acquire_load +
save_release), store-4 (acquire + load + save + release), engine-nolease,
engine-folded, engine-4 (the engine over the basic protocols), engine-memory.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import _common as c
import stores as b

import dialogue
from dialogue.stores.sqlite import SQLiteStore

MODES = (
    "bare",
    "store",
    "store-folded",
    "store-4",
    "engine-nolease",
    "engine-folded",
    "engine-4",
    "engine-memory",
)


def block(mode: str, folder: Path) -> b.Block:
    store = SQLiteStore(folder / "s.db")
    ref = dialogue.Engine.from_path(c.FLOW, llm=None, store=SQLiteStore(folder / "ref.db"))
    payloads = [p.decode() for p in b.stored_bytes("SQLite", ref.store, ref, "p")]
    _, snaps = b.conversation(ref, "c")
    snapshots = [s.to_dict() for s in snaps]
    if mode == "bare":
        return b.bare_sqlite(folder / "bare.db", payloads)[0]
    if mode.startswith("store"):
        leases = {"store": "", "store-folded": "folded", "store-4": "4 calls"}[mode]
        return b.store_block(store, snapshots, leases)
    chosen: object = {
        "engine-folded": store,
        "engine-4": b.BasicProtocol(store),
        "engine-nolease": b.LeaselessSQLite(folder / "s.db"),
        "engine-memory": None,
    }[mode]
    return b.engine_block(dialogue.Engine.from_path(c.FLOW, llm=None, store=chosen))


def main() -> int:
    mode, turns = sys.argv[1], int(sys.argv[2])
    if mode not in MODES:
        sys.exit(f"MODE is one of {', '.join(MODES)}")
    with tempfile.TemporaryDirectory() as folder:
        run = block(mode, Path(folder))
        run("warm", 20)
        run("measured", turns // 5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
