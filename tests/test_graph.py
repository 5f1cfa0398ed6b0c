from dialogue import compile_flows, parse_flow
from dialogue.graph import dot, edges, mermaid

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
  tracking:
    collect: [order_id]
    call: {action: lookup, with: {id: order_id}, into: order, on_error: handoff}
    next:
      - if: order is none
        goto: tracking
      - say: "{{ order }}"
        goto: menu
    no_match: {max: 2, goto: handoff}
  handoff: {say: bye, final: true}
"""


def bot():  # type: ignore[no-untyped-def]
    return compile_flows([parse_flow(FLOW, path="shop.yaml")]).flows["shop"]


def test_edges_cover_every_kind_of_move() -> None:
    found = {(e.source, e.dest, e.label) for e in edges(bot())}
    assert found == {
        ("menu", "tracking", "track"),
        ("tracking", "tracking", "[order is none]"),
        ("tracking", "menu", "next"),
        ("tracking", "handoff", "lookup fails"),
        ("tracking", "handoff", "order_id attempts exhausted"),
        ("tracking", "handoff", "2 no-matches"),
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
    # hop always moves on; done and handoff are final; asking waits for its slot;
    # maybe stays when its first transition is taken
    assert sources == {"menu", "asking", "maybe"}


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
