"""Running the conversations of test files: what a test run shares, and one conversation.

A `Runner` holds what every conversation of a run can share: compiled flows
(one per flow file, compiled on first use), one `FakeLLM` (started on first
use) and flow coverage. ``Runner.run(loaded, index)`` runs one conversation of
a loaded test file, and raises `ConversationFailure` (expectations) or
`FlowError` (the test file names a state, slot, intent or action the flow does
not have), both with ``path:line`` of the culprit in the test file.

Used by the pytest plugin and by ``dialogue test``; nothing here imports pytest.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dialogue.errors import Diagnostic, FlowErrors, Loc, did_you_mean
from dialogue.runtime.actions import Action
from dialogue.runtime.compiled import Bot, CCall, CState
from dialogue.testing.conversation import Conversation
from dialogue.testing.expectations import Mismatch, check, show
from dialogue.testing.fake_llm import FakeLLM, load_bot, make_engine, stub_action
from dialogue.testing.spec import LoadedSpec, StepSpec
from dialogue.trace import TurnResult

if TYPE_CHECKING:
    from dialogue.testing.coverage import FlowCoverage
    from dialogue.testing.coverage_report import CoverageReport

BotKey = tuple[str, str | None]
"""A flow file (resolved path) and the flow to start in."""


def display_path(path: str | os.PathLike[str]) -> str:
    """``path`` relative to the working directory when it is below it."""
    absolute = Path(path).resolve()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


class Runner:
    """Runs conversations of test files, sharing compiled flows and one fake LLM."""

    def __init__(self, *, coverage: bool = False) -> None:
        self._bots: dict[BotKey, tuple[Bot, dict[str, Action]]] = {}
        self._llm: FakeLLM | None = None
        self.coverage: dict[BotKey, FlowCoverage] | None = {} if coverage else None
        """Flow coverage by flow file (when asked for and `dialogue.testing.coverage` exists)."""

    def bot(self, loaded: LoadedSpec) -> tuple[BotKey, Bot, dict[str, Action]]:
        key = (str(loaded.flow_path.resolve()), loaded.spec.main)
        if key not in self._bots:
            self._bots[key] = load_bot(display_path(loaded.flow_path), main=loaded.spec.main)
        return (key, *self._bots[key])

    def llm(self) -> FakeLLM:
        if self._llm is None:
            self._llm = FakeLLM()
        return self._llm

    def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None

    def _recorder(self, key: BotKey, bot: Bot) -> Callable[[TurnResult], object] | None:
        if self.coverage is None:
            return None
        if key not in self.coverage:
            collector = coverage_class()
            if collector is None:
                return None
            self.coverage[key] = collector(bot)
        return self.coverage[key].record

    # -- coverage ------------------------------------------------------------------

    def coverage_data(self) -> list[dict[str, Any]]:
        """The coverage collected here, as JSON data (what an xdist worker sends back)."""
        return [
            {"flow": path, "main": main, "coverage": coverage.to_json()}
            for (path, main), coverage in (self.coverage or {}).items()
        ]

    def add_coverage_data(self, entries: Iterable[Mapping[str, Any]]) -> None:
        """Merge coverage collected elsewhere (by `coverage_data`)."""
        collector = coverage_class()
        if self.coverage is None or collector is None:
            return
        for entry in entries:
            key = (str(entry["flow"]), entry["main"])
            if key not in self._bots:
                self._bots[key] = load_bot(key[0], main=key[1])
            found = collector.from_json(self._bots[key][0], entry["coverage"])
            if key in self.coverage:
                self.coverage[key].merge(found)
            else:
                self.coverage[key] = found

    def coverage_report(self) -> CoverageReport | None:
        """One `CoverageReport` over every flow file tested (None without coverage).

        A flow that several flow files import is counted once, with what any covered.
        """
        if not self.coverage:
            return None
        from dialogue.testing.coverage_report import Category, CoverageReport

        merged: dict[tuple[str, str], tuple[dict[str, None], set[str]]] = {}
        for coverage in self.coverage.values():
            for c in coverage.report().categories:
                items, covered = merged.setdefault((c.flow, c.kind), ({}, set()))
                items.update(dict.fromkeys((*c.covered_items, *c.missing)))
                covered.update(c.covered_items)
        return CoverageReport(
            tuple(
                Category(
                    flow,
                    kind,
                    tuple(i for i in items if i in covered),
                    tuple(i for i in items if i not in covered),
                )
                for (flow, kind), (items, covered) in merged.items()
            )
        )

    # -- running ---------------------------------------------------------------------

    def run(self, loaded: LoadedSpec, index: int) -> None:
        """Run conversation ``index`` of a test file; raises on the first failing step."""
        spec = loaded.spec
        conv = spec.conversations[index]
        key, bot, defaults = self.bot(loaded)
        problems = check_names(loaded, index, bot)
        if problems:
            raise FlowErrors(problems)
        stubs = {**spec.actions, **conv.actions}
        actions = {**defaults, **{n: stub_action(n, s) for n, s in stubs.items()}}
        fake = self.llm() if conv.uses_llm else None
        if fake is not None:
            fake.reset()
        engine = make_engine(bot, actions=actions, llm=fake, today=conv.today or spec.today)
        conversation = Conversation(
            engine,
            llm=fake,
            slots=conv.slots,
            meta=conv.meta,
            language=conv.language or spec.language,
            name=conv.name,
            on_turn=self._recorder(key, bot),
            greeting=spec.greeting_of(conv),
        )
        try:
            for j, step in enumerate(conv.steps):
                _step(loaded, ("conversations", index, "steps", j), conversation, step)
        finally:
            engine.close()


def _step(loaded: LoadedSpec, loc: Loc, conversation: Conversation, step: StepSpec) -> None:
    mismatches: list[Mismatch] = []
    if step.event is not None:
        exchange = conversation.event(step.event, step.data)
    elif step.choose is not None:
        option = conversation.option(step.choose)
        exchange = conversation.transcript[-1]
        if option is None:
            have = [o.label for o in exchange.result.options]
            mismatches.append(
                Mismatch(("choose",), f"an option {show(step.choose)}", f"options {show(have)}")
            )
        else:
            exchange = conversation.turn(option.text, llm=step.llm)
    elif step.user is None:
        exchange = conversation.start()
    else:
        if step.resume:
            conversation.resume()
        exchange = conversation.turn(step.user, llm=step.llm)
    if not mismatches:
        mismatches = exchange.problems + check(step, exchange.result)
    if not mismatches:
        return
    path = loaded.source.path
    lines = sorted((loaded.line(loc + m.key), n) for n, m in enumerate(mismatches))
    failures = [(f"{path}:{line}", mismatches[n]) for line, n in lines]
    where = f"{path}:{loaded.line(loc)}"
    label = f"step {int(loc[-1]) + 1}" + ("" if step.sends else " (the greeting)")
    raise conversation.failure(exchange, failures, label=label, where=where)


def coverage_class() -> type[FlowCoverage] | None:
    """``dialogue.testing.coverage.FlowCoverage``, or None where that module is missing."""
    try:
        from dialogue.testing.coverage import FlowCoverage
    except ImportError:  # pragma: no cover - the module ships with the package
        return None
    return FlowCoverage


# --------------------------------------------------------------------------- names


def _slot_names(bot: Bot) -> set[str]:
    """Every slot a session of ``bot`` can hold: declared, ``into`` and ``set`` targets."""
    names: set[str] = set()
    for flow in bot.flows.values():
        names.update(flow.slots)
        for st in flow.states.values():
            names.update(_written(st))
    return names


def _written(st: CState) -> Iterable[str]:
    calls: list[CCall | None] = [st.call]
    transitions = [*st.next, *(t for ts in st.on.values() for t in ts)]
    calls += [t.call for t in transitions]
    yield from (call.into for call in calls if call is not None and call.into is not None)
    yield from (name for name, _ in st.set)
    yield from (name for t in transitions for name, _ in t.set)


def _states(bot: Bot) -> set[str]:
    names = {f"{f.name}.{s}" for f in bot.flows.values() for s in f.states}
    return names | {name.split(".", 1)[1] for name in names}


def check_names(loaded: LoadedSpec, index: int, bot: Bot) -> list[Diagnostic]:
    """Names in conversation ``index`` that ``bot`` does not have, with a did-you-mean."""
    conv = loaded.spec.conversations[index]
    known = {
        "slot": _slot_names(bot),
        "state": _states(bot),
        "flow": set(bot.flows),
        "intent": {i for f in bot.flows.values() for i in f.definition.intents},
        "action": {name for f in bot.flows.values() for name, _ in f.action_refs},
        "language": set(bot.languages),
        "event": {e for f in bot.flows.values() for e in f.events},
    }
    base: Loc = ("conversations", index)
    found = (
        [(base + ("actions", name), "action", name, True) for name in conv.actions]
        + [
            (loc, "language", lang, False)
            for loc, lang in (
                (("language",), loaded.spec.language),
                (base + ("language",), conv.language),
            )
            if lang is not None
        ]
        + [(base + ("slots", name), "slot", name, True) for name in conv.slots]
    )
    for j, step in enumerate(conv.steps):
        found += _step_names(base + ("steps", j), step)
    return [
        _unknown(loaded, loc, kind, name, known[kind], at_key)
        for loc, kind, name, at_key in found
        if name not in known[kind]
    ] + _unknown_file_stubs(loaded, known["action"])


def _step_names(loc: Loc, step: StepSpec) -> list[tuple[Loc, str, str, bool]]:
    found: list[tuple[Loc, str, str, bool]] = []
    found += [(loc + ("slots", name), "slot", name, True) for name in step.slots or {}]
    for key in ("slots_set", "slots_unset"):
        names = getattr(step, key) or ()
        found += [(loc + (key, i), "slot", name, False) for i, name in enumerate(names)]
    found += [(loc + ("calls", i), "action", n, False) for i, n in enumerate(step.calls or ())]
    for key in ("state", "flow", "intent", "event"):
        value = getattr(step, key)
        if value is not None:
            found.append((loc + (key,), key, value, False))
    return found


def _unknown_file_stubs(loaded: LoadedSpec, actions: set[str]) -> list[Diagnostic]:
    return [
        _unknown(loaded, ("actions", name), "action", name, actions, True)
        for name in loaded.spec.actions
        if name not in actions
    ]


def _unknown(
    loaded: LoadedSpec, loc: Loc, kind: str, name: str, known: set[str], at_key: bool
) -> Diagnostic:
    flow = loaded.spec.flow
    listed = ", ".join(sorted(n for n in known if "." not in n)) or "none"
    hint = did_you_mean(name, known) or f"the flow's {kind}s: {listed}"
    message = f"unknown {kind} '{name}': {flow} has no such {kind}"
    return loaded.source.diagnostic(loc, f"unknown_{kind}", message, hint, at_key=at_key)
