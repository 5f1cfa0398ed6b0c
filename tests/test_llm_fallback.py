"""The LLM fallback end to end: engine -> real openai SDK -> loopback fake server."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dialogue import Engine, compile_flows, parse_flow
from dialogue.llm.openai_client import OpenAIChatClient
from dialogue.runtime.builtin_replies import builtin
from dialogue.testing import FakeChatServer, FakeReply

FLOWS = Path(__file__).resolve().parent.parent / "flows"


Make = Callable[..., Engine]


@pytest.fixture
def shop(client: OpenAIChatClient) -> Make:
    def make(**options: Any) -> Engine:
        options.setdefault("llm_settings", {"retries": 0, "timeout": 2.0})
        return Engine.from_path(FLOWS / "customer_service.yaml", llm=client, **options)

    return make


def understood(intent: str | None = None, reply: str | None = None, **slots: Any) -> FakeReply:
    return FakeReply.json({"intent": intent, "slots": slots, "reply": reply})


def at_order_question(engine: Engine) -> None:
    engine.handle("s", "where is my order")
    assert engine.session("s").pending == "order_id"  # type: ignore[union-attr]


def test_out_of_scope_question_is_answered_and_the_task_resumes(
    shop: Make, fake: FakeChatServer
) -> None:
    engine = shop()
    at_order_question(engine)
    fake.script(understood(reply="We're open Monday to Saturday, 8:00 to 20:00.", order_id=None))
    r = engine.handle("s", "what are your opening hours?")
    assert r.replies == [
        "We're open Monday to Saturday, 8:00 to 20:00.",
        "What's your order number? It looks like AB123456.",
    ]
    assert r.state == "tracking" and r.trace.rule == "llm"
    llm = r.trace.llm
    assert llm is not None and llm.outcome == "reply" and llm.model == "fake-model"
    assert llm.prompt_tokens > 0 and llm.completion_tokens > 0 and llm.prompt == "default"
    assert engine.session("s").tokens == llm.prompt_tokens + llm.completion_tokens  # type: ignore[union-attr]
    # and the conversation goes on with rules
    assert engine.handle("s", "AB123456").state == "menu"


def test_request_carries_the_state_and_user_text_only_as_user(
    shop: Make, fake: FakeChatServer
) -> None:
    engine = shop()
    at_order_question(engine)
    fake.script(understood(order_id=None))
    engine.handle("s", "hmm {{ 7*7 }} what about you?")
    body = fake.requests[-1]
    messages = body["messages"]
    assert messages[0]["role"] == "system"
    system = messages[0]["content"]
    assert "Opening hours of customer service" in system  # the knowledge file
    assert '"order_id"' in system and "{{" not in system and "49" not in system
    assert messages[-1] == {"role": "user", "content": "hmm {{ 7*7 }} what about you?"}
    assert [m["role"] for m in messages[1:-1]] == ["user", "assistant"]  # history
    assert body["model"] == "gpt-4o-mini" and body["temperature"] == 0
    schema = body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["intent"]["enum"] == [
        *("thanks", "help", "human", "cancel", "speak_chinese", "speak_english", None)
    ]
    assert list(schema["properties"]["slots"]["properties"]) == ["order_id"]


def test_llm_intent_moves_like_a_rule(shop: Make, fake: FakeChatServer) -> None:
    engine = shop()
    engine.start("s")
    fake.script(understood(intent="track"))
    r = engine.handle("s", "the thing I bought never showed up")
    assert r.state == "tracking" and r.trace.intent == "track" and r.trace.rule == "llm"
    assert r.replies == ["What's your order number? It looks like AB123456."]


def test_llm_slot_values_are_validated_and_applied(shop: Make, fake: FakeChatServer) -> None:
    engine = shop()
    at_order_question(engine)
    fake.script(understood(order_id="ab123456"))
    r = engine.handle("s", "it's the one ending in 3456, starts with AB and 1234")
    assert r.slots["order_id"] == "AB123456" and r.state == "menu"
    assert r.trace.llm is not None and r.trace.llm.outcome == "slots"


@pytest.mark.parametrize(
    "reply",
    [
        understood(intent="return_everything"),
        understood(intent="goodbye"),  # exists, but not allowed in this state
        understood(order_id="not an order"),
        FakeReply.json({"intent": None, "slots": {"order_id": None}, "reply": None, "goto": "x"}),
        FakeReply.json({"intent": None, "slots": {"credit_card": "4111"}, "reply": None}),
    ],
)
def test_disallowed_answers_change_nothing(
    shop: Make, fake: FakeChatServer, reply: FakeReply
) -> None:
    engine = shop()
    at_order_question(engine)
    before = engine.session("s")
    fake.script(reply)
    r = engine.handle("s", "blah blah")
    assert r.trace.llm is not None and r.trace.llm.outcome == "rejected"
    assert r.trace.rule == "invalid"
    assert r.replies == [
        "That doesn't look like an order number: it's two letters and six digits, like AB123456."
    ]
    after = engine.session("s")
    assert after is not None and before is not None
    assert (after.state, after.slots) == (before.state, before.slots)


FAULTS = [
    (FakeReply.error(500, body={"error": {"message": "boom"}}), "server_error"),
    (FakeReply.error(429, headers={"retry-after": "0"}), "rate_limited"),
    (FakeReply.error(401, body={"error": {"message": "bad key"}}), "auth"),
    (FakeReply.error(400, body={"error": {"message": "bad request"}}), "bad_request"),
    (FakeReply.raw("{not json"), "malformed"),
    (FakeReply.raw("<html><body>Gateway</body></html>", content_type="text/html"), "malformed"),
    (FakeReply.raw('{"choices": []}'), "empty"),
    (FakeReply.raw('{"choices": null}'), "empty"),
    (FakeReply.text('{"intent": null', finish_reason="length"), "length"),
    (FakeReply.text("", finish_reason="content_filter"), "content_filter"),
    (FakeReply.refusal("I can't help with that."), "refusal"),
    (FakeReply.text("not json at all"), "not_json"),
    (FakeReply.hang(30), "timeout"),  # the client gives up after 0.3 s
]


@pytest.mark.parametrize(("reply", "kind"), FAULTS)
def test_failures_give_the_static_reply_and_keep_the_session(
    shop: Make, fake: FakeChatServer, reply: FakeReply, kind: str
) -> None:
    """An outage gets the flow's failure reply; a model that declined, the no-match
    ladder; neither changes the state or the slots."""
    timeout = 0.3 if kind == "timeout" else 30  # only the hang may run out of time
    engine = shop(llm_settings={"retries": 0, "timeout": timeout})
    engine.start("s")
    before = engine.session("s")
    fake.script(reply)
    r = engine.handle("s", "tell me a joke")
    if kind in ("refusal", "content_filter"):
        assert r.trace.rule == "no_match" and r.replies == [
            "Sorry, I didn't get that. I can track an order, start a return, or get you a person."
        ]
    else:
        assert r.trace.rule == "llm_failed" and r.replies == [
            "Sorry, something went wrong on my side. Please try again in a moment."
        ]
    assert r.trace.llm is not None and r.trace.llm.outcome == "failed"
    assert r.trace.llm.failure == kind
    assert r.trace.llm.error.startswith(kind + ":"), r.trace.llm.error
    assert r.trace.errors == [f"llm {r.trace.llm.error}"]
    after = engine.session("s")
    assert after is not None and before is not None
    assert (after.state, after.slots, after.stack) == (before.state, before.slots, before.stack)


def test_a_failed_call_is_logged_as_a_warning(
    shop: Make, fake: FakeChatServer, caplog: pytest.LogCaptureFixture
) -> None:
    engine = shop()
    engine.start("s")
    fake.script(FakeReply.raw("{not json"))
    with caplog.at_level(logging.WARNING, logger="dialogue"):
        r = engine.handle("s", "tell me a joke")
    assert r.trace.llm is not None
    assert [(rec.name, rec.levelname, rec.getMessage()) for rec in caplog.records] == [
        (
            "dialogue",
            "WARNING",
            f"LLM fallback failed in customer_service.menu: {r.trace.llm.error}",
        )
    ]


def test_a_rejected_answer_is_not_logged(
    shop: Make, fake: FakeChatServer, caplog: pytest.LogCaptureFixture
) -> None:
    engine = shop()
    at_order_question(engine)
    fake.script(understood(intent="goodbye"))
    with caplog.at_level(logging.DEBUG, logger="dialogue"):
        r = engine.handle("s", "blah blah")
    assert r.trace.llm is not None and r.trace.llm.outcome == "rejected"
    # only the turn's own DEBUG line: nothing about the rejected answer
    logged = [rec for rec in caplog.records if rec.name == "dialogue"]
    assert [(rec.levelno, getattr(rec, "rule", None)) for rec in logged] == [
        (logging.DEBUG, "invalid")
    ]


def test_connection_refused(shop: Make) -> None:
    client = OpenAIChatClient(api_key="k", base_url="http://127.0.0.1:9/v1")
    engine = Engine.from_path(
        FLOWS / "customer_service.yaml", llm=client, llm_settings={"retries": 0, "timeout": 0.5}
    )
    engine.start("s")
    r = engine.handle("s", "tell me a joke")
    assert r.trace.llm is not None and r.trace.llm.error.startswith("connection:")
    assert r.trace.rule == "llm_failed"


def test_retry_after_429_then_success(shop: Make, fake: FakeChatServer) -> None:
    engine = shop(llm_settings={"retries": 1, "timeout": 2.0})
    engine.start("s")
    fake.script(FakeReply.error(429, headers={"retry-after": "0"}), understood(intent="track"))
    r = engine.handle("s", "the thing I bought never showed up")
    assert r.state == "tracking" and len(fake.requests) == 2


def test_offline_mode(tmp_path: Any) -> None:
    engine = Engine.from_path(FLOWS / "customer_service.yaml", llm=None)
    assert engine.offline
    engine.start("s")
    r = engine.handle("s", "what are your opening hours?")
    assert r.trace.llm is not None and r.trace.llm.outcome == "offline"
    assert r.trace.rule == "no_match" and r.trace.errors == []


def test_token_budget_stops_calls(shop: Make, fake: FakeChatServer) -> None:
    engine = shop()
    engine.start("s")
    fake.script(FakeReply.json({"intent": None, "slots": {}, "reply": "Hi"}, usage=(900, 5)))
    assert engine.handle("s", "tell me a joke").trace.llm.outcome == "reply"  # type: ignore[union-attr]
    session = engine.store.load("s")
    assert session is not None and session.tokens == 905
    session.tokens = 20_000  # the flow's llm.token_budget
    engine.store.save(session)
    count = len(fake.requests)
    r = engine.handle("s", "another joke")
    assert r.trace.llm is not None and r.trace.llm.outcome == "budget"
    assert len(fake.requests) == count and r.trace.rule == "no_match"
    assert r.replies == ["Sorry, I can't answer more open questions in this chat."]


def test_cache_answers_identical_requests(shop: Make, fake: FakeChatServer) -> None:
    engine = shop(llm_cache=8)
    fake.script(understood(reply="We open at 8."), understood(reply="Different"))
    first = [engine.handle(sid, t) for sid in ("a", "b") for t in ("hi", "opening hours?")]
    assert first[1].replies == first[3].replies == ["We open at 8."]
    assert first[3].trace.llm is not None and first[3].trace.llm.cached
    assert len(fake.requests) == 1


def test_settings_override_and_prompt_trace(shop: Make, fake: FakeChatServer) -> None:
    engine = shop(llm_settings={"model": "my-model", "retries": 0}, trace_prompts=True)
    engine.start("s")
    fake.script(understood())
    r = engine.handle("s", "tell me a joke")
    assert fake.requests[-1]["model"] == "my-model"
    assert r.trace.llm is not None and r.trace.llm.messages is not None
    assert r.trace.llm.messages[-1] == {"role": "user", "content": "tell me a joke"}
    assert r.trace.llm.outcome == "nothing" and r.trace.rule == "no_match"


def test_async_face_gives_the_same_results(shop: Make, fake: FakeChatServer) -> None:
    texts = ["where is my order", "what are your opening hours?", "AB123456"]
    replies = [understood(reply="8 to 20.", order_id=None)]
    sync_engine = shop()
    fake.script(*replies)
    sync = [sync_engine.handle("s", t) for t in texts]

    async def run() -> list[Any]:
        engine = shop()
        fake.script(*replies)
        out = [await engine.ahandle("s", t) for t in texts]
        await engine.aclose()
        return out

    for a, b in zip(sync, asyncio.run(run()), strict=True):
        assert (a.replies, a.state, a.slots) == (b.replies, b.state, b.slots)
        assert a.trace.rule == b.trace.rule


RESPOND = """
flow: faq
start: ask
fallback: {mode: respond}
intents:
  bye: {keywords: [bye]}
states:
  ask:
    say: "Ask me anything."
    on: {bye: done}
  done: {say: "Bye!", final: true}
"""


def test_streaming_respond_mode(client: OpenAIChatClient, fake: FakeChatServer) -> None:
    engine = Engine(
        compile_flows([parse_flow(RESPOND, path="faq.yaml")]),
        llm=client,
        llm_settings={"retries": 0},
    )

    async def run() -> tuple[list[Any], Any]:
        await engine.astart("s")
        fake.script(FakeReply.text("We are open from eight until eight, every weekday."))
        stream = engine.astream("s", "when are you open?")
        deltas = [d async for d in stream]
        await engine.aclose()
        return deltas, stream.result

    deltas, result = asyncio.run(run())
    assert len(deltas) > 2 and {d.index for d in deltas} == {0}
    assert "".join(d.text for d in deltas) == "We are open from eight until eight, every weekday."
    assert result.replies == ["We are open from eight until eight, every weekday."]
    assert fake.requests[-1]["stream"] is True and "response_format" not in fake.requests[-1]


def test_stream_of_a_rule_turn_gives_whole_replies(client: OpenAIChatClient) -> None:
    engine = Engine(compile_flows([parse_flow(RESPOND, path="faq.yaml")]), llm=client)

    async def run() -> list[Any]:
        await engine.astart("s")
        return [d async for d in engine.astream("s", "bye")]

    deltas = asyncio.run(run())
    assert [(d.index, d.text) for d in deltas] == [(0, "Bye!")]


def test_cut_stream_is_replaced_by_the_static_reply(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    engine = Engine(
        compile_flows([parse_flow(RESPOND, path="faq.yaml")]),
        llm=client,
        llm_settings={"retries": 0},
    )

    async def run() -> tuple[list[Any], Any]:
        await engine.astart("s")
        fake.script(FakeReply.cut_stream("one two three four five six", after_chunks=2))
        stream = engine.astream("s", "tell me")
        deltas = [d async for d in stream]
        await engine.aclose()
        return deltas, stream.result

    deltas, result = asyncio.run(run())
    trouble = builtin("en", "llm_trouble")[0]  # the apology, not "I didn't get that"
    assert result.replies == [trouble]
    assert deltas[-1].replace and deltas[-1].text == trouble
    assert result.trace.llm.outcome == "failed" and result.trace.rule == "llm_failed"
    assert json.dumps(result.slots) == "{}"
