"""Compiling what carries data on the way to a person: escalations and handoff states.

An escalation (a slot's ``on_exhausted``, a no-match ``goto``, the fallback's
``on_exhausted``) names a state and may ``say`` and ``set`` on its way there;
a state with ``handoff`` hands the conversation to a person, with a reason. The
builder of ``build.py`` compiles their texts and values; the checks are its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from dialogue import schema
from dialogue.compiler.resolve import References
from dialogue.errors import Loc
from dialogue.runtime.compiled import CEscalation, CHandoff, Value
from dialogue.runtime.templates import Text


class Builder(Protocol):
    """What of ``build._Builder`` compiling an escalation needs."""

    refs: References

    def texts(self, sources: Sequence[str], loc: Loc, what: str) -> tuple[Text, ...]: ...

    def value(self, raw: Any, loc: Loc, what: str) -> Value: ...

    def assignments(
        self, mapping: Mapping[str, Any], loc: Loc, what: str
    ) -> tuple[tuple[str, Value], ...]: ...


def escalation(
    builder: Builder, esc: schema.Escalation | None, loc: Loc, what: str
) -> tuple[str | None, CEscalation | None]:
    """The target state of an escalation (checked) and what it says and sets, if anything."""
    if esc is None:
        return None, None
    builder.refs.state(esc.goto, loc + ("goto",), what)
    if not esc.say and not esc.set:
        return esc.goto, None
    say = builder.texts(esc.say, loc + ("say",), what)
    return esc.goto, CEscalation(say, builder.assignments(esc.set, loc + ("set",), what))


def handoff(builder: Builder, spec: schema.Handoff | None, loc: Loc, what: str) -> CHandoff | None:
    """A state's ``handoff``: its reason compiled (an expression, as ``set`` values are)."""
    if spec is None:
        return None
    return CHandoff(builder.value(spec.reason, loc + ("reason",), what), spec.transcript)
