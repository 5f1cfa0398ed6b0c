"""A flow's moves, enumerated once: the machine, diagrams, coverage and lint read them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from dialogue.runtime.compiled import ANY, CGlobal, CSlot, CState, Move


def flow_moves(
    states: Mapping[str, CState],
    slots: Mapping[str, CSlot],
    globals_: Mapping[str, CGlobal],
    *,
    start: str,
) -> tuple[Move, ...]:
    """Every move, in file order, each once (see ``CompiledFlow.moves``)."""
    found: dict[Move, None] = {}
    for name, st in states.items():
        found.update(dict.fromkeys(_state_moves(name, st, slots, start)))
    for name, g in globals_.items():
        if g.goto is not None:
            found[Move(ANY, g.goto, "global", f"intents.{name}.goto", name)] = None
    return tuple(found)


def _state_moves(name: str, st: CState, slots: Mapping[str, CSlot], start: str) -> Iterator[Move]:
    for intent, transitions in st.on.items():
        for t in transitions:
            label = intent if t.cond is None else f"{intent} [{t.cond.source}]"
            yield Move(name, t.goto, "on", t.label, label)
    for t in st.next:
        label = "next" if t.cond is None else f"[{t.cond.source}]"
        yield Move(name, t.goto, "next", t.label, label)
    taken = [*st.next, *(t for ts in st.on.values() for t in ts)]
    for call in [st.call, *(t.call for t in taken)]:
        if call is not None:
            key = f"{name}.call.{call.action}.on_error"
            yield Move(name, call.on_error or start, "on_error", key, f"{call.action} fails")
    for slot in st.collect:
        spec = slots.get(slot)
        target = None if spec is None else spec.on_exhausted
        if target is not None:
            key = f"{name}.collect.{slot}.on_exhausted"
            yield Move(name, target, "on_exhausted", key, f"{slot} attempts exhausted")
    if st.no_match.goto is not None and st.waits_idle:
        label = f"{st.no_match.max} no-matches"
        yield Move(name, st.no_match.goto, "no_match", f"{name}.no_match.goto", label)
    failure = st.fallback.failure if st.fallback is not None else None
    if failure is not None and failure.goto is not None and st.receives_messages:
        label = f"{failure.max} LLM failures"
        yield Move(name, failure.goto, "on_failure", f"{name}.fallback.on_failure", label)


def machine_moves(moves: tuple[Move, ...], states: Mapping[str, CState]) -> list[tuple[str, str]]:
    """The ``(source, dest)`` pairs the state machine allows: every move that enters a
    state, a global intent's from every state."""
    pairs: list[tuple[str, str]] = []
    for m in moves:
        if m.dest is None or m.dest not in states:
            continue
        sources = list(states) if m.source == ANY else [m.source]
        pairs += [(source, m.dest) for source in sources]
    return pairs
