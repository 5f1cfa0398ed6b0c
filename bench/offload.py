"""What ``Engine(offload=True)`` costs an async rule turn: steps in a worker thread.

    python bench/offload.py            # 2,000 turns per variant, 5 rounds
    python bench/offload.py --quick    # 200 turns, 2 rounds

The conversation of ``_common.SCRIPT`` on ``flows/customer_service.yaml`` (rules
only, its actions stubbed), run through ``Engine.ahandle`` one turn at a time, with
``offload=True`` (the default) and ``offload=False`` in alternating rounds; the
median time per turn of each. Target: the thread hops add <= 150 us per turn.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import _common as c

from dialogue import Engine


async def per_turn(engine: Engine, turns: int) -> float:
    start = time.perf_counter()
    for i in range(turns):
        await engine.ahandle(f"s{i // len(c.SCRIPT)}", c.SCRIPT[i % len(c.SCRIPT)])
    return (time.perf_counter() - start) / turns


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    turns, rounds = (200, 2) if args.quick else (2000, 5)
    print(c.machine())
    found: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(rounds):
        for offload in (True, False):
            engine = Engine.from_path(c.FLOW, llm=None, offload=offload)
            found[offload].append(asyncio.run(per_turn(engine, turns)))
            engine.close()
    on, off = (c.median(found[k]) * 1e6 for k in (True, False))
    print(
        c.table(
            ["offload", "us per turn (median of rounds)"],
            [["True", f"{on:.0f}"], ["False", f"{off:.0f}"]],
        )
    )
    added = on - off
    verdict = "PASS" if added <= 150 else "FAIL"
    print(f"\nadded by offload: {added:.0f} us per turn -> {verdict} (<= 150)")


if __name__ == "__main__":
    main()
