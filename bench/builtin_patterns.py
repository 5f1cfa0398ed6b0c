"""The package's own regular expressions (run by Python's ``re``) on worst-case text.

    python bench/builtin_patterns.py            # n = 1,000 / 2,000 / 4,000 / 8,000 characters
    python bench/builtin_patterns.py --quick    # n up to 2,000

Designer patterns run on RE2 (``dialogue.regex``); the built-in ones (e-mail and
phone slots, the redactor's e-mail/card/phone, the leak check's codes) stay on
``re`` because a short message costs several times less there. This measures
that they are at worst polynomial, not exponential: each is searched (``finditer``
to the end, as the callers do) in an input built to make it backtrack, at growing
lengths. ``growth`` is time(2n) / time(n): about 2 for linear, 4 for quadratic; an
exponential pattern would not finish. Each time is the best of 3 runs.
``at 2,000`` is the time at the default ``settings.max_text_length``.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable

import _common as c

from dialogue import redact
from dialogue.runtime import leak, slots

CASES: list[tuple[str, re.Pattern[str], Callable[[int], str]]] = [
    ("slot email", slots._EMAIL_RE, lambda n: "a." * (n // 2) + "@"),
    ("slot email, many @", slots._EMAIL_RE, lambda n: "a@" * (n // 2)),
    ("slot email, dotted domain", slots._EMAIL_RE, lambda n: "x@" + "a." * (n // 2) + "1"),
    ("slot phone, spaced digits", slots._PHONE_RE, lambda n: "1 " * (n // 2) + "x"),
    ("slot phone, dashes", slots._PHONE_RE, lambda n: "1-" * (n // 2) + "/1"),
    ("redact email", re.compile(redact.EMAIL), lambda n: "a." * (n // 2) + "@"),
    ("redact email, dotted", re.compile(redact.EMAIL), lambda n: "a@" + "b." * (n // 2) + "1"),
    ("redact card", re.compile(redact.CARD), lambda n: "1 " * (n // 2) + "x"),
    ("redact phone", re.compile(redact.PHONE), lambda n: "1 " * (n // 2) + ".5"),
    ("redact phone, parens", re.compile(redact.PHONE), lambda n: "1()" * (n // 3) + "x"),
    ("leak code words, one long word", leak._WORD6, lambda n: "a" * n),
    ("leak code words, many words", leak._WORD6, lambda n: "abcde1 " * (n // 7)),
    ("leak unit", leak._UNIT, lambda n: "ab " * (n // 3)),
]


def best(pattern: re.Pattern[str], text: str, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in pattern.finditer(text):
            pass
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = [1000, 2000] if args.quick else [1000, 2000, 4000, 8000]
    print(c.machine())
    header = "".join(f"{n:>12,}" for n in sizes)
    print(f"{'pattern, input':34}{header}  {'growth':>7}  verdict")
    worst_growth, worst_at_2000 = 0.0, 0.0
    for name, pattern, make in CASES:
        ms = [best(pattern, make(n)) * 1000 for n in sizes]
        growth = ms[-1] / ms[-2] if ms[-2] > 0 else float("nan")
        verdict = "linear" if growth < 3 else "quadratic" if growth < 6 else "WORSE"
        worst_growth = max(worst_growth, growth)
        worst_at_2000 = max(worst_at_2000, ms[sizes.index(2000)])
        cells = "".join(f"{m:>10.3f}ms" for m in ms)
        print(f"{name:34}{cells}  {growth:>7.2f}  {verdict}")
    print(f"builtin_patterns worst_growth={worst_growth:.2f} worst_ms_at_2000={worst_at_2000:.2f}")


if __name__ == "__main__":
    main()
