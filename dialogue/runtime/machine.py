"""The state machine of a flow: the only module that imports ``transitions``.

One ``transitions.Machine`` per flow is built at compile time and shared by
every session. Sessions are never registered with it (``add_model`` costs
memory per session and slows down as sessions grow): each move fires the
machine's event on a tiny cursor object built from the stored state name.
The machine is the authority on which moves exist: a move the flow does not
declare raises ``IllegalMove``, whoever asked for it (a rule or, later, an LLM).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import Any

from dialogue.errors import IllegalMove


def _transitions() -> ModuleType:
    """Import ``transitions`` on first use, keeping the warning filters it would add."""
    with warnings.catch_warnings():
        import transitions
    return transitions


class _Cursor:
    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


def _trigger(dest: str) -> str:
    return "to:" + dest


class FlowMachine:
    """States and the moves between them, for one flow."""

    def __init__(self, name: str, states: Sequence[str], moves: Iterable[tuple[str, str]]) -> None:
        # INFO-level logging of every trigger made transitions several times slower.
        logger = logging.getLogger("transitions")
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)
        self.name = name
        by_dest: dict[str, set[str]] = {}
        for source, dest in moves:
            by_dest.setdefault(dest, set()).add(source)
        lib = _transitions()
        self._machine_error: type[Exception] = lib.MachineError
        self._machine = lib.Machine(
            model=None,
            states=list(states),
            initial=states[0],
            auto_transitions=False,
            model_override=True,
            send_event=False,
        )
        for dest, sources in sorted(by_dest.items()):
            self._machine.add_transition(_trigger(dest), list[Any](sorted(sources)), dest)
        self._allowed = {
            state: frozenset(d for d, sources in by_dest.items() if state in sources)
            for state in states
        }
        self._events = {dest: self._machine.events[_trigger(dest)] for dest in by_dest}

    @property
    def states(self) -> tuple[str, ...]:
        return tuple(self._machine.states)

    def allowed(self, state: str) -> frozenset[str]:
        """The states one move away from ``state``."""
        return self._allowed.get(state, frozenset())

    def fire(self, state: str, dest: str) -> str:
        """Move from ``state`` to ``dest``; returns the new state or raises IllegalMove."""
        event = self._events.get(dest)
        if event is None:
            raise IllegalMove(self.name, state, dest)
        cursor = _Cursor(state)
        try:
            event.trigger(cursor)
        except (self._machine_error, ValueError) as exc:
            raise IllegalMove(self.name, state, dest) from exc
        return cursor.state
