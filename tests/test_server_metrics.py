"""``/metrics`` in Prometheus text format, fed by the engine's observer events."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dialogue import Engine
from dialogue.llm.openai_client import OpenAIChatClient
from dialogue.server import create_app
from dialogue.testing import FakeChatServer, FakeReply
from dialogue.testing.live_server import LiveServer

SHOP = Path(__file__).resolve().parent.parent / "flows" / "customer_service.yaml"


def samples(client: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics``, parsed by prometheus-client's own parser."""
    got = client.get("/metrics")
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(got.text)
        for s in family.samples
    }


@pytest.fixture
def shop(fake: FakeChatServer) -> Iterator[httpx.Client]:
    llm = OpenAIChatClient(api_key="test-key", base_url=fake.url)
    engine = Engine.from_path(SHOP, llm=llm, llm_settings={"retries": 0})
    with LiveServer(create_app(engine)) as live, httpx.Client(base_url=live.url, timeout=60) as c:
        yield c
    engine.close()


def test_turns_llm_calls_handoffs_and_feedback_are_counted(
    shop: httpx.Client, fake: FakeChatServer
) -> None:
    client = shop
    sid = client.post("/v1/sessions").json()["session_id"]
    say = f"/v1/sessions/{sid}/messages"
    assert client.post(say, json={"text": "where is my order"}).json()["state"] == "tracking"
    fake.script(FakeReply.json({"intent": None, "reply": "We open at nine."}, usage=(120, 8)))
    assert client.post(say, json={"text": "when do you open?"}).status_code == 200
    fake.script(FakeReply.error(500))
    assert client.post(say, json={"text": "hmm, what about that thing"}).status_code == 200
    client.post(f"/v1/sessions/{sid}/feedback", json={"turn": 2, "rating": "up"})
    client.post(f"/v1/sessions/{sid}/feedback", json={"turn": 3, "rating": 2, "comment": "meh"})
    assert client.post(say, json={"text": "agent"}).json()["ended"] is True

    got = samples(client)
    assert got[("dialogue_turns_total", (("outcome", "start"),))] == 1
    # track; agent; the failed LLM call at the order question gets the apology
    assert got[("dialogue_turns_total", (("outcome", "rule"),))] == 2
    assert got[("dialogue_turns_total", (("outcome", "llm"),))] == 1
    assert got[("dialogue_turns_total", (("outcome", "llm_failed"),))] == 1
    assert ("dialogue_turns_total", (("outcome", "error"),)) not in got
    assert got[("dialogue_turn_seconds_count", ())] == 5
    assert got[("dialogue_handoffs_total", ())] == 1
    assert got[("dialogue_conversations_ended_total", (("state", "handoff"),))] == 1
    calls = {k[1]: v for k, v in got.items() if k[0] == "dialogue_llm_calls_total"}
    assert calls == {
        (("model", "fake-model"), ("outcome", "reply")): 1,  # the model that answered
        (("model", "gpt-4o-mini"), ("outcome", "failed")): 1,  # the model asked
    }
    assert got[("dialogue_llm_failures_total", (("kind", "server_error"),))] == 1
    assert got[("dialogue_llm_tokens_total", (("kind", "prompt"),))] == 120
    assert got[("dialogue_llm_tokens_total", (("kind", "completion"),))] == 8
    assert got[("dialogue_feedback_total", (("rating", "up"),))] == 1
    assert got[("dialogue_feedback_total", (("rating", "2"),))] == 1
    assert got[("dialogue_sessions_created_total", ())] == 1
    assert got[("dialogue_active_sessions", ())] == 1
    assert got[("dialogue_turn_seconds_bucket", (("le", "+Inf"),))] == 5

    stored = client.get(f"/v1/sessions/{sid}").json()["feedback"]
    assert [(f["turn"], f["rating"], f["comment"]) for f in stored] == [
        (2, "up", ""),
        (3, 2, "meh"),
    ]


def test_each_app_counts_its_own() -> None:
    one = Engine.from_path(SHOP, llm=None)
    two = Engine.from_path(SHOP, llm=None)
    with (
        LiveServer(create_app(one)) as a,
        LiveServer(create_app(two)) as b,
        httpx.Client(base_url=a.url) as ca,
        httpx.Client(base_url=b.url) as cb,
    ):
        ca.post("/v1/sessions")
        ca.post("/v1/sessions")
        cb.post("/v1/sessions")
        assert samples(ca)[("dialogue_sessions_created_total", ())] == 2
        assert samples(cb)[("dialogue_sessions_created_total", ())] == 1
    one.close()
    two.close()
    from prometheus_client import REGISTRY

    assert REGISTRY.get_sample_value("dialogue_sessions_created_total") is None
