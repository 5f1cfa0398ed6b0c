"""What flow coverage found: ``CoverageReport``, for a terminal and as JSON.

A report is a tuple of ``Category`` values, one per flow (in the bot's order)
and kind (in ``KINDS`` order), each with the items covered and missing in the
order they are written in the flow. ``FlowCoverage.report()`` makes one; what
the kinds and items are is documented in ``dialogue.testing.coverage``.

The JSON shape (``CoverageReport.to_json``; ``FlowCoverage.from_json`` reads it
back)::

    {
      "format": "dialogue-flow-coverage",
      "version": 1,
      "kinds": ["states", "transitions", "intents", "reprompts", "no_matches", "llm", "prompts"],
      "covered": 20, "total": 32, "percent": 62.5,
      "flows": {
        "<flow>": {
          "covered": 15, "total": 21, "percent": 71.43,
          "kinds": {
            "<kind>": {
              "covered": 4, "total": 5, "percent": 80.0,
              "covered_items": ["welcome", "menu", "tracking", "goodbye"],
              "missing": ["handoff"]
            }
          }
        }
      }
    }

Every flow of the bot appears, with every kind (``total`` 0 when the flow has
no such item). Percentages are rounded to two decimals (100.0 when ``total``
is 0); counts and item lists are exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

FORMAT = "dialogue-flow-coverage"
VERSION = 1
KINDS: tuple[str, ...] = (
    "states",
    "transitions",
    "intents",
    "reprompts",
    "no_matches",
    "llm",
    "prompts",
)
"""What is counted, in report order (see ``dialogue.testing.coverage``)."""

WIDTH = 100
"""Terminal report width: missing items wrap at it."""


def percent(covered: int, total: int) -> float:
    """Covered share in percent; 100.0 when there is nothing to cover."""
    return 100.0 if total == 0 else 100.0 * covered / total


def format_percent(covered: int, total: int) -> str:
    """``80.0%``; never ``100.0%`` while something is missing (nor ``0.0%`` once
    something is covered)."""
    value = percent(covered, total)
    if covered < total:
        value = min(value, 99.9)
    if covered > 0:
        value = max(value, 0.1)
    return f"{value:.1f}%"


@dataclass(frozen=True, slots=True)
class Category:
    """One kind of item in one flow."""

    flow: str
    kind: str
    covered_items: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def covered(self) -> int:
        return len(self.covered_items)

    @property
    def total(self) -> int:
        return len(self.covered_items) + len(self.missing)

    @property
    def percent(self) -> float:
        return percent(self.covered, self.total)

    def to_json(self) -> dict[str, Any]:
        return {
            **_counts(self.covered, self.total),
            "covered_items": list(self.covered_items),
            "missing": list(self.missing),
        }


def _counts(covered: int, total: int) -> dict[str, Any]:
    return {"covered": covered, "total": total, "percent": round(percent(covered, total), 2)}


def _sums(categories: Iterable[Category]) -> tuple[int, int]:
    found = list(categories)
    return sum(c.covered for c in found), sum(c.total for c in found)


@dataclass(frozen=True)
class CoverageReport:
    """Flow coverage: ``percent`` overall, ``categories`` per flow and kind."""

    categories: tuple[Category, ...]

    @property
    def flows(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.flow for c in self.categories))

    @property
    def covered(self) -> int:
        return _sums(self.categories)[0]

    @property
    def total(self) -> int:
        return _sums(self.categories)[1]

    @property
    def percent(self) -> float:
        """Covered items / all items, in percent, over every flow and kind."""
        return percent(*_sums(self.categories))

    def category(self, flow: str, kind: str) -> Category:
        """One flow's items of one kind (empty for a flow or kind it does not know)."""
        for c in self.categories:
            if c.flow == flow and c.kind == kind:
                return c
        return Category(flow, kind, (), ())

    def flow_percent(self, flow: str) -> float:
        return percent(*_sums(c for c in self.categories if c.flow == flow))

    def to_json(self) -> dict[str, Any]:
        """The stable JSON shape documented in this module's docstring."""
        flows: dict[str, Any] = {}
        for flow in self.flows:
            mine = [c for c in self.categories if c.flow == flow]
            flows[flow] = {
                **_counts(*_sums(mine)),
                "kinds": {c.kind: c.to_json() for c in mine},
            }
        return {
            "format": FORMAT,
            "version": VERSION,
            "kinds": list(KINDS),
            **_counts(*_sums(self.categories)),
            "flows": flows,
        }

    def render_terminal(self) -> str:
        """A table: a line per flow and per kind it has (covered/total, percent, missing)."""
        rows: list[Row] = [("flow / kind", "covered", "percent", ("missing",))]
        for flow in self.flows:
            mine = [c for c in self.categories if c.flow == flow]
            covered, total = _sums(mine)
            rows.append((flow, f"{covered}/{total}", format_percent(covered, total), ()))
            for c in mine:
                if c.total:
                    counts = f"{c.covered}/{c.total}"
                    share = format_percent(c.covered, c.total)
                    rows.append((f"  {c.kind}", counts, share, c.missing))
        covered, total = self.covered, self.total
        rows.append(("TOTAL", f"{covered}/{total}", format_percent(covered, total), ()))
        head = f"Flow coverage: {format_percent(covered, total)} ({covered} of {total} items)"
        return "\n".join([head, "", *_table(rows)]) + "\n"


Row = tuple[str, str, str, tuple[str, ...]]
"""Name, covered/total, percent, missing items."""


def _table(rows: list[Row]) -> list[str]:
    """Left-aligned names, right-aligned numbers, missing items wrapped under their column."""
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    w2 = max(len(r[2]) for r in rows)
    indent = w0 + w1 + w2 + 6
    out = []
    for name, counts, share, missing in rows:
        line = f"{name:<{w0}}  {counts:>{w1}}  {share:>{w2}}"
        wrapped = _wrap(missing, max(WIDTH - indent, 30)) or [""]
        out.append(f"{line}  {wrapped[0]}".rstrip())
        out += [" " * indent + more for more in wrapped[1:]]
    return out


def _wrap(items: tuple[str, ...], width: int) -> list[str]:
    """Items joined by ", " in lines of at most ``width`` (an item is never split)."""
    lines: list[str] = []
    for i, item in enumerate(items):
        text = item + ("," if i < len(items) - 1 else "")
        if lines and len(lines[-1]) + 1 + len(text) <= width:
            lines[-1] += " " + text
        else:
            lines.append(text)
    return lines
