"""Flow coverage: which parts of the flows a set of conversations exercised.

::

    coverage = FlowCoverage(engine.bot)
    coverage.record(engine.handle("s1", "where is my order"))   # every turn
    report = coverage.report()
    print(report.render_terminal()); report.percent

What is counted, per flow. Items are the things the compiled flow has; each is
a string, listed in file order:

``states``
    every state (``menu``): covered when entered.
``transitions``
    every ``on`` and ``next`` transition, by its label (``menu.on.track[0]``,
    ``tracking.next[1]``), and the moves written elsewhere, named after where
    they start: ``intents.NAME.goto`` (a global intent's ``goto``),
    ``STATE.call.ACTION.on_error`` (ACTION failed in STATE, from the state's
    ``call`` or one of its transitions'), ``STATE.collect.SLOT.on_exhausted``
    (SLOT's attempts ran out in STATE) and ``STATE.no_match.goto`` (the no-match
    escalation). These are the edges of ``dialogue graph``, plus the ``next``
    transitions that stay in their state.
``intents``
    every global intent and every local one some state has in ``on`` (``track``):
    covered when it matched, by a rule or chosen by the LLM (even when its
    transitions' conditions then blocked it).
``reprompts``
    the reprompt ladder of every slot some state collects: ``SLOT: reprompt N``
    for each rung, then ``SLOT: exhausted`` if it has ``on_exhausted``.
``no_matches``
    the no-match ladder of every state that can wait with no question pending
    (``CState.waits_idle``; while a question is pending a message is an answer or
    invalid): ``STATE: no-match N`` for each rung, then ``STATE: escalation`` if
    it has a ``goto``.
``llm``
    for every state with an LLM fallback where a message can arrive:
    ``STATE: consulted`` (a request was made: not offline, not over budget) and
    ``STATE: intent`` / ``STATE: slots`` / ``STATE: reply`` for each outcome its
    mode and its intents and slots allow.
``prompts``
    every prompt those states render (``default``, ``prompts/shop.j2``): covered
    when rendered for a request.

Rungs of a ladder: one that ends in a move (``on_exhausted``, ``goto``) has one
rung per count before the move, ``1 .. max - 1`` (``max_attempts`` for slots);
one that never ends has one rung per message (at least one), and later counts,
which repeat the last message, cover the last rung. A state with two no-match
messages, ``max: 3`` and a ``goto`` has ``no-match 1``, ``no-match 2``,
``escalation``. A ladder's move is also a transition: its last step covers an
item of both kinds.

Every turn is read from the typed events of its ``Trace``, each of which names
the flow and state it happened in; an intent counts in the flow that owns it
(``IntentMatched.owner``: a calling flow's, for its global intents), and the LLM
outcome in the state the turn started in (on a session's first turn the greeting
runs first, and the LLM is not consulted). What a trace names but the bot does
not have is ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dialogue.errors import ConfigurationError
from dialogue.events import (
    Entered,
    Escalated,
    Exhausted,
    IntentMatched,
    Moved,
    NoMatched,
    Reprompted,
)
from dialogue.runtime.compiled import ANY, Bot, CFallback, CNoMatch, CompiledFlow, CSlot, CState
from dialogue.testing.coverage_report import FORMAT, KINDS, VERSION, Category, CoverageReport
from dialogue.trace import Trace, TurnResult

Covered = tuple[str, str, str]
"""``(flow, kind, item)``: one thing a turn covered."""

# -- what there is to cover --------------------------------------------------------


def reprompt_rungs(slot: CSlot) -> int:
    if slot.on_exhausted is not None:
        return slot.max_attempts - 1
    return max(len(slot.invalid), 1)


def no_match_rungs(policy: CNoMatch) -> int:
    if policy.goto is not None:
        return policy.max - 1
    return max(len(policy.say), 1)


def llm_outcomes(fb: CFallback) -> tuple[str, ...]:
    """The outcomes a state's fallback can have: ``intent``, ``slots``, ``reply``."""
    understands = fb.mode in ("understand", "both")
    found = [
        "intent" if understands and fb.intents else "",
        "slots" if understands and fb.slots else "",
        "reply" if fb.mode in ("respond", "both") else "",
    ]
    return tuple(o for o in found if o)


def catalogue(flow: CompiledFlow) -> dict[str, tuple[str, ...]]:
    """Every item of the flow, by kind, in file order."""
    asking = [st for st in flow.states.values() if st.receives_messages]
    consulting = [st for st in asking if st.fallback is not None]
    return {
        "states": tuple(flow.states),
        "transitions": _transitions(flow),
        "intents": _intents(flow),
        "reprompts": _reprompts(flow),
        "no_matches": _no_matches(flow),
        "llm": tuple(item for st in consulting for item in _llm(st)),
        "prompts": tuple(
            dict.fromkeys(st.fallback.prompt_name for st in consulting if st.fallback)
        ),
    }


def _transitions(flow: CompiledFlow) -> tuple[str, ...]:
    """Every move's key, each once: a state's own, then the global intents'."""
    by_source: dict[str, list[str]] = {}
    for move in flow.moves:
        by_source.setdefault(move.source, []).append(move.key)
    return tuple(dict.fromkeys(k for name in [*flow.states, ANY] for k in by_source.get(name, [])))


def _intents(flow: CompiledFlow) -> tuple[str, ...]:
    used = {intent for st in flow.states.values() for intent in st.on}
    return tuple(
        name
        for name, intent in flow.definition.intents.items()
        if intent.scope == "global" or name in used
    )


def _reprompts(flow: CompiledFlow) -> tuple[str, ...]:
    asked = {slot for st in flow.states.values() for slot in st.collect}
    items = []
    for name, slot in flow.slots.items():
        if name in asked:
            items += [f"{name}: reprompt {n}" for n in range(1, reprompt_rungs(slot) + 1)]
            items += [f"{name}: exhausted"] if slot.on_exhausted is not None else []
    return tuple(items)


def _no_matches(flow: CompiledFlow) -> tuple[str, ...]:
    items = []
    for name, st in flow.states.items():
        if st.waits_idle:
            items += [f"{name}: no-match {n}" for n in range(1, no_match_rungs(st.no_match) + 1)]
            items += [f"{name}: escalation"] if st.no_match.goto is not None else []
    return tuple(items)


def _llm(st: CState) -> list[str]:
    assert st.fallback is not None
    return [f"{st.name}: consulted"] + [f"{st.name}: {o}" for o in llm_outcomes(st.fallback)]


# -- what a turn covered -----------------------------------------------------------


def events(bot: Bot, trace: Trace) -> Iterator[Covered]:
    """Everything one turn covered, read from its typed events (items the bot does not
    have included: the caller filters them out)."""
    for e in trace.events:
        match e:
            case Entered(flow, state):
                yield flow, "states", state
            case Moved(flow, _, _, key):
                yield flow, "transitions", key
            case IntentMatched(_, _, intent, owner):
                yield owner, "intents", intent
            case Reprompted(flow, _, slot, n):
                compiled = bot.flows.get(flow)
                cslot = None if compiled is None else compiled.slots.get(slot)
                rungs = 0 if cslot is None else reprompt_rungs(cslot)
                if rungs:
                    yield flow, "reprompts", f"{slot}: reprompt {min(n, rungs)}"
            case Exhausted(flow, _, slot):
                yield flow, "reprompts", f"{slot}: exhausted"
            case NoMatched(flow, state, n):
                st = _state(bot, flow, state)
                rungs = 0 if st is None else no_match_rungs(st.no_match)
                if rungs:
                    yield flow, "no_matches", f"{state}: no-match {min(n, rungs)}"
            case Escalated(flow, state):
                yield flow, "no_matches", f"{state}: escalation"
    yield from _llm_events(bot, trace)


def _state(bot: Bot, flow: str, state: str) -> CState | None:
    compiled = bot.flows.get(flow)
    return None if compiled is None else compiled.states.get(state)


def _llm_events(bot: Bot, trace: Trace) -> Iterator[Covered]:
    llm = trace.llm
    if llm is None or llm.outcome in ("offline", "budget"):
        return  # nothing was rendered nor asked
    flow, state = trace.flow_before, trace.state_before
    st = _state(bot, flow, state)
    if st is None or st.fallback is None or st.fallback.prompt_name != llm.prompt:
        return
    yield flow, "llm", f"{state}: consulted"
    yield flow, "llm", f"{state}: {llm.outcome}"
    yield flow, "prompts", llm.prompt


# -- the collector ---------------------------------------------------------------------


class FlowCoverage:
    """What conversations with ``bot`` have covered so far; see the module docstring."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self._items = {name: catalogue(flow) for name, flow in bot.flows.items()}
        self._known = {
            (flow, kind): frozenset(found)
            for flow, items in self._items.items()
            for kind, found in items.items()
        }
        self._covered: dict[tuple[str, str], set[str]] = {key: set() for key in self._known}

    def add(self, flow: str, kind: str, item: str) -> bool:
        """Mark one item covered; False (and nothing marked) if the bot has no such item."""
        if item not in self._known.get((flow, kind), ()):
            return False
        self._covered[flow, kind].add(item)
        return True

    def record(self, result: TurnResult) -> None:
        """Fold one turn in."""
        for flow, kind, item in events(self.bot, result.trace):
            self.add(flow, kind, item)

    def merge(self, other: FlowCoverage) -> None:
        """Add what ``other`` covered (items this bot does not have are ignored)."""
        for (flow, kind), items in other._covered.items():
            for item in items:
                self.add(flow, kind, item)

    def report(self) -> CoverageReport:
        categories = []
        for flow, items in self._items.items():
            for kind in KINDS:
                covered = self._covered[flow, kind]
                categories.append(
                    Category(
                        flow,
                        kind,
                        tuple(i for i in items[kind] if i in covered),
                        tuple(i for i in items[kind] if i not in covered),
                    )
                )
        return CoverageReport(tuple(categories))

    def to_json(self) -> dict[str, Any]:
        """``self.report().to_json()``: the shape ``from_json`` reads back."""
        return self.report().to_json()

    @classmethod
    def from_json(
        cls, bot: Bot, data: Mapping[str, Any], *, source: str = "coverage data"
    ) -> FlowCoverage:
        """Coverage of ``bot`` as saved by ``to_json``: the items it lists as covered
        (items, kinds and flows the bot no longer has are ignored). ``source`` names
        the data in errors (``ConfigurationError``), e.g. its file."""
        coverage = cls(bot)
        for flow, kind, items in _saved_items(data, source):
            for item in items:
                coverage.add(flow, kind, item)
        return coverage


_HINT = "save it with FlowCoverage.to_json() or CoverageReport.to_json()"


def _saved_items(data: Any, source: str) -> Iterator[tuple[str, str, list[str]]]:
    """``(flow, kind, covered items)`` of saved coverage data, checked."""
    header = (data.get("format"), data.get("version")) if isinstance(data, Mapping) else None
    if header != (FORMAT, VERSION):
        found = (
            "not an object" if header is None else f"format {header[0]!r}, version {header[1]!r}"
        )
        raise ConfigurationError(
            f"{source}: not flow coverage data ({found}; "
            f"expected format {FORMAT!r}, version {VERSION})",
            hint=_HINT,
        )
    for flow, entry in _mapping(data, "flows", source, "").items():
        for kind, found_items in _mapping(entry, "kinds", source, f"flows.{flow}.").items():
            where = f"flows.{flow}.kinds.{kind}"
            items = found_items.get("covered_items") if isinstance(found_items, Mapping) else None
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                message = f"{source}: {where}.covered_items is not a list of strings"
                raise ConfigurationError(message, hint=_HINT)
            yield flow, kind, items


def _mapping(parent: Any, key: str, source: str, where: str) -> Mapping[str, Any]:
    """``parent[key]``, which must be an object."""
    value = parent.get(key) if isinstance(parent, Mapping) else None
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{source}: {where}{key} is not an object", hint=_HINT)
    return value


def read_coverage(bot: Bot, path: str | Path) -> CoverageReport:
    """The coverage report saved at ``path`` (``FlowCoverage.to_json``), for ``bot``;
    raises ``ConfigurationError`` when the file cannot be read or is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigurationError(
            f"{path}: cannot read flow coverage: {exc}",
            hint="give the JSON file written by the flow coverage report",
        ) from exc
    return FlowCoverage.from_json(bot, data, source=str(path)).report()
