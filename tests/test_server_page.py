"""The chat page as the server serves it (over real HTTP), and the API's ``handoff``.

What the page does in a browser is tested in test_web_chat.py.
"""

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
TOKEN = "page-token"


def live(**options: Any) -> Iterator[httpx.Client]:
    engine = Engine.from_path(SHOP, llm=None)
    with LiveServer(create_app(engine, **options)) as server:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            yield client
    engine.close()


@pytest.fixture(scope="module")
def open_app() -> Iterator[httpx.Client]:
    yield from live()


@pytest.fixture(scope="module")
def token_app() -> Iterator[httpx.Client]:
    yield from live(token=TOKEN)


def test_the_page_and_its_assets_are_served(open_app: httpx.Client) -> None:
    page = open_app.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert '<meta name="viewport"' in page.text
    for asset, kind in [("chat.css", "text/css"), ("chat.js", "text/javascript")]:
        assert f'"static/{asset}"' in page.text
        got = open_app.get(f"/static/{asset}")
        assert got.status_code == 200 and got.headers["content-type"].startswith(kind)
        assert got.headers["x-content-type-options"] == "nosniff"
    missing = open_app.get("/static/app.py")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_the_page_may_load_only_its_own_code(open_app: httpx.Client) -> None:
    headers = open_app.get("/").headers
    parts = headers["content-security-policy"].split(";")
    policy = dict(part.strip().split(" ", 1) for part in parts)
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'" and policy["connect-src"] == "'self'"
    assert headers["referrer-policy"] == "no-referrer"  # a ?token= never leaks in a Referer


def test_the_script_never_writes_html() -> None:
    script = (Path(__file__).resolve().parent.parent / "dialogue/server/static/chat.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script


def test_the_page_needs_no_token_and_holds_none(token_app: httpx.Client) -> None:
    page = token_app.get("/")
    assert page.status_code == 200
    assert TOKEN not in page.text
    assert token_app.get("/static/chat.js").status_code == 200
    assert token_app.post("/v1/sessions").status_code == 401  # the API still needs it


def test_the_page_can_be_left_out() -> None:
    for client in live(chat_page=False):
        assert client.get("/").status_code == 404
        assert client.get("/static/chat.js").status_code == 404
        assert client.get("/healthz").status_code == 200


def test_the_page_is_not_in_the_openapi_document(open_app: httpx.Client) -> None:
    paths = open_app.get("/openapi.json").json()["paths"]
    assert "/" not in paths and not any(p.startswith("/static") for p in paths)


def test_answers_say_whether_the_conversation_was_handed_over(open_app: httpx.Client) -> None:
    created = open_app.post("/v1/sessions").json()
    assert created["handoff"] is False and created["ended"] is False
    sid = created["session_id"]
    with open_app.stream(
        "POST", f"/v1/sessions/{sid}/messages/stream", json={"text": "agent please"}
    ) as response:
        body = response.read().decode()
    result = json.loads(body.split("event: result\ndata: ")[1])
    assert result["state"] == "handoff" and result["ended"] is True and result["handoff"] is True
    assert open_app.get(f"/v1/sessions/{sid}").json()["handoff"] is True

    other = open_app.post("/v1/sessions").json()["session_id"]
    bye = open_app.post(f"/v1/sessions/{other}/messages", json={"text": "bye"}).json()
    assert bye["state"] == "goodbye" and bye["ended"] is True and bye["handoff"] is False


def test_handoff_states_are_the_apps() -> None:
    for client in live(handoff_states=["goodbye"]):
        sid = client.post("/v1/sessions").json()["session_id"]
        bye = client.post(f"/v1/sessions/{sid}/messages", json={"text": "bye"}).json()
        assert bye["handoff"] is True
