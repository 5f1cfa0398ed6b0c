"""Pictures of a flow: Mermaid state diagrams (and Graphviz DOT)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dialogue.compiled import CompiledFlow, CState


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
    if st.no_match.goto is not None and _waits(st):
        yield Edge(name, st.no_match.goto, f"{st.no_match.max} no-matches")
    if st.flow is not None:
        yield Edge(name, name, f"runs flow {st.flow}")


def _waits(st: CState) -> bool:
    """Whether the state can wait for a message, and so meet a no-match: a final
    state, or one whose ``next`` always moves on, only waits to collect its slots."""
    if st.collect:
        return True
    if st.final:
        return False
    for t in st.next:
        if t.goto is None:
            return True  # taken, it stays here
        if t.cond is None:
            return False
    return True


def _id(name: str) -> str:
    return "any_state" if name == ANY else name


def _mermaid_text(text: str) -> str:
    """Text after a ``:`` in Mermaid: one line; ``;`` would end the statement, so it
    is written as the entity ``#59;``. Further colons are fine (Mermaid 11)."""
    return " ".join(text.splitlines()).replace(";", "#59;")


def _dot_text(text: str) -> str:
    """Text inside a DOT ``"..."`` string: one line, backslashes and quotes escaped."""
    return " ".join(text.splitlines()).replace("\\", "\\\\").replace('"', '\\"')


def mermaid(flow: CompiledFlow) -> str:
    """A Mermaid ``stateDiagram-v2`` of the flow."""
    about = f": {_mermaid_text(flow.description)}" if flow.description else ""
    lines = ["stateDiagram-v2", f"    %% flow {flow.name}{about}"]
    lines.append(f"    [*] --> {flow.start}")
    for e in edges(flow):
        lines.append(f"    {_id(e.source)} --> {_id(e.dest)}: {_mermaid_text(e.label)}")
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
        lines.append(f'    "{source}" -> "{e.dest}" [label="{_dot_text(e.label)}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"
