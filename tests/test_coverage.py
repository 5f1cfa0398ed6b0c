"""Flow coverage: what there is to cover, what conversations cover, report and JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dialogue import ConfigurationError, Engine, compile_flows, parse_flow
from dialogue.llm.openai_client import OpenAIChatClient
from dialogue.runtime.compiled import Bot
from dialogue.testing import FakeChatServer, FakeReply
from dialogue.testing.coverage import FlowCoverage, catalogue
from dialogue.testing.coverage_report import CoverageReport

FLOWS = Path(__file__).resolve().parent.parent / "flows"

SHOP = r"""
flow: shop
start: menu
slots:
  order_id:
    type: pattern
    pattern: 'A\d+'
    ask: "Order?"
    invalid: ["Like A1.", "Just A and digits."]
    max_attempts: 3
    on_exhausted: handoff
  size: {type: enum, values: [s, l], ask: "Size?"}
intents:
  track: {keywords: [track]}
  buy: {keywords: [buy]}
  human: {keywords: [agent], scope: global, goto: handoff}
  hours: {keywords: [hours], scope: global, say: "9 to 5"}
states:
  menu:
    on:
      track: tracking
      buy: buying
    no_match: {say: ["Sorry?", "Say track or buy."], max: 3, goto: handoff}
  tracking:
    collect: [order_id]
    call: {action: lookup, with: {id: order_id}, into: order, on_error: handoff}
    next:
      - if: order is none
        say: "No such order."
        goto: menu
      - say: "{{ order }}"
        goto: menu
  buying:
    collect: [size]
    next: [{say: "Bought {{ size }}.", goto: done}]
  done: {say: "Bye", final: true}
  handoff: {say: "A person will help.", final: true}
fallback: {mode: "off"}
"""


def lookup(id: str) -> str | None:
    if id == "A9":
        raise RuntimeError("order system down")
    return "shipped" if id == "A1" else None


def shop_bot() -> Bot:
    return compile_flows([parse_flow(SHOP, path="shop.yaml")])


def run(engine: Engine, coverage: FlowCoverage, sid: str, *texts: str) -> None:
    """One conversation: greet, then each message; every turn recorded."""
    coverage.record(engine.start(sid))
    for text in texts:
        coverage.record(engine.handle(sid, text))


@pytest.fixture
def shop() -> Engine:
    return Engine(shop_bot(), actions={"lookup": lookup}, llm=None)


def missing(report: CoverageReport, kind: str, flow: str = "shop") -> tuple[str, ...]:
    return report.category(flow, kind).missing


def test_catalogue_lists_every_item_in_file_order() -> None:
    assert catalogue(shop_bot().flows["shop"]) == {
        "states": ("menu", "tracking", "buying", "done", "handoff"),
        "transitions": (
            "menu.on.track[0]",
            "menu.on.buy[0]",
            "menu.no_match.goto",
            "tracking.next[0]",
            "tracking.next[1]",
            "tracking.call.lookup.on_error",
            "tracking.collect.order_id.on_exhausted",
            "buying.next[0]",
            "intents.human.goto",
        ),
        "intents": ("track", "buy", "human", "hours"),
        "reprompts": (
            "order_id: reprompt 1",
            "order_id: reprompt 2",
            "order_id: exhausted",
            "size: reprompt 1",
        ),
        # buying only waits for its slot: a message there is an answer or invalid
        "no_matches": ("menu: no-match 1", "menu: no-match 2", "menu: escalation"),
        "llm": (),
        "prompts": (),
    }


def test_a_conversation_covers_what_it_went_through(shop: Engine) -> None:
    coverage = FlowCoverage(shop.bot)
    run(shop, coverage, "s", "track", "A1")
    report = coverage.report()
    assert report.category("shop", "states").covered_items == ("menu", "tracking")
    assert report.category("shop", "transitions").covered_items == (
        "menu.on.track[0]",
        "tracking.next[1]",
    )
    assert report.category("shop", "intents").covered_items == ("track",)
    assert (report.covered, report.total) == (5, 25)
    assert report.percent == 20.0


def test_reprompt_ladder_and_exhaustion(shop: Engine) -> None:
    coverage = FlowCoverage(shop.bot)
    run(shop, coverage, "a", "track", "x", "y", "z")
    report = coverage.report()
    assert missing(report, "reprompts") == ("size: reprompt 1",)
    assert "tracking.collect.order_id.on_exhausted" not in missing(report, "transitions")
    assert report.category("shop", "states").covered_items == ("menu", "tracking", "handoff")


def test_later_counts_of_a_ladder_without_exit_cover_its_last_rung(shop: Engine) -> None:
    coverage = FlowCoverage(shop.bot)
    run(shop, coverage, "a", "buy", "xl", "xxl", "medium")
    assert coverage.report().category("shop", "reprompts").covered_items == ("size: reprompt 1",)


def test_no_match_ladder_and_escalation(shop: Engine) -> None:
    coverage = FlowCoverage(shop.bot)
    run(shop, coverage, "a", "hm", "what")
    assert missing(coverage.report(), "no_matches") == ("menu: escalation",)
    run(shop, coverage, "b", "hm", "what", "eh")
    report = coverage.report()
    assert missing(report, "no_matches") == ()
    assert "menu.no_match.goto" not in missing(report, "transitions")


def test_action_failure_global_goto_and_digression(shop: Engine) -> None:
    coverage = FlowCoverage(shop.bot)
    run(shop, coverage, "a", "hours", "track", "A9")
    run(shop, coverage, "b", "track", "agent")
    report = coverage.report()
    assert missing(report, "transitions") == (
        "menu.on.buy[0]",
        "menu.no_match.goto",
        "tracking.next[0]",
        "tracking.next[1]",
        "tracking.collect.order_id.on_exhausted",
        "buying.next[0]",
    )
    assert missing(report, "intents") == ("buy",)


def test_terminal_report(shop: Engine) -> None:
    coverage = FlowCoverage(shop.bot)
    run(shop, coverage, "a", "track", "A2", "buy", "l")
    assert coverage.report().render_terminal() == (
        "Flow coverage: 40.0% (10 of 25 items)\n"
        "\n"
        "flow / kind    covered  percent  missing\n"
        "shop             10/25    40.0%\n"
        "  states           4/5    80.0%  handoff\n"
        "  transitions      4/9    44.4%  menu.no_match.goto, tracking.next[1],\n"
        "                                 tracking.call.lookup.on_error,\n"
        "                                 tracking.collect.order_id.on_exhausted,"
        " intents.human.goto\n"
        "  intents          2/4    50.0%  human, hours\n"
        "  reprompts        0/4     0.0%  order_id: reprompt 1, order_id: reprompt 2,"
        " order_id: exhausted,\n"
        "                                 size: reprompt 1\n"
        "  no_matches       0/3     0.0%  menu: no-match 1, menu: no-match 2, menu: escalation\n"
        "TOTAL            10/25    40.0%\n"
    )


def test_percent_is_never_rounded_to_full_or_to_nothing() -> None:
    from dialogue.testing.coverage_report import format_percent

    assert format_percent(1999, 2000) == "99.9%"
    assert format_percent(1, 2000) == "0.1%"
    assert format_percent(0, 0) == "100.0%"


def test_json_shape_and_round_trip(shop: Engine) -> None:
    coverage = FlowCoverage(shop.bot)
    run(shop, coverage, "a", "track", "A1")
    data = json.loads(json.dumps(coverage.to_json()))
    assert data["format"] == "dialogue-flow-coverage"
    assert data["version"] == 1
    assert (data["covered"], data["total"], data["percent"]) == (5, 25, 20.0)
    shop_data = data["flows"]["shop"]
    assert list(shop_data["kinds"]) == data["kinds"]
    assert shop_data["kinds"]["states"] == {
        "covered": 2,
        "total": 5,
        "percent": 40.0,
        "covered_items": ["menu", "tracking"],
        "missing": ["buying", "done", "handoff"],
    }
    assert shop_data["kinds"]["llm"] == {
        "covered": 0,
        "total": 0,
        "percent": 100.0,
        "covered_items": [],
        "missing": [],
    }
    restored = FlowCoverage.from_json(shop.bot, data)
    assert restored.report() == coverage.report()
    assert coverage.report().to_json() == data


def test_from_json_ignores_what_the_bot_no_longer_has(shop: Engine) -> None:
    data = FlowCoverage(shop.bot).to_json()
    kinds = data["flows"]["shop"]["kinds"]
    kinds["states"]["covered_items"] = ["menu", "gone"]
    kinds["weird"] = {"covered_items": ["x"]}
    data["flows"]["other"] = {"kinds": {"states": {"covered_items": ["a"]}}}
    report = FlowCoverage.from_json(shop.bot, data).report()
    assert report.covered == 1
    assert report.category("shop", "states").covered_items == ("menu",)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"format": "coverage.py"},
            "cov.json: not flow coverage data (format 'coverage.py', version None; "
            "expected format 'dialogue-flow-coverage', version 1)",
        ),
        (
            [],
            "cov.json: not flow coverage data (not an object; "
            "expected format 'dialogue-flow-coverage', version 1)",
        ),
        (
            {"format": "dialogue-flow-coverage", "version": 1, "flows": []},
            "cov.json: flows is not an object",
        ),
        (
            {
                "format": "dialogue-flow-coverage",
                "version": 1,
                "flows": {"shop": {"kinds": {"states": {"covered_items": "menu"}}}},
            },
            "cov.json: flows.shop.kinds.states.covered_items is not a list of strings",
        ),
        (
            {"format": "dialogue-flow-coverage", "version": 1, "flows": {"shop": {}}},
            "cov.json: flows.shop.kinds is not an object",
        ),
    ],
)
def test_from_json_rejects_other_data(data: Any, message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        FlowCoverage.from_json(shop_bot(), data, source="cov.json")
    assert str(info.value) == (
        f"{message}\n    hint: save it with FlowCoverage.to_json() or CoverageReport.to_json()"
    )


def test_merge_adds_what_another_run_covered(shop: Engine) -> None:
    one, two = FlowCoverage(shop.bot), FlowCoverage(shop.bot)
    run(shop, one, "a", "track", "A1")
    run(shop, two, "b", "buy", "s")
    one.merge(FlowCoverage.from_json(shop.bot, two.to_json()))
    assert one.report().category("shop", "states").covered_items == (
        "menu",
        "tracking",
        "buying",
        "done",
    )
    assert one.report().covered == 5 + 5


def test_turns_of_another_bot_are_ignored(shop: Engine) -> None:
    other = Engine.from_path(FLOWS / "customer_service.yaml", llm=None)
    coverage = FlowCoverage(shop.bot)
    run(other, coverage, "x", "track", "AB123456", "agent")  # menu, 'track', ... by name
    report = coverage.report()
    assert report.category("shop", "states").covered_items == ()
    assert report.covered == 0


RUNGS = """
flow: r
start: a
slots:
  once: {type: integer, ask: "N?", max_attempts: 1, on_exhausted: out}
  many: {type: integer, ask: "M?", invalid: [one, two, three], max_attempts: 2, on_exhausted: out}
  free: {type: integer, ask: "K?", invalid: [one, two], max_attempts: 2}
intents:
  go: {keywords: [go]}
states:
  a:
    on: {go: b}
    no_match: {say: [hm, what, eh], max: 5}
  b:
    collect: [once, many, free]
    on: {go: a}
    no_match: {say: hm, max: 1, goto: out}
  out: {final: true}
fallback: {mode: "off"}
"""


def test_ladder_rungs() -> None:
    items = catalogue(compile_flows([parse_flow(RUNGS, path="r.yaml")]).flows["r"])
    assert items["reprompts"] == (
        "once: exhausted",  # the first invalid answer already exhausts it
        "many: reprompt 1",  # a ladder that ends: one rung per count before its move
        "many: exhausted",
        "free: reprompt 1",  # a ladder that never ends: one rung per message
        "free: reprompt 2",
    )
    assert items["no_matches"] == (
        "a: no-match 1",  # no goto: max is never reached, the messages make the rungs
        "a: no-match 2",
        "a: no-match 3",
        "b: escalation",
    )


# --------------------------------------------------------------------------- sub-flows

MAIN = """
flow: main
start: booking
states:
  booking:
    flow: contact
    next: [{goto: done}]
  done: {say: "Booked.", final: true}
"""

CONTACT = """
flow: contact
start: asking
slots:
  phone: {type: phone, ask: "Phone?", invalid: "Digits, please."}
intents:
  stop: {keywords: [stop], scope: global, say: "Stopping is not possible."}
states:
  asking:
    collect: [phone]
    next: [{goto: finished}]
  finished: {final: true}
fallback: {mode: "off"}
"""


def test_sub_flows_are_counted_in_their_own_flow() -> None:
    bot = compile_flows([parse_flow(MAIN, path="main.yaml"), parse_flow(CONTACT, path="c.yaml")])
    engine = Engine(bot, llm=None)
    coverage = FlowCoverage(bot)
    run(engine, coverage, "s", "stop", "nope", "555 0199")
    report = coverage.report()
    assert report.flows == ("main", "contact")
    assert missing(report, "states", "main") == ()
    assert missing(report, "transitions", "main") == ()
    assert report.category("contact", "reprompts").covered_items == ("phone: reprompt 1",)
    assert report.category("contact", "intents").covered_items == ("stop",)
    assert report.percent == 100.0


# --------------------------------------------------------------------------- the LLM

LLM_FLOW = """
flow: f
start: menu
slots:
  size: {type: enum, values: [s, l], ask: "Size?"}
intents:
  buy: {keywords: [buy]}
states:
  menu:
    on: {buy: buying}
  buying:
    collect: [size]
    fallback: {mode: understand}
    next: [{goto: done}]
  done: {final: true}
"""


@pytest.fixture
def fake() -> Iterator[FakeChatServer]:
    with FakeChatServer() as server:
        yield server


def test_llm_consults_and_outcomes_per_state(fake: FakeChatServer) -> None:
    bot = compile_flows([parse_flow(LLM_FLOW, path="f.yaml")])
    client = OpenAIChatClient(api_key="test", base_url=fake.url)
    engine = Engine(bot, llm=client, llm_settings={"retries": 0})
    coverage = FlowCoverage(bot)
    fake.script(
        FakeReply.json({"intent": None, "slots": {}, "reply": "We sell shirts."}),
        FakeReply.json({"intent": "buy", "slots": {}, "reply": None}),
        FakeReply.json({"intent": None, "slots": {"size": "huge"}}),  # rejected
    )
    try:
        run(engine, coverage, "s", "what do you sell", "I'd like to purchase", "a huge one")
    finally:
        client.close()
    report = coverage.report()
    assert report.category("f", "llm").covered_items == (
        "menu: consulted",
        "menu: intent",
        "menu: reply",
        "buying: consulted",
    )
    assert missing(report, "llm", "f") == ("buying: slots",)  # no intent to choose there
    assert report.category("f", "prompts").covered_items == ("default",)
    assert report.category("f", "intents").covered_items == ("buy",)


def test_an_offline_engine_consults_no_llm() -> None:
    bot = compile_flows([parse_flow(LLM_FLOW, path="f.yaml")])
    engine = Engine(bot, llm=None)
    coverage = FlowCoverage(bot)
    run(engine, coverage, "s", "what do you sell", "buy", "huge")
    report = coverage.report()
    assert report.category("f", "llm").covered == 0
    assert missing(report, "prompts", "f") == ("default",)


# --------------------------------------------------------------------------- an example flow


def test_customer_service_flow() -> None:
    engine = Engine.from_path(FLOWS / "customer_service.yaml", llm=None)
    coverage = FlowCoverage(engine.bot)
    run(engine, coverage, "a", "hi", "where is my order", "AB123456", "bye")
    run(engine, coverage, "b", "return", "xx", "AB123456", "it's broken", "yes")
    run(engine, coverage, "c", "blah", "blah", "blah")
    run(engine, coverage, "d", "track", "zz", "zz", "zz")
    run(engine, coverage, "e", "help", "agent")
    report = coverage.report()
    assert missing(report, "states", "customer_service") == ("lookup_failed",)
    assert missing(report, "transitions", "customer_service") == (
        "menu.fallback.on_failure",  # offline: no LLM call fails
        "tracking.next[0]",
        "tracking.call.lookup_order.on_error",
        "tracking.fallback.on_failure",
        "lookup_failed.next[0]",
        "returning.on.inactivity[0]",
        "returning.next[1]",
        "returning.collect.order_id.on_exhausted",
        "returning.fallback.on_failure",
        "filing.next[0]",
        "filing.call.create_return.on_error",
        "intents.cancel.goto",
    )
    assert missing(report, "intents", "customer_service") == (
        "thanks",
        "cancel",
        "speak_chinese",
        "speak_english",
    )
    assert missing(report, "reprompts", "customer_service") == (
        "reason: reprompt 1",
        "confirmed: reprompt 1",
    )
    assert missing(report, "no_matches", "customer_service") == ()
    assert report.category("customer_service", "llm").total == 11
    assert (report.covered, report.total) == (30, 61)
