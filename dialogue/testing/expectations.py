"""What each expectation of a conversation test means, and the report of a failed one.

`check` compares a turn's `TurnResult` with an `Expect` and returns a `Mismatch`
for every expectation that does not hold. `conversation_failure` builds the
`ConversationFailure` (an ``AssertionError``) whose message is the transcript up
to the failing turn and, for each mismatch, where the expectation is written,
what was expected and what happened::

    conversation 'track an order' failed at step 2 (flows/tests/test_shop.yaml:9)

       bot> Hi! I'm the shop assistant. ...
      user> where is my order
       bot> What's your order number? It looks like AB123456.
            [intent track ('where is my order')] menu -> tracking

    flows/tests/test_shop.yaml:11: state
        expected: "menu"
        actual:   "tracking"
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dialogue.authoring.yaml_source import dotted
from dialogue.errors import ConversationFailure, Loc
from dialogue.testing.spec import Expect
from dialogue.trace import TurnResult


@dataclass(frozen=True)
class Mismatch:
    """One expectation that did not hold: its key in the step, expected and actual."""

    key: Loc
    """Where in the step: ``("state",)``, ``("slots", "order_id")``, ``("bot_contains", 1)``."""
    expected: str
    actual: str


def show(value: Any) -> str:
    """A value as JSON (which is also YAML): strings in double quotes, ``null``, ``true``."""
    return json.dumps(value, ensure_ascii=False, default=str)


def _replies(replies: Sequence[str]) -> str:
    return "\n".join(show(r) for r in replies) if replies else "(no reply)"


def llm_called(result: TurnResult) -> bool:
    """Whether the turn sent a request to the LLM (not offline, not over budget)."""
    llm = result.trace.llm
    return llm is not None and llm.outcome not in ("offline", "budget")


def _same(want: Any, have: Any) -> bool:
    if isinstance(want, bool) or isinstance(have, bool):
        return type(want) is type(have) and want == have
    return bool(want == have)


Check = Callable[[Any, TurnResult], list[Mismatch]]


def _bot(want: tuple[str, ...], r: TurnResult) -> list[Mismatch]:
    if list(want) == r.replies:
        return []
    return [Mismatch(("bot",), _replies(want), _replies(r.replies))]


def _key(name: str, i: int, want: Sequence[object]) -> Loc:
    """The key of one entry of a list expectation (just the name if it has one entry)."""
    return (name, i) if len(want) > 1 else (name,)


def _bot_contains(want: tuple[str, ...], r: TurnResult) -> list[Mismatch]:
    text = "\n".join(r.replies)
    return [
        Mismatch(
            _key("bot_contains", i, want), f"a reply containing {show(part)}", _replies(r.replies)
        )
        for i, part in enumerate(want)
        if part not in text
    ]


def _bot_contains_ci(want: tuple[str, ...], r: TurnResult) -> list[Mismatch]:
    text = "\n".join(r.replies).casefold()
    return [
        Mismatch(
            _key("bot_contains_ci", i, want),
            f"a reply containing {show(part)} (any case)",
            _replies(r.replies),
        )
        for i, part in enumerate(want)
        if part.casefold() not in text
    ]


def _bot_matches(want: tuple[str, ...], r: TurnResult) -> list[Mismatch]:
    text = "\n".join(r.replies)
    return [
        Mismatch(_key("bot_matches", i, want), f"a reply matching /{pattern}/", _replies(r.replies))
        for i, pattern in enumerate(want)
        if re.search(pattern, text) is None
    ]


def _bot_one_of(want: tuple[str, ...], r: TurnResult) -> list[Mismatch]:
    if "\n".join(r.replies) in want:
        return []
    return [Mismatch(("bot_one_of",), "one of:\n" + _replies(want), _replies(r.replies))]


def _state(want: str, r: TurnResult) -> list[Mismatch]:
    have = f"{r.flow}.{r.state}" if "." in want else r.state
    return [] if want == have else [Mismatch(("state",), show(want), show(have))]


def _flow(want: str, r: TurnResult) -> list[Mismatch]:
    return [] if want == r.flow else [Mismatch(("flow",), show(want), show(r.flow))]


def _slots(want: dict[str, Any], r: TurnResult) -> list[Mismatch]:
    return [
        Mismatch(("slots", name), show(value), show(r.slots.get(name)))
        for name, value in want.items()
        if not _same(value, r.slots.get(name))
    ]


def _slots_set(want: tuple[str, ...], r: TurnResult) -> list[Mismatch]:
    return [
        Mismatch(_key("slots_set", i, want), f"{name} set", f"{name} unset")
        for i, name in enumerate(want)
        if r.slots.get(name) is None
    ]


def _slots_unset(want: tuple[str, ...], r: TurnResult) -> list[Mismatch]:
    return [
        Mismatch(_key("slots_unset", i, want), f"{name} unset", f"{name} = {show(r.slots[name])}")
        for i, name in enumerate(want)
        if r.slots.get(name) is not None
    ]


def _answered_by(r: TurnResult) -> str:
    t = r.trace
    if t.intent:
        matched = f" ({show(t.matched)})" if t.matched else ""
        return f"intent {show(t.intent)}{matched}, rule {show(t.rule)}"
    return f"no intent, rule {show(t.rule)}"


def _intent(want: str, r: TurnResult) -> list[Mismatch]:
    if want == r.trace.intent:
        return []
    return [Mismatch(("intent",), show(want), _answered_by(r))]


def _rule(want: str, r: TurnResult) -> list[Mismatch]:
    return [] if want == r.trace.rule else [Mismatch(("rule",), show(want), _answered_by(r))]


def _llm_state(r: TurnResult) -> str:
    llm = r.trace.llm
    if llm is None:
        return f"the LLM was not consulted: {_answered_by(r)}"
    error = f": {llm.error}" if llm.error else ""
    return f"LLM outcome {show(llm.outcome)}{error}"


def _llm_called(want: bool, r: TurnResult) -> list[Mismatch]:
    have = llm_called(r)
    if want == have:
        return []
    return [Mismatch(("llm_called",), show(want), f"{show(have)} ({_llm_state(r)})")]


def _llm_outcome(want: str, r: TurnResult) -> list[Mismatch]:
    llm = r.trace.llm
    if llm is not None and llm.outcome == want:
        return []
    return [Mismatch(("llm_outcome",), show(want), _llm_state(r))]


def _calls(want: tuple[str, ...], r: TurnResult) -> list[Mismatch]:
    have = [a.name for a in r.trace.actions]
    return [] if list(want) == have else [Mismatch(("calls",), show(list(want)), show(have))]


def _ended(want: bool, r: TurnResult) -> list[Mismatch]:
    return [] if want == r.ended else [Mismatch(("ended",), show(want), show(r.ended))]


def _language(want: str, r: TurnResult) -> list[Mismatch]:
    have = r.language
    return [] if want == have else [Mismatch(("language",), show(want), show(have))]


def _handed_off(want: bool, r: TurnResult) -> list[Mismatch]:
    have = r.handed_off
    return [] if want == have else [Mismatch(("handed_off",), show(want), show(have))]


def _handoff_reason(want: str, r: TurnResult) -> list[Mismatch]:
    if r.handoff is not None and r.handoff.reason == want:
        return []
    have = "no handoff this turn" if r.handoff is None else show(r.handoff.reason)
    return [Mismatch(("handoff_reason",), show(want), have)]


def _options(want: tuple[str, ...], r: TurnResult) -> list[Mismatch]:
    have = [o.label for o in r.options]
    return [] if list(want) == have else [Mismatch(("options",), show(list(want)), show(have))]


_CHECKS: dict[str, Check] = {
    "bot": _bot,
    "bot_contains": _bot_contains,
    "bot_contains_ci": _bot_contains_ci,
    "bot_matches": _bot_matches,
    "bot_one_of": _bot_one_of,
    "state": _state,
    "flow": _flow,
    "slots": _slots,
    "slots_set": _slots_set,
    "slots_unset": _slots_unset,
    "intent": _intent,
    "rule": _rule,
    "llm_called": _llm_called,
    "llm_outcome": _llm_outcome,
    "calls": _calls,
    "ended": _ended,
    "language": _language,
    "handed_off": _handed_off,
    "handoff_reason": _handoff_reason,
    "options": _options,
}


def check(expect: Expect, result: TurnResult) -> list[Mismatch]:
    """Every expectation written in ``expect`` that ``result`` does not meet.

    A turn that failed (rule ``error``: a template or the store broke) is a
    mismatch unless the step expects ``rule: error``.
    """
    found: list[Mismatch] = []
    if result.trace.rule == "error" and expect.rule != "error":
        errors = "; ".join(result.trace.errors) or "unknown error"
        found.append(Mismatch(("user",), "the turn to succeed", f"it failed: {errors}"))
    for key in expect.given():
        value = getattr(expect, key)
        if value is not None:
            found += _CHECKS[key](value, result)
    return found


# --------------------------------------------------------------------------- the report

Turn = tuple[str | None, TurnResult]
"""(what the user said, None for the greeting; what came of it)."""


def _indent(text: str, first: str, rest: str) -> list[str]:
    lines = text.split("\n")
    return [first + lines[0], *(rest + line for line in lines[1:])]


def transcript(turns: Sequence[Turn], *, trace_last: bool = True) -> list[str]:
    """The conversation as ``user>`` / `` bot>`` lines; the last turn's trace below it."""
    lines: list[str] = []
    for n, (user, result) in enumerate(turns):
        if user is not None:
            lines += _indent(user, "  user> ", "        ")
        for reply in result.replies or ["(no reply)"]:
            lines += _indent(reply, "   bot> ", "        ")
        if trace_last and n == len(turns) - 1:
            lines.append("        " + result.trace.summary())
    return lines


def conversation_failure(
    name: str,
    label: str,
    turns: Sequence[Turn],
    failures: Sequence[tuple[str, Mismatch]],
    *,
    where: str = "",
) -> ConversationFailure:
    """The error for failed expectations, with the report for a designer as its message."""
    title = f"conversation '{name}'" if name else "conversation"
    head = f"{title} failed at {label}" + (f" ({where})" if where else "")
    lines = [head, "", *transcript(turns), ""]
    for at, mismatch in failures:
        key = dotted(mismatch.key)
        lines.append(f"{at}: {key}" if at else key)
        lines += _indent(mismatch.expected, "    expected: ", "              ")
        lines += _indent(mismatch.actual, "    actual:   ", "              ")
    return ConversationFailure(
        "\n".join(lines), name=name, label=label, turns=turns, failures=failures, where=where
    )
