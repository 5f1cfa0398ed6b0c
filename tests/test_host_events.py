"""Events from the host: handled like intents, carrying slot values, ignored harmlessly."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from dialogue import Engine, EventError, FlowErrors, MemoryStore
from dialogue.stores.sqlite import SQLiteStore

Make = Callable[..., Engine]

FLOW = """
flow: shop
start: menu
slots:
  order_id: {type: pattern, pattern: '[A-Z]{2}\\d{6}', normalize: upper, ask: "Order number?"}
  amount: {type: number, min: 0, ask: "How much?"}
intents:
  track: {keywords: [track]}
events:
  inactivity: {description: "the host's timer: no message for a while"}
  paid: {slots: [amount]}
  shipped:
    scope: global
    slots: [order_id]
    say: "Good news: parcel {{ order_id }} has shipped."
    options: ["Track it", "Thanks"]
    goto: menu
states:
  menu:
    say: "Hi! Say track."
    on: {track: tracking}
  tracking:
    collect: [order_id]
    on:
      inactivity: {say: "Are you still there?"}
    next: {say: "Tracking {{ order_id }}.", goto: paying}
  paying:
    collect: [amount]
    on:
      paid:
        - {if: "amount and amount > 100", say: "Big payment of {{ amount }}.", goto: menu}
        - {say: "Paid {{ amount }}.", goto: menu}
"""


def test_a_states_on_handles_an_event_and_asks_again(make_engine: Make) -> None:
    engine = make_engine(FLOW)
    engine.start("s")
    engine.handle("s", "track")
    r = engine.event("s", "inactivity")
    assert r.replies == ["Are you still there?", "Order number?"]
    assert r.trace.rule == "event" and r.state == "tracking"
    assert r.trace.steps == ["event inactivity", "ask order_id"]
    assert r.trace.transition == "tracking.on.inactivity[0]"


def test_an_event_the_state_does_not_handle_is_ignored_and_changes_nothing(
    make_engine: Make,
) -> None:
    store = MemoryStore()
    engine = make_engine(FLOW, store=store)
    engine.start("s")
    before = store.load("s")
    r = engine.event("s", "inactivity")  # menu has no 'on: inactivity'
    assert r.replies == [] and r.trace.rule == "event_ignored" and r.state == "menu"
    assert r.trace.steps == ["event inactivity ignored"]
    after = store.load("s")
    assert before is not None and after is not None
    assert (after.state, after.slots, after.pending) == (before.state, before.slots, None)


def test_event_data_fills_the_slots_the_event_carries_checked_by_type(
    make_engine: Make,
) -> None:
    engine = make_engine(FLOW)
    engine.start("s")
    engine.handle("s", "track")
    engine.handle("s", "ab123456")
    r = engine.event("s", "paid", data={"amount": "250"})
    assert r.replies == ["Big payment of 250.", "Hi! Say track."]
    assert r.slots["amount"] == 250.0 and r.state == "menu"


def test_a_refused_value_is_not_taken(make_engine: Make) -> None:
    engine = make_engine(FLOW)
    engine.start("s")
    engine.handle("s", "track")
    engine.handle("s", "ab123456")
    r = engine.event("s", "paid", data={"amount": -3})
    assert "amount" not in r.slots
    assert [type(e).__name__ for e in r.trace.events][:2] == ["SlotRejected", "EventHandled"]
    assert r.replies == ["Paid .", "Hi! Say track."]


def test_a_global_event_is_a_proactive_message_in_any_state(make_engine: Make) -> None:
    engine = make_engine(FLOW)
    engine.start("s")
    engine.handle("s", "track")
    r = engine.event("s", "shipped", data={"order_id": "xy765432"})
    assert r.replies == ["Good news: parcel XY765432 has shipped.", "Hi! Say track."]
    assert r.state == "menu" and r.slots["order_id"] == "XY765432"
    assert "events.shipped.goto" in [e.key for e in r.trace.events if hasattr(e, "key")]


def test_a_new_session_hears_a_moving_global_event_first_without_the_greeting(
    make_engine: Make,
) -> None:
    r = make_engine(FLOW).event("new", "shipped", data={"order_id": "AB123456"})
    assert r.replies == ["Good news: parcel AB123456 has shipped.", "Hi! Say track."]
    assert r.trace.rule == "event"


def test_an_event_nothing_handles_starts_no_conversation(make_engine: Make) -> None:
    engine = make_engine(FLOW)
    r = engine.event("new", "inactivity")  # the start state does not handle it
    assert r.replies == [] and r.trace.rule == "event_ignored"
    assert r.trace.steps == ["event inactivity ignored"]
    assert engine.session("new") is None, "nothing was saved"


def test_an_ended_conversation_stays_ended_for_an_event_it_would_ignore(
    make_engine: Make,
) -> None:
    flow = FLOW.replace("    on: {track: tracking}", "    on: {track: tracking, bye: done}")
    flow = flow.replace(
        "  track: {keywords: [track]}", "  track: {keywords: [track]}\n  bye: {keywords: [bye]}"
    )
    flow += "  done: {say: Bye., final: true}\n"
    engine = make_engine(flow)
    engine.start("s")
    assert engine.handle("s", "bye").ended
    r = engine.event("s", "inactivity")
    assert (r.replies, r.trace.rule, r.ended) == ([], "event_ignored", True)
    session = engine.session("s")
    assert session is not None and session.ended and session.state == "done"


def test_a_new_session_is_greeted_before_an_event_its_start_handles(make_engine: Make) -> None:
    flow = FLOW.replace(
        "    on: {track: tracking}", "    on: {track: tracking, inactivity: {say: Hello?}}"
    )
    r = make_engine(flow).event("new", "inactivity")
    assert r.replies == ["Hi! Say track.", "Hello?"]
    assert r.trace.steps == ["enter menu", "event inactivity"]


def test_an_unknown_event_is_a_typed_error_with_a_hint(make_engine: Make) -> None:
    engine = make_engine(FLOW)
    with pytest.raises(EventError) as caught:
        engine.event("s", "shiped")
    assert caught.value.code == "invalid_event" and caught.value.hint == "did you mean 'shipped'?"
    assert engine.session("s") is None, "nothing ran"


def test_data_the_event_does_not_carry_is_a_typed_error(make_engine: Make) -> None:
    with pytest.raises(EventError) as caught:
        make_engine(FLOW).event("s", "paid", data={"order_id": "AB123456"})
    assert str(caught.value) == "event 'paid' carries no slot 'order_id'"


def test_a_redelivered_event_changes_nothing(make_engine: Make) -> None:
    engine = make_engine(FLOW)
    engine.start("s")
    engine.handle("s", "track")
    first = engine.event("s", "inactivity", message_id="e1")
    again = engine.event("s", "inactivity", message_id="e1")
    assert again.trace.rule == "duplicate" and again.replies == first.replies
    session = engine.session("s")
    assert session is not None and session.turn == first.trace.turn


def test_aevent_gives_what_event_gives(make_engine: Make) -> None:
    sync, async_ = make_engine(FLOW), make_engine(FLOW)
    expected = sync.event("s", "shipped", data={"order_id": "AB123456"})
    got = asyncio.run(async_.aevent("s", "shipped", data={"order_id": "AB123456"}))
    assert (got.replies, got.state, got.slots, got.options) == (
        expected.replies,
        expected.state,
        expected.slots,
        expected.options,
    )


def test_a_global_events_options_go_with_its_say_when_last(make_engine: Make) -> None:
    flow = FLOW.replace("    goto: menu\nstates:", "states:")
    engine = make_engine(flow)
    engine.start("s")
    r = engine.event("s", "shipped", data={"order_id": "AB123456"})
    assert r.replies == ["Good news: parcel AB123456 has shipped."]
    assert [o.label for o in r.options] == ["Track it", "Thanks"]


def test_an_unhandled_local_event_is_a_warning(make_engine: Make) -> None:
    flow = FLOW.replace("  paid: {slots: [amount]}\n", "  paid: {slots: [amount]}\n  nobody: {}\n")
    warnings = make_engine(flow).bot.warnings
    assert [w.code for w in warnings if "nobody" in w.message] == ["unused_event"]


def test_an_event_named_like_an_intent_is_a_flow_error(make_engine: Make) -> None:
    with pytest.raises(FlowErrors) as caught:
        make_engine(FLOW.replace("  paid: {slots", "  track: {}\n  paid: {slots"))
    assert "'track' is both an intent and an event" in str(caught.value)


def test_a_global_event_needs_something_to_do(make_engine: Make) -> None:
    with pytest.raises(FlowErrors) as caught:
        make_engine(FLOW.replace("  paid: {slots: [amount]}", "  paid: {scope: global}"))
    assert "a global event needs 'say', 'goto' or 'flow'" in str(caught.value)


def test_events_go_through_the_shared_store_like_messages(
    make_engine: Make, tmp_path: Path
) -> None:
    one, two = SQLiteStore(tmp_path / "s.db"), SQLiteStore(tmp_path / "s.db")
    try:
        first, second = make_engine(FLOW, store=one), make_engine(FLOW, store=two)
        first.start("s")
        first.handle("s", "track")  # saved by one process ...
        r = second.event("s", "inactivity", message_id="t-1")  # ... answered by another
        assert r.replies == ["Are you still there?", "Order number?"]
        again = first.event("s", "inactivity", message_id="t-1")
        assert again.trace.rule == "duplicate" and again.replies == r.replies
        stored = first.session("s")
        assert stored is not None and stored.turn == 3 and stored.version == 3
    finally:
        one.close()
        two.close()
