"""Designer patterns: Python's backtracking ``re`` against RE2 (what flows run on).

    python bench/regex_engine.py            # re up to 24 characters, RE2 up to 100,000
    python bench/regex_engine.py --quick    # re up to 20 characters

``^(\\w+\\s?)+$`` searched in ``"a" * n + "!"`` (no match: the backtracking engine
tries every way to split the a's). Each time is the best of 3 runs with
``time.perf_counter``. The same pattern goes through `dialogue.regex.compile_pattern`
(RE2, with ``\\w`` rewritten to ``[\\p{L}\\p{N}_]``) as intents and slots use it.
Target: RE2 under 1 ms at n = 26, growing linearly.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable

import _common as c

from dialogue.regex import compile_pattern

PATTERN = r"^(\w+\s?)+$"


def best(search: Callable[[str], object], text: str, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        search(text)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    slow = re.compile(PATTERN)
    fast = compile_pattern(PATTERN, ignorecase=True)
    print(c.machine())
    print(f"pattern {PATTERN!r} on 'a' * n + '!' (best of 3)\n")
    rows = []
    for n in (16, 18, 20) if args.quick else (16, 18, 20, 22, 24):
        text = "a" * n + "!"
        rows.append(
            [
                str(n),
                f"{best(slow.search, text) * 1e3:.1f} ms",
                f"{best(fast.search, text) * 1e6:.1f} us",
            ]
        )
    for n in (26, 1_000, 100_000):
        text = "a" * n + "!"
        rows.append([str(n), "-", f"{best(fast.search, text) * 1e6:.1f} us"])
    print(c.table(["n", "re (backtracking)", "RE2"], rows))
    at_26 = best(fast.search, "a" * 26 + "!")
    print(f"\nRE2 at n=26: {at_26 * 1e6:.1f} us -> {'PASS' if at_26 < 1e-3 else 'FAIL'} (< 1 ms)")


if __name__ == "__main__":
    main()
