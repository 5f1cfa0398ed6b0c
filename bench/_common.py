"""Helpers shared by the benchmark scripts: paths, the conversation, statistics, tables."""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FLOW = REPO / "flows" / "customer_service.yaml"

SCRIPT: tuple[str, ...] = (
    "where is my order AB123456",
    "I want to return it",
    "it arrived broken",
    "yes",
    "help",
)
"""One conversation with flows/customer_service.yaml, one message per turn."""

ACTION_TURNS = frozenset({0, 3})
"""Turns of SCRIPT whose flow calls a business action (lookup_order, create_return)."""


def percentile(ordered: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of sorted data, linear between closest ranks."""
    if not ordered:
        return math.nan
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    return percentile(sorted(values), 50)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        parts = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(row) for row in cells[1:]])


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def machine() -> str:
    """Python, OS, CPU model and the number of CPUs this process may run on (as ``nproc``)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next(
                (line.split(":", 1)[1].strip() for line in f if line.startswith("model name")),
                model,
            )
    except OSError:
        pass
    return (
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}, nproc={cpus}, {model}"
    )


def versions() -> str:
    """Versions of the libraries a turn runs through."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in ("jinja2", "transitions", "pydantic", "pyyaml"):
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            out.append(f"{name} -")
    return ", ".join(out)
