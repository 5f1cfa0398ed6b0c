"""Name resolution for the compiler: every reference checked, every problem placed.

``References`` knows the names a flow declares, checks each use the compiler
reports, and records what the static checks need (which slots are read,
which are filled, which intents are used).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from dialogue import schema
from dialogue.errors import Diagnostic, Loc, UnboundedTemplate, UnknownFilter, did_you_mean

if TYPE_CHECKING:
    from dialogue.authoring.yaml_source import SourceMap


def _listing(kind: str, known: Iterable[str]) -> str:
    names = sorted(known)
    if not names:
        return f"this flow declares no {kind}s"
    shown = ", ".join(f"'{n}'" for n in names[:12])
    return f"known {kind}s: {shown}" + (" ..." if len(names) > 12 else "")


class References:
    def __init__(
        self, flow: schema.Flow, source: SourceMap, flows: Mapping[str, schema.Flow]
    ) -> None:
        self.flow = flow
        self.source = source
        self.flows = flows
        self.diagnostics: list[Diagnostic] = []
        self.into = {call.into: loc for call, loc in _calls(flow) if call.into is not None}
        called = {st.flow for st in flow.states.values()} | {i.flow for i in flow.intents.values()}
        shared = {s for name in called if name and name in flows for s in flows[name].slots}
        self.slot_names = frozenset(flow.slots) | frozenset(self.into) | frozenset(shared)
        """Names a template may read: own slots, action results, and the slots of
        called sub-flows (sessions share one slot table)."""
        self.context_names = sorted(self.slot_names)
        self.reads: dict[str, Loc] = {}
        self.filled: set[str] = set(self.into)
        self.used_intents: set[str] = set()
        self.used_events: set[str] = set()
        self.actions: list[tuple[str, Loc]] = []

    # -- reporting -----------------------------------------------------------

    def error(
        self, loc: Loc, code: str, message: str, hint: str = "", *, at_key: bool = False
    ) -> None:
        self.diagnostics.append(self.source.diagnostic(loc, code, message, hint, at_key=at_key))

    def _unknown(
        self, kind: str, name: str, known: Iterable[str], loc: Loc, what: str, **kw: Any
    ) -> None:
        known = list(known)
        hint = did_you_mean(name, known) or _listing(kind, known)
        self.error(loc, f"unknown_{kind}", f"unknown {kind} '{name}' in {what}", hint, **kw)

    # -- references ----------------------------------------------------------

    def state(self, name: str, loc: Loc, what: str) -> None:
        if name not in self.flow.states:
            self._unknown("state", name, self.flow.states, loc, what)

    def start(self) -> None:
        name = self.flow.start
        if name not in self.flow.states:
            hint = did_you_mean(name, self.flow.states) or _listing("state", self.flow.states)
            self.error(("start",), "unknown_state", f"unknown start state '{name}'", hint)

    def slot(self, name: str, loc: Loc, what: str) -> None:
        """Check a slot named by ``clear`` (which neither reads nor fills it)."""
        if name not in self.slot_names:
            self._unknown("slot", name, self.slot_names, loc, what)

    def fill(self, name: str, loc: Loc, what: str) -> None:
        """Check a slot that ``set`` fills (``loc`` is its key)."""
        if name not in self.slot_names:
            self._unknown("slot", name, self.slot_names, loc, what, at_key=True)
        else:
            self.filled.add(name)

    def collectable(self, name: str, loc: Loc, what: str) -> None:
        slot = self.flow.slots.get(name)
        if slot is None:
            self._unknown("slot", name, self.flow.slots, loc, what)
        elif slot.type == "any":
            self.error(
                loc,
                "not_collectable",
                f"slot '{name}' of type 'any' cannot be collected in {what}",
                "a slot of type 'any' is filled by 'set' or an action's 'into'; give it a type "
                "the user can answer (text, integer, enum ...)",
            )
        elif not slot.ask:
            self.error(
                loc,
                "no_question",
                f"slot '{name}' is collected in {what} but has no 'ask'",
                f"give slot '{name}' the question to ask, e.g. "
                f'ask: "What is your {name.replace("_", " ")}?"',
            )
        else:
            self.filled.add(name)

    def correctable(self, name: str, loc: Loc, what: str) -> None:
        """A slot of a state's ``correct``: one whose values identify themselves in a message."""
        slot = self.flow.slots.get(name)
        if slot is None:
            self._unknown("slot", name, self.flow.slots, loc, what)
        elif slot.type not in ("pattern", "enum", "email", "phone", "date", "time"):
            self.error(
                loc,
                "not_correctable",
                f"slot '{name}' of type '{slot.type}' cannot be corrected in {what}",
                "only slots that identify themselves in a message (pattern, enum, email, "
                "phone, date, time) can be corrected; ask it again with 'clear' instead",
            )

    def intent(self, name: str, loc: Loc, what: str) -> None:
        if name not in self.flow.intents:
            self._unknown("intent", name, self.flow.intents, loc, what, at_key=True)
        else:
            self.used_intents.add(name)

    def option_intent(self, name: str, loc: Loc, what: str) -> None:
        """An intent a quick reply sends (it does not make the intent used)."""
        if name not in self.flow.intents:
            self._unknown("intent", name, self.flow.intents, loc, what)

    def event(self, name: str, loc: Loc, what: str) -> None:
        """An event a state's ``on`` handles."""
        self.used_events.add(name)

    def flow_name(self, name: str, loc: Loc, what: str) -> None:
        if name not in self.flows:
            hint = did_you_mean(name, self.flows) or (
                "list the file that defines it under 'imports' at the top of this flow"
            )
            self.error(loc, "unknown_flow", f"unknown flow '{name}' in {what}", hint)

    def language(self, code: str, loc: Loc, what: str) -> None:
        """A language switched to: one the flow speaks."""
        spoken = self.flow.spoken
        if code not in spoken:
            hint = did_you_mean(code, spoken) or f"add it to 'languages' ({', '.join(spoken)})"
            self.error(loc, "unknown_language", f"{what} switches to '{code}', not spoken", hint)

    def action(self, name: str, loc: Loc) -> None:
        self.actions.append((name, loc))

    def template_error(self, loc: Loc, what: str, exc: Exception) -> None:
        """A reply that does not compile."""
        if isinstance(exc, UnknownFilter):
            self._unknown(exc.kind, exc.unknown, exc.known, loc, what)
            return
        if isinstance(exc, UnboundedTemplate):
            message = f"template in {what} is unbounded: {_jinja_message(exc, 'template')}"
            self.error(loc, exc.code, message, exc.hint)
            return
        self.error(
            loc,
            "template_syntax",
            f"template error in {what}: {_jinja_message(exc, 'template')}",
            "replies are Jinja templates: {{ slot }} for values, {% if %}...{% endif %} for logic",
        )

    def expression_error(self, loc: Loc, what: str, kind: str, exc: Exception) -> None:
        """A condition (``kind="condition"``) or a ``set``/``with`` value that does not compile."""
        if isinstance(exc, UnknownFilter):
            self._unknown(exc.kind, exc.unknown, exc.known, loc, what)
            return
        if isinstance(exc, UnboundedTemplate):
            message = f"{kind} in {what} is unbounded: {_jinja_message(exc, kind)}"
            self.error(loc, exc.code, message, exc.hint)
            return
        self.error(
            loc,
            f"invalid_{kind}",
            f"invalid {kind} in {what}: {_jinja_message(exc, kind)}",
            _EXPRESSION_HINTS[kind],
        )

    def read_names(self, names: Iterable[str], loc: Loc, what: str, *, value: bool = False) -> None:
        """Names a reply, condition or (``value``) a ``set``/``with`` value reads."""
        for name in sorted(names):
            if name in self.slot_names:
                self.reads.setdefault(name, loc)
                continue
            known = sorted(self.slot_names)
            hint = did_you_mean(name, known)
            if not hint:  # not a typo: perhaps text, which a value must quote
                hint = _listing("slot", known)
                hint += f"; values are expressions, so quote text: \"'{name}'\"" if value else ""
            self.error(loc, "unknown_name", f"unknown name '{name}' in {what}", hint)

    def pattern_groups(self, intent: str, spec: schema.Intent) -> None:
        for i, pattern in enumerate(spec.patterns):
            for group in re.compile(pattern).groupindex:
                if group in self.flow.slots:
                    self.filled.add(group)
                    continue
                loc: Loc = ("intents", intent, "patterns", i)
                hint = (
                    did_you_mean(group, self.flow.slots)
                    or "named groups fill the slot of the same name"
                )
                self.error(
                    loc,
                    "unknown_group",
                    f"group '{group}' in intent '{intent}' is not a slot",
                    hint,
                )


_EXPRESSION_HINTS = {
    "condition": "conditions are Jinja expressions: use ==, and, or, not; "
    "quote text: status == 'late'",
    "value": "values are Jinja expressions over slots: order_id, count + 1; quote text: \"'late'\"",
}


def _jinja_message(exc: Exception, kind: str) -> str:
    """Jinja's message in the designer's words: ``unexpected end of the condition``,
    ``unexpected character '&' (character 12)`` rather than an offset from 0."""
    text = getattr(exc, "message", None) or str(exc)
    text = text.replace("'end of template'", f"end of the {kind}")
    text = text.replace("end of template", f"end of the {kind}")
    return re.sub(
        r"unexpected char (.+) at (\d+)",
        lambda m: f"unexpected character {m[1]} (character {int(m[2]) + 1})",
        text,
    )


def _calls(flow: schema.Flow) -> Iterable[tuple[schema.Call, Loc]]:
    for name, st in flow.states.items():
        if st.call is not None:
            yield st.call, ("states", name, "call")
        for i, t in enumerate(st.next):
            if t.call is not None:
                yield t.call, ("states", name, "next", i, "call")
        for intent, ts in st.on.items():
            for i, t in enumerate(ts):
                if t.call is not None:
                    yield t.call, ("states", name, "on", intent, i, "call")
