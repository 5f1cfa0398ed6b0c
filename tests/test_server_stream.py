"""Server-Sent Events over real HTTP, parsed from the raw bytes of the stream."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dialogue import Engine, Session, compile_flows, parse_flow
from dialogue.llm.openai_client import OpenAIChatClient
from dialogue.runtime.builtin_replies import builtin
from dialogue.server import create_app
from dialogue.stores import MemoryStore
from dialogue.testing import FakeChatServer, FakeReply
from dialogue.testing.live_server import LiveServer

SHOP = Path(__file__).resolve().parent.parent / "flows" / "customer_service.yaml"
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
OPEN = "We are open from eight until eight, every weekday."

Event = tuple[str, dict[str, Any]]


def parse_sse(raw: bytes) -> list[Event]:
    """``event:``/``data:`` blocks separated by a blank line, as a browser reads them."""
    assert raw.endswith(b"\n\n"), raw[-40:]
    events = []
    for block in raw.decode("utf-8").split("\n\n")[:-1]:
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        assert set(fields) == {"event", "data"}, block
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def stream(client: httpx.Client, sid: str, body: dict[str, Any]) -> list[Event]:
    """The events of one streamed turn, from the raw bytes of the response."""
    with client.stream("POST", f"/v1/sessions/{sid}/messages/stream", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        raw = b"".join(response.iter_raw())
    return parse_sse(raw)


@pytest.fixture
def faq(fake: FakeChatServer) -> Iterator[tuple[httpx.Client, Engine]]:
    client = OpenAIChatClient(api_key="test-key", base_url=fake.url)
    bot = compile_flows([parse_flow(RESPOND, path="faq.yaml")])
    engine = Engine(bot, llm=client, llm_settings={"retries": 0})
    with LiveServer(create_app(engine)) as live, httpx.Client(base_url=live.url, timeout=60) as c:
        yield c, engine
    engine.close()


def test_an_llm_reply_is_streamed_as_delta_events_then_the_result(
    faq: tuple[httpx.Client, Engine], fake: FakeChatServer
) -> None:
    client, _ = faq
    sid = client.post("/v1/sessions").json()["session_id"]
    fake.script(FakeReply.text(OPEN))
    events = stream(client, sid, {"text": "when are you open?"})
    kinds = [name for name, _ in events]
    assert kinds[-1] == "result" and set(kinds[:-1]) == {"delta"}
    deltas = [data for name, data in events if name == "delta"]
    assert len(deltas) > 3  # in pieces, as the model sent them
    assert {d["index"] for d in deltas} == {0} and not any(d["replace"] for d in deltas)
    assert "".join(d["text"] for d in deltas) == OPEN
    result = events[-1][1]
    assert result["replies"] == [OPEN] and result["state"] == "ask" and result["turn"] == 2
    assert fake.requests[-1]["stream"] is True


def test_a_rule_reply_arrives_whole(faq: tuple[httpx.Client, Engine]) -> None:
    client, _ = faq
    sid = client.post("/v1/sessions").json()["session_id"]
    events = stream(client, sid, {"text": "bye"})
    assert events[0] == ("delta", {"index": 0, "text": "Bye!", "replace": False})
    assert events[1][0] == "result" and events[1][1]["ended"] is True
    assert len(events) == 2


def test_a_cut_llm_stream_is_replaced(
    faq: tuple[httpx.Client, Engine], fake: FakeChatServer
) -> None:
    client, _ = faq
    sid = client.post("/v1/sessions").json()["session_id"]
    fake.script(FakeReply.cut_stream("one two three four five six", after_chunks=2))
    events = stream(client, sid, {"text": "tell me"})
    name, last_delta = events[-2]
    assert name == "delta" and last_delta["replace"] is True
    trouble = builtin("en", "llm_trouble")[0]  # a failed call: the apology
    assert last_delta["text"] == trouble
    assert events[-1][1]["replies"] == [trouble]


def test_a_redelivered_message_id_streams_the_first_answer(
    faq: tuple[httpx.Client, Engine], fake: FakeChatServer
) -> None:
    client, engine = faq
    sid = client.post("/v1/sessions").json()["session_id"]
    fake.script(FakeReply.text(OPEN))
    first = stream(client, sid, {"text": "when are you open?", "message_id": "m1"})
    again = stream(client, sid, {"text": "when are you open?", "message_id": "m1"})
    assert again == [
        ("delta", {"index": 0, "text": OPEN, "replace": False}),
        ("result", {**first[-1][1], "duplicate": True}),
    ]
    assert len(fake.requests) == 1  # the LLM was asked once
    stored = engine.session(sid)
    assert stored is not None and stored.turn == 2


class SaveFails(MemoryStore):
    fail = False

    def save(self, session: Session) -> None:
        if self.fail:
            raise ConnectionError("disk full")
        super().save(session)


def test_a_failure_during_the_stream_is_an_error_event() -> None:
    store = SaveFails()
    engine = Engine.from_path(SHOP, llm=None, store=store)
    with LiveServer(create_app(engine)) as live, httpx.Client(base_url=live.url) as client:
        sid = client.post("/v1/sessions").json()["session_id"]
        store.fail = True
        events = stream(client, sid, {"text": "where is my order"})
    engine.close()
    assert events[-1] == (
        "error",
        {
            "error": {
                "code": "store_error",
                "message": "the session store is unavailable: try again",
                "status": 503,
            }
        },
    )
    assert all(name == "delta" for name, _ in events[:-1])


def shop_actions() -> dict[str, Any]:
    from dialogue.assemble import flow_actions
    from dialogue.authoring.loader import load_flows

    return dict(flow_actions(load_flows(SHOP)))


def test_a_client_that_leaves_mid_stream_does_not_lose_the_turn() -> None:
    entered, release = threading.Event(), threading.Event()

    def lookup_order(order_id: str) -> dict[str, str]:
        entered.set()
        assert release.wait(60)
        return {"id": order_id, "status": "on its way", "eta": "Thursday"}

    with Engine.from_path(SHOP, llm=None) as loaded:
        bot = loaded.bot
    engine = Engine(bot, llm=None, actions={**shop_actions(), "lookup_order": lookup_order})
    with LiveServer(create_app(engine)) as live, httpx.Client(base_url=live.url) as client:
        sid = client.post("/v1/sessions").json()["session_id"]
        body = {"text": "where is my order AB123456", "message_id": "m1"}
        with client.stream("POST", f"/v1/sessions/{sid}/messages/stream", json=body) as response:
            assert response.status_code == 200
            assert entered.wait(60)  # the turn is inside the action: the client goes away
        release.set()
        for _ in range(6000):  # the turn finishes and is saved all the same
            stored = engine.session(sid)
            if stored is not None and stored.turn == 2:
                break
            time.sleep(0.01)
        assert stored is not None and stored.turn == 2
        assert stored.slots["order_id"] == "AB123456"
        # the client sends the message again with its id: the answer, not a second turn
        again = stream(client, sid, body)
        assert again[-1][1]["duplicate"] is True
        assert again[-1][1]["replies"][0].startswith("Your order AB123456 is on its way")
    engine.close()
