"""Pictures of a flow: Mermaid state diagrams (and Graphviz DOT)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dialogue.compiler import CompiledFlow, CState


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    dest: str
    label: str


ANY = "*any*"
"""Source of edges that global intents add to every state."""


def edges(flow: CompiledFlow) -> Iterator[Edge]:
    """Every labelled move of a flow, in file order."""
    for name, st in flow.states.items():
        yield from _state_edges(flow, name, st)
    for name, g in flow.globals.items():
        if g.goto is not None:
            yield Edge(ANY, g.goto, name)


def _state_edges(flow: CompiledFlow, name: str, st: CState) -> Iterator[Edge]:
    for intent, transitions in st.on.items():
        for t in transitions:
            label = intent if t.cond is None else f"{intent} [{t.cond.source}]"
            yield Edge(name, t.goto or name, label)
    for t in st.next:
        if t.goto is not None:
            yield Edge(name, t.goto, "next" if t.cond is None else f"[{t.cond.source}]")
    for call in [st.call] + [t.call for t in st.next]:
        if call is not None:
            yield Edge(name, call.on_error or flow.start, f"{call.action} fails")
    for slot in st.collect:
        target = flow.slots[slot].on_exhausted
        if target is not None:
            yield Edge(name, target, f"{slot} attempts exhausted")
    if st.no_match.goto is not None:
        yield Edge(name, st.no_match.goto, f"{st.no_match.max} no-matches")
    if st.flow is not None:
        yield Edge(name, name, f"runs flow {st.flow}")


def _id(name: str) -> str:
    return "any_state" if name == ANY else name


def _escape(label: str) -> str:
    return label.replace('"', "'").replace(":", " ").replace("\n", " ")


def mermaid(flow: CompiledFlow) -> str:
    """A Mermaid ``stateDiagram-v2`` of the flow."""
    lines = ["stateDiagram-v2", f"    %% flow {flow.name}: {_escape(flow.description)}"]
    lines.append(f"    [*] --> {flow.start}")
    for e in edges(flow):
        lines.append(f"    {_id(e.source)} --> {_id(e.dest)}: {_escape(e.label)}")
    for name, st in flow.states.items():
        if st.final:
            lines.append(f"    {name} --> [*]")
    if any(g.goto for g in flow.globals.values()):
        lines.append('    state "any state (global intents)" as any_state')
    return "\n".join(lines) + "\n"


def dot(flow: CompiledFlow) -> str:
    """A Graphviz DOT digraph of the flow."""
    lines = [f'digraph "{flow.name}" {{', "    rankdir=LR;", "    node [shape=box, style=rounded];"]
    lines.append('    "__start" [shape=point];')
    lines.append(f'    "__start" -> "{flow.start}";')
    for name, st in flow.states.items():
        if st.final:
            lines.append(f'    "{name}" [peripheries=2];')
    for e in edges(flow):
        source = "any state" if e.source == ANY else e.source
        lines.append(f'    "{source}" -> "{e.dest}" [label="{_escape(e.label)}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"
