"""The static checks of ``dialogue.compiler.lint``: warnings on flows that compile."""

from __future__ import annotations

import pytest

from dialogue.authoring.loader import parse_flow
from dialogue.compiler.build import compile_flows
from dialogue.errors import Diagnostic


def flow(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def diagnostics(text: str, *subflows: str) -> tuple[Diagnostic, ...]:
    """The warnings of ``text`` (``f.yaml``) compiled with ``subflows`` (``sub0.yaml``...)."""
    loaded = [parse_flow(text, path="f.yaml")]
    loaded += [parse_flow(t, path=f"sub{i}.yaml") for i, t in enumerate(subflows)]
    return compile_flows(loaded).warnings


def warnings(text: str, *subflows: str) -> list[str]:
    """Each warning as ``path:line:col: warning: message`` (without its hint)."""
    return [str(d).split("\n")[0] for d in diagnostics(text, *subflows)]


def only(text: str, *subflows: str) -> Diagnostic:
    (found,) = diagnostics(text, *subflows)
    assert found.severity == "warning"
    return found


CLEAN = flow(
    "flow: shop",
    "start: menu",
    "slots:",
    "  size:",
    "    type: enum",
    "    values: [small, large]",
    "    ask: Which size?",
    "  price:",
    "    type: any",
    "intents:",
    "  order: {keywords: [order, buy]}",
    "  bye: {keywords: bye}",
    "  help: {scope: global, keywords: help, say: I sell shirts.}",
    "states:",
    "  menu:",
    "    say: Hi! Want a shirt?",
    "    on:",
    "      order: ordering",
    "      bye: goodbye",
    "  ordering:",
    "    collect: size",
    "    call: {action: price_of, with: {size: size}, into: price, on_error: goodbye}",
    "    next:",
    "      - if: price is none",
    "        goto: goodbye",
    "      - say: 'A {{ size }} shirt is {{ price }}.'",
    "        goto: goodbye",
    "  goodbye:",
    "    say: Bye!",
    "    final: true",
)


def test_a_clean_flow_has_no_warnings() -> None:
    assert warnings(CLEAN) == []


# --------------------------------------------------------------------------- states


def test_unreachable_state() -> None:
    text = flow(
        "flow: shop",
        "start: menu",
        "states:",
        "  menu:",
        "    say: Hi",
        "    final: true",
        "  lost:",
        "    say: Nobody comes here",
        "    final: true",
    )
    found = only(text)
    assert str(found) == (
        "f.yaml:7:3: warning: state 'lost' can never be reached\n"
        "    hint: no transition leads to it from the start state 'menu'"
    )
    assert found.code == "unreachable_state"


def test_a_state_reached_only_by_a_global_intent_is_reachable() -> None:
    text = flow(
        "flow: shop",
        "start: menu",
        "intents:",
        "  agent: {scope: global, keywords: agent, goto: handoff}",
        "states:",
        "  menu: {say: Hi, final: true}",
        "  handoff: {say: One moment, final: true}",
    )
    assert warnings(text) == []


def test_unreachable_state_behind_an_unreachable_one() -> None:
    text = flow(
        "flow: shop",
        "start: menu",
        "states:",
        "  menu: {final: true}",
        "  a: {next: [{goto: b}]}",
        "  b: {final: true}",
    )
    assert warnings(text) == [
        "f.yaml:5:3: warning: state 'a' can never be reached",
        "f.yaml:6:3: warning: state 'b' can never be reached",
    ]


def test_dead_end() -> None:
    text = flow(
        "flow: shop",
        "start: menu",
        "intents:",
        "  browse: {keywords: browse}",
        "states:",
        "  menu:",
        "    on:",
        "      browse: catalog",
        "  catalog:",
        "    say: Here is the catalog.",
    )
    found = only(text)
    assert str(found) == (
        "f.yaml:9:3: warning: state 'catalog' is not final and has no way out\n"
        "    hint: add 'final: true', a 'next' transition or an 'on' transition with 'goto'"
    )
    assert found.code == "dead_end"


def test_a_state_that_only_loops_on_itself_is_a_dead_end() -> None:
    text = flow(
        "flow: shop",
        "start: menu",
        "intents:",
        "  again: {keywords: again}",
        "states:",
        "  menu:",
        "    on:",
        "      again: menu",
    )
    assert warnings(text) == ["f.yaml:6:3: warning: state 'menu' is not final and has no way out"]


def test_a_state_running_a_sub_flow_is_no_dead_end() -> None:
    main = flow(
        "flow: shop",
        "start: menu",
        "states:",
        "  menu:",
        "    flow: address",
    )
    sub = flow("flow: address", "start: ask", "states:", "  ask: {final: true}")
    assert warnings(main, sub) == []


def test_a_call_without_next_is_a_dead_end() -> None:
    text = flow(
        "flow: shop",
        "start: menu",
        "intents:",
        "  track: {keywords: track}",
        "states:",
        "  menu:",
        "    on:",
        "      track: lookup",
        "  lookup:",
        "    call: {action: order_status}",
    )
    assert warnings(text) == ["f.yaml:9:3: warning: state 'lookup' is not final and has no way out"]


@pytest.mark.parametrize(
    "escape",
    [
        "    no_match: {max: 2, goto: handoff}",
        "    collect: code",
        "    call: {action: check, on_error: handoff}",
    ],
    ids=["no-match", "slot-exhausted", "call-error"],
)
def test_only_failures_lead_out_is_a_dead_end(escape: str) -> None:
    text = flow(
        "flow: shop",
        "start: menu",
        "slots: {code: {type: text, ask: 'Code?', on_exhausted: handoff}}",
        "intents:",
        "  agent: {scope: global, keywords: agent, goto: handoff}",
        "states:",
        "  handoff: {say: '{{ code }}', final: true}",
        "  menu:",
        escape,
    )
    found = [d for d in diagnostics(text) if d.code == "dead_end"]
    assert [(d.line, d.message) for d in found] == [
        (8, "state 'menu' is not final and has no way out")
    ]


# --------------------------------------------------------------------------- slots


def test_unused_slot() -> None:
    text = flow(
        "flow: shop",
        "start: menu",
        "slots:",
        "  coupon: {type: text, ask: 'Any coupon?'}",
        "states:",
        "  menu: {say: Hi, final: true}",
    )
    found = only(text)
    assert str(found) == (
        "f.yaml:4:3: warning: slot 'coupon' is never filled nor used\n"
        "    hint: collect it in a state, or remove it"
    )
    assert found.code == "unused_slot"


def test_unread_slot() -> None:
    text = flow(
        "flow: shop",
        "start: menu",
        "slots:",
        "  coupon: {type: text, ask: 'Any coupon?'}",
        "states:",
        "  menu:",
        "    collect: coupon",
        "    say: Thanks!",
        "    final: true",
    )
    found = only(text)
    assert str(found) == (
        "f.yaml:4:3: warning: slot 'coupon' is filled but never used\n"
        "    hint: use it in a reply, a condition or an action's 'with', or stop collecting it"
    )
    assert found.code == "unread_slot"


def test_a_slot_set_but_never_read_is_unread() -> None:
    text = flow(
        "flow: shop",
        "start: menu",
        "slots:",
        "  tries: {type: any}",
        "states:",
        "  menu: {set: {tries: 0}, final: true}",
    )
    assert warnings(text) == ["f.yaml:4:3: warning: slot 'tries' is filled but never used"]


def test_unfilled_slot_points_at_the_first_read() -> None:
    text = flow(
        "flow: shop",
        "start: menu",
        "slots:",
        "  coupon: {type: text}",
        "states:",
        "  menu:",
        "    say: ['Hello!', 'Your coupon: {{ coupon }}']",
        "    next:",
        "      - if: coupon",
        "        goto: done",
        "  done: {final: true}",
    )
    found = only(text)
    assert str(found) == (
        "f.yaml:7:21: warning: slot 'coupon' is used but never filled\n"
        "    hint: collect it in a state, 'set' it, or fill it from an intent pattern group"
    )
    assert found.code == "unfilled_slot"


def test_unfilled_slot_points_at_the_condition_that_reads_it() -> None:
    text = flow(
        "flow: shop",
        "start: menu",
        "slots:",
        "  coupon: {type: text}",
        "states:",
        "  menu:",
        "    next:",
        "      - {if: coupon, goto: done}",
        "  done: {final: true}",
    )
    assert warnings(text) == ["f.yaml:8:14: warning: slot 'coupon' is used but never filled"]


def test_unfilled_slot_points_at_the_text_that_reads_it() -> None:
    text = flow(
        "flow: shop",
        "start: menu",
        "slots:",
        "  coupon: {type: text}",
        "states:",
        "  menu:",
        "    say: 'Your coupon: {{ coupon }}'",
        "    final: true",
    )
    assert warnings(text) == ["f.yaml:7:10: warning: slot 'coupon' is used but never filled"]


@pytest.mark.parametrize(
    "filler",
    [
        "  menu: {collect: coupon, say: '{{ coupon }}', on: {code: menu}, final: true}",
        "  menu: {set: {coupon: \"'none'\"}, say: '{{ coupon }}', on: {code: menu}, final: true}",
        "  menu: {say: '{{ coupon }}', on: {code: menu}, final: true}",
    ],
    ids=["collect", "set", "pattern-group"],
)
def test_a_slot_filled_and_read_is_fine(filler: str) -> None:
    text = flow(
        "flow: shop",
        "start: menu",
        "slots:",
        "  coupon: {type: text, ask: 'Any coupon?'}",
        "intents:",
        "  code: {patterns: ['code (?P<coupon>\\w+)']}",
        "states:",
        filler,
    )
    assert warnings(text) == []


def test_clearing_a_slot_does_not_fill_it() -> None:
    text = flow(
        "flow: shop",
        "start: menu",
        "slots:",
        "  coupon: {type: text}",
        "  note: {type: text}",
        "states:",
        "  menu:",
        "    say: 'Coupon: {{ coupon }}'",
        "    clear: [coupon, note]",
        "    final: true",
    )
    assert [(d.code, d.message) for d in diagnostics(text)] == [
        ("unused_slot", "slot 'note' is never filled nor used"),
        ("unfilled_slot", "slot 'coupon' is used but never filled"),
    ]


def test_a_sub_flow_slot_read_by_the_caller_is_not_unread() -> None:
    address = flow(
        "flow: address",
        "start: ask",
        "slots:",
        "  street: {type: text, ask: 'Which street?'}",
        "states:",
        "  ask: {collect: street, final: true}",
    )
    caller = flow(
        "flow: returns",
        "start: pickup",
        "states:",
        "  pickup:",
        "    flow: address",
        "    next:",
        "      - say: 'We will pick it up at {{ street }}.'",
        "        goto: done",
        "  done: {final: true}",
    )
    assert warnings(caller, address) == []
    # Compiled on its own, nobody reads the street.
    assert warnings(address) == ["f.yaml:4:3: warning: slot 'street' is filled but never used"]


# --------------------------------------------------------------------------- intents


def test_unused_intent() -> None:
    text = flow(
        "flow: shop",
        "start: menu",
        "intents:",
        "  browse: {keywords: browse}",
        "  bye: {keywords: bye}",
        "  help: {scope: global, keywords: help, say: Ask me anything.}",
        "states:",
        "  menu:",
        "    on:",
        "      bye: done",
        "  done: {final: true}",
    )
    found = only(text)
    assert str(found) == (
        "f.yaml:4:3: warning: intent 'browse' is not used by any state\n"
        "    hint: add it to a state's 'on', make it 'scope: global', or remove it"
    )
    assert found.code == "unused_intent"


# --------------------------------------------------------------------------- transitions

SHADOWED = (
    "flow: shop",
    "start: menu",
    "slots:",
    "  size: {type: enum, values: [small, large], ask: 'Which size?'}",
    "intents:",
    "  order: {keywords: order}",
    "  help: {scope: global, keywords: help, say: Pick a size.}",
    "states:",
    "  menu:",
    "    collect: size",
    "    say: '{{ size }}'",
    "    on: {order: menu}",
)


def test_shadowed_by_an_unconditional_transition() -> None:
    text = flow(
        *SHADOWED,
        "    next:",
        "      - goto: done",
        "      - if: size == 'large'",
        "        goto: done",
        "  done: {final: true}",
    )
    found = only(text)
    assert str(found) == (
        "f.yaml:15:9: warning: transition 2 of 'next' in state 'menu' can never be taken: "
        "transition 1 has no 'if', so it is always taken\n"
        "    hint: put conditional transitions before the unconditional one"
    )
    assert found.code == "shadowed_transition"


def test_shadowed_by_the_same_condition_in_on() -> None:
    text = flow(
        *SHADOWED,
        "    next:",
        "      - {if: size == 'small', goto: done}",
        "  done:",
        "    on:",
        "      order:",
        "        - if: size == 'large'",
        "          goto: menu",
        "        - if: size == 'large'",
        "          goto: done",
        "    final: true",
    )
    found = only(text)
    assert str(found).split("\n")[0] == (
        "f.yaml:20:11: warning: transition 2 of 'on.order' in state 'done' can never be taken: "
        "transition 1 has the same condition (size == 'large') and comes first"
    )
    assert found.code == "shadowed_transition"


def test_a_repeated_condition_has_its_own_hint() -> None:
    text = flow(
        *SHADOWED,
        "    next:",
        "      - {if: size == 'large', goto: done}",
        "      - {if: size == 'large', goto: done}",
        "      - goto: done",
        "  done: {final: true}",
    )
    found = only(text)
    assert str(found) == (
        "f.yaml:15:9: warning: transition 2 of 'next' in state 'menu' can never be taken: "
        "transition 1 has the same condition (size == 'large') and comes first\n"
        "    hint: change one of the conditions, or merge the two transitions"
    )


def test_only_the_first_shadowed_transition_is_reported() -> None:
    text = flow(
        *SHADOWED,
        "    next:",
        "      - goto: done",
        "      - {if: size == 'large', goto: done}",
        "      - {if: size == 'small', goto: done}",
        "  done: {final: true}",
    )
    assert [d.code for d in diagnostics(text)] == ["shadowed_transition"]


def test_a_last_unconditional_transition_is_not_shadowed() -> None:
    text = flow(
        *SHADOWED,
        "    next:",
        "      - {if: size == 'large', goto: done}",
        "      - {if: size == 'small', goto: done}",
        "      - goto: done",
        "  done: {final: true}",
    )
    assert warnings(text) == []


# --------------------------------------------------------------------------- together


def test_warnings_are_warnings_and_do_not_stop_compiling() -> None:
    text = flow(
        "flow: shop",
        "start: menu",
        "slots:",
        "  coupon: {type: text, ask: 'Any coupon?'}",
        "intents:",
        "  browse: {keywords: browse}",
        "states:",
        "  menu: {say: Hi, final: true}",
        "  lost: {say: Nobody, final: true}",
    )
    found = diagnostics(text)
    assert [d.code for d in found] == [
        "unused_slot",
        "unused_intent",
        "unreachable_state",
    ]  # by line
    assert all(d.severity == "warning" and d.hint for d in found)
