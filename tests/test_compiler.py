"""What ``compile_flows`` builds: moves, context, matchers, action references; and how it fails."""

from __future__ import annotations

import builtins
import dataclasses
import io
import os
from pathlib import Path
from typing import Any

import pytest

from dialogue import Bot, CompiledFlow, Engine
from dialogue.authoring.loader import LoadedFlow, parse_flow
from dialogue.compiler.build import compile_flow, compile_flows
from dialogue.errors import ConfigurationError, FlowError, FlowErrors


def flow(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def compiled(text: str, *subflows: str) -> CompiledFlow:
    """The first flow of ``text`` (``f.yaml``) compiled with ``subflows``."""
    loaded = [parse_flow(text, path="f.yaml")]
    loaded += [parse_flow(t, path=f"sub{i}.yaml") for i, t in enumerate(subflows)]
    bot = compile_flows(loaded)
    return bot.flows[loaded[0].flow.flow]


def errors(*texts: str) -> list[str]:
    """Every error of compiling ``texts`` (``f0.yaml``...) as ``path:line:col: message``."""
    loaded = [parse_flow(t, path=f"f{i}.yaml") for i, t in enumerate(texts)]
    with pytest.raises(FlowError) as info:
        compile_flows(loaded)
    found = (
        info.value.diagnostics if isinstance(info.value, FlowErrors) else [info.value.diagnostic]
    )
    return [str(d).split("\n")[0] for d in found]


SHOP = flow(
    "flow: shop",  # 1
    "start: menu",
    "slots:",
    "  order_id:",
    "    type: pattern",  # 5
    "    pattern: '[A-Z]{2}\\d{6}'",
    "    ask: 'Your order number?'",
    "    on_exhausted: handoff",
    "intents:",
    "  track: {keywords: track, patterns: ['order (?P<order_id>[A-Z]{2}\\d{6})']}",  # 10
    "  bye: {keywords: bye}",
    "  agent: {scope: global, keywords: agent, goto: handoff}",
    "  help: {scope: global, keywords: help, say: I track orders.}",
    "states:",
    "  menu:",  # 15
    "    say: Hi!",
    "    on:",
    "      track: tracking",
    "      bye: goodbye",
    "    no_match: {max: 2, goto: handoff}",  # 20
    "  tracking:",
    "    collect: order_id",
    "    call:",
    "      action: order_status",
    "      with: {id: order_id}",  # 25
    "      into: status",
    "      on_error: sorry",
    "    next:",
    "      - if: status == 'lost'",
    "        call: {action: open_ticket, with: {id: order_id, note: \"'lost'\", level: 2}}",  # 30
    "        goto: sorry",
    "      - say: 'Order {{ order_id }} is {{ status }}.'",
    "        goto: menu",
    "  sorry: {say: Sorry about that., final: true}",
    "  handoff: {say: One moment., final: true}",  # 35
    "  goodbye: {say: Bye!, final: true}",
)


# --------------------------------------------------------------------------- the machine


def test_machine_moves_of_a_whole_flow() -> None:
    shop = compiled(SHOP)
    assert shop.machine.states == ("menu", "tracking", "sorry", "handoff", "goodbye")
    # on, on, no_match (and the global 'agent')
    assert shop.machine.allowed("menu") == {"tracking", "goodbye", "handoff"}
    # on_error and next, next, on_exhausted (and 'agent'), and the start state when
    # 'open_ticket' (no on_error) fails
    assert shop.machine.allowed("tracking") == {"sorry", "menu", "handoff"}
    # a final state still has the global switch
    assert shop.machine.allowed("goodbye") == {"handoff"}


ONE_MOVE = {
    "on": ("intents: {go: {keywords: go}}", "a: {on: {go: b}}"),
    "on-guarded": (
        "intents: {go: {keywords: go}}",
        "a: {on: {go: [{if: 'true', goto: b}, {say: no}]}}",
    ),
    "next": ("", "a: {next: [{goto: b}]}"),
    "no_match": ("", "a: {say: hi, no_match: {goto: b}}"),
    "fallback": ("fallback: {on_exhausted: b}", "a: {say: hi}"),
    "on_exhausted": (
        "slots: {x: {type: text, ask: X, on_exhausted: b}}",
        "a: {collect: x, say: '{{ x }}'}",
    ),
    "on_error": ("", "a: {call: {action: f, on_error: b}}"),
    "transition-on_error": ("", "a: {next: [{call: {action: f, on_error: b}}]}"),
    "global": ("intents: {g: {scope: global, keywords: g, goto: b}}", "a: {say: hi}"),
}


@pytest.mark.parametrize("kind", ONE_MOVE)
def test_each_kind_of_move_is_in_the_machine(kind: str) -> None:
    top, state = ONE_MOVE[kind]
    text = flow("flow: f", "start: a", top, "states:", f"  {state}", "  b: {final: true}")
    machine = compiled(text).machine
    assert machine.allowed("a") == {"b"}
    assert machine.fire("a", "b") == "b"


def test_a_failing_call_without_on_error_goes_back_to_the_start() -> None:
    text = flow(
        "flow: f",
        "start: menu",
        "states:",
        "  menu: {next: [{goto: a}]}",
        "  a: {call: {action: f}, next: [{goto: b}]}",
        "  b: {final: true}",
    )
    assert compiled(text).machine.allowed("a") == {"menu", "b"}


def test_a_transition_without_goto_is_no_move() -> None:
    text = flow(
        "flow: f",
        "start: a",
        "intents: {hi: {keywords: hi}}",
        "states:",
        "  a: {on: {hi: {say: Hello}}, final: true}",
    )
    assert compiled(text).machine.allowed("a") == frozenset()


# --------------------------------------------------------------------------- what templates see


def test_base_context_names_every_readable_name() -> None:
    shop = compiled(SHOP)
    # the flow's slots and the results of its actions ('into'), all None
    assert shop.base_context == {"order_id": None, "status": None}


def test_base_context_includes_the_slots_of_called_sub_flows() -> None:
    main = flow(
        "flow: returns",
        "start: pickup",
        "slots: {reason: {type: text, ask: 'Why?'}}",
        "states:",
        "  pickup:",
        "    collect: reason",
        "    flow: address",
        "    next: [{say: '{{ reason }}: {{ street }}', goto: done}]",
        "  done: {final: true}",
    )
    address = flow(
        "flow: address",
        "start: ask",
        "slots: {street: {type: text, ask: 'Street?'}}",
        "states:",
        "  ask: {collect: street, final: true}",
    )
    assert compiled(main, address).base_context == {"reason": None, "street": None}
    assert compiled(address, main).base_context == {"street": None}


# --------------------------------------------------------------------------- actions


def test_action_refs_name_every_call_with_where_it_is() -> None:
    shop = compiled(SHOP)
    assert shop.action_refs == (
        ("order_status", ("states", "tracking", "call", "action")),
        ("open_ticket", ("states", "tracking", "next", 0, "call", "action")),
    )
    where = [shop.source.source.position(loc) for _, loc in shop.action_refs]
    assert where == [(24, 15), (30, 24)]


def test_call_arguments_are_expressions_or_literals() -> None:
    ticket = compiled(SHOP).states["tracking"].next[0].call
    assert ticket is not None
    args = dict(ticket.arguments)
    assert args["id"].evaluate({"order_id": "AB123456"}) == "AB123456"
    assert args["note"].evaluate({}) == "lost"  # a quoted string in an expression
    assert args["level"].evaluate({}) == 2  # a literal
    assert ticket.timeout == 5.0  # settings.action_timeout
    assert ticket.on_error is None


def test_literal_values_are_constants() -> None:
    text = flow(
        "flow: f",
        "start: a",
        "slots: {tries: {type: any}}",
        "states:",
        "  a: {set: {tries: 3}, say: '{{ tries }}', final: true}",
    )
    ((name, value),) = compiled(text).states["a"].set
    assert name == "tries"
    assert value.evaluate({}) == 3
    assert value.value == 3  # type: ignore[union-attr]  # a Const, not an Expression


# --------------------------------------------------------------------------- matchers


def test_a_state_matcher_has_its_own_intents_then_the_global_ones() -> None:
    shop = compiled(SHOP)
    assert shop.states["menu"].matcher.names == ("track", "bye", "agent", "help")
    assert shop.states["tracking"].matcher.names == ("agent", "help")
    assert shop.global_matcher.names == ("agent", "help")
    assert list(shop.globals) == ["agent", "help"]
    assert shop.globals["agent"].goto == "handoff"
    assert [t.source for t in shop.globals["help"].say] == ["I track orders."]


def test_only_extractable_slots_are_picked_out_of_any_message() -> None:
    text = flow(
        "flow: f",
        "start: a",
        "slots:",
        "  code: {type: pattern, pattern: '[0-9]{4}', ask: 'Code?'}",
        "  name: {type: text, ask: 'Name?'}",
        "states:",
        "  a: {collect: [code, name], say: '{{ code }} {{ name }}', final: true}",
    )
    state = compiled(text).states["a"]
    assert state.collect == ("code", "name")
    assert state.extract == ("code",)


def test_transition_labels_say_where_they_are_written() -> None:
    shop = compiled(SHOP)
    assert [t.label for t in shop.states["menu"].on["track"]] == ["menu.on.track[0]"]
    assert [t.label for t in shop.states["tracking"].next] == [
        "tracking.next[0]",
        "tracking.next[1]",
    ]


def test_no_match_policy_comes_from_the_state_or_the_fallback() -> None:
    shop = compiled(SHOP)
    assert (shop.states["menu"].no_match.max, shop.states["menu"].no_match.goto) == (2, "handoff")
    assert (shop.states["tracking"].no_match.max, shop.states["tracking"].no_match.goto) == (
        3,
        None,
    )
    assert shop.states["tracking"].no_match.say  # the built-in ladder


# --------------------------------------------------------------------------- shared, frozen, pure


def test_compiled_values_are_frozen() -> None:
    shop = compiled(SHOP)
    state = shop.states["menu"]
    transition = state.on["track"][0]
    for value, attribute in [
        (shop, "start"),
        (state, "say"),
        (transition, "goto"),
        (shop.slots["order_id"], "max_attempts"),
        (shop.globals["agent"], "goto"),
        (state.no_match, "max"),
    ]:
        assert dataclasses.is_dataclass(value)
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, attribute, None)


def test_compiled_mappings_are_read_only() -> None:
    bot = compile_flows([parse_flow(SHOP, path="f.yaml")])
    shop = bot.flows["shop"]
    mappings: list[Any] = [
        bot.flows,
        shop.states,
        shop.slots,
        shop.globals,
        shop.base_context,
        shop.states["menu"].on,
    ]
    for mapping in mappings:
        with pytest.raises(TypeError):
            mapping["x"] = None


def test_a_compiled_flow_is_shared_not_copied() -> None:
    bot = compile_flows([parse_flow(SHOP, path="f.yaml")])
    shop = bot.flows["shop"]
    assert isinstance(bot, Bot)
    assert bot.main == "shop"
    assert shop.definition is shop.source.flow
    assert isinstance(shop.states["tracking"].next, tuple)
    assert isinstance(shop.states["menu"].on["track"], tuple)


def test_compiling_does_no_io(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = parse_flow(SHOP, path="f.yaml")

    def no_open(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"the compiler opened a file: {args}")

    monkeypatch.setattr(builtins, "open", no_open)
    monkeypatch.setattr(io, "open", no_open)  # what pathlib uses
    monkeypatch.setattr(os, "open", no_open)
    monkeypatch.setattr(os, "stat", no_open)
    bot = compile_flows([loaded])
    assert bot.flows["shop"].machine.allowed("menu")


def test_compiling_is_repeatable() -> None:
    text = flow(
        "flow: f",
        "start: a",
        "slots: {x: {type: text, ask: 'X?'}}",
        "intents: {unused: {keywords: nope}}",
        "states:",
        "  a: {collect: x, final: true}",
        "  lost: {final: true}",
    )
    loaded = parse_flow(text, path="f.yaml")
    first = compile_flows([loaded])
    again = compile_flows([loaded])
    other = compile_flows([parse_flow(text, path="f.yaml")])
    assert first.warnings == again.warnings == other.warnings
    assert len(first.warnings) == 3
    assert first.flows["f"].base_context == other.flows["f"].base_context
    assert first.flows["f"].machine is not other.flows["f"].machine
    assert loaded.flow == parse_flow(text, path="f.yaml").flow  # the input is untouched


def test_compile_flow_compiles_one_flow() -> None:
    shop = compile_flow(parse_flow(SHOP, path="f.yaml"))
    assert shop.name == "shop"
    assert shop.start == "menu"


# --------------------------------------------------------------------------- errors


def test_every_error_of_a_file_is_reported_in_file_order() -> None:
    text = flow(
        "flow: f",  # 1
        "start: mneu",
        "states:",
        "  menu:",
        "    say: 'Hi {{ nme }}'",  # 5
        "    on: {trak: done}",
        "    next: [{goto: dnoe}]",
        "  done: {final: true}",
        "slots:",
        "  name: {type: text, ask: 'Name?', on_exhausted: nowhere}",  # 10
        "intents:",
        "  track: {keywords: track}",
        "  agent: {scope: global, keywords: agent, goto: humans}",
    )
    assert errors(text) == [
        "f0.yaml:2:8: unknown start state 'mneu'",
        "f0.yaml:5:10: unknown name 'nme' in state 'menu'",
        "f0.yaml:6:10: unknown intent 'trak' in state 'menu'",
        "f0.yaml:7:19: unknown state 'dnoe' in state 'menu'",
        "f0.yaml:10:50: unknown state 'nowhere' in slot 'name'",
        "f0.yaml:13:49: unknown state 'humans' in intent 'agent'",
    ]


def test_errors_of_several_files_are_reported_together() -> None:
    main = flow("flow: main", "start: a", "states:", "  a: {flow: sub, next: [{goto: b}]}")
    sub = flow("flow: sub", "start: x", "states:", "  y: {final: true}")
    assert errors(main, sub) == [
        "f0.yaml:4:32: unknown state 'b' in state 'a'",
        "f1.yaml:2:8: unknown start state 'x'",
    ]


def test_an_error_has_code_hint_and_position() -> None:
    text = flow("flow: f", "start: menu", "states:", "  menu: {next: [{goto: dnoe}]}", "  done: {}")
    with pytest.raises(FlowError) as info:
        compile_flows([parse_flow(text, path="f.yaml")])
    exc = info.value
    assert (exc.path, exc.line, exc.col, exc.code) == ("f.yaml", 4, 24, "unknown_state")
    assert str(exc) == (
        "f.yaml:4:24: unknown state 'dnoe' in state 'menu'\n    hint: did you mean 'done'?"
    )


def test_unknown_main_flow_is_a_configuration_error() -> None:
    loaded = [parse_flow(SHOP, path="f.yaml")]
    with pytest.raises(ConfigurationError) as info:
        compile_flows(loaded, main="nope")
    assert str(info.value) == "no flow named 'nope'\n    hint: flows: shop"
    assert info.value.hint == "flows: shop"
    assert info.value.code == "configuration_error"


def test_main_names_the_flow_conversations_start_in() -> None:
    sub = flow("flow: address", "start: ask", "states:", "  ask: {final: true}")
    loaded = [parse_flow(SHOP, path="f.yaml"), parse_flow(sub, path="sub.yaml")]
    assert compile_flows(loaded).main == "shop"
    assert compile_flows(loaded, main="address").main == "address"


# --------------------------------------------------------------------------- known problems


def _pattern_intent(pattern: str) -> str:
    return flow(
        "flow: f",
        "start: a",
        "slots: {code: {type: text, ask: 'Code?'}}",
        "intents:",
        f"  go: {{patterns: ['{pattern}']}}",
        "states:",
        "  a: {on: {go: b}}",
        "  b: {say: '{{ code }}', final: true}",
    )


@pytest.mark.parametrize(
    "text",
    [
        _pattern_intent("(?P<code>[0-9]{4})?"),
        flow(
            "flow: f",
            "start: a",
            "intents: {go: {keywords: ['  ', go]}}",
            "states:",
            "  a: {on: {go: a}, final: true}",
        ),
        flow(
            "flow: f",
            "start: a",
            "slots: {code: {type: pattern, pattern: '[0-9]*', ask: 'Code?'}}",
            "states:",
            "  a: {collect: code, say: '{{ code }}', final: true}",
        ),
        flow(
            "flow: f",
            "start: a",
            "slots: {size: {type: enum, values: ['  ', large], ask: 'Size?'}}",
            "states:",
            "  a: {collect: size, say: '{{ size }}', final: true}",
        ),
    ],
    ids=["pattern-matches-empty", "empty-keyword", "slot-pattern-matches-empty", "empty-enum"],
)
def test_bad_rules_are_flow_errors(text: str) -> None:
    with pytest.raises(FlowError):
        compile_flows([parse_flow(text, path="f.yaml")])


def test_two_flows_with_one_name_are_an_error() -> None:
    a = parse_flow(flow("flow: f", "start: a", "states:", "  a: {final: true}"), path="a.yaml")
    b = parse_flow(flow("flow: f", "start: z", "states:", "  z: {final: true}"), path="b.yaml")
    with pytest.raises(FlowError) as info:
        compile_flows([a, b])
    assert info.value.code == "duplicate_flow"
    assert str(info.value) == (
        "b.yaml:1:7: flow 'f' is already defined in a.yaml\n"
        "    hint: give each flow its own 'flow:' name"
    )


def test_compiling_no_flow_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="^compile_flows needs at least one flow"):
        compile_flows([])


def test_a_fallback_mistake_is_reported_once() -> None:
    text = flow(
        "flow: f",
        "start: a",
        "fallback: {no_match: 'Sorry {{ nme }}'}",
        "states:",
        "  a: {next: [{goto: b}]}",
        "  b: {next: [{goto: c}]}",
        "  c: {final: true}",
    )
    assert errors(text) == ["f0.yaml:3:22: unknown name 'nme' in the fallback"]


def test_a_fallback_mistake_points_at_the_fallback() -> None:
    text = flow(
        "flow: f",
        "start: a",
        "fallback: {no_match: 'Sorry {{ nme }}'}",
        "states:",
        "  a: {no_match: {max: 2}, final: true}",
    )
    assert errors(text) == ["f0.yaml:3:22: unknown name 'nme' in the fallback"]


@pytest.mark.parametrize(
    "condition",
    ["order_id = 'AB123456'", "order_id and", "count >= 2 && count < 5"],
)
def test_a_condition_error_speaks_of_the_condition_as_written(condition: str) -> None:
    text = flow(
        "flow: f",
        "start: a",
        "slots: {order_id: {type: any}, count: {type: any}}",
        "states:",
        f'  a: {{next: [{{if: "{condition}", goto: a}}], set: {{order_id: 1, count: 2}}}}',
    )
    with pytest.raises(FlowError) as info:
        compile_flows([parse_flow(text, path="f.yaml")])
    exc = info.value
    assert "')'" not in exc.message
    assert " at 15" not in exc.message  # '&' is the 11th character of the condition
    assert "condition" in exc.message
    assert "replies" not in exc.hint


def test_an_unknown_filter_inside_an_if_block_is_a_compile_error() -> None:
    text = flow(
        "flow: f",
        "start: a",
        "slots: {name: {type: text, ask: 'Name?'}}",
        "states:",
        "  a:",
        "    collect: name",
        "    say: '{% if name %}Hi {{ name | captialize }}{% endif %}'",
        "    final: true",
    )
    (found,) = errors(text)
    assert found == "f0.yaml:7:10: unknown filter 'captialize' in state 'a'"


@pytest.mark.parametrize(
    ("source", "code", "message", "hint"),
    [
        ("'{{ name | upr }}'", "unknown_filter", "unknown filter 'upr'", "did you mean 'upper'?"),
        ("'{{ name is nonee }}'", "unknown_test", "unknown test 'nonee'", "did you mean 'none'?"),
    ],
)
def test_unknown_filters_and_tests_are_named(
    source: str, code: str, message: str, hint: str
) -> None:
    text = flow(
        "flow: f",
        "start: a",
        "slots: {name: {type: text, ask: 'Name?'}}",
        "states:",
        f"  a: {{collect: name, say: {source}, final: true}}",
    )
    with pytest.raises(FlowError) as info:
        compile_flows([parse_flow(text, path="f.yaml")])
    exc = info.value
    assert (exc.code, exc.message, exc.hint) == (code, f"{message} in state 'a'", hint)


CONDITION_HINT = (
    "conditions are Jinja expressions: use ==, and, or, not; quote text: status == 'late'"
)


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("order_id = 'AB123456'", "invalid condition in state 'a': unexpected '='"),
        ("order_id and", "invalid condition in state 'a': unexpected end of the condition"),
        (
            "count >= 2 && count < 5",
            "invalid condition in state 'a': unexpected character '&' (character 12)",
        ),
        ("count > 1 }}{{ count", "invalid condition in state 'a': unexpected '}}'"),
        ("count | upr", "unknown filter 'upr' in state 'a'"),
    ],
    ids=["assign", "cut-short", "bad-character", "smuggled-template", "unknown-filter"],
)
def test_condition_errors_word_for_word(condition: str, message: str) -> None:
    text = flow(
        "flow: f",
        "start: a",
        "slots: {order_id: {type: any}, count: {type: any}}",
        "states:",
        f'  a: {{next: [{{if: "{condition}", goto: a}}], set: {{order_id: 1, count: 2}}}}',
    )
    with pytest.raises(FlowError) as info:
        compile_flows([parse_flow(text, path="f.yaml")])
    assert (info.value.line, info.value.col, info.value.message) == (5, 19, message)
    if message.startswith("invalid condition"):
        assert (info.value.code, info.value.hint) == ("invalid_condition", CONDITION_HINT)


def test_a_bare_word_as_a_value_is_told_to_be_quoted() -> None:
    text = flow(
        "flow: f",
        "start: a",
        "slots: {reason: {type: any}}",
        "states:",
        "  a: {set: {reason: damaged}, say: '{{ reason }}', final: true}",
    )
    with pytest.raises(FlowError) as info:
        compile_flows([parse_flow(text, path="f.yaml")])
    assert str(info.value) == (
        "f.yaml:5:21: unknown name 'damaged' in state 'a'\n"
        "    hint: known slots: 'reason'; values are expressions, so quote text: \"'damaged'\""
    )


def test_a_value_error_speaks_of_a_value() -> None:
    text = flow(
        "flow: f",
        "start: a",
        "slots: {reason: {type: any}}",
        "states:",
        "  a: {set: {reason: 'it = 1'}, say: '{{ reason }}', final: true}",
    )
    with pytest.raises(FlowError) as info:
        compile_flows([parse_flow(text, path="f.yaml")])
    assert info.value.code == "invalid_value"
    assert info.value.message == "invalid value in state 'a': unexpected '='"


def test_warnings_of_several_flows_come_by_position() -> None:
    lost = ("states:", "  a: {final: true}", "  lost: {final: true}")
    loaded = [
        parse_flow(flow("flow: main", "start: a", *lost), path="b.yaml"),
        parse_flow(flow("flow: sub", "start: a", *lost), path="a.yaml"),
    ]
    found = compile_flows(loaded).warnings
    assert [(d.path, d.line) for d in found] == [("a.yaml", 5), ("b.yaml", 5)]


def test_an_error_in_a_one_item_list_points_at_the_item() -> None:
    text = flow(
        "flow: f",
        "start: a",
        "states:",
        "  a:",
        "    say: ['Hi {{ nme }}']",
        "    final: true",
    )
    assert errors(text) == ["f0.yaml:5:11: unknown name 'nme' in state 'a'"]


def test_the_loaded_flows_are_what_the_compiled_flow_points_back_to() -> None:
    loaded = parse_flow(SHOP, path="f.yaml")
    shop = compile_flows([loaded]).flows["shop"]
    assert isinstance(shop.source, LoadedFlow)
    assert shop.source is loaded
    assert shop.definition is loaded.flow


def test_one_move_list_feeds_the_machine_the_diagram_and_coverage() -> None:
    from dialogue.compiler.graph import edges
    from dialogue.runtime.compiled import ANY
    from dialogue.testing.coverage import catalogue

    bot = Engine.from_path(Path(__file__).parent.parent / "flows" / "restaurant.yaml", llm=None).bot
    for flow in bot.flows.values():
        keys = list(dict.fromkeys(m.key for m in flow.moves))
        assert list(catalogue(flow)["transitions"]) == keys
        drawn = {e.key for e in edges(flow) if e.key}
        assert drawn == {m.key for m in flow.moves if m.dest is not None or m.kind == "on"}
        for state in flow.states:
            allowed = {
                m.dest for m in flow.moves if m.source in (state, ANY) and m.dest is not None
            }
            assert flow.machine.allowed(state) == allowed, state
