"""Static checks on a flow that compiles: problems a designer wants to hear about.

All are warnings (``dialogue validate --strict`` turns them into failures):
unreachable states, non-final states with no way out, slots filled but never
read or read but never filled, intents never used, transitions that can never
be taken because an earlier one always is, cycles of states that conditions
could keep going round without a message (`dialogue.compiler.cycles`; a cycle
that is certain is an error of the compiler).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence, Set
from dataclasses import dataclass

from dialogue import schema
from dialogue.authoring.yaml_source import SourceMap, dotted
from dialogue.compiler.cycles import input_cycles
from dialogue.compiler.resolve import References
from dialogue.errors import Diagnostic, Loc
from dialogue.runtime.machine import FlowMachine


@dataclass(frozen=True)
class _Warn:
    source: SourceMap

    def __call__(
        self, loc: Loc, code: str, message: str, hint: str, *, at_key: bool = True
    ) -> Diagnostic:
        """A warning about the thing named at ``loc`` (or, ``at_key=False``, about its value)."""
        return self.source.diagnostic(loc, code, message, hint, severity="warning", at_key=at_key)


def check_flow(
    flow: schema.Flow,
    source: SourceMap,
    machine: FlowMachine,
    refs: References,
    read_elsewhere: Set[str] = frozenset(),
) -> Iterator[Diagnostic]:
    """Warnings for ``flow``; ``read_elsewhere``: slots that other flows read."""
    warn = _Warn(source)
    yield from _states(flow, machine, warn)
    yield from (d for d in input_cycles(flow, source) if d.severity == "warning")
    yield from _slots(flow, refs, read_elsewhere, warn)
    for name, intent in flow.intents.items():
        if intent.scope == "local" and name not in refs.used_intents:
            yield warn(
                ("intents", name),
                "unused_intent",
                f"intent '{name}' is not used by any state",
                "add it to a state's 'on', make it 'scope: global', or remove it",
            )
    for name, event in flow.events.items():
        if event.scope == "local" and name not in refs.used_events:
            yield warn(
                ("events", name),
                "unused_event",
                f"event '{name}' is not handled by any state",
                "add it to a state's 'on', make it 'scope: global', or remove it",
            )
    for name, st in flow.states.items():
        yield from _shadowed(st.next, ("states", name, "next"), warn)
        for on, ts in st.on.items():
            yield from _shadowed(ts, ("states", name, "on", on), warn)


def _states(flow: schema.Flow, machine: FlowMachine, warn: _Warn) -> Iterator[Diagnostic]:
    reachable = _reachable(flow, machine)
    for name, st in flow.states.items():
        if name not in reachable:
            yield warn(
                ("states", name),
                "unreachable_state",
                f"state '{name}' can never be reached",
                f"no transition leads to it from the start state '{flow.start}'",
            )
        elif not st.final and not st.flow and not _ways_out(st) - {name}:
            yield warn(
                ("states", name),
                "dead_end",
                f"state '{name}' is not final and has no way out",
                "add 'final: true', a 'next' transition or an 'on' transition with 'goto'",
            )


def _slots(
    flow: schema.Flow, refs: References, read_elsewhere: Set[str], warn: _Warn
) -> Iterator[Diagnostic]:
    for name in flow.slots:
        read = name in refs.reads or name in read_elsewhere
        if not read and name not in refs.filled:
            yield warn(
                ("slots", name),
                "unused_slot",
                f"slot '{name}' is never filled nor used",
                "collect it in a state, or remove it",
            )
        elif not read:
            yield warn(
                ("slots", name),
                "unread_slot",
                f"slot '{name}' is filled but never used",
                "use it in a reply, a condition or an action's 'with', or stop collecting it",
            )
        elif name not in refs.filled and name in refs.reads:
            yield warn(
                refs.reads[name],  # the text that reads it
                "unfilled_slot",
                f"slot '{name}' is used but never filled",
                "collect it in a state, 'set' it, or fill it from an intent pattern group",
                at_key=False,
            )


def _ways_out(st: schema.State) -> set[str]:
    """Where the state's own transitions lead. Error and exhaustion paths (a call's
    ``on_error``, a slot's or the no-match ``goto``, global intents) are no way out:
    a conversation that goes well never takes them."""
    transitions = [*st.next, *(t for ts in st.on.values() for t in ts)]
    return {t.goto for t in transitions if t.goto is not None}


def _shadowed(
    transitions: Sequence[schema.Transition], loc: Loc, warn: _Warn
) -> Iterator[Diagnostic]:
    """The first transition of ``loc`` that an earlier one always beats."""
    first: dict[str | None, int] = {}  # condition (None: none) -> its first transition
    where = f"'{dotted(loc[2:])}' in state '{loc[1]}'"
    for i, t in enumerate(transitions):
        if None in first:
            reason = f"transition {first[None] + 1} has no 'if', so it is always taken"
            hint = "put conditional transitions before the unconditional one"
        elif t.if_ in first:
            reason = (
                f"transition {first[t.if_] + 1} has the same condition ({t.if_}) and comes first"
            )
            hint = "change one of the conditions, or merge the two transitions"
        else:
            first[t.if_] = i
            continue
        yield warn(
            loc + (i,),
            "shadowed_transition",
            f"transition {i + 1} of {where} can never be taken: {reason}",
            hint,
        )
        return


def _reachable(flow: schema.Flow, machine: FlowMachine) -> set[str]:
    seen = {flow.start}
    todo = [flow.start]
    while todo:
        for dest in machine.allowed(todo.pop()):
            if dest not in seen:
                seen.add(dest)
                todo.append(dest)
    return seen
