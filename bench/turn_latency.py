"""Per-turn latency of Engine.handle on flows/customer_service.yaml, against plain Python.

    python bench/turn_latency.py            # full run (about 10 s on 2 cores)
    python bench/turn_latency.py --quick    # smoke run (under 10 s)

Every session plays the same conversation (``SCRIPT`` in ``_common.py``) through
``Engine.handle`` with the default in-memory store; the same conversation is
played through a hand-written dict-dispatch bot (``_baseline.py``) in the same
run, interleaved with the engine, so machine noise hits both alike. Each call is
timed with ``time.perf_counter_ns``; the garbage collector is disabled inside
each timing window and run between windows. The table gives, per turn, the
minimum over repetitions of each repetition's median (the headline figure: the
repetition least disturbed by other processes on a shared machine), the median
over repetitions of the median, p90 and p99, and the ratio engine / hand-written
for the same statistic.
"""

from __future__ import annotations

import argparse
import gc
import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import _common as c
from _baseline import HandWritten

import dialogue

TARGET_US = 25.0

Handle = Callable[[str, str], Any]
Samples = list[list[int]]
"""Nanoseconds, one list per turn of the script."""


def timer_overhead_ns(n: int = 20_000) -> float:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(n):
        t0 = clock()
        samples.append(clock() - t0)
    return c.median(samples)


def run_block(
    handle: Handle,
    reset: Callable[[str], None],
    prefix: str,
    sessions: int,
    script: Sequence[str] = c.SCRIPT,
) -> Samples:
    """Play the script in ``sessions`` new sessions; time each turn; forget the sessions."""
    clock = time.perf_counter_ns
    ids = [f"{prefix}-{i}" for i in range(sessions)]
    samples: Samples = [[0] * sessions for _ in script]
    gc.collect()
    gc.disable()
    try:
        for j, sid in enumerate(ids):
            for i, text in enumerate(script):
                t0 = clock()
                handle(sid, text)
                samples[i][j] = clock() - t0
    finally:
        gc.enable()
    for sid in ids:
        reset(sid)
    return samples


def summarize(
    samples: Samples, action_turns: frozenset[int] = c.ACTION_TURNS
) -> dict[str, tuple[float, float, float]]:
    """(p50, p90, p99) in microseconds, per turn and per turn averaged over a conversation.

    ``all turns`` is, for each session, its five turns' total divided by five
    (pooling the raw turns would put the median in the gap between rule turns
    and action turns); ``rule-only turns`` likewise over the turns with no action.
    """
    groups: dict[str, list[float]] = {f"turn {i + 1}": list(s) for i, s in enumerate(samples)}
    rules = [s for i, s in enumerate(samples) if i not in action_turns]
    groups["all turns"] = [sum(turns) / len(samples) for turns in zip(*samples, strict=True)]
    groups["rule-only turns"] = [sum(turns) / len(rules) for turns in zip(*rules, strict=True)]
    out = {}
    for name, values in groups.items():
        ordered = sorted(values)
        out[name] = tuple(c.percentile(ordered, q) / 1000 for q in (50, 90, 99))
    return out  # type: ignore[return-value]


def check_same_replies(
    engine: dialogue.Engine, hand: HandWritten, script: Sequence[str] = c.SCRIPT
) -> None:
    """The two bots must say the same thing, or the comparison means nothing."""
    number = re.compile(r"\bR\d+\b")
    for i, text in enumerate(script):
        ours = [number.sub("R#", r) for r in engine.handle("check", text).replies]
        theirs = [number.sub("R#", r) for r in hand.handle("check", text)]
        if ours != theirs:
            sys.exit(f"turn {i + 1} ({text!r}): engine said {ours}, hand-written said {theirs}")
    engine.reset("check")
    hand.reset("check")


def combine(runs: Sequence[dict[str, tuple[float, float, float]]]) -> dict[str, list[float]]:
    """Per group: [min of p50s, median of p50s, median of p90s, median of p99s]."""
    out = {}
    for name in runs[0]:
        p50s = [r[name][0] for r in runs]
        out[name] = [
            min(p50s),
            c.median(p50s),
            c.median([r[name][1] for r in runs]),
            c.median([r[name][2] for r in runs]),
        ]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run for smoke tests")
    parser.add_argument("--sessions", type=int, help="sessions per repetition")
    parser.add_argument("--reps", type=int, help="repetitions")
    args = parser.parse_args(argv)
    sessions = args.sessions or (300 if args.quick else 2000)
    reps = args.reps or (3 if args.quick else 7)
    warmup = 100 if args.quick else 500

    engine = dialogue.Engine.from_path(c.FLOW, llm=None)
    inline = dialogue.Engine.from_path(c.FLOW, llm=None, action_threads=False)
    hand = HandWritten()
    check_same_replies(engine, hand)
    check_same_replies(inline, hand)
    bots: dict[str, tuple[Handle, Callable[[str], None]]] = {
        "engine": (engine.handle, engine.reset),
        "inline": (inline.handle, inline.reset),
        "hand": (hand.handle, hand.reset),
    }
    for name, (handle, reset) in bots.items():
        run_block(handle, reset, f"warm-{name}", warmup)

    runs: dict[str, list[dict[str, tuple[float, float, float]]]] = {n: [] for n in bots}
    for rep in range(reps):
        order = list(bots) if rep % 2 == 0 else list(reversed(bots))
        for name in order:
            handle, reset = bots[name]
            runs[name].append(summarize(run_block(handle, reset, f"{name}-{rep}", sessions)))
    overhead = timer_overhead_ns()
    engine.close()
    inline.close()

    base = combine(runs["hand"])
    tables = {name: rows_for(combine(runs[name]), base) for name in ("engine", "inline")}

    print("turn latency: Engine.handle on flows/customer_service.yaml (MemoryStore)")
    print("              vs a hand-written dict-dispatch bot, same run, same script")
    print(f"machine:  {c.machine()}")
    print(f"dialogue: {dialogue.__version__} from {dialogue.__file__}; {c.versions()}")
    print(
        f"method:   {reps} repetitions x {sessions:,} sessions x {len(c.SCRIPT)} turns per bot, "
        f"after {warmup} warm-up sessions;\n"
        "          the two bots interleaved (order alternating); gc disabled inside each timing\n"
        "          window, gc.collect() between windows; perf_counter_ns around each call\n"
        f"          (timer overhead {overhead:.0f} ns per call, not subtracted).\n"
        "          'p50 min' = minimum over repetitions of each repetition's median (the\n"
        "          headline: least disturbed by other processes); 'p50 med', 'p90', 'p99' =\n"
        "          median over repetitions of each repetition's percentile. Times in us.\n"
        "          [action] = the flow calls a business action on that turn (worker-thread hop).\n"
        "          'all turns' = a session's total time / 5 turns; 'rule-only turns' = its turns\n"
        "          2, 3, 5 / 3 (percentiles over sessions). ratio = engine / hand, same statistic."
    )
    print()
    headers = [
        "turn",
        "message",
        "p50 min",
        "p50 med",
        "p90",
        "p99",
        "hand p50 min",
        "hand p50 med",
        "ratio min",
        "ratio med",
    ]
    titles = {
        "engine": "Engine(...) defaults: sync actions in a worker thread (timeout enforced)",
        "inline": "Engine(..., action_threads=False): sync actions called inline",
    }
    for name, rows in tables.items():
        print(titles[name])
        print(c.table(headers, rows))
        print()
    eng = combine(runs["engine"])
    rules, typical = eng["rule-only turns"][0], eng["rule-only turns"][1]
    inline_all = combine(runs["inline"])["all turns"][0]
    verdict = "PASS" if rules <= TARGET_US else "FAIL"
    print(
        f"rule turns of this mixed conversation (turns without a business action, next to\n"
        f"        threaded action turns; min over repetitions) <= {TARGET_US:g} us: "
        f"{verdict}\n        ({rules:.1f} us; median over repetitions {typical:.1f} us). "
        f"All turns with inline actions: {inline_all:.1f} us.\n"
        "        (The rule-turn target itself: bench/rule_turns.py, a conversation with no action.)"
    )
    return 0


def rows_for(eng: dict[str, list[float]], base: dict[str, list[float]]) -> list[list[object]]:
    rows: list[list[object]] = []
    for i, label in enumerate(eng):
        what = c.SCRIPT[i] if i < len(c.SCRIPT) else ""
        if i in c.ACTION_TURNS:
            what += "  [action]"
        e, b = eng[label], base[label]
        rows.append([label, what, *e, b[0], b[1], f"{e[0] / b[0]:.0f}x", f"{e[1] / b[1]:.0f}x"])
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
