"""Flow -> CompiledFlow: a pure function on frozen values.

Resolves every reference (states, slots, intents, sub-flows), compiles
matchers, slot parsers, reply templates and conditions, builds the flow's
state machine, and runs the static checks of ``dialogue.checks``. No I/O, no
clock, no network: the same flows always give the same result. Everything it
returns is shared, read-only, by every session.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from dialogue import schema
from dialogue._refs import Loc, References
from dialogue.checks import check_flow
from dialogue.errors import ConfigurationError, Diagnostic, FlowErrors
from dialogue.loader import LoadedFlow
from dialogue.machine import FlowMachine
from dialogue.messages import builtin
from dialogue.rules import IntentMatcher
from dialogue.slots import SlotParser, compile_slot
from dialogue.templates import Expression, Text, compile_expression, compile_text, make_environment


@dataclass(frozen=True, slots=True)
class Const:
    """A literal value in ``set`` or ``with``."""

    value: Any

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        return self.value


Value = Expression | Const


@dataclass(frozen=True, slots=True)
class CCall:
    action: str
    arguments: tuple[tuple[str, Value], ...]
    into: str | None
    timeout: float
    on_error: str | None
    error_say: tuple[Text, ...]


@dataclass(frozen=True, slots=True)
class CTransition:
    label: str
    """Where it is written, for traces: ``menu.on.track[0]``, ``tracking.next[1]``."""
    cond: Expression | None
    set: tuple[tuple[str, Value], ...]
    clear: tuple[str, ...]
    call: CCall | None
    say: tuple[Text, ...]
    goto: str | None


@dataclass(frozen=True, slots=True)
class CNoMatch:
    say: tuple[Text, ...]
    max: int
    goto: str | None


@dataclass(frozen=True, slots=True)
class CSlot:
    name: str
    parser: SlotParser
    ask: tuple[Text, ...]
    invalid: tuple[Text, ...]
    max_attempts: int
    on_exhausted: str | None


@dataclass(frozen=True, slots=True)
class CState:
    name: str
    description: str
    clear: tuple[str, ...]
    set: tuple[tuple[str, Value], ...]
    say: tuple[Text, ...]
    collect: tuple[str, ...]
    call: CCall | None
    flow: str | None
    next: tuple[CTransition, ...]
    on: Mapping[str, tuple[CTransition, ...]]
    no_match: CNoMatch
    final: bool
    matcher: IntentMatcher
    """The state's own intents first, then the flow's global intents."""
    extract: tuple[str, ...]
    """Slots of ``collect`` that can be picked out of any message."""


@dataclass(frozen=True, slots=True)
class CGlobal:
    name: str
    say: tuple[Text, ...]
    goto: str | None
    flow: str | None
    clear: tuple[str, ...]


@dataclass(frozen=True)
class CompiledFlow:
    name: str
    description: str
    language: str
    start: str
    states: Mapping[str, CState]
    slots: Mapping[str, CSlot]
    globals: Mapping[str, CGlobal]
    global_matcher: IntentMatcher
    machine: FlowMachine
    settings: schema.Settings
    base_context: Mapping[str, Any]
    """Every name a template may read, set to ``None``; slot values are laid over it."""
    too_long: tuple[Text, ...]
    action_error: tuple[Text, ...]
    invalid_default: tuple[Text, ...]
    definition: schema.Flow
    source: LoadedFlow
    warnings: tuple[Diagnostic, ...] = field(default=())
    action_refs: tuple[tuple[str, Loc], ...] = field(default=())
    """Every action the flow calls, with where: the engine checks them against its registry."""


@dataclass(frozen=True)
class Bot:
    """Compiled flows that call each other; ``main`` is where conversations start."""

    flows: Mapping[str, CompiledFlow]
    main: str

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(w for flow in self.flows.values() for w in flow.warnings)


def compile_flows(loaded: Sequence[LoadedFlow], *, main: str | None = None) -> Bot:
    """Compile flows (the first is the main one unless ``main`` names another)."""
    if not loaded:
        raise ValueError("compile_flows needs at least one flow")
    flows = {lf.flow.flow: lf.flow for lf in loaded}
    if main is not None and main not in flows:
        raise ConfigurationError(f"no flow named {main!r}", hint=f"flows: {', '.join(flows)}")
    built: list[tuple[CompiledFlow, References]] = []
    errors: list[Diagnostic] = []
    for lf in loaded:
        refs = References(lf.flow, lf.source, flows)
        built.append((_Builder(lf, refs, make_environment()).build(), refs))
        errors += [d for d in refs.diagnostics if d.severity == "error"]
    if errors:
        raise FlowErrors(errors)
    compiled: dict[str, CompiledFlow] = {}
    for flow, refs in built:
        # Sub-flows share the session's slots: a slot read by any flow is used.
        read_elsewhere = {name for _, other in built if other is not refs for name in other.reads}
        lf = flow.source
        warnings = tuple(check_flow(lf.flow, lf.source, flow.machine, refs, read_elsewhere))
        compiled[flow.name] = replace(flow, warnings=warnings, action_refs=tuple(refs.actions))
    return Bot(compiled, main or loaded[0].flow.flow)


def compile_flow(loaded: LoadedFlow) -> CompiledFlow:
    """Compile one flow that calls no sub-flow."""
    return compile_flows([loaded]).flows[loaded.flow.flow]


class _Builder:
    """Builds one CompiledFlow, recording every problem in ``refs``."""

    def __init__(
        self, lf: LoadedFlow, refs: References, env: ImmutableSandboxedEnvironment
    ) -> None:
        self.lf, self.flow, self.refs, self.env = lf, lf.flow, refs, env

    # -- templates ---------------------------------------------------------

    def texts(self, sources: Sequence[str], loc: Loc, what: str) -> tuple[Text, ...]:
        out = []
        for i, source in enumerate(sources):
            item_loc = loc + (i,) if len(sources) > 1 else loc
            try:
                text = compile_text(self.env, source)
            except TemplateSyntaxError as exc:
                self.refs.template_error(item_loc, what, exc)
                continue
            self.refs.read_names(text.names, item_loc, what)
            out.append(text)
        return tuple(out)

    def expression(self, source: str, loc: Loc, what: str) -> Expression | None:
        try:
            expr = compile_expression(self.env, source)
        except (TemplateSyntaxError, ValueError) as exc:
            self.refs.template_error(loc, what, exc)
            return None
        self.refs.read_names(expr.names, loc, what)
        return expr

    def value(self, raw: Any, loc: Loc, what: str) -> Value:
        if isinstance(raw, str):
            return self.expression(raw, loc, what) or Const(None)
        return Const(raw)

    def assignments(
        self, mapping: Mapping[str, Any], loc: Loc, what: str
    ) -> tuple[tuple[str, Value], ...]:
        out = []
        for name, raw in mapping.items():
            self.refs.slot(name, loc + (name,), what, key=True)
            out.append((name, self.value(raw, loc + (name,), what)))
        return tuple(out)

    # -- steps ---------------------------------------------------------------

    def call(self, call: schema.Call | None, loc: Loc, what: str) -> CCall | None:
        if call is None:
            return None
        self.refs.action(call.action, loc + ("action",))
        args = tuple(
            (name, self.value(raw, loc + ("with", name), what)) for name, raw in call.with_.items()
        )
        if call.on_error is not None:
            self.refs.state(call.on_error, loc + ("on_error",), what)
        timeout = call.timeout if call.timeout is not None else self.flow.settings.action_timeout
        error_say = self.texts(call.error_say, loc + ("error_say",), what)
        return CCall(call.action, args, call.into, timeout, call.on_error, error_say)

    def transition(self, t: schema.Transition, loc: Loc, label: str, what: str) -> CTransition:
        cond = None if t.if_ is None else self.expression(t.if_, loc + ("if",), what)
        for i, name in enumerate(t.clear):
            self.refs.slot(name, loc + ("clear", i), what)
        if t.goto is not None:
            self.refs.state(t.goto, loc + ("goto",), what)
        return CTransition(
            label=label,
            cond=cond,
            set=self.assignments(t.set, loc + ("set",), what),
            clear=t.clear,
            call=self.call(t.call, loc + ("call",), what),
            say=self.texts(t.say, loc + ("say",), what),
            goto=t.goto,
        )

    def no_match(self, state: schema.State, loc: Loc) -> CNoMatch:
        fb = self.flow.fallback
        if state.no_match is not None:
            nm = state.no_match
            if nm.goto is not None:
                self.refs.state(nm.goto, loc + ("no_match", "goto"), f"state '{loc[-1]}'")
            say = nm.say or fb.no_match or builtin(self.flow.language, "no_match")
            return CNoMatch(
                self.texts(say, loc + ("no_match", "say"), f"state '{loc[-1]}'"), nm.max, nm.goto
            )
        say = fb.no_match or builtin(self.flow.language, "no_match")
        return CNoMatch(
            self.texts(say, ("fallback", "no_match"), "the fallback"),
            fb.max_no_match,
            fb.on_exhausted,
        )

    def state(
        self, name: str, st: schema.State, globals_: list[tuple[str, schema.Intent]]
    ) -> CState:
        loc: Loc = ("states", name)
        what = f"state '{name}'"
        for i, slot in enumerate(st.collect):
            self.refs.collectable(slot, loc + ("collect", i), what)
        for i, slot in enumerate(st.clear):
            self.refs.slot(slot, loc + ("clear", i), what)
        on: dict[str, tuple[CTransition, ...]] = {}
        local: list[tuple[str, schema.Intent]] = []
        for intent, transitions in st.on.items():
            self.refs.intent(intent, loc + ("on", intent), what)
            on[intent] = tuple(
                self.transition(t, loc + ("on", intent, i), f"{name}.on.{intent}[{i}]", what)
                for i, t in enumerate(transitions)
            )
            if intent in self.flow.intents and self.flow.intents[intent].scope == "local":
                local.append((intent, self.flow.intents[intent]))
        if st.flow is not None:
            self.refs.flow_name(st.flow, loc + ("flow",), what)
        extract = tuple(
            s
            for s in st.collect
            if s in self.flow.slots and self.flow.slots[s].type in _EXTRACTABLE
        )
        return CState(
            name=name,
            description=st.description,
            clear=st.clear,
            set=self.assignments(st.set, loc + ("set",), what),
            say=self.texts(st.say, loc + ("say",), what),
            collect=tuple(st.collect),
            call=self.call(st.call, loc + ("call",), what),
            flow=st.flow,
            next=tuple(
                self.transition(t, loc + ("next", i), f"{name}.next[{i}]", what)
                for i, t in enumerate(st.next)
            ),
            on=on,
            no_match=self.no_match(st, loc),
            final=st.final,
            matcher=IntentMatcher(local + globals_),
            extract=extract,
        )

    def slot(self, name: str, slot: schema.Slot) -> CSlot:
        loc: Loc = ("slots", name)
        what = f"slot '{name}'"
        if slot.on_exhausted is not None:
            self.refs.state(slot.on_exhausted, loc + ("on_exhausted",), what)
        return CSlot(
            name=name,
            parser=compile_slot(name, slot, language=self.flow.language),
            ask=self.texts(slot.ask, loc + ("ask",), what),
            invalid=self.texts(slot.invalid, loc + ("invalid",), what),
            max_attempts=slot.max_attempts,
            on_exhausted=slot.on_exhausted,
        )

    def global_intent(self, name: str, intent: schema.Intent) -> CGlobal:
        loc: Loc = ("intents", name)
        what = f"intent '{name}'"
        if intent.goto is not None:
            self.refs.state(intent.goto, loc + ("goto",), what)
        if intent.flow is not None:
            self.refs.flow_name(intent.flow, loc + ("flow",), what)
        for i, slot in enumerate(intent.clear):
            self.refs.slot(slot, loc + ("clear", i), what)
        return CGlobal(
            name,
            self.texts(intent.say, loc + ("say",), what),
            intent.goto,
            intent.flow,
            intent.clear,
        )

    def build(self) -> CompiledFlow:
        flow = self.flow
        self.refs.state(flow.start, ("start",), "the flow")
        for name, intent in flow.intents.items():
            self.refs.pattern_groups(name, intent)
        globals_ = [(n, i) for n, i in flow.intents.items() if i.scope == "global"]
        slots = {name: self.slot(name, slot) for name, slot in flow.slots.items()}
        states = {name: self.state(name, st, globals_) for name, st in flow.states.items()}
        settings = flow.settings
        lang = flow.language
        return CompiledFlow(
            name=flow.flow,
            description=flow.description,
            language=lang,
            start=flow.start,
            states=states,
            slots=slots,
            globals={n: self.global_intent(n, i) for n, i in globals_},
            global_matcher=IntentMatcher(globals_),
            machine=FlowMachine(flow.flow, list(flow.states), self.refs.moves(states)),
            settings=settings,
            base_context=dict.fromkeys(self.refs.context_names),
            too_long=self.texts(
                settings.too_long_reply or builtin(lang, "too_long"),
                ("settings", "too_long_reply"),
                "settings",
            ),
            action_error=self.texts(
                settings.action_error_reply or builtin(lang, "action_error"),
                ("settings", "action_error_reply"),
                "settings",
            ),
            invalid_default=self.texts(builtin(lang, "invalid"), ("slots",), "slots"),
            definition=flow,
            source=self.lf,
        )


_EXTRACTABLE = frozenset({"pattern", "enum", "email", "phone", "date", "time"})
