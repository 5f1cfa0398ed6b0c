"""End-to-end conversations through every example flow in ``flows/``.

The clock is fixed on Tuesday 2026-11-24 10:00, so dates are deterministic. Each
engine is fresh, so the example actions' counters start again (R1001, GF-0001).
After ``start``, the Nth message is turn N: replies with variations (the tracking
answer has two) pick variation ``N % 2``.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dialogue import Engine, TurnResult

FLOWS = Path(__file__).resolve().parent.parent / "flows"
EXAMPLES = ["customer_service.yaml", "customer_service.yaml#zh", "restaurant.yaml"]
EXAMPLES += ["contact_details.yaml"]


def tuesday() -> datetime.datetime:
    return datetime.datetime(2026, 11, 24, 10, 0)


def make(name: str, **options: Any) -> Engine:
    """The engine of an example flow; ``file#zh``: the same file, talked to in Chinese."""
    return Engine.from_path(FLOWS / name.partition("#")[0], clock=tuesday, llm=None, **options)


def turn(engine: Engine, text: str, replies: list[str], state: str, sid: str = "s") -> TurnResult:
    """Send ``text`` and check the exact replies and the state the bot waits in."""
    result = engine.handle(sid, text)
    assert (result.replies, result.state) == (replies, state), text
    return result


def fail(**arguments: Any) -> Any:
    raise RuntimeError("order system down")


@pytest.fixture
def shop() -> Iterator[Engine]:
    with make("customer_service.yaml") as engine:
        engine.start("s")
        yield engine


@pytest.fixture
def zh() -> Iterator[Engine]:
    with make(ZH) as engine:
        engine.start("s", language="zh")
        yield engine


@pytest.fixture
def bookings() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def restaurant(bookings: list[dict[str, Any]]) -> Iterator[Engine]:
    def book_table(**arguments: Any) -> str:
        bookings.append(arguments)
        return f"GF-{len(bookings):04d}"

    with make("restaurant.yaml", actions={"book_table": book_table}) as engine:
        engine.start("s")
        yield engine


# --------------------------------------------------------------------------- all flows


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_compiles_without_warnings(name: str) -> None:
    with make(name) as engine:
        assert engine.bot.warnings == ()


# --------------------------------------------------------------------------- customer_service

SHOP_HI = "Hi! I'm the shop assistant. I can track an order, start a return, or get you a person."
ASK_ORDER = "What's your order number? It looks like AB123456."
ASK_REASON = "Why are you sending it back: damaged, wrong item, or changed your mind?"
HANDOFF = "I'm connecting you to a person now. Please hold on."
HELP = "I can tell you where your order is, start a return, or put you through to a person."
REASON_AGAIN = "Sorry, was it damaged, the wrong item, or did you change your mind?"
NO_MATCH = [
    "Sorry, I didn't get that. I can track an order, start a return, or get you a person.",
    "Sorry, I still didn't understand. You can say 'track my order', 'return' or 'agent'.",
]
NOT_ORDER = [
    "That doesn't look like an order number: it's two letters and six digits, like AB123456.",
    "Please type just the order number, for example AB123456.",
]


def confirm_return(order_id: str, reason: str) -> str:
    return f"Shall I file a return for order {order_id} ({reason})? Please answer yes or no."


def test_shop_greets_and_answers_hello() -> None:
    with make("customer_service.yaml") as engine:
        first = engine.start("s")
        assert (first.replies, first.state, first.ended) == ([SHOP_HI], "menu", False)
        assert (first.trace.rule, first.trace.transition) == ("start", "welcome.next[0]")
        assert first.trace.steps == ["enter welcome", "enter menu"]
        hello = turn(
            engine, "hello", ["Hello! Would you like to track an order or start a return?"], "menu"
        )
    assert (hello.trace.rule, hello.trace.intent, hello.trace.matched) == (
        "intent",
        "greet",
        "hello",
    )
    assert hello.trace.transition == "menu.on.greet[0]"


def test_shop_first_message_gets_the_greeting_too() -> None:
    with make("customer_service.yaml") as engine:
        result = turn(engine, "where is my order", [SHOP_HI, ASK_ORDER], "tracking")
    assert (result.trace.rule, result.trace.intent) == ("intent", "track")
    assert result.trace.steps == ["enter welcome", "enter menu", "enter tracking", "ask order_id"]


def test_shop_tracks_an_order(shop: Engine) -> None:
    asked = turn(shop, "where is my order", [ASK_ORDER], "tracking")
    assert asked.trace.transition == "menu.on.track[0]"
    found = turn(
        shop,
        "AB123456",
        ["Order AB123456 is on its way, expected Thursday. Anything else?"],
        "menu",
    )
    assert found.slots["order_id"] == "AB123456"
    assert found.slots["order"]["status"] == "on its way"
    assert (found.trace.rule, found.trace.transition) == ("slot", "tracking.next[1]")
    assert found.trace.steps == ["call lookup_order", "enter menu"]
    assert [(a.name, a.ok) for a in found.trace.actions] == [("lookup_order", True)]
    # The other variation, and an order without an eta; lower case is normalised.
    turn(shop, "track", [ASK_ORDER], "tracking")
    turn(shop, "cd654321", ["Order CD654321 is delivered. Anything else?"], "menu")


def test_shop_unknown_order_is_asked_again(shop: Engine) -> None:
    turn(shop, "track my order", [ASK_ORDER], "tracking")
    missing = turn(
        shop,
        "ZZ999999",
        ["I couldn't find an order ZZ999999. Let's try again.", ASK_ORDER],
        "tracking",
    )
    assert missing.trace.transition == "tracking.next[0]"
    assert "order_id" not in missing.slots and "order" not in missing.slots
    found = turn(
        shop,
        "EF111111",
        [
            "Your order EF111111 is being packed and should arrive next Monday. "
            "Can I help with anything else?"
        ],
        "menu",
    )
    assert found.slots["order_id"] == "EF111111"


def test_shop_order_number_given_up_front(shop: Engine) -> None:
    result = turn(
        shop,
        "where is my order AB123456",
        [
            "Your order AB123456 is on its way and should arrive Thursday. "
            "Can I help with anything else?"
        ],
        "menu",
    )
    assert (result.trace.rule, result.trace.intent) == ("intent", "track")
    assert result.trace.matched == "where is my order"
    assert result.trace.transition == "tracking.next[1]"
    assert result.trace.steps == ["enter tracking", "call lookup_order", "enter menu"]
    assert result.slots["order_id"] == "AB123456"


@pytest.mark.parametrize("ask", ["track", "return"])
def test_shop_invalid_order_numbers_end_in_handoff(shop: Engine, ask: str) -> None:
    state = {"track": "tracking", "return": "returning"}[ask]
    turn(shop, ask, [ASK_ORDER], state)
    first = turn(shop, "12345", NOT_ORDER[:1], state)
    assert (first.trace.rule, first.ended) == ("invalid", False)
    turn(shop, "my order is abc", NOT_ORDER[1:], state)
    last = turn(shop, "I don't know", [HANDOFF], "handoff")
    assert last.ended
    assert last.trace.steps == ["order_id attempts exhausted", "enter handoff", "end"]


def test_shop_return_confirmed(shop: Engine) -> None:
    turn(shop, "I'd like a refund", [ASK_ORDER], "returning")
    turn(shop, "AB123456", [ASK_REASON], "returning")
    turn(shop, "it arrived broken", [confirm_return("AB123456", "damaged")], "returning")
    done = turn(
        shop,
        "yes please",
        ["Done: your return number is R1001. We've emailed you a prepaid label. Anything else?"],
        "menu",
    )
    assert done.slots["confirmed"] is True
    assert done.slots["rma"] == {"number": "R1001", "order_id": "AB123456", "reason": "damaged"}
    assert done.trace.steps == ["enter filing", "call create_return", "enter menu"]
    assert done.trace.transition == "filing.next[1]"


def test_shop_return_declined(shop: Engine) -> None:
    turn(shop, "return", [ASK_ORDER], "returning")
    turn(shop, "CD654321", [ASK_REASON], "returning")
    wrong = turn(shop, "sorry?", [REASON_AGAIN], "returning")
    assert wrong.trace.rule == "invalid"
    turn(shop, "wrong size", [confirm_return("CD654321", "wrong item")], "returning")
    turn(shop, "maybe", ["Please answer yes or no: shall I file the return?"], "returning")
    declined = turn(shop, "no", ["OK, I haven't filed anything. Anything else?"], "menu")
    assert declined.slots == {"order_id": "CD654321", "reason": "wrong item", "confirmed": False}
    assert declined.trace.transition == "returning.next[1]"
    assert declined.trace.actions == []


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("I want to return AB123456, it arrived broken", "damaged"),
        ("return AB123456, I don't want it", "changed mind"),
        ("exchange ab123456 wrong colour", "wrong item"),
    ],
)
def test_shop_return_with_order_and_reason_in_one_message(
    shop: Engine, text: str, reason: str
) -> None:
    result = turn(shop, text, [confirm_return("AB123456", reason)], "returning")
    assert result.slots == {"order_id": "AB123456", "reason": reason}
    assert (result.trace.intent, result.trace.transition) == ("return", "menu.on.return[0]")
    assert result.trace.steps == ["enter returning", "ask confirmed"]


def test_shop_return_for_an_unknown_order(shop: Engine) -> None:
    turn(shop, "return ZZ000000, it's faulty", [confirm_return("ZZ000000", "damaged")], "returning")
    result = turn(
        shop,
        "yes",
        ["I couldn't find order ZZ000000, so I can't file a return for it. Anything else?"],
        "menu",
    )
    assert result.trace.transition == "filing.next[0]"
    assert result.slots == {"reason": "damaged", "confirmed": True, "rma": None}


def test_shop_lookup_failure_hands_off() -> None:
    with make("customer_service.yaml", actions={"lookup_order": fail, "create_return": fail}) as e:
        e.start("s")
        result = turn(
            e,
            "where is my order AB123456",
            [
                "Sorry, something went wrong on our side.",
                "Sorry, I can't reach our order system right now.",
                HANDOFF,
            ],
            "handoff",
        )
    assert result.ended
    assert result.trace.steps == [
        "enter tracking",
        "call lookup_order",
        "enter lookup_failed",
        "enter handoff",
        "end",
    ]
    error = "action 'lookup_order': raised RuntimeError: order system down"
    assert result.trace.errors == [error]
    assert [(a.name, a.ok, a.error) for a in result.trace.actions] == [
        ("lookup_order", False, error)
    ]
    assert "order" not in result.slots


def test_shop_create_return_failure_hands_off() -> None:
    with make("customer_service.yaml", actions={"lookup_order": fail, "create_return": fail}) as e:
        e.start("s")
        turn(e, "return AB123456 smashed", [confirm_return("AB123456", "damaged")], "returning")
        result = turn(e, "yes", ["Sorry, something went wrong on our side.", HANDOFF], "handoff")
    assert result.ended
    assert result.trace.steps == ["enter filing", "call create_return", "enter handoff", "end"]
    assert result.trace.errors == ["action 'create_return': raised RuntimeError: order system down"]
    assert "rma" not in result.slots


def test_shop_digressions_resume_the_pending_question(shop: Engine) -> None:
    turn(shop, "return", [ASK_ORDER], "returning")
    helped = turn(shop, "help", [HELP, ASK_ORDER], "returning")
    assert (helped.trace.intent, helped.trace.transition) == ("help", None)
    turn(shop, "AB123456", [ASK_REASON], "returning")
    thanked = turn(shop, "thank you", ["You're welcome!", ASK_REASON], "returning")
    assert thanked.trace.intent == "thanks"
    turn(shop, "damaged", [confirm_return("AB123456", "damaged")], "returning")
    # At the menu there is no question to resume.
    with make("customer_service.yaml") as engine:
        engine.start("t")
        turn(engine, "what can you do", [HELP], "menu", sid="t")


def test_shop_digression_keeps_the_invalid_count(shop: Engine) -> None:
    turn(shop, "track", [ASK_ORDER], "tracking")
    turn(shop, "123", NOT_ORDER[:1], "tracking")
    turn(shop, "help", [HELP, ASK_ORDER], "tracking")
    turn(shop, "456", NOT_ORDER[1:], "tracking")
    assert turn(shop, "789", [HANDOFF], "handoff").ended


def test_shop_cancel_clears_the_task(shop: Engine) -> None:
    turn(shop, "return AB123456", [ASK_REASON], "returning")
    cancelled = turn(shop, "never mind", ["OK, I've dropped that."], "menu")
    assert cancelled.slots == {}
    assert cancelled.trace.intent == "cancel"
    assert cancelled.trace.slot_changes == {"order_id": ("AB123456", None)}
    turn(shop, "return", [ASK_ORDER], "returning")


def test_shop_human_ends_the_conversation(shop: Engine) -> None:
    turn(shop, "track", [ASK_ORDER], "tracking")
    result = turn(shop, "can I talk to a real person", [HANDOFF], "handoff")
    assert (result.ended, result.trace.intent, result.trace.matched) == (
        True,
        "human",
        "real person",
    )
    assert result.handoff is not None and result.handoff.reason == "asked_for_person"
    # A person has it: the bot keeps quiet until the host gives it back.
    held = turn(shop, "track", [], "handoff")
    assert (held.trace.rule, held.handed_off) == ("handed_off", True)
    shop.resume("s")
    # The next message starts a new conversation.
    again = turn(shop, "track", [SHOP_HI, ASK_ORDER], "tracking")
    assert (again.ended, again.slots, again.handed_off) == (False, {}, False)


def test_shop_no_match_ladder_escalates(shop: Engine) -> None:
    first = turn(shop, "blah", NO_MATCH[:1], "menu")
    assert (first.trace.rule, first.trace.no_match_count) == ("no_match", 1)
    second = turn(shop, "what?", NO_MATCH[1:], "menu")
    assert second.trace.no_match_count == 2
    last = turn(shop, "qwerty", [HANDOFF], "handoff")
    assert (last.ended, last.trace.no_match_count) == (True, 3)
    assert last.trace.steps == ["no-match escalation", "enter handoff", "end"]


def test_shop_intent_resets_the_no_match_ladder(shop: Engine) -> None:
    turn(shop, "blah", NO_MATCH[:1], "menu")
    turn(shop, "hi", ["Hello! Would you like to track an order or start a return?"], "menu")
    result = turn(shop, "blah", NO_MATCH[:1], "menu")
    assert result.trace.no_match_count == 1


@pytest.mark.parametrize("text", ["bye", "no thanks", "that's all, thanks", "Goodbye!"])
def test_shop_goodbye(shop: Engine, text: str) -> None:
    result = turn(shop, text, ["Thanks for visiting. Bye!"], "goodbye")
    assert (result.ended, result.trace.intent) == (True, "goodbye")


def test_shop_english_keyword_in_chinese_text(shop: Engine) -> None:
    # the host says the session is in English: no language is detected in "我要return"
    assert shop.start("s", language="en").trace.rule == "status"
    turn(shop, "我要return", [ASK_ORDER], "returning")
    result = turn(shop, "ＡＢ１２３４５６", [ASK_REASON], "returning")
    assert result.slots == {"order_id": "AB123456"}


# --------------------------------------------------------------------------- customer_service in zh

ZH = "customer_service.yaml#zh"

ZH_HI = "您好！我是网店小助手，可以帮您查询订单、办理退货，或者转接人工客服。"
ZH_ASK_ORDER = "请告诉我您的订单号，格式类似 AB123456。"
ZH_ASK_REASON = "请问退货原因是什么：商品损坏、发错货，还是不想要了？"
ZH_HANDOFF = "正在为您转接人工客服，请稍候。"
ZH_HELP = "我可以帮您查询订单、办理退货，或者为您转接人工客服。"
ZH_NO_MATCH = [
    "抱歉，我没听懂。我可以帮您查询订单、办理退货，或者转接人工。",
    "抱歉，我还是没明白。您可以说“查订单”、“退货”或者“人工”。",
]


def zh_confirm(order_id: str, reason: str) -> str:
    return f"要为订单 {order_id} 办理退货（原因：{reason}）吗？请回答“是”或“不是”。"


def test_zh_greets_and_answers_hello() -> None:
    with make(ZH) as engine:
        first = engine.start("s", language="zh")
        assert (first.replies, first.state) == ([ZH_HI], "menu")
        hello = turn(engine, "在吗", ["您好！请问是要查询订单，还是办理退货？"], "menu")
    assert (hello.trace.intent, hello.trace.matched) == ("greet", "在吗")


def test_zh_tracks_an_order_with_full_width_number(zh: Engine) -> None:
    asked = turn(zh, "我的快递到哪了", [ZH_ASK_ORDER], "tracking")
    assert asked.trace.intent == "track"
    found = turn(
        zh,
        "订单号是ＡＢ１２３４５６",
        ["订单 AB123456 运输中，预计周四送达。还有什么可以帮您？"],
        "menu",
    )
    assert found.slots["order_id"] == "AB123456"
    assert found.trace.transition == "tracking.next[1]"


def test_zh_unknown_order_is_asked_again(zh: Engine) -> None:
    turn(zh, "查订单", [ZH_ASK_ORDER], "tracking")
    turn(zh, "ZZ999999", ["没有找到订单 ZZ999999，我们再试一次。", ZH_ASK_ORDER], "tracking")
    found = turn(zh, "cd654321", ["订单 CD654321 已送达。还有什么可以帮您？"], "menu")
    assert found.slots["order"]["status_zh"] == "已送达"


def test_zh_order_number_given_up_front(zh: Engine) -> None:
    result = turn(
        zh,
        "查订单ＥＦ１１１１１１",
        ["订单 EF111111 正在打包，预计下周一送达。还有什么可以帮您？"],
        "menu",
    )
    assert (result.trace.intent, result.trace.matched) == ("track", "查订单")
    assert result.trace.steps == ["enter tracking", "call lookup_order", "enter menu"]


def test_zh_invalid_order_numbers_end_in_handoff(zh: Engine) -> None:
    turn(zh, "查询订单", [ZH_ASK_ORDER], "tracking")
    turn(
        zh,
        "不知道",
        ["这个好像不是订单号：订单号是两个字母加六位数字，例如 AB123456。"],
        "tracking",
    )
    turn(zh, "123", ["请只输入订单号，例如 AB123456。"], "tracking")
    result = turn(zh, "ABC", [ZH_HANDOFF], "handoff")
    assert result.ended
    assert result.trace.steps == ["order_id attempts exhausted", "enter handoff", "end"]


def test_zh_return_confirmed(zh: Engine) -> None:
    turn(zh, "我要退货", [ZH_ASK_ORDER], "returning")
    turn(zh, "AB123456", [ZH_ASK_REASON], "returning")
    turn(zh, "尺码不对", [zh_confirm("AB123456", "发错货")], "returning")
    done = turn(
        zh,
        "是的",
        ["已办理：您的退货单号是 R1001，退货标签已发送到您的邮箱。还有什么可以帮您？"],
        "menu",
    )
    assert done.slots["rma"] == {"number": "R1001", "order_id": "AB123456", "reason": "wrong item"}


def test_zh_return_with_everything_in_one_message_then_declined(zh: Engine) -> None:
    result = turn(zh, "我要退货AB123456，坏了", [zh_confirm("AB123456", "商品损坏")], "returning")
    assert result.slots == {"order_id": "AB123456", "reason": "damaged"}
    turn(zh, "也许吧", ["请回答“是”或“不是”：要办理退货吗？"], "returning")
    declined = turn(zh, "不是", ["好的，没有办理退货。还有什么可以帮您？"], "menu")
    assert declined.slots["confirmed"] is False


def test_zh_return_reason_ladder(zh: Engine) -> None:
    turn(zh, "退款ＣＤ６５４３２１", [ZH_ASK_REASON], "returning")
    turn(zh, "嗯", ["抱歉，请告诉我是商品损坏、发错货，还是不想要了？"], "returning")
    turn(zh, "不想要了", [zh_confirm("CD654321", "不想要了")], "returning")


def test_zh_return_for_an_unknown_order(zh: Engine) -> None:
    turn(zh, "换货ZZ000000不喜欢", [zh_confirm("ZZ000000", "不想要了")], "returning")
    result = turn(zh, "好的", ["没有找到订单 ZZ000000，无法办理退货。还有什么可以帮您？"], "menu")
    assert result.slots == {"reason": "changed mind", "confirmed": True, "rma": None}


def test_zh_action_failures_hand_off() -> None:
    actions = {"lookup_order": fail, "create_return": fail}
    with make(ZH, actions=actions) as engine:
        engine.start("a", language="zh")
        looked = turn(
            engine,
            "查订单AB123456",
            ["抱歉，我们这边出了点问题。", "抱歉，订单系统暂时无法访问。", ZH_HANDOFF],
            "handoff",
            sid="a",
        )
        assert looked.ended
        engine.start("b", language="zh")
        turn(engine, "退货AB123456碎了", [zh_confirm("AB123456", "商品损坏")], "returning", sid="b")
        filed = turn(engine, "是", ["抱歉，我们这边出了点问题。", ZH_HANDOFF], "handoff", sid="b")
    assert filed.ended
    assert filed.trace.errors == ["action 'create_return': raised RuntimeError: order system down"]


def test_zh_digressions_cancel_and_human(zh: Engine) -> None:
    turn(zh, "退货", [ZH_ASK_ORDER], "returning")
    turn(zh, "你能做什么", [ZH_HELP, ZH_ASK_ORDER], "returning")
    turn(zh, "AB123456", [ZH_ASK_REASON], "returning")
    turn(zh, "谢谢", ["不客气！", ZH_ASK_REASON], "returning")
    cancelled = turn(zh, "算了", ["好的，已经取消了。"], "menu")
    assert cancelled.slots == {}
    turn(zh, "查订单", [ZH_ASK_ORDER], "tracking")
    result = turn(zh, "转人工", [ZH_HANDOFF], "handoff")
    assert (result.ended, result.trace.intent) == (True, "human")


def test_zh_no_match_ladder_and_goodbye(zh: Engine) -> None:
    turn(zh, "今天天气不错", ZH_NO_MATCH[:1], "menu")
    turn(zh, "嗯嗯", ZH_NO_MATCH[1:], "menu")
    assert turn(zh, "啊", [ZH_HANDOFF], "handoff").ended
    with make(ZH) as engine:
        engine.start("t", language="zh")
        bye = turn(engine, "没有了，再见", ["感谢您的光临，再见！"], "goodbye", sid="t")
    assert (bye.ended, bye.trace.intent) == (True, "goodbye")


# --------------------------------------------------------------------------- restaurant

ASK_DATE = "For which day? (for example 'tomorrow' or 'Friday')"
ASK_TIME = "At what time? We serve from 12:00 to 22:00."
ASK_SIZE = "For how many people?"
ASK_NAME = "What name should the booking be under?"
ASK_PHONE = "And a phone number, in case we need to reach you?"
HOURS = "We're open every day from 12:00 to 22:00."
CALL_US = "Please call us on 555-0100 and we'll sort it out."
CLOSED = "Sorry, we're only open from 12:00 to 22:00. Please give a time such as 7pm or 19:30."


def confirm_booking(size: int, date: str, time: str, name: str) -> str:
    return f"A table for {size} on {date} at {time}, under the name {name}. Shall I book it?"


def test_restaurant_booking_end_to_end(restaurant: Engine, bookings: list[dict[str, Any]]) -> None:
    turn(restaurant, "hi", ["Hello! Would you like to book a table?"], "menu")
    booked = turn(restaurant, "I'd like a table for 4", [ASK_DATE], "booking")
    assert booked.slots == {"party_size": 4}
    assert booked.trace.matched == r"(?:table|booking|book) for (?P<party_size>\d{1,2})\b"
    turn(restaurant, "tomorrow", [ASK_TIME], "booking")
    sub = turn(restaurant, "7pm", [ASK_NAME], "asking")
    assert (sub.flow, sub.slots["date"], sub.slots["time"]) == (
        "contact_details",
        "2026-11-25",
        "19:00",
    )
    assert sub.trace.steps == [
        "enter contact",
        "call flow contact_details",
        "enter contact_details.asking",
        "ask name",
    ]
    turn(restaurant, "jane doe", [ASK_PHONE], "asking")
    back = turn(
        restaurant,
        "555 0199",
        [
            "Thanks, Jane Doe. We will only call 5550199 if we need to.",
            confirm_booking(4, "2026-11-25", "19:00", "Jane Doe"),
        ],
        "confirming",
    )
    assert back.flow == "restaurant"
    assert back.trace.steps == [
        "enter contact_details.done",
        "return to restaurant.contact",
        "enter confirming",
        "ask confirmed",
    ]
    done = turn(
        restaurant,
        "yes",
        ["You're booked! Your reference is GF-0001. See you on 2026-11-25.", "Thank you, goodbye!"],
        "goodbye",
    )
    assert (done.ended, done.slots["booking_ref"]) == (True, "GF-0001")
    assert bookings == [
        {
            "date": "2026-11-25",
            "time": "19:00",
            "party_size": 4,
            "name": "Jane Doe",
            "phone": "5550199",
        }
    ]


def test_restaurant_everything_in_one_message(restaurant: Engine) -> None:
    result = turn(restaurant, "book a table for 2 on Friday at 19:30", [ASK_NAME], "asking")
    assert {k: result.slots[k] for k in ("party_size", "date", "time")} == {
        "party_size": 2,
        "date": "2026-11-27",
        "time": "19:30",
    }


@pytest.mark.parametrize(
    ("text", "date"),
    [
        ("today", "2026-11-24"),
        ("tomorrow", "2026-11-25"),
        ("Friday", "2026-11-27"),
        ("on monday", "2026-11-30"),
        ("Tuesday", "2026-12-01"),
        ("the day after tomorrow", "2026-11-26"),
        ("June 3", "2027-06-03"),
        ("2026-12-01", "2026-12-01"),
    ],
)
def test_restaurant_dates(restaurant: Engine, text: str, date: str) -> None:
    turn(restaurant, "book", [ASK_DATE], "booking")
    assert turn(restaurant, text, [ASK_TIME], "booking").slots == {"date": date}


@pytest.mark.parametrize("text", ["yesterday", "2026-11-23", "soon"])
def test_restaurant_rejects_past_and_unknown_dates(restaurant: Engine, text: str) -> None:
    turn(restaurant, "book", [ASK_DATE], "booking")
    invalid = "Sorry, I need a day from today on, like 'tomorrow', 'Saturday' or 'June 3'."
    result = turn(restaurant, text, [invalid], "booking")
    assert (result.trace.rule, result.slots) == ("invalid", {})


@pytest.mark.parametrize(
    ("text", "time"),
    [
        ("7pm", "19:00"),
        ("19:30", "19:30"),
        ("7:30 pm", "19:30"),
        ("noon", "12:00"),
        ("22:00", "22:00"),
        ("7", "19:00"),  # the opening hours tell morning from evening
        ("half past seven", "19:30"),
        ("seven o'clock", "19:00"),
        ("at 2", "14:00"),
        ("tonight at 8", "20:00"),
    ],
)
def test_restaurant_times(restaurant: Engine, text: str, time: str) -> None:
    turn(restaurant, "table for 2 tomorrow", [ASK_TIME], "booking")
    assert turn(restaurant, text, [ASK_NAME], "asking").slots["time"] == time


def test_restaurant_invalid_time(restaurant: Engine) -> None:
    turn(restaurant, "table for 2 tomorrow", [ASK_TIME], "booking")
    turn(restaurant, "whenever", [CLOSED], "booking")


@pytest.mark.parametrize("text", ["9am", "11:59", "22:30", "midnight"])
def test_restaurant_out_of_hours_asks_the_time_again(restaurant: Engine, text: str) -> None:
    turn(restaurant, "table for 3", [ASK_DATE], "booking")
    turn(restaurant, "tomorrow", [ASK_TIME], "booking")
    result = turn(restaurant, text, [CLOSED], "booking")
    assert result.slots == {"party_size": 3, "date": "2026-11-25"}
    assert (result.trace.rule, result.trace.transition) == ("invalid", None)
    turn(restaurant, "1pm", [ASK_NAME], "asking")


def test_restaurant_out_of_hours_is_checked_when_given(restaurant: Engine) -> None:
    turn(restaurant, "book", [ASK_DATE], "booking")
    turn(restaurant, "Friday", [ASK_TIME], "booking")
    turn(restaurant, "9am", [CLOSED], "booking")
    turn(restaurant, "9pm", [ASK_SIZE], "booking")


def test_restaurant_party_size_out_of_range_ends_in_call_us(restaurant: Engine) -> None:
    turn(restaurant, "book", [ASK_DATE], "booking")
    turn(restaurant, "Friday", [ASK_TIME], "booking")
    turn(restaurant, "8 pm", [ASK_SIZE], "booking")
    turn(restaurant, "20", ["Please tell me the number of guests, from 1 to 12."], "booking")
    turn(
        restaurant,
        "0",
        ["We take bookings for 1 to 12 guests; for larger groups please call us."],
        "booking",
    )
    result = turn(restaurant, "100", [CALL_US], "call_us")
    assert result.ended
    assert result.trace.steps == [
        "no llm for party_size (implausible: a value refused: above_max)",
        "party_size attempts exhausted",
        "enter call_us",
        "end",
    ]


def test_restaurant_party_size_in_words(restaurant: Engine) -> None:
    turn(restaurant, "book", [ASK_DATE], "booking")
    turn(restaurant, "tomorrow 7pm", [ASK_SIZE], "booking")
    assert turn(restaurant, "twelve of us", [ASK_NAME], "asking").slots["party_size"] == 12


def test_restaurant_opening_hours_digression(restaurant: Engine) -> None:
    turn(restaurant, "when are you open", [HOURS], "menu")
    turn(restaurant, "book", [ASK_DATE], "booking")
    during = turn(restaurant, "what time do you open", [HOURS, ASK_DATE], "booking")
    assert (during.trace.intent, during.slots) == ("hours", {})
    turn(restaurant, "tomorrow at 8pm", [ASK_SIZE], "booking")
    turn(restaurant, "2", [ASK_NAME], "asking")
    # A global intent of the calling flow works inside the sub-flow too.
    inside = turn(restaurant, "opening hours?", [HOURS, ASK_NAME], "asking")
    assert inside.flow == "contact_details"
    turn(restaurant, "Bob", [ASK_PHONE], "asking")


def test_restaurant_cancel_in_the_main_flow(restaurant: Engine) -> None:
    turn(restaurant, "table for 2", [ASK_DATE], "booking")
    turn(restaurant, "Friday", [ASK_TIME], "booking")
    result = turn(restaurant, "never mind", ["No problem, I've cleared that."], "menu")
    assert result.slots == {}


def test_restaurant_cancel_in_the_sub_flow(restaurant: Engine) -> None:
    turn(restaurant, "table for 2 tomorrow at 8pm", [ASK_NAME], "asking")
    turn(restaurant, "Ann", [ASK_PHONE], "asking")
    result = turn(restaurant, "cancel", ["No problem, I've cleared that."], "menu")
    assert (result.flow, result.slots) == ("restaurant", {})
    session = restaurant.session("s")
    assert session is not None and session.stack == ()
    # The sub-flow runs again from the start.
    turn(restaurant, "table for 2 tomorrow at 8pm", [ASK_NAME], "asking")


def test_restaurant_invalid_phone_is_asked_again(restaurant: Engine) -> None:
    turn(restaurant, "table for 2 tomorrow at 8pm", [ASK_NAME], "asking")
    turn(restaurant, "Ann", [ASK_PHONE], "asking")
    invalid = "That doesn't look like a phone number. Please type it with digits, like 555 0199."
    for text in ["abc", "call me", "later", "no"]:  # no on_exhausted: it never gives up
        turn(restaurant, text, [invalid], "asking")
    turn(
        restaurant,
        "+1 555 010 0199",
        [
            "Thanks, Ann. We will only call +15550100199 if we need to.",
            confirm_booking(2, "2026-11-25", "20:00", "Ann"),
        ],
        "confirming",
    )


def test_restaurant_too_long_name(restaurant: Engine) -> None:
    turn(restaurant, "table for 2 tomorrow at 8pm", [ASK_NAME], "asking")
    result = turn(restaurant, "x" * 61, ["Sorry, that doesn't look right.", ASK_NAME], "asking")
    assert "name" not in result.slots


def test_restaurant_booking_declined(restaurant: Engine, bookings: list[dict[str, Any]]) -> None:
    turn(restaurant, "book for 6 on Friday at 12:30", [ASK_NAME], "asking")
    turn(restaurant, "Ann", [ASK_PHONE], "asking")
    turn(
        restaurant,
        "555 0123",
        [
            "Thanks, Ann. We will only call 5550123 if we need to.",
            confirm_booking(6, "2026-11-27", "12:30", "Ann"),
        ],
        "confirming",
    )
    turn(restaurant, "hmm", ["Please answer yes or no."], "confirming")
    result = turn(restaurant, "no", ["OK, I haven't booked anything."], "menu")
    assert result.trace.transition == "confirming.next[1]"
    assert not {"date", "time", "party_size", "confirmed"} & result.slots.keys()
    assert bookings == []


def test_restaurant_booking_failure_ends_in_call_us() -> None:
    with make("restaurant.yaml", actions={"book_table": fail}) as engine:
        engine.start("s")
        turn(engine, "table for 2 tomorrow at 8pm", [ASK_NAME], "asking")
        turn(engine, "Ann", [ASK_PHONE], "asking")
        turn(
            engine,
            "555 0199",
            [
                "Thanks, Ann. We will only call 5550199 if we need to.",
                confirm_booking(2, "2026-11-25", "20:00", "Ann"),
            ],
            "confirming",
        )
        result = turn(
            engine, "yes", ["Sorry, something went wrong on our side.", CALL_US], "call_us"
        )
    assert result.ended
    assert result.trace.steps == ["call book_table", "enter call_us", "end"]
    assert "booking_ref" not in result.slots


def test_restaurant_no_match_ladder_and_goodbye(restaurant: Engine) -> None:
    turn(restaurant, "pizza?", ["Sorry, I didn't catch that. I can book a table for you."], "menu")
    turn(
        restaurant,
        "pasta?",
        ["I'm only able to take table bookings. Say 'book a table' to start."],
        "menu",
    )
    assert turn(restaurant, "wine?", [CALL_US], "call_us").ended
    bye = turn(
        restaurant,
        "bye",
        ["Welcome to the Golden Fork! I can book you a table.", "Thank you, goodbye!"],
        "goodbye",
    )
    assert (bye.ended, bye.trace.intent) == (True, "bye")


# --------------------------------------------------------------------------- contact_details


def test_contact_details_on_its_own() -> None:
    with make("contact_details.yaml") as engine:
        first = engine.start("s")
        assert (first.replies, first.state) == ([ASK_NAME], "asking")
        turn(engine, "ann smith", [ASK_PHONE], "asking")
        result = turn(
            engine,
            "555 0199",
            ["Thanks, Ann Smith. We will only call 5550199 if we need to."],
            "done",
        )
    assert result.ended
    assert result.slots == {"name": "Ann Smith", "phone": "5550199"}


def test_first_message_is_not_taken_as_the_answer_to_the_greeting_question() -> None:
    # the user had not seen "What name ...?" when they wrote their first message
    with make("contact_details.yaml") as engine:
        first = turn(engine, "hello there", [ASK_NAME], "asking")
        assert first.slots == {} and first.trace.rule == "start"
        result = turn(engine, "Ann", [ASK_PHONE], "asking")
    assert result.slots == {"name": "Ann"}
    assert result.trace.rule == "slot"


# --------------------------------------------------------------------------- every state, async

CONVERSATIONS: dict[str, list[tuple[dict[str, Callable[..., Any]] | None, list[str]]]] = {
    "customer_service.yaml": [
        (
            None,
            [
                "hello",
                "where is my order",
                "ZZ999999",
                "AB123456",
                "return AB123456 broken",
                "yes",
                "return ZZ000000 broken",
                "yes",
                "help",
                "thanks",
                "bye",
            ],
        ),
        (None, ["track", "x", "y", "z"]),
        (None, ["a", "b", "c"]),
        ({"lookup_order": fail, "create_return": fail}, ["track AB123456"]),
    ],
    "customer_service.yaml#zh": [
        (
            None,
            [
                "你好",
                "查订单",
                "ZZ999999",
                "ＡＢ１２３４５６",
                "退货AB123456坏了",
                "是",
                "退货ZZ000000坏了",
                "是的",
                "帮助",
                "谢谢",
                "再见",
            ],
        ),
        (None, ["查订单", "x", "y", "z"]),
        ({"lookup_order": fail, "create_return": fail}, ["查订单AB123456"]),
    ],
    "restaurant.yaml": [
        (
            None,
            [
                "hi",
                "table for 4",
                "tomorrow",
                "9am",
                "7pm",
                "Ann",
                "555 0199",
                "opening hours",
                "no",
                "book for 2 on Friday at 8pm",
                "cancel",
                "book for 2 today at 1pm",
                "Bo",
                "555 0100",
                "yes",
            ],
        ),
        (None, ["book", "Friday", "8pm", "20", "30", "40"]),
    ],
    "contact_details.yaml": [(None, ["Ann", "555 0199"])],
}


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_conversations_visit_every_state(name: str) -> None:
    entered: set[str] = set()
    for actions, texts in CONVERSATIONS[name]:
        with make(name, actions=actions) as engine:
            main = engine.bot.main
            for text in texts:
                for step in engine.handle("s", text).trace.steps:
                    if step.startswith("enter "):
                        state = step.removeprefix("enter ")
                        entered.add(state if "." in state else f"{main}.{state}")
            every = {f"{f.name}.{s}" for f in engine.bot.flows.values() for s in f.states}
    assert entered == every


def _same(result: TurnResult) -> tuple[Any, ...]:
    t = result.trace
    return (
        result.replies,
        result.flow,
        result.state,
        result.slots,
        result.ended,
        (t.rule, t.intent, t.matched, t.transition, t.steps, t.slot_changes, t.errors),
    )


@pytest.mark.parametrize("name", EXAMPLES)
def test_ahandle_gives_the_same_results_as_handle(name: str) -> None:
    texts = CONVERSATIONS[name][0][1]
    with make(name) as engine:
        expected = [_same(engine.start("s"))] + [_same(engine.handle("s", t)) for t in texts]

    async def talk() -> list[tuple[Any, ...]]:
        with make(name) as engine:
            results = [await engine.astart("s")]
            results += [await engine.ahandle("s", t) for t in texts]
        return [_same(r) for r in results]

    assert asyncio.run(talk()) == expected
    assert expected[-1][4] is True  # each conversation runs to its end


def test_a_refused_pattern_value_is_explained_not_dropped() -> None:
    # "table for 13": the intent fires, the party size (1..12) is refused and said so
    with make("restaurant.yaml") as engine:
        engine.start("s")
        result = turn(
            engine,
            "book a table for 13",
            ["Please tell me the number of guests, from 1 to 12.", ASK_DATE],
            "booking",
        )
    assert "party_size" not in result.slots
    assert "reprompt party_size 1" in result.trace.steps
