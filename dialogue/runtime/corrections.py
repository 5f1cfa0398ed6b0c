"""Corrections without the LLM: a message that gives a filled slot a new value.

A state lists in ``correct`` the slots a message may change once filled (``actually
it's CD654321`` at the confirmation of a return). :func:`corrections` picks their
values out of the message the way any self-identifying slot is picked out (a pattern,
an enum value, a date ...); a value equal to the one held is no correction, nor is a
value written right after a negation (``not CD654321``, ``不是CD654321``). The turn
(``runtime/turn.py``) replaces the values, records a ``Corrected`` event for each, and
asks the waiting question again.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping

from dialogue.runtime.compiled import CompiledFlow, CState
from dialogue.runtime.rules import Prepared


def corrections(
    flow: CompiledFlow,
    state: CState,
    slots: Mapping[str, object],
    text: Prepared,
    *,
    today: datetime.date,
) -> list[tuple[str, object, object]]:
    """``(slot, old value, new value)`` for each filled slot of ``state.correct`` that
    ``text`` gives another value, in the order of ``correct``."""
    found = []
    for name in state.correct:
        old = slots.get(name)
        if old is None:
            continue
        new = flow.slots[name].parser.extract(text, today=today)
        if new is not None and new != old and not _negated(text.folded, new):
            found.append((name, old, new))
    return found


_NEGATIONS = ("not ", "isn't ", "is not ", "no, not ", "不是", "不要", "并非")


def _negated(folded: str, value: object) -> bool:
    """``not CD654321``: the value as written, right after a negation, is denied."""
    if not isinstance(value, str):
        return False
    at = folded.find(value.casefold())
    return at > 0 and folded[:at].endswith(_NEGATIONS)
