"""Flow -> CompiledFlow (see ``compiled.py``): a pure function on frozen values.

Resolves every reference (states, slots, intents, sub-flows), compiles
matchers, slot parsers, reply templates and conditions, builds the flow's
state machine, and runs the static checks of ``dialogue.compiler.lint``. No I/O, no
clock, no network: the same flows always give the same result. Everything it
returns is shared, read-only, by every session.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import Any, Literal

from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from dialogue import schema
from dialogue.authoring.loader import LoadedFlow
from dialogue.compiler.cycles import input_cycles
from dialogue.compiler.escalations import escalation, handoff
from dialogue.compiler.examples import attach_classifiers, example_warnings
from dialogue.compiler.host_events import compile_events, compile_options, event_moves
from dialogue.compiler.languages import with_translations
from dialogue.compiler.lint import check_flow
from dialogue.compiler.llm_policy import flow_failure, slot_asks, state_failure
from dialogue.compiler.moves import flow_moves, machine_moves
from dialogue.compiler.resolve import References
from dialogue.errors import ConfigurationError, Diagnostic, FlowErrors, Loc
from dialogue.llm.openai_client import LLMSettings
from dialogue.nlu.data import Trainer
from dialogue.runtime.builtin_replies import builtin
from dialogue.runtime.compiled import (
    EXTRACTABLE,
    Bot,
    CCall,
    CEscalation,
    CFailure,
    CFallback,
    CGlobal,
    CNoMatch,
    CompiledFlow,
    Const,
    CSlot,
    CState,
    CTransition,
    Value,
)
from dialogue.runtime.llm_contract import (
    MAX_PROMPT_CHARS,
    PROMPT_NAMES,
    OpenSlot,
    answer_schema,
    make_prompt_environment,
)
from dialogue.runtime.machine import FlowMachine
from dialogue.runtime.options import COption
from dialogue.runtime.rules import IntentMatcher
from dialogue.runtime.slots import compile_slot
from dialogue.runtime.templates import (
    Expression,
    Text,
    compile_expression,
    compile_text,
    make_environment,
)


def compile_flows(
    loaded: Sequence[LoadedFlow], *, main: str | None = None, trainer: Trainer | None = None
) -> Bot:
    """Compile flows (the first is the main one unless ``main`` names another).

    ``trainer`` fits the classifier of a flow whose intents have ``examples``
    (default: ``dialogue.nlu.train.train``, in memory; ``dialogue.nlu.cache.CachedTrainer``
    keeps models on disk)."""
    if not loaded:
        raise ConfigurationError(
            "compile_flows needs at least one flow", hint="pass what load_flows returns"
        )
    bot = _compile(loaded, main, trainer)
    return with_translations(bot, loaded, lambda lang: _compile(lang, main, trainer))


def _compile(loaded: Sequence[LoadedFlow], main: str | None, trainer: Trainer | None) -> Bot:
    """Compile flows in one language each (see ``compile_flows``)."""
    flows, errors = _by_name(loaded)
    if main is not None and main not in flows:
        raise ConfigurationError(f"no flow named {main!r}", hint=f"flows: {', '.join(flows)}")
    built: list[tuple[LoadedFlow, CompiledFlow, References]] = []
    for lf in loaded:
        refs = References(lf.flow, lf.source, flows)
        built.append((lf, _Builder(lf, refs, make_environment()).build(), refs))
        errors += [d for d in refs.diagnostics if d.severity == "error"]
        errors += [d for d in input_cycles(lf.flow, lf.source) if d.severity == "error"]
    if errors:
        raise FlowErrors(errors)
    compiled: dict[str, CompiledFlow] = {}
    for lf, flow, refs in built:
        # Sub-flows share the session's slots: a slot read by any flow is used.
        read_elsewhere = {name for *_, other in built if other is not refs for name in other.reads}
        warnings = list(check_flow(lf.flow, lf.source, flow.machine, refs, read_elsewhere))
        flow, nlu_warnings = attach_classifiers(lf, flow, trainer)
        warnings += nlu_warnings + example_warnings(lf)
        compiled[flow.name] = replace(
            flow, warnings=tuple(warnings), action_refs=tuple(refs.actions)
        )
    return Bot(MappingProxyType(compiled), main or loaded[0].flow.flow)


def _by_name(loaded: Sequence[LoadedFlow]) -> tuple[dict[str, schema.Flow], list[Diagnostic]]:
    """Flows by their ``flow:`` name, and a ``duplicate_flow`` error for each name reused."""
    first: dict[str, LoadedFlow] = {}
    errors: list[Diagnostic] = []
    for lf in loaded:
        name = lf.flow.flow
        other = first.setdefault(name, lf)
        if other is not lf:
            message = f"flow '{name}' is already defined in {other.source.path}"
            hint = "give each flow its own 'flow:' name"
            errors.append(lf.source.diagnostic(("flow",), "duplicate_flow", message, hint))
    return {name: lf.flow for name, lf in first.items()}, errors


def compile_flow(loaded: LoadedFlow) -> CompiledFlow:
    """Compile one flow that calls no sub-flow."""
    return compile_flows([loaded]).flows[loaded.flow.flow]


class _Builder:
    """Builds one CompiledFlow, recording every problem in ``refs``."""

    def __init__(
        self, lf: LoadedFlow, refs: References, env: ImmutableSandboxedEnvironment
    ) -> None:
        self.lf, self.flow, self.refs, self.env = lf, lf.flow, refs, env
        self.prompt_env = make_prompt_environment()
        self.prompts: dict[str, Text | None] = {}
        self.reported: set[Loc] = set()
        self.fallback_say: tuple[Text, ...] = ()  # set by build, before the states
        self.failure = CFailure((), 3, None)  # the flow's, set by build, before the states
        self.fallback_escalation: tuple[str | None, CEscalation | None] = (None, None)

    # -- templates ---------------------------------------------------------

    def texts(self, sources: Sequence[str], loc: Loc, what: str) -> tuple[Text, ...]:
        out = []
        for i, source in enumerate(sources):
            item_loc = loc + (i,)  # a lone string has no item: its position is the string's
            try:
                text = compile_text(self.env, source)
            except TemplateSyntaxError as exc:
                self.refs.template_error(item_loc, what, exc)
                continue
            self.refs.read_names(text.names, item_loc, what)
            out.append(text)
        return tuple(out)

    def expression(self, source: str, loc: Loc, what: str, kind: str) -> Expression | None:
        """A condition (``kind="condition"``) or a ``set``/``with`` value (``"value"``)."""
        try:
            expr = compile_expression(self.env, source)
        except TemplateSyntaxError as exc:
            self.refs.expression_error(loc, what, kind, exc)
            return None
        self.refs.read_names(expr.names, loc, what, value=kind == "value")
        return expr

    def value(self, raw: Any, loc: Loc, what: str) -> Value:
        if isinstance(raw, str):
            return self.expression(raw, loc, what, "value") or Const(None)
        return Const(raw)

    def assignments(
        self, mapping: Mapping[str, Any], loc: Loc, what: str
    ) -> tuple[tuple[str, Value], ...]:
        out = []
        for name, raw in mapping.items():
            self.refs.fill(name, loc + (name,), what)
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

    def transition(
        self, t: schema.Transition, loc: Loc, label: str, what: str, kind: Literal["on", "next"]
    ) -> CTransition:
        cond = None if t.if_ is None else self.expression(t.if_, loc + ("if",), what, "condition")
        for i, name in enumerate(t.clear):
            self.refs.slot(name, loc + ("clear", i), what)
        if t.goto is not None:
            self.refs.state(t.goto, loc + ("goto",), what)
        return CTransition(
            label=label,
            kind=kind,
            cond=cond,
            set=self.assignments(t.set, loc + ("set",), what),
            clear=t.clear,
            call=self.call(t.call, loc + ("call",), what),
            say=self.texts(t.say, loc + ("say",), what),
            goto=t.goto,
            options=self.options(t.options, loc + ("options",), what),
        )

    def no_match(self, state: schema.State, loc: Loc) -> CNoMatch:
        fb, nm = self.flow.fallback, state.no_match
        if nm is None:
            return CNoMatch(self.fallback_say, fb.max_no_match, *self.fallback_escalation)
        what = f"state '{loc[-1]}'"
        goto, then = escalation(self, nm.goto, loc + ("no_match", "goto"), what)
        say = self.texts(nm.say, loc + ("no_match", "say"), what) if nm.say else self.fallback_say
        return CNoMatch(say, nm.max, goto, then)

    def state(
        self, name: str, st: schema.State, globals_: list[tuple[str, schema.Intent]]
    ) -> CState:
        loc: Loc = ("states", name)
        what = f"state '{name}'"
        for i, slot in enumerate(st.collect):
            self.refs.collectable(slot, loc + ("collect", i), what)
        for i, slot in enumerate(st.clear):
            self.refs.slot(slot, loc + ("clear", i), what)
        for i, slot in enumerate(st.correct):
            self.refs.correctable(slot, loc + ("correct", i), what)
        on: dict[str, tuple[CTransition, ...]] = {}
        local: list[tuple[str, schema.Intent]] = []
        for intent, transitions in st.on.items():
            if intent in self.flow.events:
                self.refs.event(intent, loc + ("on", intent), what)
            else:
                self.refs.intent(intent, loc + ("on", intent), what)
            on[intent] = tuple(
                self.transition(t, loc + ("on", intent, i), f"{name}.on.{intent}[{i}]", what, "on")
                for i, t in enumerate(transitions)
            )
            if intent in self.flow.intents and self.flow.intents[intent].scope == "local":
                local.append((intent, self.flow.intents[intent]))
        if st.flow is not None:
            self.refs.flow_name(st.flow, loc + ("flow",), what)
        extract = tuple(
            s for s in st.collect if s in self.flow.slots and self.flow.slots[s].type in EXTRACTABLE
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
                self.transition(t, loc + ("next", i), f"{name}.next[{i}]", what, "next")
                for i, t in enumerate(st.next)
            ),
            on=MappingProxyType(on),
            no_match=self.no_match(st, loc),
            final=st.final,
            matcher=IntentMatcher(local + globals_),
            extract=extract,
            fallback=self.fallback(name, st, local + globals_),
            handoff=handoff(self, st.handoff, loc + ("handoff",), what),
            options=self.options(st.options, loc + ("options",), what),
            correct=st.correct,
        )

    def prompt(self, name: str, loc: Loc) -> Text | None:
        if name in self.prompts:
            return self.prompts[name]
        source = self.lf.assets.get(name)
        text: Text | None = None
        if source is None:
            self.refs.error(
                loc,
                "prompt_not_found",
                f"prompt file '{name}' not found",
                "give the path relative to the flow file, or a built-in name: default",
            )
        else:
            try:
                text = compile_text(self.prompt_env, source, limit=MAX_PROMPT_CHARS)
            except TemplateSyntaxError as exc:
                self.refs.error(
                    loc,
                    "prompt_syntax",
                    f"prompt '{name}' line {exc.lineno}: {exc.message}",
                    "prompts are Jinja templates over: " + ", ".join(sorted(PROMPT_NAMES)),
                )
            else:
                unknown = sorted(text.names - PROMPT_NAMES)
                if unknown:
                    line = _first_line_of(self.prompt_env, source, unknown[0])
                    self.refs.error(
                        loc,
                        "unknown_name",
                        f"unknown name '{unknown[0]}' in prompt '{name}' line {line}",
                        "prompts may use: " + ", ".join(sorted(PROMPT_NAMES)),
                    )
        self.prompts[name] = text
        return text

    def fallback(
        self, name: str, st: schema.State, intents: list[tuple[str, schema.Intent]]
    ) -> CFallback | None:
        fb, own = self.flow.fallback, st.fallback or schema.StateFallback()
        mode = own.mode or fb.mode
        if mode == "off":
            return None
        here: Loc = ("states", name, "fallback")
        prompt = self.prompt(
            own.prompt or fb.prompt, here + ("prompt",) if own.prompt else ("fallback", "prompt")
        )
        knowledge_name = own.knowledge or fb.knowledge
        knowledge = ""
        if knowledge_name is not None:
            knowledge = self.lf.assets.get(knowledge_name, "")
            where = here + ("knowledge",) if own.knowledge else ("fallback", "knowledge")
            if knowledge_name not in self.lf.assets and where not in self.reported:
                self.reported.add(where)  # the flow's knowledge is shared by every state
                self.refs.error(
                    where,
                    "knowledge_not_found",
                    f"knowledge file '{knowledge_name}' not found",
                    "give the path relative to the flow file",
                )
        slots = tuple(
            OpenSlot(
                s,
                spec.type,
                spec.description,
                tuple(spec.values) if isinstance(spec, schema.EnumSlot) else (),
            )
            for s in st.collect
            if (spec := self.flow.slots.get(s)) is not None and spec.type != "any"
        )
        names = tuple(dict.fromkeys(i for i, _ in intents))
        info = tuple(
            {"name": i, "description": spec.description, "examples": list(spec.examples)}
            for i, spec in dict(intents).items()
        )
        if prompt is None:
            return None
        draft = CFallback(
            mode, own.prompt or fb.prompt, prompt, knowledge, names, info, slots, {},
            failure=state_failure(self, self.failure, name, own),
            asks=slot_asks(self.flow, own, st.collect),
        )  # fmt: skip
        schemas = {
            pending: answer_schema(names, draft.open(pending), mode=mode)
            for pending in (None, *(o.name for o in slots))
        }
        return replace(draft, schemas=MappingProxyType(schemas))

    def slot(self, name: str, slot: schema.Slot) -> CSlot:
        loc: Loc = ("slots", name)
        what = f"slot '{name}'"
        goto, then = escalation(self, slot.on_exhausted, loc + ("on_exhausted",), what)
        flow = self.flow
        phrases = [p for i in flow.intents.values() for p in (*i.keywords, *i.examples)]
        am_or_pm: Sequence[str] = ()
        if isinstance(slot, schema.TimeSlot):
            am_or_pm = slot.am_or_pm or builtin(flow.language, "am_or_pm")
        return CSlot(
            name=name,
            parser=compile_slot(
                name,
                slot,
                language=flow.language,
                date_order=flow.settings.date_order,
                intent_phrases=phrases,
            ),
            ask=self.texts(slot.ask, loc + ("ask",), what),
            invalid=self.texts(slot.invalid, loc + ("invalid",), what),
            max_attempts=slot.max_attempts,
            on_exhausted=goto,
            exhausted=then,
            options=self.options(slot.options, loc + ("options",), what, slot=slot),
            am_or_pm=self.texts(am_or_pm, loc + ("am_or_pm",), what),
        )

    def options(
        self,
        options: Sequence[schema.Option] | Literal["auto"],
        loc: Loc,
        what: str,
        *,
        slot: schema.Slot | None = None,
    ) -> tuple[COption, ...]:
        if not options:
            return ()
        return compile_options(
            options,
            loc,
            what,
            texts=self.texts,
            refs=self.refs,
            slot=slot,
            language=self.flow.language,
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
        if intent.language is not None:
            self.refs.language(intent.language, loc + ("language",), what)
        return CGlobal(
            name,
            self.texts(intent.say, loc + ("say",), what),
            intent.goto,
            intent.flow,
            intent.clear,
            self.assignments(intent.set, loc + ("set",), what),
            self.options(intent.options, loc + ("options",), what),
            intent.language,
        )

    def flow_fallback(self) -> tuple[Text, ...]:
        """Check the flow's no-match fallback once; its ladder is shared by the states."""
        fb, what = self.flow.fallback, "the fallback"
        where: Loc = ("fallback", "on_exhausted")
        self.fallback_escalation = escalation(self, fb.on_exhausted, where, what)
        say = fb.no_match or builtin(self.flow.language, "no_match")
        return self.texts(say, ("fallback", "no_match"), what)

    def build(self) -> CompiledFlow:
        flow = self.flow
        self.refs.start()
        self.fallback_say = self.flow_fallback()
        self.failure = flow_failure(self, flow)
        if flow.fallback.mode != "off":  # checked even when every state uses its own
            self.prompt(flow.fallback.prompt, ("fallback", "prompt"))
        for name, intent in flow.intents.items():
            self.refs.pattern_groups(name, intent)
        globals_ = [(n, i) for n, i in flow.intents.items() if i.scope == "global"]
        slots = {name: self.slot(name, slot) for name, slot in flow.slots.items()}
        states = {name: self.state(name, st, globals_) for name, st in flow.states.items()}
        cglobals = {n: self.global_intent(n, i) for n, i in globals_}
        events = compile_events(flow, texts=self.texts, refs=self.refs)
        moves = flow_moves(states, slots, cglobals, start=flow.start) + event_moves(events)
        settings = flow.settings
        lang = flow.language
        return CompiledFlow(
            name=flow.flow,
            description=flow.description,
            language=lang,
            start=flow.start,
            states=MappingProxyType(states),
            slots=MappingProxyType(slots),
            globals=MappingProxyType(cglobals),
            global_matcher=IntentMatcher(globals_),
            machine=FlowMachine(flow.flow, list(flow.states), machine_moves(moves, states)),
            moves=moves,
            settings=settings,
            base_context=MappingProxyType(dict.fromkeys(self.refs.context_names)),
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
            invalid_default=self.texts(
                settings.invalid_reply or builtin(lang, "invalid"),
                ("settings", "invalid_reply") if settings.invalid_reply else ("slots",),
                "settings",
            ),
            budget_reply=self.texts(
                settings.budget_reply or builtin(lang, "budget"),
                ("settings", "budget_reply"),
                "settings",
            ),
            llm=LLMSettings(
                model=flow.llm.model,
                temperature=flow.llm.temperature,
                max_tokens=flow.llm.max_tokens,
                timeout=flow.llm.timeout,
                retries=flow.llm.retries,
            ),
            llm_config=flow.llm,
            definition=flow,
            fingerprint=hashlib.sha256(flow.model_dump_json().encode()).hexdigest()[:16],
            source=self.lf,
            events=MappingProxyType(events),
        )


def _first_line_of(env: ImmutableSandboxedEnvironment, source: str, name: str) -> int:
    """The line of a template where ``name`` is first read."""
    found = [n.lineno for n in env.parse(source).find_all(nodes.Name) if n.name == name]
    return min(found, default=1)
