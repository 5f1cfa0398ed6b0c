"""Cycles of states that no user message interrupts.

A turn moves along ``next`` transitions (and a failed action's ``on_error``)
without waiting until a state asks a question or waits idle; a cycle of such
moves makes every turn that reaches it fail after 64 moves (``FlowLoopError``).
This finds them before the flow runs:

* a cycle whose every move is certain (each state's first ``next`` transition,
  with no ``if``) is an **error** (``input_cycle``): the flow can never work;
* a cycle that conditions or failed actions could take is a **warning**
  (``possible_input_cycle``), which ``dialogue validate --strict`` makes fatal.

A state breaks a cycle when it runs a sub-flow, is final, or collects a slot
that some state or transition on the cycle clears (so it asks again). A state
collecting a slot nothing on the cycle clears asks only the first time round.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from dialogue import schema
from dialogue.authoring.yaml_source import SourceMap
from dialogue.errors import Diagnostic

Graph = Mapping[str, Mapping[str, bool]]  # state -> {next state: certain move}


def input_cycles(flow: schema.Flow, source: SourceMap) -> list[Diagnostic]:
    """An error or a warning for each cycle of moves with no message between them."""
    found: list[Diagnostic] = []
    graph = _moves(flow)
    for component in _cycles(flow, graph):
        certain = {
            s: {d: c for d, c in graph[s].items() if c and d in component} for s in component
        }
        sure = any(len(c) > 1 or _self_loop(certain, next(iter(c))) for c in _sccs(certain))
        shown = _order(component, graph, flow)
        path = " -> ".join([*shown, shown[0]])
        first = shown[0]
        if sure:
            message = f"states {path} move in a circle with no question or wait between them"
            hint = (
                "every turn that reaches them fails after 64 moves: collect a slot, "
                "wait for a message ('on') or end with 'final: true' on the way"
            )
            found.append(
                source.diagnostic(("states", first), "input_cycle", message, hint, at_key=True)
            )
        else:
            message = f"states {path} may move in a circle with no question or wait between them"
            hint = (
                "if their conditions keep holding, the turn fails after 64 moves: "
                "make sure one of them asks or waits"
            )
            found.append(
                source.diagnostic(
                    ("states", first),
                    "possible_input_cycle",
                    message,
                    hint,
                    severity="warning",
                    at_key=True,
                )
            )
    return found


def _moves(flow: schema.Flow) -> dict[str, dict[str, bool]]:
    """Moves a turn takes without waiting: ``next`` transitions (certain when the first
    has no ``if``) and the ``on_error`` of actions called on entry or on the way."""
    graph: dict[str, dict[str, bool]] = {}
    for name, st in flow.states.items():
        edges: dict[str, bool] = {}
        if st.final or st.flow is not None:
            graph[name] = edges
            continue
        for i, t in enumerate(st.next):
            if t.goto is not None and t.goto in flow.states:
                certain = i == 0 and t.if_ is None
                edges[t.goto] = edges.get(t.goto, False) or certain
        calls = [st.call, *(t.call for t in st.next)]
        for call in calls:
            if call is not None and call.on_error in flow.states:
                edges.setdefault(call.on_error, False)
        graph[name] = edges
    return graph


def _cycles(flow: schema.Flow, graph: Graph) -> Iterator[set[str]]:
    """Groups of states that can move round without a message, file order."""
    nodes = set(flow.states)
    while True:
        sub = {s: {d: c for d, c in graph[s].items() if d in nodes} for s in nodes}
        loops = [c for c in _sccs(sub) if len(c) > 1 or _self_loop(sub, next(iter(c)))]
        asking = {s for c in loops for s in c if _asks_again(flow, s, c)}
        if not asking:
            break
        nodes -= asking
    yield from sorted(loops, key=lambda c: min(list(flow.states).index(s) for s in c))


def _asks_again(flow: schema.Flow, name: str, cycle: set[str]) -> bool:
    st = flow.states[name]
    if not st.collect:
        return False
    cleared: set[str] = set()
    for other in cycle:
        o = flow.states[other]
        cleared.update(o.clear)
        for t in o.next:
            cleared.update(t.clear)
    return bool(set(st.collect) & cleared)


def _has_cycle(graph: Graph) -> bool:
    sub = {s: {d: c for d, c in edges.items() if d in graph} for s, edges in graph.items()}
    return any(len(c) > 1 or _self_loop(sub, next(iter(c))) for c in _sccs(sub))


def _self_loop(graph: Graph, node: str) -> bool:
    return node in graph.get(node, {})


def _sccs(graph: Graph) -> list[set[str]]:
    """Strongly connected components (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, {})))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.add(top)
                    if top == node:
                        break
                out.append(component)
    return out


def _order(component: set[str], graph: Graph, flow: schema.Flow) -> list[str]:
    """The cycle's states in the order the moves visit them, from the first in the file."""
    first = min(component, key=list(flow.states).index)
    path, node = [first], first
    while True:
        options = [d for d in graph[node] if d in component]
        nxt = next((d for d in options if graph[node][d]), options[0] if options else first)
        if nxt in path:
            return path
        path.append(nxt)
        node = nxt
