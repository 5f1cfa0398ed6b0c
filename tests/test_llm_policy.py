"""When the LLM is asked (``llm: always | implausible | never``) and what a failed call
does (``failure_reply``, ``max_failures``, ``on_failure``): issue 11, items 1 and 2.

End to end over the real openai SDK and the loopback fake server: whether the LLM
was asked is read from the server's request log, never guessed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dialogue import Engine, TurnResult, compile_flows, parse_flow
from dialogue.errors import ConversationFailure, FlowError, FlowErrors
from dialogue.llm.openai_client import OpenAIChatClient
from dialogue.runtime.llm_gate import decide, resolve, shaped_like_a_value
from dialogue.runtime.rules import prepare
from dialogue.runtime.slots import ParseResult
from dialogue.session import Session
from dialogue.testing import Conversation, FakeChatServer, FakeReply

SHOP = """
flow: shop
language: LANG
start: menu
slots:
  order_id:
    type: pattern
    pattern: '\\b[A-Za-z]{2}\\d{6}\\b'
    normalize: upper
    ask: "What's your order number?"
    invalid: ["Two letters and six digits, please.", "Like AB123456, please."]
    max_attempts: 3
    on_exhausted: handoff
    SLOT_LLM
  guests:
    type: integer
    max: 12
    ask: "How many guests?"
    invalid: "Up to 12 guests."
  note:
    type: text
    max_length: 10
    ask: "A short note?"
    invalid: "Ten letters at most."
intents:
  track: {keywords: [track]}
  book: {keywords: [book]}
  jot: {keywords: [note]}
states:
  menu:
    say: "Hi!"
    on: {track: tracking, book: booking, jot: noting}
  tracking:
    collect: [order_id]
    next: {say: "Found {{ order_id }}.", goto: menu}
    STATE_FALLBACK
  booking:
    collect: [guests]
    next: {say: "Table for {{ guests }}.", goto: menu}
  noting:
    collect: [note]
    next: {say: "Noted.", goto: menu}
  handoff: {say: "Connecting you to a person.", final: true}
fallback:
  mode: understand
  FLOW_FALLBACK
"""

TROUBLE = (
    "Sorry, something went wrong on my side and I couldn't read that. Please try again in a moment."
)
STILL = "Sorry, I'm still having trouble on my side. Please try again in a little while."


def shop_text(*, slot: str = "", state: str = "", flow: str = "", language: str = "en") -> str:
    return (
        SHOP.replace("LANG", language)
        .replace("SLOT_LLM", slot)
        .replace("STATE_FALLBACK", f"fallback: {{{state}}}" if state else "")
        .replace("FLOW_FALLBACK", flow)
    )


def shop(client: OpenAIChatClient | None, **parts: str) -> Engine:
    bot = compile_flows([parse_flow(shop_text(**parts), path="shop.yaml")])
    return Engine(bot, llm=client, llm_settings={"retries": 0, "timeout": 5.0})


def nothing() -> FakeReply:
    return FakeReply.json({"intent": None, "slots": {}})


def at(engine: Engine, keyword: str) -> None:
    engine.start("s")
    engine.handle("s", keyword)


def decided(r: TurnResult) -> list[tuple[Any, ...]]:
    return [tuple(e)[2:] for e in r.trace.events if type(e).__name__ == "LLMDecided"]


# -- the decision, pure


@pytest.mark.parametrize(
    ("text", "kind", "shaped"),
    [
        ("12345", "pattern", True),
        ("AB12345", "pattern", True),
        ("ab-1234-56", "pattern", True),
        ("order 12345", "pattern", True),  # as many digits as letters
        ("my order is 12345", "pattern", False),  # a sentence
        ("blah blah", "pattern", False),  # no digit
        ("x", "pattern", False),
        ("我的订单号是12345", "pattern", False),  # CJK: a sentence, whatever its spaces
        ("12345?", "pattern", False),  # a question
        ("1" * 41, "pattern", False),  # too long to be an attempt
        ("+1 (555) 01", "phone", True),
        ("13", "integer", True),
        ("2 adults and 3 kids", "integer", False),
        ("32/13", "date", True),
        ("bob@example", "email", True),
        ("bob at example dot com", "email", False),
        ("12345", "enum", False),  # words, not digits: never by shape
        ("12345", "text", False),
    ],
)
def test_a_message_shaped_like_a_value(text: str, kind: str, shaped: bool) -> None:
    assert shaped_like_a_value(prepare(text).nfkc, kind) is shaped


def test_a_refused_value_is_an_attempt_whatever_its_shape() -> None:
    text = prepare("we will be thirteen people")
    assert decide("implausible", "integer", ParseResult(False, None, "above_max"), text) == (
        False,
        "a value refused: above_max",
    )
    no_value = ParseResult(False, None, "no_match")
    assert decide("implausible", "integer", no_value, text) == (True, "not shaped like a value")
    assert decide("always", "pattern", no_value, prepare("12345")) == (True, "always")
    assert decide("never", "pattern", no_value, text) == (False, "never")


def test_the_setting_that_applies_state_then_slot_then_flow_then_type() -> None:
    assert resolve("pattern", state=None, slot=None, flow=None) == "implausible"
    assert resolve("integer", state=None, slot=None, flow=None) == "implausible"
    for kind in ("text", "enum", "boolean"):
        assert resolve(kind, state=None, slot=None, flow=None) == "always"
    assert resolve("text", state=None, slot=None, flow="never") == "never"
    assert resolve("pattern", state=None, slot="always", flow="never") == "always"
    assert resolve("pattern", state="never", slot="always", flow="always") == "never"


# -- when the LLM is asked, end to end


def test_a_bad_order_number_gets_the_reprompt_without_an_llm_call(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    engine = shop(client)
    at(engine, "track")
    r = engine.handle("s", "12345")
    assert r.replies == ["Two letters and six digits, please."]
    assert r.trace.rule == "invalid" and r.trace.llm is None and fake.requests == []
    assert decided(r) == [("order_id", "implausible", False, "shaped like a value")]
    assert "no llm for order_id (implausible: shaped like a value)" in r.trace.steps
    assert engine.session("s").attempts == 1  # type: ignore[union-attr]


def test_a_sentence_still_goes_to_the_llm(client: OpenAIChatClient, fake: FakeChatServer) -> None:
    engine = shop(client)
    at(engine, "track")
    fake.script(FakeReply.json({"intent": None, "slots": {"order_id": "cd654321"}}))
    r = engine.handle("s", "it's the one starting with CD, then 654321")
    assert r.trace.rule == "llm" and r.slots["order_id"] == "CD654321"
    assert len(fake.requests) == 1
    assert decided(r) == [("order_id", "implausible", True, "not shaped like a value")]


def test_never_sends_no_answer_of_the_slot_to_the_llm(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    engine = shop(client, slot="llm: never")
    at(engine, "track")
    r = engine.handle("s", "it's the one starting with CD, then 654321")
    assert r.replies == ["Two letters and six digits, please."] and fake.requests == []
    assert decided(r) == [("order_id", "never", False, "never")]
    # rules still run: a global intent, an answer
    assert engine.handle("s", "CD654321").replies == ["Found CD654321.", "Hi!"]


def test_a_state_overrides_the_slot(client: OpenAIChatClient, fake: FakeChatServer) -> None:
    engine = shop(client, slot="llm: never", state="llm: always")
    at(engine, "track")
    fake.script(nothing())
    r = engine.handle("s", "12345")
    assert len(fake.requests) == 1 and r.trace.llm is not None
    assert r.trace.llm.outcome == "nothing" and r.trace.rule == "invalid"
    assert decided(r) == [("order_id", "always", True, "always")]


def test_the_flow_sets_a_default_for_slots_that_do_not_say(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    engine = shop(client, flow="llm: never")
    at(engine, "book")
    r = engine.handle("s", "we are a big family")
    assert r.replies == ["Up to 12 guests."] and fake.requests == []


def test_a_number_above_max_is_an_attempt(client: OpenAIChatClient, fake: FakeChatServer) -> None:
    engine = shop(client)
    at(engine, "book")
    r = engine.handle("s", "we'll be 13 of us")
    assert r.replies == ["Up to 12 guests."] and fake.requests == []
    assert decided(r) == [("guests", "implausible", False, "a value refused: above_max")]


def test_text_slots_ask_the_llm_by_default(client: OpenAIChatClient, fake: FakeChatServer) -> None:
    engine = shop(client)
    at(engine, "note")
    fake.script(nothing())
    r = engine.handle("s", "a much longer note than ten letters")
    assert len(fake.requests) == 1 and r.replies == ["Ten letters at most."]


def test_the_decision_is_taken_before_the_offline_check(make_engine: Any) -> None:
    """Offline, a skipped call leaves no ``trace.llm`` (nothing would have been asked)."""
    engine = make_engine(shop_text())
    at(engine, "track")
    assert engine.handle("s", "12345").trace.llm is None
    llm = engine.handle("s", "no idea, sorry").trace.llm
    assert llm is not None and llm.outcome == "offline"


# -- failures are not "I didn't understand you"


def test_a_failed_call_apologises_and_counts_no_attempt(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    engine = shop(client)
    at(engine, "track")
    fake.script(FakeReply.error(500))
    r = engine.handle("s", "it's the one from last week")
    assert r.replies == [TROUBLE, "What's your order number?"]
    assert r.trace.rule == "llm_failed" and r.state == "tracking"
    assert r.trace.llm is not None and r.trace.llm.failure == "server_error"
    assert "llm failed 1 (server_error)" in r.trace.steps
    s = engine.session("s")
    assert s is not None and (s.attempts, s.no_match, s.llm_failures) == (0, 0, 1)
    # two unclear answers after the outage: the ladder starts at its first rung
    fake.script(nothing(), nothing())
    assert engine.handle("s", "hmm let me look").replies == ["Two letters and six digits, please."]
    assert engine.handle("s", "hmm wait a sec").replies == ["Like AB123456, please."]
    s = engine.session("s")
    assert s is not None and (s.attempts, s.llm_failures) == (2, 0) and s.state == "tracking"


def test_failures_in_a_row_escalate_to_on_failure(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    engine = shop(client, flow="on_failure: handoff\n  max_failures: 2")
    at(engine, "track")
    fake.script(FakeReply.error(503), FakeReply.error(502))
    first = engine.handle("s", "it's the one from last week")
    assert first.replies == [TROUBLE, "What's your order number?"]
    second = engine.handle("s", "the blue one, from last week")
    assert second.replies == [STILL, "Connecting you to a person."]
    assert second.state == "handoff" and second.ended
    moved = [tuple(e) for e in second.trace.events if type(e).__name__ == "Moved"]
    assert moved == [("shop", "tracking", "on_failure", "tracking.fallback.on_failure", "handoff")]
    bot = engine.bot.flows["shop"]
    assert "tracking.fallback.on_failure" in {m.key for m in bot.moves}


def test_a_turn_without_a_failure_starts_the_count_again(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    engine = shop(client, flow="on_failure: handoff\n  max_failures: 2")
    at(engine, "track")
    fake.script(FakeReply.error(500))
    engine.handle("s", "it's the one from last week")
    assert engine.handle("s", "12345").trace.rule == "invalid"  # a rule answered
    fake.script(FakeReply.error(500))
    r = engine.handle("s", "it's the one from last week")
    assert r.state == "tracking" and r.replies == [TROUBLE, "What's your order number?"]


def test_a_state_has_its_own_apology_and_escalation(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    state = "failure_reply: 'Our helper is down.', max_failures: 1, on_failure: menu"
    engine = shop(client, state=state, flow="on_failure: handoff")
    at(engine, "track")
    fake.script(FakeReply.error(500))
    r = engine.handle("s", "the one from last week")
    assert r.replies == ["Our helper is down.", "Hi!"] and r.state == "menu"


def test_the_flow_apology_replaces_the_built_in_one(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    engine = shop(client, flow="failure_reply: 'Our helper is down, sorry.'")
    at(engine, "track")
    fake.script(FakeReply.raw("<html>502 Bad Gateway</html>", content_type="text/html"))
    r = engine.handle("s", "the one from last week")
    assert r.replies == ["Our helper is down, sorry.", "What's your order number?"]
    assert r.trace.llm is not None and r.trace.llm.failure == "malformed"


def test_the_built_in_apology_speaks_the_flows_language(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    engine = shop(client, language="zh")
    at(engine, "track")
    fake.script(FakeReply.error(500))
    r = engine.handle("s", "就是上周那个")
    assert r.replies[0] == "抱歉，我这边出了点问题，没能处理这条消息，请稍后再试。"


def test_a_refusal_is_still_a_no_match(client: OpenAIChatClient, fake: FakeChatServer) -> None:
    """The model declining the message is about the message, not an outage."""
    engine = shop(client)
    at(engine, "track")
    fake.script(FakeReply.refusal("I can't help with that."))
    r = engine.handle("s", "something rude here")
    assert r.trace.rule == "invalid" and r.replies == ["Two letters and six digits, please."]
    s = engine.session("s")
    assert s is not None and (s.attempts, s.llm_failures) == (1, 0)


def test_a_failed_stream_is_replaced_by_the_apology(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    bot = compile_flows([parse_flow(shop_text(), path="shop.yaml")])
    engine = Engine(bot, llm=client, llm_settings={"retries": 0, "timeout": 5.0})
    fake.script(FakeReply.chunks(['{"intent": null, "slots"', ": {}"], cut=True))

    async def main() -> TurnResult:
        try:
            await engine.astart("s")
            await engine.ahandle("s", "track")
            stream = engine.astream("s", "it's the one from last week")
            async for _ in stream:
                pass
            assert stream.result is not None
            return stream.result
        finally:
            await engine.aclose()

    r = asyncio.run(main())
    assert r.trace.rule == "llm_failed" and r.replies == [TROUBLE, "What's your order number?"]


# -- the format


def test_an_unknown_on_failure_state_is_an_error_at_its_place() -> None:
    text = shop_text(flow="on_failure: handof")
    with pytest.raises(FlowError) as info:
        compile_flows([parse_flow(text, path="shop.yaml")])
    found = (
        info.value.diagnostics if isinstance(info.value, FlowErrors) else [info.value.diagnostic]
    )
    first = str(found[0])
    assert "unknown state 'handof' in the fallback" in first and "did you mean 'handoff'" in first
    assert first.startswith("shop.yaml:") and ":on_failure" not in first


def test_a_bad_llm_setting_is_refused(make_engine: Any) -> None:
    with pytest.raises(FlowError) as info:
        make_engine(shop_text(slot="llm: sometimes"))
    assert str(info.value) == (
        "main.yaml:14:10: 'llm' in slot 'order_id': 'sometimes' is not one of "
        "'always', 'implausible', 'never'"
    )


def test_sessions_stored_before_the_counter_still_load() -> None:
    s = Session("a", "shop", "tracking", llm_failures=2)
    data = s.to_dict()
    assert Session.from_dict(data).llm_failures == 2
    del data["llm_failures"]  # a session saved by an earlier version
    assert Session.from_dict(data).llm_failures == 0
    assert s.copy().llm_failures == 2


def test_a_scripted_answer_the_slot_keeps_from_the_llm_says_why(tmp_path: Any) -> None:
    flow = tmp_path / "shop.yaml"
    flow.write_text(shop_text(), encoding="utf-8")
    with Conversation.from_path(flow, llm_replies=[]) as conv:
        conv.say("track")
        with pytest.raises(ConversationFailure) as caught:
            conv.say("12345", llm={"slots": {"order_id": "AB123456"}})
    assert str(caught.value).endswith(
        "llm\n"
        "    expected: the LLM to be asked (an answer is scripted)\n"
        '    actual:   the LLM was not asked: slot "order_id" has llm: implausible '
        "(shaped like a value)"
    )
