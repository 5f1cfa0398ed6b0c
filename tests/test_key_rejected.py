"""A 401/403 from the LLM API: logged once as an ERROR, seen by the host, nothing more sent."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from dialogue import ConfigurationError, Engine, LLMKeyRejected
from dialogue.llm.openai_client import LLMRequest, LLMSettings, OpenAIChatClient
from dialogue.testing import FakeChatServer, FakeReply

FLOWS = Path(__file__).resolve().parent.parent / "flows"
BAD_KEY = {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}
UNMATCHED = "the thing I bought never showed up"
ASK = LLMRequest(({"role": "user", "content": "hi"},), LLMSettings(model="m", retries=2))


@pytest.fixture
def server() -> Iterator[FakeChatServer]:
    with FakeChatServer() as fake:
        yield fake


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "dialogue.llm" and r.levelno == logging.ERROR
    ]


@pytest.mark.parametrize("status", [401, 403])
def test_a_rejected_key_stops_requests_logs_once_and_shows_in_health(
    server: FakeChatServer, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    server.script(*[FakeReply.error(status, body=BAD_KEY)] * 5)
    client = OpenAIChatClient(api_key="sk-wrong", base_url=server.url)
    engine = Engine.from_path(FLOWS / "customer_service.yaml", llm=client)
    engine.check_health()  # nothing known yet
    engine.start("s")
    first = engine.handle("s", UNMATCHED)
    assert len(server.requests) == 1  # a 401/403 is not retried
    second = engine.handle("s", UNMATCHED)
    engine.handle("t", "hello")
    third = engine.handle("t", UNMATCHED)
    assert len(server.requests) == 1  # the second and third turns sent nothing

    for result in (first, second, third):  # each turn gets the failure reply, no no-match
        assert result.trace.rule == "llm_failed" and result.state == "menu"
        assert result.replies[0].startswith("Sorry, something went wrong on my side")
        assert result.trace.llm is not None and result.trace.llm.outcome == "failed"
    assert "not sent: the API key was rejected earlier" in second.trace.errors[0]
    assert engine.handle("s", "I want a refund").trace.intent == "return"  # rules still work

    logged = errors(caplog)
    assert len(logged) == 1 and f"LLM API key rejected (HTTP {status})" in logged[0]
    assert "no more LLM requests are sent with it" in logged[0]
    with pytest.raises(LLMKeyRejected) as rejected:
        engine.check_health()
    assert isinstance(rejected.value, ConfigurationError)
    assert rejected.value.code == "llm_key_rejected"
    assert f"answered {status}" in str(rejected.value) and "set_api_key" in str(rejected.value)
    engine.close()


def test_a_new_key_or_a_reset_sends_again(server: FakeChatServer) -> None:
    server.script(FakeReply.error(401, body=BAD_KEY), FakeReply.text("one"))
    client = OpenAIChatClient(api_key="sk-wrong", base_url=server.url)
    assert client.complete(ASK).failure.kind == "auth"  # type: ignore[union-attr]
    assert client.rejected is not None and client.rejected.status == 401
    assert client.complete(ASK).failure is not None and len(server.requests) == 1
    client.set_api_key("sk-right")
    assert client.rejected is None and client.complete(ASK).content == "one"
    assert server.headers[-1]["authorization"] == "Bearer sk-right"

    server.script(FakeReply.error(403, body=BAD_KEY), FakeReply.text("two"))
    assert client.complete(ASK).failure is not None and client.rejected is not None
    client.reset_key_check()  # e.g. the account was given access to the model
    assert client.complete(ASK).content == "two" and len(server.requests) == 4
    assert server.headers[-1]["authorization"] == "Bearer sk-right"
    client.close()


def test_async_and_streaming_faces_stop_too(
    server: FakeChatServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.script(*[FakeReply.error(401, body=BAD_KEY)] * 3)
    client = OpenAIChatClient(api_key="sk-wrong", base_url=server.url)

    async def run() -> list[str | None]:
        first = await client.acomplete(ASK)
        stream = client.astream(ASK)
        chunks = [chunk async for chunk in stream]
        again = await client.acomplete(ASK)
        await client.aclose()
        return [f.failure and f.failure.kind for f in (first, stream.response, again)] + [
            str(len(chunks))
        ]

    assert asyncio.run(run()) == ["auth", "auth", "auth", "0"]
    assert len(server.requests) == 1 and len(errors(caplog)) == 1


def test_a_rejected_stream_stops_the_next_requests(server: FakeChatServer) -> None:
    server.script(*[FakeReply.error(401, body=BAD_KEY)] * 2)
    client = OpenAIChatClient(api_key="sk-wrong", base_url=server.url)

    async def run() -> None:
        stream = client.astream(ASK)
        async for _ in stream:
            pass
        assert stream.response.failure is not None and stream.response.failure.status == 401
        assert (await client.acomplete(ASK)).failure is not None
        await client.aclose()

    asyncio.run(run())
    assert len(server.requests) == 1 and client.rejected is not None
    client.close()


def test_other_failures_do_not_stop_requests(server: FakeChatServer) -> None:
    server.script(FakeReply.error(400), FakeReply.error(429), FakeReply.text("fine"))
    client = OpenAIChatClient(api_key="sk-test", base_url=server.url)
    settings = LLMSettings(model="m", retries=0)
    request = LLMRequest(ASK.messages, settings)
    kinds = [client.complete(request).failure for _ in range(2)]
    assert [k and k.kind for k in kinds] == ["bad_request", "rate_limited"]
    assert client.rejected is None and client.complete(request).content == "fine"
    client.close()
