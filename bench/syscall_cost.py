"""What system calls cost the Python code that runs after them, in a turn.

    python bench/syscall_cost.py [N]    # N system calls added to each turn (default 12)

Two engines on flows/customer_service.yaml with in-memory stores; one store makes
``N`` ``os.getpid()`` calls in each load and save (as a SQLite turn makes about a
dozen: its locks and WAL writes). The rule-turn conversation of ``rule_turns.py``,
300 sessions a block, 8 blocks alternating; the median per turn of each, and the
cost of one ``os.getpid()`` alone. If the difference per turn is larger than N x that
cost, the calls slow the code after them (caches and branch predictors left cold).
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time
from pathlib import Path

from rule_turns import SCRIPT

import dialogue
from dialogue.session import Session
from dialogue.stores import MemoryStore

FLOW = Path(__file__).resolve().parents[1] / "flows" / "customer_service.yaml"


def syscalling(n: int) -> MemoryStore:
    class Calling(MemoryStore):
        def load(self, session_id: str) -> Session | None:
            for _ in range(n // 2):
                os.getpid()
            return super().load(session_id)

        def save(self, session: Session) -> None:
            for _ in range(n - n // 2):
                os.getpid()
            super().save(session)

    return Calling()


def block(engine: dialogue.Engine, prefix: str) -> float:
    clock, samples = time.perf_counter_ns, []
    for j in range(300):
        sid = f"{prefix}{j}"
        for text in SCRIPT:
            started = clock()
            engine.handle(sid, text)
            samples.append(clock() - started)
        engine.reset(sid)
    return statistics.median(samples) / 1000


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    engines = {
        "memory": dialogue.Engine.from_path(FLOW, store=MemoryStore(), nlu_cache=False),
        f"+{n} syscalls": dialogue.Engine.from_path(FLOW, store=syscalling(n), nlu_cache=False),
    }
    started = time.perf_counter_ns()
    for _ in range(100_000):
        os.getpid()
    one = (time.perf_counter_ns() - started) / 100_000 / 1000
    found: dict[str, list[float]] = {name: [] for name in engines}
    gc.disable()
    for rep in range(8):
        names = list(engines) if rep % 2 == 0 else list(reversed(engines))
        for name in names:
            found[name].append(block(engines[name], f"{name}{rep}"))
    gc.enable()
    medians = {name: statistics.median(v) for name, v in found.items()}
    base, more = medians.values()
    print(f"one os.getpid(): {one:.3f} us; median us per turn: {medians}")
    print(f"added per turn: {more - base:.1f} us, against {n * one:.1f} us for the calls alone")


if __name__ == "__main__":
    main()
