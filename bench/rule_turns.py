"""Per-turn latency of a conversation made only of rule turns, against plain Python.

    python bench/rule_turns.py            # 7 repetitions x 2,000 sessions
    python bench/rule_turns.py --quick    # 3 x 300 (under 10 s)

The issue's target is per *rule turn*: match + transition + slots + reply
rendering + in-memory store, no business action. ``turn_latency.py`` times
rule turns inside a conversation that also calls actions, where the worker-
thread hop of an action turn also slows the rule turns around it; this script
times a conversation with no action at all (the default engine), beside the
same hand-written bot, in the same run and with the same statistics.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

import _common as c
from _baseline import HandWritten
from turn_latency import TARGET_US, Handle, check_same_replies, combine, run_block, summarize

import dialogue

SCRIPT = (
    "I want to return it",
    "AB123456",
    "it arrived broken",
    "no",
    "help",
)
"""Greeting + ask the order number / ask the reason / ask to confirm (a template with
two slots) / decline, back to the menu / a global digression. No action is called."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run for smoke tests")
    args = parser.parse_args(argv)
    sessions, reps, warmup = (300, 3, 100) if args.quick else (2000, 7, 500)

    engine = dialogue.Engine.from_path(c.FLOW, llm=None)
    hand = HandWritten()
    check_same_replies(engine, hand, SCRIPT)
    bots: dict[str, tuple[Handle, Callable[[str], None]]] = {
        "engine": (engine.handle, engine.reset),
        "hand": (hand.handle, hand.reset),
    }
    for name, (handle, reset) in bots.items():
        run_block(handle, reset, f"warm-{name}", warmup, SCRIPT)
    runs: dict[str, list[dict[str, tuple[float, float, float]]]] = {n: [] for n in bots}
    for rep in range(reps):
        for name in list(bots) if rep % 2 == 0 else list(reversed(bots)):
            handle, reset = bots[name]
            samples = run_block(handle, reset, f"{name}-{rep}", sessions, SCRIPT)
            runs[name].append(summarize(samples, frozenset()))
    engine.close()

    eng, base = combine(runs["engine"]), combine(runs["hand"])
    print("rule turns: Engine.handle on flows/customer_service.yaml, a conversation with no action")
    print(f"machine:  {c.machine()}")
    print(f"method:   {reps} repetitions x {sessions:,} sessions x {len(SCRIPT)} turns per bot;")
    print(
        "          statistics as in turn_latency.py (p50 min = min over repetitions). Times in us."
    )
    print()
    rows = []
    for i, label in enumerate(eng):
        if label == "rule-only turns":
            continue
        what = SCRIPT[i] if i < len(SCRIPT) else ""
        e, b = eng[label], base[label]
        rows.append([label, what, *e, b[0], f"{e[0] / b[0]:.0f}x"])
    headers = ["turn", "message", "p50 min", "p50 med", "p90", "p99", "hand p50 min", "ratio"]
    print(c.table(headers, rows))
    print()
    best, typical = eng["all turns"][0], eng["all turns"][1]
    verdict = "PASS" if best <= TARGET_US else "FAIL"
    print(
        f"target: median per rule turn <= {TARGET_US:g} us: {verdict} "
        f"({best:.1f} us; median over repetitions {typical:.1f} us)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
