"""Handing a conversation to a person: escalations and global intents that carry a
reason, the handoff the host is given, the hook, messages held until ``resume``."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dialogue import (
    Engine,
    FlowErrors,
    HandoffInfo,
    MemoryStore,
    SessionNotFound,
    TranscriptLine,
    compile_flows,
    parse_flow,
)
from dialogue.events import HandedOff
from dialogue.session import Session
from dialogue.stores.sqlite import SQLiteStore

Make = Callable[..., Engine]

SHOP = """
flow: shop
start: welcome
slots:
  order_id:
    type: pattern
    pattern: '[A-Z]{2}\\d{6}'
    ask: "Order number?"
    invalid: ["Not an order number.", "Two letters, six digits please."]
    max_attempts: 2
    on_exhausted:
      goto: handoff
      say: "That's {{ 'two' }} tries."
      set: {handoff_reason: "'invalid_order'"}
  handoff_reason: {type: any}
intents:
  track: {keywords: [track]}
  human:
    scope: global
    keywords: [agent]
    set: {handoff_reason: "'asked_for_person'"}
    goto: handoff
states:
  welcome:
    say: "Hi! Say track."
    next: menu
  menu:
    on: {track: tracking}
  tracking:
    collect: [order_id]
    next:
      - say: "{{ order_id }} is on its way."
        goto: menu
  handoff:
    say: "A person will help."
    handoff: {reason: handoff_reason}
    final: true
fallback:
  no_match: ["Pardon?"]
  max_no_match: 2
  on_exhausted: {goto: handoff, set: {handoff_reason: "'not_understood'"}}
"""


def test_a_global_intent_sets_the_reason_and_the_turn_carries_the_handoff(
    make_engine: Make,
) -> None:
    engine = make_engine(SHOP)
    engine.handle("s", "track")
    result = engine.handle("s", "AB123456")
    assert result.replies == ["AB123456 is on its way."]
    result = engine.handle("s", "I want an agent")
    assert result.replies == ["A person will help."]
    assert result.handed_off and result.ended
    info = result.handoff
    assert info is not None
    assert (info.reason, info.flow, info.state, info.turn) == (
        "asked_for_person",
        "shop",
        "handoff",
        result.trace.turn,
    )
    assert info.slots == {"order_id": "AB123456", "handoff_reason": "asked_for_person"}
    assert info.transcript == (
        TranscriptLine("user", "track"),
        TranscriptLine("bot", "Hi! Say track.\nOrder number?"),
        TranscriptLine("user", "AB123456"),
        TranscriptLine("bot", "AB123456 is on its way."),
        TranscriptLine("user", "I want an agent"),
        TranscriptLine("bot", "A person will help."),
    )
    assert HandedOff("shop", "handoff", "asked_for_person") in result.trace.events


def test_an_exhausted_slot_says_and_sets_on_its_way(make_engine: Make) -> None:
    engine = make_engine(SHOP)
    engine.handle("s", "track")
    assert engine.handle("s", "x").replies == ["Not an order number."]
    result = engine.handle("s", "y")
    assert result.replies == ["That's two tries.", "A person will help."]
    assert result.handoff is not None and result.handoff.reason == "invalid_order"
    assert result.trace.slot_changes["handoff_reason"] == (None, "invalid_order")


def test_the_no_match_ladder_escalates_with_a_reason(make_engine: Make) -> None:
    engine = make_engine(SHOP)
    engine.start("s")
    assert engine.handle("s", "blah").replies == ["Pardon?"]
    result = engine.handle("s", "blah blah")
    assert result.handoff is not None and result.handoff.reason == "not_understood"


def test_a_state_no_match_goto_may_say_and_set(make_engine: Make) -> None:
    flow = SHOP.replace(
        "    on: {track: tracking}\n",
        "    on: {track: tracking}\n"
        "    no_match:\n"
        '      say: "Say track."\n'
        "      max: 1\n"
        "      goto: {goto: handoff, say: Sorry., set: {handoff_reason: \"'menu'\"}}\n",
    )
    engine = make_engine(flow)
    engine.start("s")
    result = engine.handle("s", "blah")
    assert result.replies == ["Sorry.", "A person will help."]
    assert result.handoff is not None and result.handoff.reason == "menu"


def test_the_old_string_form_of_an_escalation_still_works(make_engine: Make) -> None:
    flow = SHOP.replace(
        "  on_exhausted: {goto: handoff, set: {handoff_reason: \"'not_understood'\"}}",
        "  on_exhausted: handoff",
    )
    engine = make_engine(flow)
    engine.start("s")
    engine.handle("s", "blah")
    result = engine.handle("s", "blah")
    assert result.replies == ["A person will help."]
    assert result.handoff is not None and result.handoff.reason == ""


def test_handoff_true_marks_a_state_without_a_reason(make_engine: Make) -> None:
    flow = SHOP.replace("handoff: {reason: handoff_reason}", "handoff: true")
    result = make_engine(flow).handle("s", "agent")
    assert result.handoff is not None and result.handoff.reason == ""
    assert result.handed_off


def test_a_literal_reason(make_engine: Make) -> None:
    flow = SHOP.replace("handoff: {reason: handoff_reason}", "handoff: {reason: \"'escalated'\"}")
    result = make_engine(flow).handle("s", "agent")
    assert result.handoff is not None and result.handoff.reason == "escalated"


# -- held messages and resume ---------------------------------------------------------


def test_after_a_handoff_the_bot_answers_nothing_and_keeps_the_messages(
    make_engine: Make,
) -> None:
    engine = make_engine(SHOP)
    engine.handle("s", "agent")
    held = engine.handle("s", "hello? track my order")
    assert held.replies == []
    assert held.trace.rule == "handed_off"
    assert held.handed_off and held.handoff is None
    assert (held.state, held.ended) == ("handoff", True)
    stored = engine.session("s")
    assert stored is not None and stored.handoff is not None
    assert stored.history[-2:] == ("hello? track my order", "")
    assert engine.start("s").trace.rule == "status"  # no new greeting either
    too_long = engine.handle("s", "x" * (engine.max_text_length + 1))
    assert too_long.replies == [] and too_long.trace.rule == "handed_off"


def test_resume_gives_a_final_handoff_back_as_a_new_conversation(make_engine: Make) -> None:
    engine = make_engine(SHOP)
    engine.handle("s", "agent")
    resumed = engine.resume("s")
    assert resumed.handoff is None
    result = engine.handle("s", "track")
    assert result.replies == ["Hi! Say track.", "Order number?"]
    assert not result.handed_off


def test_resume_of_a_handoff_state_that_waits_goes_on_there(make_engine: Make) -> None:
    flow = SHOP.replace(
        "    handoff: {reason: handoff_reason}\n    final: true\n",
        "    handoff: {reason: handoff_reason}\n    on: {track: tracking}\n",
    )
    engine = make_engine(flow)
    engine.handle("s", "agent")
    assert engine.handle("s", "track").replies == []
    engine.resume("s")
    result = engine.handle("s", "track")
    assert result.replies == ["Order number?"]
    assert (result.state, result.handed_off) == ("tracking", False)


def test_resume_of_a_session_not_handed_off_changes_nothing(make_engine: Make) -> None:
    engine = make_engine(SHOP)
    engine.handle("s", "track")
    before = engine.session("s")
    assert engine.resume("s") == before
    with pytest.raises(SessionNotFound):
        engine.resume("nobody")


def test_aresume(make_engine: Make) -> None:
    engine = make_engine(SHOP)

    async def go() -> list[str]:
        await engine.ahandle("s", "agent")
        assert (await engine.ahandle("s", "anyone?")).replies == []
        await engine.aresume("s")
        return (await engine.ahandle("s", "track")).replies

    assert asyncio.run(go()) == ["Hi! Say track.", "Order number?"]


# -- the hook ---------------------------------------------------------------------------


def test_the_hook_is_called_once_with_the_handoff(make_engine: Make) -> None:
    seen: list[HandoffInfo] = []
    engine = make_engine(SHOP, on_handoff=seen.append)
    engine.handle("s", "track")
    assert seen == []
    result = engine.handle("s", "agent please")
    engine.handle("s", "still there?")
    assert seen == [result.handoff]


def test_a_failing_hook_is_logged_and_traced_and_the_turn_stands(
    make_engine: Make, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(info: HandoffInfo) -> None:
        raise RuntimeError("ticket system down")

    engine = make_engine(SHOP, on_handoff=broken)
    with caplog.at_level(logging.ERROR, logger="dialogue"):
        result = engine.handle("s", "agent")
    assert result.replies == ["Hi! Say track.", "A person will help."]
    assert result.trace.errors == ["on_handoff failed: RuntimeError: ticket system down"]
    assert "on_handoff hook failed" in caplog.text
    assert "RuntimeError: ticket system down" not in caplog.text  # only with log_user_data
    stored = engine.session("s")
    assert stored is not None and stored.handoff is not None


def test_an_async_hook_from_both_faces(make_engine: Make) -> None:
    seen: list[tuple[str, str]] = []

    async def queue(info: HandoffInfo) -> None:
        await asyncio.sleep(0)
        seen.append((info.session_id, info.reason))

    engine = make_engine(SHOP, on_handoff=queue)
    engine.handle("a", "agent")
    asyncio.run(engine.ahandle("b", "agent"))
    assert seen == [("a", "asked_for_person"), ("b", "asked_for_person")]


def test_a_sync_hook_runs_off_the_event_loop(make_engine: Make) -> None:
    threads: list[threading.Thread] = []
    engine = make_engine(SHOP, on_handoff=lambda info: threads.append(threading.current_thread()))

    async def go() -> threading.Thread:
        await engine.ahandle("s", "agent")
        return threading.current_thread()

    loop_thread = asyncio.run(go())
    assert len(threads) == 1 and threads[0] is not loop_thread


def test_an_async_hook_in_the_sync_face_inside_a_loop_is_a_traced_failure(
    make_engine: Make,
) -> None:
    async def queue(info: HandoffInfo) -> None:
        raise AssertionError("never awaited")

    engine = make_engine(SHOP, on_handoff=queue, offload=False)

    async def go() -> list[str]:
        return engine.handle("s", "agent").trace.errors

    errors = asyncio.run(go())
    assert errors == [
        "on_handoff failed: RuntimeError: an async on_handoff hook needs the async face "
        "(ahandle) here"
    ]


def test_a_stream_hands_off_and_then_holds(make_engine: Make) -> None:
    seen: list[str] = []
    engine = make_engine(SHOP, on_handoff=lambda info: seen.append(info.reason))

    async def go() -> tuple[list[str], list[str]]:
        first = await engine.astream("s", "agent").collect()
        held = engine.astream("s", "hello?")
        deltas = [d.text async for d in held]
        return first.replies, [*deltas, held.result.trace.rule]

    first, held = asyncio.run(go())
    assert first == ["Hi! Say track.", "A person will help."]
    assert held == ["handed_off"]
    assert seen == ["asked_for_person"]


def test_observers_are_told_once_without_the_reason(make_engine: Make) -> None:
    from dialogue.observe import ConversationEnded, ConversationHandedOff, TurnFinished

    events: list[object] = []
    engine = make_engine(SHOP, observers=[events.append])
    engine.handle("s", "agent")
    engine.handle("s", "hello?")
    assert [type(e) for e in events] == [
        ConversationHandedOff,
        ConversationEnded,
        TurnFinished,
        TurnFinished,
    ]
    assert events[0] == ConversationHandedOff("s", "shop", "handoff")
    assert isinstance(events[3], TurnFinished) and events[3].rule == "handed_off"


# -- the transcript -----------------------------------------------------------------------


def test_the_engine_keeps_the_history_a_transcript_needs(make_engine: Make) -> None:
    flow = SHOP.replace("handoff: {reason: handoff_reason}", "handoff: {transcript: 2}")
    engine = make_engine(flow)
    assert engine.history_turns == 2
    for text in ("track", "AB123456", "track"):
        engine.handle("s", text)
    info = engine.handle("s", "agent").handoff
    assert info is not None
    assert [line.text for line in info.transcript] == [
        "track",
        "AB123456 is on its way.",
        "agent",
        "A person will help.",
    ]
    assert make_engine(flow, history_turns=0).history_turns == 0


def test_the_transcript_is_redacted_as_configured(make_engine: Make) -> None:
    flow = SHOP.replace(
        "start: welcome\n", "start: welcome\nsettings: {redact: '[A-Z]{2}\\d{6}'}\n"
    )
    engine = make_engine(flow, redact_history=True)
    engine.handle("s", "track")
    engine.handle("s", "AB123456, mail me at ann@example.com")
    info = engine.handle("s", "agent").handoff
    assert info is not None
    said = " ".join(line.text for line in info.transcript)
    assert "AB123456" not in said and "ann@example.com" not in said
    assert info.slots["order_id"] == "AB123456"  # the person needs the values


def test_the_handoff_carries_the_session_meta(make_engine: Make) -> None:
    engine = make_engine(SHOP)
    engine.start("s", meta={"channel": "web"})
    info = engine.handle("s", "agent").handoff
    assert info is not None and info.meta == {"channel": "web"}
    assert info.to_dict()["transcript"][0] == {"role": "user", "text": "agent"}


# -- every store ----------------------------------------------------------------------------

REDIS_URL = "redis://127.0.0.1:6379/9"


def _redis() -> Any:
    if os.environ.get("DIALOGUE_SKIP_REDIS") == "1":
        pytest.skip("DIALOGUE_SKIP_REDIS=1")
    from dialogue.stores.redis import RedisStore

    return RedisStore(url=REDIS_URL, prefix=f"dialogue-test:{secrets.token_hex(8)}:")


def _wipe(store: Any) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        for key in client.scan_iter(match=f"{store.prefix}*"):
            client.delete(key)
    finally:
        client.close()
        store.close()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryStore()
    elif request.param == "sqlite":
        made = SQLiteStore(tmp_path / "s.db")
        yield made
        made.close()
    else:
        made = _redis()
        yield made
        _wipe(made)


def test_every_store_keeps_the_handoff_until_resume(store: Any) -> None:
    bot = compile_flows([parse_flow(SHOP, path="shop.yaml")])
    first = Engine(bot, store=store)
    first.handle("s", "agent")
    second = Engine(bot, store=store)  # another process, say
    assert second.handle("s", "hello?").replies == []
    stored = second.session("s")
    assert stored is not None and stored.handoff is not None
    assert stored.handoff.reason == "asked_for_person"
    second.resume("s")
    assert first.handle("s", "track").replies == ["Hi! Say track.", "Order number?"]


def test_a_session_stored_before_handoffs_existed_still_loads(store: Any) -> None:
    session = Session("old", "shop", "menu", {"order_id": "AB123456"}, turn=1)
    data = session.to_dict()
    del data["handoff"]
    old = Session.from_dict(data)
    assert old.handoff is None
    store.save(old)
    loaded = store.load("old")
    assert loaded is not None and loaded.handoff is None and loaded.slots == old.slots


# -- the flow format -------------------------------------------------------------------------


def test_a_local_intent_cannot_set(make_engine: Make) -> None:
    flow = SHOP.replace("  track: {keywords: [track]}", "  track: {keywords: [track], set: {a: 1}}")
    with pytest.raises(FlowErrors) as caught:
        make_engine(flow)
    assert "'set' is only for global intents" in str(caught.value)


def test_an_escalation_to_an_unknown_state_is_placed(make_engine: Make) -> None:
    flow = SHOP.replace("      goto: handoff\n      say:", "      goto: handof\n      say:")
    with pytest.raises(FlowErrors) as caught:
        make_engine(flow)
    (problem,) = caught.value.diagnostics
    assert (problem.line, problem.code) == (12, "unknown_state")
    assert "did you mean 'handoff'?" in problem.hint


def test_a_reason_reading_an_unknown_name_is_an_error(make_engine: Make) -> None:
    flow = SHOP.replace("handoff: {reason: handoff_reason}", "handoff: {reason: handof_reason}")
    with pytest.raises(FlowErrors) as caught:
        make_engine(flow)
    (problem,) = caught.value.diagnostics
    assert problem.code == "unknown_name" and "handoff_reason" in problem.hint
