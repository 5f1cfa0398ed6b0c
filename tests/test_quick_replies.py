"""Quick replies: options offered with a reply, in the result, chosen by their text."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dialogue import Engine, FlowErrors, Option

Make = Callable[..., Engine]

FLOW = """
flow: shop
start: menu
slots:
  reason:
    type: enum
    values: {damaged: [broken], wrong item: []}
    ask: "Why are you sending it back?"
    invalid: "Pick one of the reasons."
    options: auto
  sure: {type: boolean, ask: "File it for {{ reason }}?", options: auto}
  size:
    type: integer
    ask: "How many?"
    options: ["1", {label: "Two", text: "2"}]
intents:
  ret: {keywords: [return, send it back]}
  count: {keywords: [count]}
  human: {keywords: [agent], scope: global, goto: bye}
states:
  menu:
    say: "Hi! What can I do?"
    options:
      - {label: "Start a return", intent: ret}
      - {label: "A person", intent: human}
      - "Just looking"
    on: {ret: returning, count: counting}
    no_match: {say: "Sorry?", max: 5}
  returning:
    collect: [reason, sure]
    next:
      - {if: sure, say: "Filed ({{ reason }}).", options: ["Thanks", "Another one"], goto: done}
      - goto: menu
  counting:
    collect: [size]
    next: done
  done: {say: "Anything else?", on: {ret: returning}}
  bye: {say: "Bye.", final: true}
"""


def test_a_state_offers_its_options_with_its_greeting(make_engine: Make) -> None:
    r = make_engine(FLOW).start("s")
    assert r.replies == ["Hi! What can I do?"]
    assert r.options == (
        Option("Start a return", "/ret", "ret"),
        Option("A person", "/human", "human"),
        Option("Just looking", "Just looking"),
    )


def test_an_enum_slot_with_auto_offers_its_values_and_a_value_chosen_fills_it(
    make_engine: Make,
) -> None:
    engine = make_engine(FLOW)
    engine.start("s")
    asked = engine.handle("s", "/ret")
    assert asked.trace.rule == "intent" and asked.trace.intent == "ret"
    assert asked.replies == ["Why are you sending it back?"]
    assert [o.text for o in asked.options] == ["damaged", "wrong item"]
    boolean = engine.handle("s", asked.options[1].text)
    assert boolean.slots["reason"] == "wrong item"
    assert boolean.options == (Option("Yes", "Yes"), Option("No", "No"))
    filed = engine.handle("s", boolean.options[0].text)
    assert filed.replies == ["Filed (wrong item).", "Anything else?"]
    assert filed.options == (), "the options went with a reply that is not the last"


def test_a_transition_offers_options_with_its_say_when_it_is_the_last_reply(
    make_engine: Make,
) -> None:
    flow = FLOW.replace(
        '{if: sure, say: "Filed ({{ reason }}).", options: ["Thanks", "Another one"], goto: done}',
        '{if: sure, say: "Filed ({{ reason }}).", options: ["Thanks {{ reason }}"]}',
    )
    engine = make_engine(flow)
    engine.start("s")
    engine.handle("s", "return")
    engine.handle("s", "broken")
    filed = engine.handle("s", "yes")
    assert filed.replies[-1] == "Filed (damaged)."
    assert filed.options == (Option("Thanks damaged", "Thanks damaged"),)


def test_an_invalid_answer_offers_the_slots_options_again(make_engine: Make) -> None:
    engine = make_engine(FLOW)
    engine.start("s")
    engine.handle("s", "return")
    r = engine.handle("s", "no idea")
    assert r.trace.rule == "invalid"
    assert r.replies == ["Pick one of the reasons."]
    assert [o.label for o in r.options] == ["damaged", "wrong item"]


def test_a_no_match_offers_the_states_options_again(make_engine: Make) -> None:
    engine = make_engine(FLOW)
    engine.start("s")
    r = engine.handle("s", "what is the weather")
    assert r.trace.rule == "no_match" and r.replies == ["Sorry?"]
    assert [o.label for o in r.options] == ["Start a return", "A person", "Just looking"]


def test_option_texts_are_sent_as_typed(make_engine: Make) -> None:
    engine = make_engine(FLOW)
    engine.start("s")
    asked = engine.handle("s", "count")
    assert asked.options == (Option("1", "1"), Option("Two", "2"))
    r = engine.handle("s", asked.options[1].text)
    assert r.slots["size"] == 2


def test_a_global_intents_payload_works_where_it_is_allowed(make_engine: Make) -> None:
    engine = make_engine(FLOW)
    engine.start("s")
    engine.handle("s", "return")
    r = engine.handle("s", "/human")
    assert (r.trace.rule, r.trace.intent, r.state, r.ended) == ("intent", "human", "bye", True)


def test_a_payload_for_an_intent_not_allowed_here_is_an_ordinary_message(
    make_engine: Make,
) -> None:
    engine = make_engine(FLOW)
    engine.start("s")
    engine.handle("s", "count")
    r = engine.handle("s", "/ret")  # 'ret' is not in counting's 'on'
    assert r.trace.rule == "invalid" and r.state == "counting"


def test_options_auto_on_a_text_slot_is_a_flow_error(make_engine: Make) -> None:
    flow = FLOW.replace("size:\n    type: integer", "size:\n    type: text")
    flow = flow.replace('options: ["1", {label: "Two", text: "2"}]', "options: auto")
    with pytest.raises(FlowErrors) as caught:
        make_engine(flow)
    assert "'options: auto' offers an enum's values or yes/no; a text slot" in str(caught.value)


def test_an_option_naming_an_unknown_intent_is_a_flow_error(make_engine: Make) -> None:
    with pytest.raises(FlowErrors) as caught:
        make_engine(FLOW.replace("intent: human}", "intent: humna}"))
    error = caught.value.errors[0]
    assert error.code == "unknown_intent"
    assert "unknown intent 'humna'" in error.message and "human" in error.hint


def test_an_option_sends_text_or_intent_not_both(make_engine: Make) -> None:
    with pytest.raises(FlowErrors) as caught:
        make_engine(FLOW.replace('"Just looking"', "{label: x, text: y, intent: ret}"))
    assert "an option sends 'text' or 'intent', not both" in str(caught.value)


def test_a_global_intent_offers_options_with_its_say(make_engine: Make) -> None:
    flow = FLOW.replace(
        "  human: {keywords: [agent], scope: global, goto: bye}",
        "  human: {keywords: [agent], scope: global, goto: bye}\n"
        "  help:\n"
        "    keywords: [help]\n"
        "    scope: global\n"
        '    say: "I can take returns."\n'
        '    options: [{label: "Start a return", intent: ret}]',
    )
    engine = make_engine(flow)
    engine.start("s")
    r = engine.handle("s", "help")
    assert r.replies == ["I can take returns."]
    assert r.options == (Option("Start a return", "/ret", "ret"),)


def test_options_on_a_local_intent_are_a_flow_error(make_engine: Make) -> None:
    local = "  count: {keywords: [count]}"
    flow = FLOW.replace(local, "  count: {keywords: [count], options: [x]}")
    with pytest.raises(FlowErrors) as caught:
        make_engine(flow)
    assert "'options' is only for global intents" in str(caught.value)
