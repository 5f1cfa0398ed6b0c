"""Pictures of a flow: Mermaid state diagrams (and Graphviz DOT).

The edges are the flow's moves (``CompiledFlow.moves``, enumerated once by the
compiler). Every edge carries the ``key`` under which flow coverage counts the
move, so a coverage report can mark what no test took: ``mermaid(flow,
coverage=report)``, ``dialogue graph --coverage FILE``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from dialogue.runtime.compiled import ANY, CompiledFlow

__all__ = ["ANY", "CoverageView", "Edge", "dot", "edges", "mermaid"]


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    dest: str
    label: str
    key: str = ""
    """The move's name in flow coverage (``Move.key``); ``""`` for the ``runs flow``
    loop, which is not a move."""


class Counted(Protocol):
    """One kind of item of one flow in a coverage report."""

    @property
    def covered(self) -> int: ...
    @property
    def total(self) -> int: ...
    @property
    def missing(self) -> Sequence[str]: ...


class CoverageView(Protocol):
    """What a diagram reads of a coverage report (``dialogue.testing.CoverageReport``)."""

    def category(self, flow: str, kind: str) -> Counted: ...


def edges(flow: CompiledFlow) -> Iterator[Edge]:
    """Every labelled move of a flow, in file order (each once): a transition without
    ``goto`` of ``on`` loops back to its state; one of ``next`` is not drawn. A state
    that runs a sub-flow also gets a ``runs flow`` loop."""
    by_source: dict[str, list[Edge]] = {}
    for move in flow.moves:
        if move.dest is None and move.kind != "on":
            continue
        edge = Edge(move.source, move.dest or move.source, move.label, move.key)
        by_source.setdefault(move.source, []).append(edge)
    seen: set[Edge] = set()
    for name in [*flow.states, ANY]:
        st = flow.states.get(name)
        loop = [] if st is None or st.flow is None else [Edge(name, name, f"runs flow {st.flow}")]
        for edge in by_source.get(name, []) + loop:
            if edge not in seen:
                seen.add(edge)
                yield edge


def _id(name: str) -> str:
    return "any_state" if name == ANY else name


def _mermaid_text(text: str) -> str:
    """Text after a ``:`` in Mermaid: one line; ``;`` would end the statement, so it
    is written as the entity ``#59;``. Further colons are fine (Mermaid 11)."""
    return " ".join(text.splitlines()).replace(";", "#59;")


def _dot_text(text: str) -> str:
    """Text inside a DOT ``"..."`` string: one line, backslashes and quotes escaped."""
    return " ".join(text.splitlines()).replace("\\", "\\\\").replace('"', '\\"')


@dataclass(frozen=True, slots=True)
class _Uncovered:
    """What a coverage report says no test reached in one flow."""

    states: frozenset[str] = frozenset()
    moves: frozenset[str] = frozenset()
    note: str = ""

    @classmethod
    def of(cls, flow: CompiledFlow, coverage: CoverageView | None) -> _Uncovered:
        if coverage is None:
            return cls()
        states = coverage.category(flow.name, "states")
        moves = coverage.category(flow.name, "transitions")
        note = (
            f"coverage: {states.covered}/{states.total} states, "
            f"{moves.covered}/{moves.total} transitions; uncovered ones are marked"
        )
        return cls(frozenset(states.missing), frozenset(moves.missing), note)


def mermaid(flow: CompiledFlow, coverage: CoverageView | None = None) -> str:
    """A Mermaid ``stateDiagram-v2`` of the flow.

    With ``coverage``, states no test entered get the class ``uncovered`` (red,
    dashed) and moves no test took are labelled ``(not covered)``: Mermaid's state
    diagrams cannot style a single transition."""
    cov = _Uncovered.of(flow, coverage)
    about = f": {_mermaid_text(flow.description)}" if flow.description else ""
    lines = ["stateDiagram-v2", f"    %% flow {flow.name}{about}"]
    if cov.note:
        lines.append(f"    %% {cov.note}")
    lines.append(f"    [*] --> {flow.start}")
    for e in edges(flow):
        mark = " (not covered)" if e.key in cov.moves else ""
        lines.append(f"    {_id(e.source)} --> {_id(e.dest)}: {_mermaid_text(e.label)}{mark}")
    for name, st in flow.states.items():
        if st.final:
            lines.append(f"    {name} --> [*]")
    if any(g.goto for g in flow.globals.values()):
        lines.append('    state "any state (global intents)" as any_state')
    uncovered = [name for name in flow.states if name in cov.states]
    if uncovered:
        lines.append("    classDef uncovered fill:#fdecea,stroke:#c62828,stroke-dasharray:5")
        lines.append(f"    class {','.join(uncovered)} uncovered")
    return "\n".join(lines) + "\n"


_RED = 'color=red, fontcolor=red, style="rounded,dashed"'


def dot(flow: CompiledFlow, coverage: CoverageView | None = None) -> str:
    """A Graphviz DOT digraph of the flow.

    With ``coverage``, states no test entered and moves no test took are drawn
    red and dashed."""
    cov = _Uncovered.of(flow, coverage)
    lines = [f'digraph "{flow.name}" {{', "    rankdir=LR;", "    node [shape=box, style=rounded];"]
    if cov.note:
        lines.append(f"    // {cov.note}")
    lines.append('    "__start" [shape=point];')
    lines.append(f'    "__start" -> "{flow.start}";')
    for name, st in flow.states.items():
        attrs = ["peripheries=2"] if st.final else []
        attrs += [_RED] if name in cov.states else []
        if attrs:
            lines.append(f'    "{name}" [{", ".join(attrs)}];')
    for e in edges(flow):
        source = "any state" if e.source == ANY else e.source
        mark = ", color=red, fontcolor=red, style=dashed" if e.key in cov.moves else ""
        lines.append(f'    "{source}" -> "{e.dest}" [label="{_dot_text(e.label)}"{mark}];')
    lines.append("}")
    return "\n".join(lines) + "\n"
