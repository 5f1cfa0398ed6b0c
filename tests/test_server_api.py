"""The HTTP API over real HTTP: uvicorn on a loopback port, httpx as the client."""

from __future__ import annotations

import datetime
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dialogue import Engine, OpenAIChatClient, Session, StoreError
from dialogue.runtime.user_budget import count_key
from dialogue.server import create_app
from dialogue.stores import MemoryStore
from dialogue.testing import FakeChatServer, FakeReply
from dialogue.testing.live_server import LiveServer

SHOP = Path(__file__).resolve().parent.parent / "flows" / "customer_service.yaml"
TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GREETING = "Hi! I'm the shop assistant. I can track an order, start a return, or get you a person."

Serve = Callable[..., httpx.Client]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """``serve(engine=None, **options)``: a live app and an httpx client for it."""
    opened: list[tuple[LiveServer, httpx.Client, Engine]] = []

    def start(engine: Engine | None = None, **options: Any) -> httpx.Client:
        engine = engine or Engine.from_path(SHOP, llm=None)
        live = LiveServer(create_app(engine, **options)).start()
        client = httpx.Client(base_url=live.url, timeout=60)
        opened.append((live, client, engine))
        return client

    yield start
    for live, client, engine in opened:
        client.close()
        live.stop()
        engine.close()


def new_session(client: httpx.Client, headers: dict[str, str] | None = None) -> str:
    created = client.post("/v1/sessions", headers=headers)
    assert created.status_code == 201, created.text
    session_id: str = created.json()["session_id"]
    return session_id


def test_a_conversation_over_http(serve: Serve) -> None:
    client = serve()
    created = client.post("/v1/sessions")
    assert created.status_code == 201
    body = created.json()
    sid = body["session_id"]
    assert len(sid) >= 32 and created.headers["location"] == f"/v1/sessions/{sid}"
    assert body["replies"] == [GREETING]
    assert (body["state"], body["turn"], body["ended"], body["trace"]) == ("menu", 1, False, None)

    said = client.post(f"/v1/sessions/{sid}/messages", json={"text": "where is my order"})
    assert said.status_code == 200
    assert said.json()["replies"] == ["What's your order number? It looks like AB123456."]
    answer = client.post(f"/v1/sessions/{sid}/messages", json={"text": "AB123456"}).json()
    assert answer["state"] == "menu" and answer["turn"] == 3
    assert answer["slots"]["order_id"] == "AB123456"
    assert answer["replies"][0].startswith("Order AB123456 is on its way")

    got = client.get(f"/v1/sessions/{sid}")
    assert got.status_code == 200
    assert got.json()["turns"] == 3 and got.json()["state"] == "menu"
    assert got.json()["slots"]["order_id"] == "AB123456"

    assert client.delete(f"/v1/sessions/{sid}").status_code == 204
    assert client.get(f"/v1/sessions/{sid}").status_code == 404
    assert client.post(f"/v1/sessions/{sid}/messages", json={"text": "hi"}).status_code == 404


def test_two_sessions_get_different_ids(serve: Serve) -> None:
    client = serve()
    assert new_session(client) != new_session(client)


def test_a_redelivered_message_id_gets_the_first_answer(serve: Serve) -> None:
    engine = Engine.from_path(SHOP, llm=None)
    client = serve(engine)
    sid = new_session(client)
    first = client.post(f"/v1/sessions/{sid}/messages", json={"text": "track", "message_id": "m1"})
    again = client.post(f"/v1/sessions/{sid}/messages", json={"text": "track", "message_id": "m1"})
    assert first.json()["duplicate"] is False and again.json()["duplicate"] is True
    assert again.json()["replies"] == first.json()["replies"]
    stored = engine.session(sid)
    assert stored is not None and stored.turn == 2  # the greeting and one turn


def test_the_history_is_returned(serve: Serve) -> None:
    client = serve(Engine.from_path(SHOP, llm=None, history_turns=5))
    sid = new_session(client)
    client.post(f"/v1/sessions/{sid}/messages", json={"text": "where is my order"})
    history = client.get(f"/v1/sessions/{sid}").json()["history"]
    assert history == ["where is my order", "What's your order number? It looks like AB123456."]


def test_a_handoff_over_http_and_the_resume_endpoint(serve: Serve) -> None:
    seen: list[str] = []
    engine = Engine.from_path(SHOP, llm=None, on_handoff=lambda info: seen.append(info.reason))
    client = serve(engine)
    sid = new_session(client)
    client.post(f"/v1/sessions/{sid}/messages", json={"text": "where is my order"})
    out = client.post(f"/v1/sessions/{sid}/messages", json={"text": "a real person please"})
    body = out.json()
    assert body["replies"] == ["I'm connecting you to a person now. Please hold on."]
    assert body["handoff"] is True
    info = body["handoff_info"]
    assert (info["reason"], info["state"], info["turn"]) == ("asked_for_person", "handoff", 3)
    assert info["slots"]["handoff_reason"] == "asked_for_person"
    assert info["transcript"][:2] == [
        {"role": "user", "text": "where is my order"},
        {"role": "bot", "text": "What's your order number? It looks like AB123456."},
    ]
    assert seen == ["asked_for_person"]

    held = client.post(f"/v1/sessions/{sid}/messages", json={"text": "hello?"}).json()
    assert (held["replies"], held["handoff"], held["handoff_info"]) == ([], True, None)
    got = client.get(f"/v1/sessions/{sid}").json()
    assert (got["handoff"], got["handoff_reason"]) == (True, "asked_for_person")
    assert got["history"][-2:] == ["hello?", ""]

    resumed = client.post(f"/v1/sessions/{sid}/resume")
    assert resumed.status_code == 200, resumed.text
    assert (resumed.json()["handoff"], resumed.json()["handoff_reason"]) == (False, None)
    again = client.post(f"/v1/sessions/{sid}/messages", json={"text": "track my order"}).json()
    assert again["replies"][0] == GREETING  # the handoff was final: a new conversation
    assert again["handoff"] is False
    assert client.post(f"/v1/sessions/{sid}/resume").status_code == 200  # nothing to do
    assert seen == ["asked_for_person"]


def test_a_message_to_an_unknown_session_saves_nothing_and_keeps_no_count(
    serve: Serve, tmp_path: Path
) -> None:
    # the message endpoint finds a missing session in the turn's own load (one store
    # round trip, not two); the made-up id leaves no session and no rate-limit count
    engine = Engine.from_path(SHOP, llm=None, store=f"sqlite:///{tmp_path}/s.db")
    client = serve(engine, rate_limit=(2, 60.0))
    missing = "z" * 32
    for _ in range(3):  # more than the limit: each a 404, never a 429
        said = client.post(f"/v1/sessions/{missing}/messages", json={"text": "hi"})
        assert said.status_code == 404 and said.json()["error"]["code"] == "session_not_found"
    assert engine.session(missing) is None and engine.store.count() == 0  # type: ignore[attr-defined]
    sid = new_session(client)
    assert client.post(f"/v1/sessions/{sid}/messages", json={"text": "hi"}).status_code == 200


def test_resume_of_an_unknown_session_is_404_and_needs_the_token(serve: Serve) -> None:
    client = serve(token=TOKEN)
    missing = client.post("/v1/sessions/" + "x" * 32 + "/resume", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "session_not_found"
    sid = new_session(client, AUTH)
    assert client.post(f"/v1/sessions/{sid}/resume").status_code == 401


def test_debug_mode_returns_the_trace(serve: Serve) -> None:
    client = serve(debug=True)
    sid = new_session(client)
    said = client.post(f"/v1/sessions/{sid}/messages", json={"text": "where is my order"})
    trace = said.json()["trace"]
    assert trace["rule"] == "intent" and trace["intent"] == "track"
    assert trace["state_after"] == "customer_service.tracking"


def test_unknown_sessions_are_404_with_a_json_body(serve: Serve) -> None:
    client = serve()
    for path in ["/v1/sessions/" + "x" * 32, "/v1/sessions/not-ours", "/v1/sessions/%2e%2e"]:
        got = client.get(path)
        assert got.status_code == 404, path
        assert got.json()["error"]["code"] == "session_not_found"
    missing = "/v1/sessions/" + "y" * 32
    assert client.delete(missing).status_code == 404
    assert client.post(missing + "/messages", json={"text": "hi"}).status_code == 404
    assert client.post(missing + "/feedback", json={"turn": 1, "rating": "up"}).status_code == 404
    assert client.get("/v2/nothing").json()["error"]["code"] == "not_found"


# -- security


def test_a_token_is_needed_for_every_api_call(serve: Serve) -> None:
    client = serve(token=TOKEN)
    sid = new_session(client, AUTH)
    calls = [
        ("POST", "/v1/sessions", None),
        ("GET", f"/v1/sessions/{sid}", None),
        ("DELETE", f"/v1/sessions/{sid}", None),
        ("POST", f"/v1/sessions/{sid}/messages", {"text": "hi"}),
        ("POST", f"/v1/sessions/{sid}/messages/stream", {"text": "hi"}),
        ("POST", f"/v1/sessions/{sid}/feedback", {"turn": 1, "rating": "up"}),
        ("GET", "/metrics", None),
    ]
    wrong = [{}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN}]
    wrong.append({"Authorization": f"Basic {TOKEN}"})
    for method, path, body in calls:
        for headers in wrong:
            got = client.request(method, path, json=body, headers=headers)
            assert got.status_code == 401, (method, path, headers)
            assert got.headers["www-authenticate"] == 'Bearer realm="dialogue"'
            assert got.json()["error"]["code"] == "unauthorized"
    assert client.get(f"/v1/sessions/{sid}", headers=AUTH).status_code == 200  # nothing erased
    assert client.get("/metrics", headers=AUTH).status_code == 200
    assert client.get("/healthz").status_code == 200  # for load balancers: no token


def test_a_body_over_the_limit_is_413(serve: Serve) -> None:
    client = serve(max_body_bytes=1000)
    sid = new_session(client)
    url = f"/v1/sessions/{sid}/messages"
    big = json.dumps({"text": "a" * 2000}).encode()
    declared = client.post(url, content=big, headers={"Content-Type": "application/json"})
    assert declared.status_code == 413
    assert declared.json()["error"]["code"] == "body_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"text": "'
        for _ in range(20):
            yield b"a" * 100
        yield b'"}'

    chunked = client.post(url, content=chunks(), headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413
    assert chunked.json()["error"]["code"] == "body_too_large"
    small = client.post(url, json={"text": "where is my order"})
    assert small.status_code == 200


def test_a_text_over_the_limit_is_422(serve: Serve) -> None:
    client = serve(max_text_chars=20)
    sid = new_session(client)
    got = client.post(f"/v1/sessions/{sid}/messages", json={"text": "x" * 21})
    assert got.status_code == 422
    assert got.json()["error"] == {
        "code": "text_too_long",
        "message": "text is 21 characters; the limit is 20",
    }
    assert client.post(f"/v1/sessions/{sid}/messages", json={"text": "x" * 20}).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"text": "hi"', 400, "malformed_json"),
        (b"not json at all", 400, "malformed_json"),
        (b'{"text": 5}', 422, "invalid_request"),
        (b'{"text": null}', 422, "invalid_request"),
        (b'{"text": ["a"]}', 422, "invalid_request"),
        (b'{"message_id": "m1"}', 422, "invalid_request"),
        (b'{"text": "hi", "message_id": 7}', 422, "invalid_request"),
        (b'{"text": "hi", "extra": 1}', 422, "invalid_request"),
        (b"[]", 422, "invalid_request"),
        (b'"hi"', 422, "invalid_request"),
        (b"", 422, "invalid_request"),
    ],
)
def test_bad_message_bodies_are_4xx_with_a_json_body(
    serve: Serve, body: bytes, status: int, code: str
) -> None:
    client = serve()
    sid = new_session(client)
    got = client.post(
        f"/v1/sessions/{sid}/messages", content=body, headers={"Content-Type": "application/json"}
    )
    assert got.status_code == status, got.text
    assert got.headers["content-type"] == "application/json"
    assert got.json()["error"]["code"] == code
    assert "Traceback" not in got.text


def test_wrong_field_types_name_the_field(serve: Serve) -> None:
    client = serve()
    sid = new_session(client)
    got = client.post(f"/v1/sessions/{sid}/feedback", json={"turn": "1", "rating": "5"})
    assert got.status_code == 422
    locations = [d["loc"] for d in got.json()["error"]["details"]]
    assert ["body", "turn"] in locations


def test_the_rate_limit_is_429_with_retry_after(serve: Serve) -> None:
    client = serve(rate_limit=(3, 3600))
    sid, other = new_session(client), new_session(client)
    url = f"/v1/sessions/{sid}/messages"
    for _ in range(3):
        assert client.post(url, json={"text": "help"}).status_code == 200
    limited = client.post(url, json={"text": "help"})
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 3000 < int(limited.headers["retry-after"]) <= 3600
    streamed = client.post(url + "/stream", json={"text": "help"})
    assert streamed.status_code == 429
    # the limit is per session
    assert client.post(f"/v1/sessions/{other}/messages", json={"text": "help"}).status_code == 200


def test_cors_is_off_by_default_and_configurable(serve: Serve) -> None:
    preflight = {
        "Origin": "https://shop.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    closed = serve()
    assert (
        "access-control-allow-origin"
        not in closed.options("/v1/sessions", headers=preflight).headers
    )
    opened = serve(cors_origins=["https://shop.example"])
    answer = opened.options("/v1/sessions", headers=preflight)
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "https://shop.example"
    other = opened.options("/v1/sessions", headers={**preflight, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


# -- store failures


class BreakableStore(MemoryStore):
    """A memory store that fails like a lost database once ``broken`` is set."""

    broken = False

    def load(self, session_id: str) -> Session | None:
        if self.broken:
            raise ConnectionError("database is gone")
        return super().load(session_id)

    def save(self, session: Session) -> None:
        if self.broken:
            raise ConnectionError("database is gone")
        super().save(session)


def test_a_failing_store_is_503_and_healthz_says_so(serve: Serve) -> None:
    store = BreakableStore()
    client = serve(Engine.from_path(SHOP, llm=None, store=store))
    sid = new_session(client)
    assert client.get("/healthz").json() == {"status": "ok"}
    store.broken = True
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.json()["status"] == "unavailable"
    assert health.json()["error"]["code"] == "store_error"
    for method, path, body in [
        ("POST", "/v1/sessions", None),
        ("GET", f"/v1/sessions/{sid}", None),
        ("POST", f"/v1/sessions/{sid}/messages", {"text": "hi"}),
        ("POST", f"/v1/sessions/{sid}/feedback", {"turn": 1, "rating": "up"}),
    ]:
        got = client.request(method, path, json=body)
        assert got.status_code == 503, (method, path)
        assert got.headers["retry-after"] == "1"
        assert got.json()["error"]["code"] == "store_error"
        assert "database is gone" not in got.text  # no internals to clients
    store.broken = False
    assert client.get("/healthz").status_code == 200


@pytest.fixture
def own_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Redis server of this test's own on a free port (it is stopped by the test)."""
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    process = subprocess.Popen([*args, "--appendonly", "no"], stdout=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    for _ in range(500):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.02)
    client.close()
    yield f"redis://127.0.0.1:{port}/0?socket_connect_timeout=2&socket_timeout=5", process
    process.kill()
    process.wait()


def test_a_redis_store_that_went_away_is_503(
    serve: Serve,
    own_redis: tuple[str, subprocess.Popen[bytes]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, process = own_redis
    client = serve(Engine.from_path(SHOP, llm=None, store=url))
    sid = new_session(client)
    assert client.get("/healthz").status_code == 200
    process.kill()
    process.wait()
    assert client.get("/healthz").status_code == 503
    said = client.post(f"/v1/sessions/{sid}/messages", json={"text": "hi"})
    assert said.status_code == 503 and said.json()["error"]["code"] == "store_error"
    created = client.post("/v1/sessions")
    assert created.status_code == 503 and created.json()["error"]["code"] == "store_error"
    metrics = client.get("/metrics").text  # both are turns that failed (their loads)
    assert 'dialogue_turns_total{outcome="error"} 2.0' in metrics
    assert 'dialogue_turn_failures_total{kind="StoreError"} 2.0' in metrics
    assert "dialogue_active_sessions NaN" in metrics
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "dialogue.server")
    assert "POST /v1/sessions/{session_id}/messages: store_error (StoreError)" in logged
    assert sid not in logged  # a session id is a key to its conversation


EMAIL = "jane@example.com"


def test_an_unexpected_failure_is_a_bare_500(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    engine = Engine.from_path(SHOP, llm=None)
    app = create_app(engine)

    async def broken() -> None:  # any route of the app: a bug somewhere below it
        raise RuntimeError(f"no order for {EMAIL}")

    app.add_api_route("/v1/broken", broken)
    with LiveServer(app) as live:
        got = httpx.get(live.url + "/v1/broken")
    engine.close()
    assert got.status_code == 500
    assert got.json() == {
        "error": {"code": "internal_error", "message": "the server could not answer"}
    }
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "dialogue.server")
    assert "GET /v1/broken failed:" in logged and "RuntimeError" in logged
    assert EMAIL not in logged and EMAIL not in got.text
    assert EMAIL not in capfd.readouterr().err  # nor in the server's own log


class CorruptStore(MemoryStore):
    """A store whose record cannot be read, whatever the wait: not retryable."""

    corrupt = False

    def load(self, session_id: str) -> Session | None:
        if self.corrupt and session_id != "healthz-probe":
            raise StoreError(f"session {session_id!r} is corrupt", retryable=False)
        return super().load(session_id)


def test_a_store_error_that_waiting_will_not_fix_is_500_without_retry_after(
    serve: Serve,
) -> None:
    store = CorruptStore()
    client = serve(Engine.from_path(SHOP, llm=None, store=store))
    sid = new_session(client)
    store.corrupt = True
    got = client.post(f"/v1/sessions/{sid}/messages", json={"text": "hi"})
    assert got.status_code == 500 and "retry-after" not in got.headers
    assert got.json()["error"] == {"code": "store_error", "message": "the session store failed"}
    assert "corrupt" not in got.text


def test_healthz_is_degraded_when_the_llm_rejected_the_key(serve: Serve) -> None:
    body = {"error": {"message": "Incorrect API key provided"}}
    with FakeChatServer() as fake:
        fake.script(*[FakeReply.error(401, body=body)] * 3)
        llm = OpenAIChatClient(api_key="sk-wrong", base_url=fake.url)
        client = serve(Engine.from_path(SHOP, llm=llm))
        sid = new_session(client)
        assert client.get("/healthz").json() == {"status": "ok"}
        for _ in range(2):
            said = client.post(f"/v1/sessions/{sid}/messages", json={"text": "never showed up"})
            reply = said.json()["replies"][0]  # the shop's failure reply: rules still answer
            assert said.status_code == 200 and reply.startswith("Sorry, something went wrong")
        assert len(fake.requests) == 1
        health = client.get("/healthz")
        assert health.status_code == 200  # rules still answer: not taken out of rotation
        assert health.json()["status"] == "degraded"
        assert health.json()["error"]["code"] == "llm_key_rejected"
        assert fake.url not in health.text and "sk-wrong" not in health.text
        llm.set_api_key("sk-right")
        assert client.get("/healthz").json() == {"status": "ok"}


def test_a_message_may_set_the_conversation_s_language(serve: Serve) -> None:
    client = serve()
    sid = new_session(client)
    said = client.post(f"/v1/sessions/{sid}/messages", json={"text": "在吗", "language": "zh"})
    assert said.status_code == 200, said.text
    assert (said.json()["replies"], said.json()["language"]) == (
        ["您好！请问是要查询订单，还是办理退货？"],
        "zh",
    )
    kept = client.post(f"/v1/sessions/{sid}/messages", json={"text": "hello"}).json()
    assert kept["language"] == "zh"
    refused = client.post(f"/v1/sessions/{sid}/messages", json={"text": "hi", "language": "fr"})
    assert refused.status_code == 422
    assert refused.json()["error"] == {
        "code": "unknown_language",
        "message": "language 'fr' is not one the flow speaks",
    }


def test_a_message_names_its_user_for_the_user_budget(
    serve: Serve, fake: FakeChatServer, client: OpenAIChatClient
) -> None:
    engine = Engine.from_path(
        SHOP, llm=client, llm_settings={"retries": 0}, user_budget={"tokens": 5000}
    )
    http = serve(engine)
    assert engine.user_budget is not None
    key = count_key(engine.user_budget, "alice", datetime.datetime.now())
    engine.store.charge_tokens(key, 5000, ttl=60)  # type: ignore[attr-defined]
    for path in ("messages", "messages/stream"):
        sid = new_session(http)
        said = http.post(
            f"/v1/sessions/{sid}/{path}", json={"text": "do you sell gift cards?", "user": "alice"}
        )
        assert said.status_code == 200, said.text
        assert "Sorry, I can't answer more open questions in this chat." in said.text
    assert fake.requests == []
    fake.script(FakeReply.text('{"reply": "Yes, from 10 euros."}', usage=(300, 9)))
    sid = new_session(http)
    said = http.post(
        f"/v1/sessions/{sid}/messages", json={"text": "do you sell gift cards?", "user": "bob"}
    )
    assert len(fake.requests) == 1
    assert engine.user_tokens("bob") > 0 and engine.user_tokens("alice") == 5000
    too_long = {"text": "hi", "user": "x" * 201}
    assert http.post(f"/v1/sessions/{sid}/messages", json=too_long).status_code == 422
