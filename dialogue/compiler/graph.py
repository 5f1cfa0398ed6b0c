"""Pictures of a flow: Mermaid state diagrams (and Graphviz DOT).

Every edge carries the ``key`` under which flow coverage counts the move
(``dialogue.testing.coverage``), so a coverage report can mark what no test
took: ``mermaid(flow, coverage=report)``, ``dialogue graph --coverage FILE``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dialogue.errors import ConfigurationError
from dialogue.runtime.compiled import Bot, CompiledFlow, CState

if TYPE_CHECKING:
    from dialogue.testing.coverage_report import CoverageReport


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    dest: str
    label: str
    key: str = ""
    """The move's name in flow coverage: a transition's label (``menu.on.track[0]``),
    ``intents.NAME.goto``, ``STATE.call.ACTION.on_error``,
    ``STATE.collect.SLOT.on_exhausted`` or ``STATE.no_match.goto``; ``""`` for the
    ``runs flow`` loop, which is not a move."""


ANY = "*any*"
"""Source of edges that global intents add to every state."""


def edges(flow: CompiledFlow) -> Iterator[Edge]:
    """Every labelled move of a flow, in file order (each once)."""
    seen: set[Edge] = set()
    for name, st in flow.states.items():
        for edge in _state_edges(flow, name, st):
            if edge not in seen:
                seen.add(edge)
                yield edge
    for name, g in flow.globals.items():
        if g.goto is not None:
            yield Edge(ANY, g.goto, name, f"intents.{name}.goto")


def _state_edges(flow: CompiledFlow, name: str, st: CState) -> Iterator[Edge]:
    for intent, transitions in st.on.items():
        for t in transitions:
            label = intent if t.cond is None else f"{intent} [{t.cond.source}]"
            yield Edge(name, t.goto or name, label, t.label)
    for t in st.next:
        if t.goto is not None:
            label = "next" if t.cond is None else f"[{t.cond.source}]"
            yield Edge(name, t.goto, label, t.label)
    moves = [*st.next, *(t for ts in st.on.values() for t in ts)]
    for call in [st.call, *(t.call for t in moves)]:
        if call is not None:
            key = f"{name}.call.{call.action}.on_error"
            yield Edge(name, call.on_error or flow.start, f"{call.action} fails", key)
    for slot in st.collect:
        target = flow.slots[slot].on_exhausted
        if target is not None:
            key = f"{name}.collect.{slot}.on_exhausted"
            yield Edge(name, target, f"{slot} attempts exhausted", key)
    if st.no_match.goto is not None and waits_idle(st):
        label = f"{st.no_match.max} no-matches"
        yield Edge(name, st.no_match.goto, label, f"{name}.no_match.goto")
    if st.flow is not None:
        yield Edge(name, name, f"runs flow {st.flow}")


def waits_idle(st: CState) -> bool:
    """Whether the state can wait for a message with no question of its own pending,
    so that a message can be a no-match there. A final state never waits; one whose
    ``next`` always moves on waits only for the answers to its ``collect``, and an
    answer to a question is either a value or invalid (the reprompt ladder)."""
    if st.final:
        return False
    for t in st.next:
        if t.goto is None:
            return True  # taken, it stays here
        if t.cond is None:
            return False
    return True


def receives_messages(st: CState) -> bool:
    """Whether a message can arrive in this state: it asks for a slot, or waits idle."""
    return bool(st.collect) or waits_idle(st)


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
    def of(cls, flow: CompiledFlow, coverage: CoverageReport | None) -> _Uncovered:
        if coverage is None:
            return cls()
        states = coverage.category(flow.name, "states")
        moves = coverage.category(flow.name, "transitions")
        note = (
            f"coverage: {states.covered}/{states.total} states, "
            f"{moves.covered}/{moves.total} transitions; uncovered ones are marked"
        )
        return cls(frozenset(states.missing), frozenset(moves.missing), note)


def mermaid(flow: CompiledFlow, coverage: CoverageReport | None = None) -> str:
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


def dot(flow: CompiledFlow, coverage: CoverageReport | None = None) -> str:
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


def read_coverage(bot: Bot, path: str | Path) -> CoverageReport:
    """The coverage report saved at ``path`` (``FlowCoverage.to_json``), for ``bot``;
    raises ``ConfigurationError`` when the file cannot be read or is not one."""
    from dialogue.testing.coverage import FlowCoverage

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigurationError(
            f"{path}: cannot read flow coverage: {exc}",
            hint="give the JSON file written by the flow coverage report",
        ) from exc
    return FlowCoverage.from_json(bot, data, source=str(path)).report()
