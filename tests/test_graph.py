import json
from pathlib import Path

import pytest

from dialogue import CompiledFlow, ConfigurationError, Engine, compile_flows, parse_flow
from dialogue.compiler.graph import dot, edges, mermaid
from dialogue.testing.coverage import FlowCoverage, read_coverage

FLOW = """
flow: shop
description: "A shop: orders"
start: menu
slots:
  order_id: {type: pattern, pattern: 'A\\d+', ask: "Order?", on_exhausted: handoff}
intents:
  track: {keywords: [track]}
  human: {keywords: [agent], scope: global, goto: handoff}
states:
  menu:
    on: {track: tracking}
    no_match: {max: 2, goto: handoff}
  tracking:
    collect: [order_id]
    call: {action: lookup, with: {id: order_id}, into: order, on_error: handoff}
    next:
      - if: order is none
        goto: tracking
      - say: "{{ order }}"
        goto: menu
  handoff: {say: bye, final: true}
"""


def bot() -> CompiledFlow:
    return compile_flows([parse_flow(FLOW, path="shop.yaml")]).flows["shop"]


def test_edges_cover_every_kind_of_move() -> None:
    found = {(e.source, e.dest, e.label) for e in edges(bot())}
    assert found == {
        ("menu", "tracking", "track"),
        ("tracking", "tracking", "[order is none]"),
        ("tracking", "menu", "next"),
        ("tracking", "handoff", "lookup fails"),
        ("tracking", "handoff", "order_id attempts exhausted"),
        ("menu", "handoff", "2 no-matches"),
        ("*any*", "handoff", "human"),
    }


def test_mermaid() -> None:
    text = mermaid(bot())
    lines = text.splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert "    [*] --> menu" in lines
    assert "    menu --> tracking: track" in lines
    assert "    handoff --> [*]" in lines
    assert "    any_state --> handoff: human" in lines
    assert "    %% flow shop: A shop: orders" in lines


def test_dot() -> None:
    text = dot(bot())
    assert text.startswith('digraph "shop" {')
    assert '    "menu" -> "tracking" [label="track"];' in text
    assert '    "handoff" [peripheries=2];' in text
    assert text.rstrip().endswith("}")


NO_MATCH = """
flow: f
start: menu
fallback: {on_exhausted: handoff, max_no_match: 2}
slots:
  size: {type: enum, values: [s, l], ask: "Size?"}
intents:
  go: {keywords: go}
states:
  menu:
    on: {go: hop}
  hop:
    next: [{goto: asking}]
  asking:
    collect: size
    next: [{goto: done}]
  maybe:
    next:
      - {if: "size == 's'", say: "Small!"}
      - goto: done
  done: {say: "{{ size }}", final: true}
  handoff: {say: bye, final: true}
"""


def test_no_match_edges_only_leave_states_that_wait_for_a_message() -> None:
    flow = compile_flows([parse_flow(NO_MATCH, path="f.yaml")]).flows["f"]
    sources = {e.source for e in edges(flow) if e.label == "2 no-matches"}
    # hop always moves on; done and handoff are final; asking waits only for its
    # slot, and an answer is a value or invalid (its reprompt ladder), never a
    # no-match; maybe stays when its first transition is taken
    assert sources == {"menu", "maybe"}


LABELS = r"""
flow: f
start: a
slots:
  note: {type: text, ask: "Note?"}
states:
  a:
    collect: note
    next:
      - if: "note == 'a: b; c' or note == 'say \"hi\"'"
        goto: b
      - goto: a
  b: {say: "{{ note }}", final: true}
"""


def test_labels_keep_colons_and_escape_what_would_break_them() -> None:
    flow = compile_flows([parse_flow(LABELS, path="f.yaml")]).flows["f"]
    # Mermaid: a ';' would end the statement, a second ':' is fine
    assert """    a --> b: [note == 'a: b#59; c' or note == 'say "hi"']""" in mermaid(flow)
    assert r"""    "a" -> "b" [label="[note == 'a: b; c' or note == 'say \"hi\"']"];""" in dot(flow)


def test_edges_carry_their_coverage_key() -> None:
    keys = {(e.source, e.label): e.key for e in edges(bot())}
    assert keys == {
        ("menu", "track"): "menu.on.track[0]",
        ("tracking", "[order is none]"): "tracking.next[0]",
        ("tracking", "next"): "tracking.next[1]",
        ("tracking", "lookup fails"): "tracking.call.lookup.on_error",
        ("tracking", "order_id attempts exhausted"): "tracking.collect.order_id.on_exhausted",
        ("menu", "2 no-matches"): "menu.no_match.goto",
        ("*any*", "human"): "intents.human.goto",
    }


CALLS = """
flow: f
start: menu
intents:
  pay: {keywords: [pay]}
  again: {keywords: [again]}
states:
  menu:
    call: {action: check, on_error: broken}
    on:
      pay: {call: {action: charge, on_error: broken}, goto: paid}
      again: {call: {action: check, on_error: broken}}
  paid: {final: true}
  broken: {final: true}
fallback: {mode: "off"}
"""


def test_calls_of_on_transitions_can_fail_too_and_edges_are_not_repeated() -> None:
    flow = compile_flows([parse_flow(CALLS, path="f.yaml")]).flows["f"]
    assert [(e.source, e.dest, e.label, e.key) for e in edges(flow)] == [
        ("menu", "paid", "pay", "menu.on.pay[0]"),
        ("menu", "menu", "again", "menu.on.again[0]"),
        ("menu", "broken", "check fails", "menu.call.check.on_error"),
        ("menu", "broken", "charge fails", "menu.call.charge.on_error"),
    ]


def covered_shop(tmp_path: Path) -> tuple[Path, FlowCoverage]:
    """The shop flow after one conversation that tracks an order."""
    shop = compile_flows([parse_flow(FLOW, path="shop.yaml")])
    engine = Engine(shop, actions={"lookup": lambda id: "shipped"}, llm=None)
    coverage = FlowCoverage(shop)
    for result in [engine.start("s"), engine.handle("s", "track"), engine.handle("s", "A1")]:
        coverage.record(result)
    path = tmp_path / "cov.json"
    path.write_text(json.dumps(coverage.to_json()), encoding="utf-8")
    return path, coverage


def test_mermaid_marks_what_is_not_covered(tmp_path: Path) -> None:
    path, coverage = covered_shop(tmp_path)
    report = read_coverage(coverage.bot, path)
    assert report == coverage.report()
    lines = mermaid(bot(), coverage=report).splitlines()
    assert "    %% coverage: 2/3 states, 2/7 transitions; uncovered ones are marked" in lines
    assert "    menu --> tracking: track" in lines
    assert "    tracking --> menu: next" in lines
    assert "    tracking --> tracking: [order is none] (not covered)" in lines
    assert "    any_state --> handoff: human (not covered)" in lines
    assert lines[-2:] == [
        "    classDef uncovered fill:#fdecea,stroke:#c62828,stroke-dasharray:5",
        "    class handoff uncovered",
    ]


def test_dot_draws_what_is_not_covered_red_and_dashed(tmp_path: Path) -> None:
    path, coverage = covered_shop(tmp_path)
    lines = dot(bot(), coverage=read_coverage(coverage.bot, path)).splitlines()
    assert (
        '    "handoff" [peripheries=2, color=red, fontcolor=red, style="rounded,dashed"];' in lines
    )
    assert '    "menu" -> "tracking" [label="track"];' in lines
    assert (
        '    "tracking" -> "handoff" [label="lookup fails", color=red, fontcolor=red, '
        "style=dashed];" in lines
    )


def test_without_coverage_nothing_is_marked() -> None:
    assert "uncovered" not in mermaid(bot()) and "not covered" not in mermaid(bot())
    assert "red" not in dot(bot())


def test_read_coverage_says_which_file_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "cov.json"
    path.write_text("{", encoding="utf-8")
    shop = compile_flows([parse_flow(FLOW, path="shop.yaml")])
    with pytest.raises(ConfigurationError, match=r"cov\.json: cannot read flow coverage: "):
        read_coverage(shop, path)
    path.write_text('{"format": "other"}', encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"cov\.json: not flow coverage data"):
        read_coverage(shop, path)
