"""The turn loop, through the public API, on small inline flows."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from dialogue import ConfigurationError, Engine, FlowErrors, MemoryStore, StoreError, TurnResult

Make = Callable[..., Engine]

SHOP = """
flow: shop
start: menu
slots:
  order_id:
    type: pattern
    pattern: '[A-Z]{2}\\d{6}'
    normalize: upper
    ask: "Order number?"
    invalid: ["Not an order number.", "Two letters, six digits please."]
    max_attempts: 3
    on_exhausted: handoff
  confirmed: {type: boolean, ask: "Sure about {{ order_id }}?"}
intents:
  track: {keywords: [track, where is my order]}
  human: {keywords: [agent], scope: global, goto: handoff}
  help: {keywords: [help], scope: global, say: "I track orders."}
  hi: {keywords: [hello], patterns: ['order (?P<order_id>[A-Z]{2}\\d{6})']}
states:
  menu:
    say: "Hi! Say track."
    on:
      track: tracking
      hi: {say: "Hello to you.", goto: menu}
  tracking:
    collect: [order_id, confirmed]
    call: {action: lookup, with: {order_id: order_id}, into: order, on_error: menu}
    next:
      - if: order is none
        say: "No order {{ order_id }}."
        clear: [order_id, confirmed]
        goto: tracking
      - say: "{{ order_id }} is {{ order.status }}."
        goto: menu
  handoff: {say: "A person will help.", final: true}
fallback:
  no_match: ["Pardon?", "Still lost."]
  max_no_match: 3
  on_exhausted: handoff
"""


def lookup(order_id: str) -> dict[str, str] | None:
    return {"status": "shipped"} if order_id == "AB123456" else None


@pytest.fixture
def shop(make_engine: Make) -> Engine:
    return make_engine(SHOP, actions={"lookup": lookup})


def test_new_session_gets_the_greeting(shop: Engine) -> None:
    r = shop.start("s")
    assert r.replies == ["Hi! Say track."]
    assert r.state == "menu" and r.slots == {} and not r.ended
    assert r.trace.rule == "start"


def test_first_message_is_answered_after_the_greeting(shop: Engine) -> None:
    r = shop.handle("s", "track my order please")
    assert r.replies == ["Hi! Say track.", "Order number?"]
    assert r.state == "tracking"
    assert r.trace.rule == "intent" and r.trace.intent == "track" and r.trace.matched == "track"


def test_unmatched_first_message_gets_only_the_greeting(shop: Engine) -> None:
    r = shop.handle("s", "blah")
    assert r.replies == ["Hi! Say track."]
    assert r.trace.no_match_count == 0


def test_form_filling_and_action(shop: Engine) -> None:
    shop.start("s")
    assert shop.handle("s", "track").replies == ["Order number?"]
    r = shop.handle("s", "it's ab123456")
    assert r.replies == ["Sure about AB123456?"]
    assert r.trace.rule == "slot"
    assert r.trace.slot_changes == {"order_id": (None, "AB123456")}
    r = shop.handle("s", "yes")
    assert r.replies == ["AB123456 is shipped.", "Hi! Say track."]
    assert r.state == "menu"
    assert r.slots["order"] == {"status": "shipped"}
    assert [a.name for a in r.trace.actions] == ["lookup"] and r.trace.actions[0].ok
    assert r.trace.transition == "tracking.next[1]"


def test_slot_given_up_front_is_not_asked(shop: Engine) -> None:
    shop.start("s")
    r = shop.handle("s", "track AB123456")
    assert r.replies == ["Sure about AB123456?"]
    assert r.slots["order_id"] == "AB123456"


ROUTED = """
flow: routed
start: menu
slots:
  order_id: {type: pattern, pattern: '[A-Z]{2}\\d{6}', ask: "Order number?"}
intents:
  track: {keywords: [status of]}
  where: {keywords: [where is], scope: global, goto: router}
states:
  menu:
    say: "Hi!"
    on: {track: router}
  router:
    next: [{goto: hop}]
  hop:
    next: [{goto: tracking}]
  tracking:
    collect: [order_id]
    call: {action: lookup, with: {order_id: order_id}, into: order}
    next:
      - {if: order is none, say: "No order {{ order_id }}.", clear: [order_id], goto: tracking}
      - {say: "{{ order_id }} is {{ order.status }}.", goto: menu}
"""


@pytest.fixture
def routed(make_engine: Make) -> Engine:
    return make_engine(ROUTED, actions={"lookup": lookup})


@pytest.mark.parametrize("text", ["status of AB123456", "where is AB123456"])
def test_state_reached_through_next_gotos_picks_slots_from_the_message(
    routed: Engine, text: str
) -> None:
    routed.start("s")
    r = routed.handle("s", text)
    assert r.replies == ["AB123456 is shipped.", "Hi!"]
    assert r.trace.slot_changes["order_id"] == (None, "AB123456")
    assert [state for _, state in r.trace.entered] == ["router", "hop", "tracking", "menu"]


def test_first_message_reaching_a_state_through_next_gotos_fills_its_slots(
    routed: Engine,
) -> None:
    r = routed.handle("s", "status of AB123456")
    assert r.replies == ["Hi!", "AB123456 is shipped.", "Hi!"]


def test_a_slot_is_read_from_the_message_once_per_turn(routed: Engine) -> None:
    # tracking clears order_id and comes back: it asks, not loop on the same value
    routed.start("s")
    r = routed.handle("s", "status of ZZ000000")
    assert r.replies == ["No order ZZ000000.", "Order number?"]
    assert r.state == "tracking" and "order_id" not in r.slots
    assert [a.name for a in r.trace.actions] == ["lookup"]


def test_an_answer_is_not_passed_on_to_the_next_state(make_engine: Make) -> None:
    engine = make_engine(
        """
flow: trip
start: leaving
slots:
  from_city: {type: enum, values: [Paris, Rome], ask: "From?"}
  to_city: {type: enum, values: [Paris, Rome], ask: "To?"}
states:
  leaving: {collect: [from_city], next: [{goto: arriving}]}
  arriving: {collect: [to_city]}
"""
    )
    engine.start("s")
    r = engine.handle("s", "Paris")
    assert r.replies == ["To?"]
    assert r.slots == {"from_city": "Paris"}


def test_conditional_transition_loops_back(shop: Engine) -> None:
    shop.start("s")
    shop.handle("s", "track ZZ000000")
    r = shop.handle("s", "yes")
    assert r.replies == ["No order ZZ000000.", "Order number?"]
    assert r.state == "tracking" and "order_id" not in r.slots


def test_reprompt_ladder_then_escalation(shop: Engine) -> None:
    shop.start("s")
    shop.handle("s", "track")
    assert shop.handle("s", "dunno").replies == ["Not an order number."]
    assert shop.handle("s", "123").replies == ["Two letters, six digits please."]
    r = shop.handle("s", "still no")
    assert r.replies == ["A person will help."]
    assert r.state == "handoff" and r.ended


def test_no_match_ladder_then_escalation(shop: Engine) -> None:
    shop.start("s")
    r = shop.handle("s", "the weather?")
    assert r.replies == ["Pardon?"] and r.trace.rule == "no_match" and r.trace.no_match_count == 1
    assert shop.handle("s", "blah").replies == ["Still lost."]
    r = shop.handle("s", "blah")
    assert r.replies == ["A person will help."] and r.ended


def test_no_match_count_resets_on_a_match(shop: Engine) -> None:
    shop.start("s")
    shop.handle("s", "blah")
    shop.handle("s", "blah")
    shop.handle("s", "help")
    assert shop.handle("s", "blah").replies == ["Pardon?"]


def test_invalid_answer_without_ladder_repeats_the_question(shop: Engine) -> None:
    shop.start("s")
    shop.handle("s", "track AB123456")
    r = shop.handle("s", "purple")
    assert r.trace.rule == "invalid"
    assert r.replies == ["Sorry, that doesn't look right.", "Sure about AB123456?"]


def test_global_digression_resumes_the_question(shop: Engine) -> None:
    shop.start("s")
    shop.handle("s", "track")
    r = shop.handle("s", "help")
    assert r.replies == ["I track orders.", "Order number?"]
    assert r.state == "tracking"


def test_global_switch(shop: Engine) -> None:
    shop.start("s")
    shop.handle("s", "track")
    r = shop.handle("s", "agent please")
    assert r.replies == ["A person will help."] and r.state == "handoff" and r.ended


def test_pattern_intent_fills_slots(shop: Engine) -> None:
    shop.start("s")
    r = shop.handle("s", "hello, order AB123456")
    assert r.replies == ["Hello to you.", "Hi! Say track."]
    assert r.slots["order_id"] == "AB123456"
    assert r.trace.matched == "order (?P<order_id>[A-Z]{2}\\d{6})"


def test_ended_session_starts_again(shop: Engine) -> None:
    shop.start("s")
    shop.handle("s", "agent")
    r = shop.handle("s", "track")
    assert r.replies == ["Hi! Say track.", "Order number?"]
    assert not r.ended and r.slots == {}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"modle": "gpt-4o"},
            "llm_settings: LLMSettings.__init__() got an unexpected keyword argument 'modle'\n"
            "    hint: keys: model, temperature, max_tokens, timeout, retries",
        ),
        ({"temperature": 5}, "LLM temperature 5 is outside 0..2"),
    ],
)
def test_bad_llm_settings_fail_when_the_engine_is_made(
    make_engine: Make, settings: dict[str, Any], message: str
) -> None:
    # without an LLM too: the error comes before any turn asks one
    with pytest.raises(ConfigurationError) as info:
        make_engine(SHOP, actions={"lookup": lookup}, llm_settings=settings)
    assert str(info.value) == message


def test_action_failure_follows_the_error_path(make_engine: Make) -> None:
    def broken(order_id: str) -> None:
        raise ConnectionError("db down")

    engine = make_engine(SHOP, actions={"lookup": broken})
    engine.start("s")
    engine.handle("s", "track AB123456")
    r = engine.handle("s", "yes")
    assert r.replies == ["Sorry, something went wrong on our side.", "Hi! Say track."]
    assert r.state == "menu"
    assert r.trace.actions[0].ok is False
    assert r.trace.errors == ["action 'lookup': raised ConnectionError: db down"]


def test_action_timeout_follows_the_error_path(make_engine: Make) -> None:
    def slow(order_id: str) -> None:
        time.sleep(1)

    engine = make_engine(
        SHOP.replace("on_error: menu", "on_error: menu, timeout: 0.05"), actions={"lookup": slow}
    )
    engine.handle("s", "track AB123456")
    r = engine.handle("s", "yes")
    assert r.state == "menu"
    assert r.trace.errors == ["action 'lookup': did not finish within 0.05 s"]


def test_unknown_action_is_reported_with_its_position(make_engine: Make) -> None:
    with pytest.raises(FlowErrors) as info:
        make_engine(SHOP)
    assert str(info.value).startswith("main.yaml:27:20: unknown action 'lookup'")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "\x00\x01\x02",
        "\ud800 lone surrogate",
        "🎉🎉 track 🎉",
        "查询 track ordre",
        "x" * 1999,
    ],
)
def test_odd_input_never_crashes(shop: Engine, text: str) -> None:
    shop.start("s")
    r = shop.handle("s", text)
    assert r.trace.errors == []
    assert r.replies


def test_too_long_text_changes_nothing(shop: Engine) -> None:
    shop.start("s")
    shop.handle("s", "track")
    before = shop.session("s")
    r = shop.handle("s", "x" * 200_000)
    assert r.trace.rule == "too_long"
    assert r.replies == ["That message is too long for me. Could you say it in fewer words?"]
    assert shop.session("s") == before


def test_max_text_length_is_configurable(make_engine: Make) -> None:
    engine = make_engine(SHOP, actions={"lookup": lookup}, max_text_length=10)
    engine.start("s")
    assert engine.handle("s", "track order now").trace.rule == "too_long"


def test_render_error_degrades_and_keeps_the_session(make_engine: Make) -> None:
    engine = make_engine(SHOP, actions={"lookup": lambda order_id: {"no_status": 1}})
    engine.handle("s", "track AB123456")
    before = engine.session("s")
    r = engine.handle("s", "yes")
    assert r.trace.rule == "error"
    assert r.replies == ["Sorry, something went wrong on our side."]
    assert r.trace.errors and "status" in r.trace.errors[0]
    assert engine.session("s") == before


class BrokenStore(MemoryStore):
    def save(self, session: Any) -> None:
        raise OSError("disk full")


def test_store_failure_is_a_typed_error(make_engine: Make) -> None:
    engine = make_engine(SHOP, actions={"lookup": lookup}, store=BrokenStore())
    with pytest.raises(StoreError) as info:
        engine.handle("s", "track")
    assert "disk full" in str(info.value)


def test_async_face_gives_the_same_results(make_engine: Make) -> None:
    texts = ["track", "AB123456", "yes", "help", "blah", "agent"]
    sync_engine = make_engine(SHOP, actions={"lookup": lookup})
    sync = [sync_engine.handle("s", t) for t in texts]

    async def run() -> list[Any]:
        engine = make_engine(SHOP, actions={"lookup": lookup})
        return [await engine.ahandle("s", t) for t in texts]

    for a, b in zip(sync, asyncio.run(run()), strict=True):
        assert (a.replies, a.state, a.slots, a.ended) == (b.replies, b.state, b.slots, b.ended)
        assert a.trace.rule == b.trace.rule


def test_async_face_does_not_block_the_loop(make_engine: Make) -> None:
    async def run() -> TurnResult:
        lookup_waits = asyncio.Event()
        loop_was_free = asyncio.Event()

        async def lookup_needing_the_loop(order_id: str) -> dict[str, str]:
            lookup_waits.set()
            # Only another task of this loop can set it; if the loop is blocked, give up.
            await asyncio.wait_for(loop_was_free.wait(), 5)
            return {"status": "shipped"}

        async def other_task() -> None:
            await lookup_waits.wait()
            loop_was_free.set()

        engine = make_engine(SHOP, actions={"lookup": lookup_needing_the_loop})
        other = asyncio.create_task(other_task())
        await engine.ahandle("s", "track AB123456")
        result = await engine.ahandle("s", "yes")
        other.cancel()
        return result

    result = asyncio.run(run())
    assert result.trace.errors == []
    assert result.replies[0] == "AB123456 is shipped."


class Watched:
    """A lookup action that notices when two calls run at the same time."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.inside = 0
        self.overlap = False
        self.guard = threading.Lock()

    def __call__(self, order_id: str) -> dict[str, str]:
        with self.guard:
            self.inside += 1
            self.overlap = self.overlap or self.inside > 1
        time.sleep(self.seconds)
        with self.guard:
            self.inside -= 1
        return {"status": "shipped"}


def watched_engine(make_engine: Make, watched: Watched) -> Engine:
    engine = make_engine(
        SHOP.replace("collect: [order_id, confirmed]", "collect: [order_id]"),
        actions={"lookup": watched},
    )
    engine.start("s")
    return engine


def test_turns_of_one_session_never_interleave(make_engine: Make) -> None:
    watched = Watched(0.02)
    engine = watched_engine(make_engine, watched)

    def client() -> None:
        for _ in range(3):
            engine.handle("s", "track AB123456")

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not watched.overlap
    session = engine.session("s")
    assert session is not None and session.turn == 13  # 1 greeting + 12 turns, none lost


def test_async_turns_of_one_session_never_interleave(make_engine: Make) -> None:
    inside = 0
    overlap = False

    async def watched(order_id: str) -> dict[str, str]:
        nonlocal inside, overlap
        inside += 1
        overlap = overlap or inside > 1
        await asyncio.sleep(0.01)
        inside -= 1
        return {"status": "shipped"}

    engine = make_engine(
        SHOP.replace("collect: [order_id, confirmed]", "collect: [order_id]"),
        actions={"lookup": watched},
    )

    async def run() -> None:
        await engine.astart("s")
        await asyncio.gather(*(engine.ahandle("s", "track AB123456") for _ in range(10)))

    asyncio.run(run())
    assert not overlap
    assert engine.session("s").turn == 11  # type: ignore[union-attr]


def test_history_is_bounded(make_engine: Make) -> None:
    engine = make_engine(SHOP, actions={"lookup": lookup}, history_turns=2)
    for text in ["track", "AB123456", "no", "help"]:
        engine.handle("s", text)
    session = engine.session("s")
    assert session is not None
    assert session.history == (
        "no",
        "AB123456 is shipped.\nHi! Say track.",
        "help",
        "I track orders.",
    )


def test_reset_forgets_the_session(shop: Engine) -> None:
    shop.handle("s", "track")
    shop.reset("s")
    assert shop.session("s") is None


def test_sync_and_async_turns_of_one_session_never_interleave(make_engine: Make) -> None:
    watched = Watched(0.01)
    engine = watched_engine(make_engine, watched)

    def threads_side() -> None:
        for _ in range(5):
            engine.handle("s", "track AB123456")

    async def loop_side() -> None:
        await asyncio.gather(*(engine.ahandle("s", "track AB123456") for _ in range(5)))

    worker = threading.Thread(target=threads_side)
    worker.start()
    asyncio.run(loop_side())
    worker.join()
    assert not watched.overlap
    assert engine.session("s").turn == 11  # type: ignore[union-attr]


def test_existing_only_raises_for_a_session_the_store_does_not_hold(shop: Engine) -> None:
    from dialogue.errors import SessionNotFound

    seen: list[object] = []
    shop.add_observer(seen.append)
    with pytest.raises(SessionNotFound):
        shop.handle("nobody", "hi", existing=True)
    with pytest.raises(SessionNotFound):
        asyncio.run(shop.ahandle("nobody", "hi", existing=True))
    assert shop.session("nobody") is None  # nothing started, nothing saved
    assert seen == []  # no turn ran, so none failed
    shop.start("s1")
    assert shop.handle("s1", "return", existing=True).trace.turn == 2
