"""The HTTP API's quick replies (``options`` in every turn's answer, streamed or not)
and events from the host (``POST /v1/sessions/{id}/events``), over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dialogue import Engine
from dialogue.server import create_app
from dialogue.testing.live_server import LiveServer

SHOP = Path(__file__).resolve().parent.parent / "flows" / "customer_service.yaml"
TOKEN = "events-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MENU = [
    {"label": "Track an order", "text": "/track", "intent": "track"},
    {"label": "Start a return", "text": "/return", "intent": "return"},
    {"label": "Talk to a person", "text": "/human", "intent": "human"},
]


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    engine = Engine.from_path(SHOP, llm=None)
    with LiveServer(create_app(engine, token=TOKEN, rate_limit=None)) as live:
        with httpx.Client(base_url=live.url, headers=AUTH, timeout=60) as http:
            yield http
    engine.close()


def new_session(client: httpx.Client) -> tuple[str, dict[str, Any]]:
    created = client.post("/v1/sessions")
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body["session_id"], body


def test_answers_carry_the_options_of_the_last_reply(client: httpx.Client) -> None:
    sid, greeting = new_session(client)
    assert greeting["options"] == MENU
    asked = client.post(f"/v1/sessions/{sid}/messages", json={"text": MENU[1]["text"]}).json()
    assert asked["state"] == "returning" and asked["options"] == []
    reasons = client.post(f"/v1/sessions/{sid}/messages", json={"text": "AB123456"}).json()
    assert [o["label"] for o in reasons["options"]] == ["damaged", "wrong item", "changed mind"]
    assert reasons["options"][0] == {"label": "damaged", "text": "damaged", "intent": None}


def test_the_stream_result_carries_the_options(client: httpx.Client) -> None:
    sid, _ = new_session(client)
    body = {"text": "return AB123456"}
    with client.stream("POST", f"/v1/sessions/{sid}/messages/stream", json=body) as response:
        assert response.status_code == 200
        text = "".join(response.iter_text())
    blocks = [b for b in text.split("\n\n") if b.startswith("event: result")]
    result = json.loads(blocks[0].split("data: ", 1)[1])
    assert [o["text"] for o in result["options"]] == ["damaged", "wrong item", "changed mind"]


def test_an_event_is_answered_like_a_message(client: httpx.Client) -> None:
    sid, _ = new_session(client)
    client.post(f"/v1/sessions/{sid}/messages", json={"text": "return"})
    event = {"name": "parcel_shipped", "data": {"shipped_order": "ab654321"}}
    answer = client.post(f"/v1/sessions/{sid}/events", json=event)
    assert answer.status_code == 200, answer.text
    out = answer.json()
    assert out["replies"] == [
        "Good news: your order AB654321 has just shipped.",
        "What's your order number? It looks like AB123456.",
    ]
    assert out["slots"]["shipped_order"] == "AB654321" and out["state"] == "returning"


def test_an_unhandled_event_changes_nothing(client: httpx.Client) -> None:
    sid, greeting = new_session(client)
    out = client.post(f"/v1/sessions/{sid}/events", json={"name": "inactivity"}).json()
    assert out["replies"] == [] and out["state"] == "menu"
    assert out["turn"] == greeting["turn"] + 1
    stored = client.get(f"/v1/sessions/{sid}").json()
    assert stored["state"] == "menu" and stored["slots"] == {}


def test_an_event_sent_again_with_its_id_is_answered_once(client: httpx.Client) -> None:
    sid, _ = new_session(client)
    client.post(f"/v1/sessions/{sid}/messages", json={"text": "return"})
    event = {"name": "inactivity", "message_id": "timer-1"}
    first = client.post(f"/v1/sessions/{sid}/events", json=event).json()
    again = client.post(f"/v1/sessions/{sid}/events", json=event).json()
    assert again["duplicate"] is True and again["replies"] == first["replies"]
    assert client.get(f"/v1/sessions/{sid}").json()["turns"] == first["turn"]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"name": "parcel_shiped"}, "no flow declares event 'parcel_shiped'"),
        (
            {"name": "parcel_shipped", "data": {"order_id": "AB123456"}},
            "event 'parcel_shipped' carries no slot 'order_id'",
        ),
    ],
)
def test_an_event_no_flow_declares_is_a_422(
    client: httpx.Client, event: dict[str, Any], message: str
) -> None:
    sid, _ = new_session(client)
    answer = client.post(f"/v1/sessions/{sid}/events", json=event)
    assert answer.status_code == 422
    assert answer.json()["error"] == {"code": "invalid_event", "message": message}


def test_an_event_for_no_session_is_a_404(client: httpx.Client) -> None:
    answer = client.post("/v1/sessions/" + "x" * 32 + "/events", json={"name": "inactivity"})
    assert answer.status_code == 404


def test_the_openapi_document_describes_options_and_events(client: httpx.Client) -> None:
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert set(schemas["OptionOut"]["properties"]) == {"label", "text", "intent"}
    assert schemas["TurnOut"]["properties"]["options"]["items"] == {
        "$ref": "#/components/schemas/OptionOut"
    }
    post = doc["paths"]["/v1/sessions/{session_id}/events"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/EventIn"}
    assert set(schemas["EventIn"]["properties"]) == {"name", "data", "message_id"}
