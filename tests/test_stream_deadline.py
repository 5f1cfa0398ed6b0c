"""A streamed LLM answer follows the turn's deadline as a plain one does: attempts
(ours, not the SDK's) only until the first piece, waits that fit the time left, and
reading stops at the deadline with a failure that keeps the text so far."""

from __future__ import annotations

import asyncio
import threading

from test_bounded_turns import FakeTime

from dialogue.llm.openai_client import OpenAIChatClient
from dialogue.llm.protocol import LLMRequest, LLMResponse, LLMSettings
from dialogue.testing.fake_server import FakeChatServer, FakeReply

ASK = ({"role": "user", "content": "what are your opening hours?"},)


def client(server: FakeChatServer, fake_time: FakeTime) -> OpenAIChatClient:
    return OpenAIChatClient(
        api_key="test-key",
        base_url=server.url,
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        asleep=fake_time.asleep,
    )


def stream(c: OpenAIChatClient, request: LLMRequest) -> tuple[list[str], LLMResponse]:
    async def run() -> tuple[list[str], LLMResponse]:
        s = c.astream(request)
        pieces = [piece async for piece in s]
        await c.aclose()
        return pieces, s.response

    return asyncio.run(run())


def test_a_failure_before_the_first_piece_is_tried_again_after_its_wait(
    fake: FakeChatServer,
) -> None:
    fake_time = FakeTime()
    fake.script(FakeReply.error(503), FakeReply.chunks(["We open ", "at nine."]))
    request = LLMRequest(ASK, LLMSettings(retries=2), budget=15.0)
    pieces, response = stream(client(fake, fake_time), request)
    assert pieces == ["We open ", "at nine."]
    assert response.ok and response.content == "We open at nine."
    assert fake_time.waits == [0.5]  # our back-off, not the SDK's
    assert len(fake.requests) == 2


def test_a_wait_past_the_deadline_is_not_made(fake: FakeChatServer) -> None:
    fake_time = FakeTime()
    fake.script(FakeReply.error(429, headers={"retry-after": "60"}), FakeReply.chunks(["late"]))
    request = LLMRequest(ASK, LLMSettings(retries=2), budget=15.0)
    pieces, response = stream(client(fake, fake_time), request)
    assert pieces == [] and not response.ok
    assert fake_time.waits == [] and len(fake.requests) == 1
    assert response.failure is not None and response.failure.kind == "rate_limited"
    assert "would pass the turn's deadline" in response.failure.message


def test_a_stream_that_breaks_after_a_piece_is_not_asked_again(fake: FakeChatServer) -> None:
    fake_time = FakeTime()
    fake.script(FakeReply.cut_stream("We open at nine.", after_chunks=2), FakeReply.text("again"))
    request = LLMRequest(ASK, LLMSettings(retries=2), budget=15.0)
    pieces, response = stream(client(fake, fake_time), request)
    assert pieces and not response.ok  # what was shown cannot be taken back
    assert len(fake.requests) == 1 and fake_time.waits == []


def test_reading_stops_at_the_deadline_with_the_text_so_far(fake: FakeChatServer) -> None:
    never = threading.Event()  # the second piece is held back until the test ends
    fake.script(FakeReply.chunks(["We open ", "at nine."], gates={1: never}))
    request = LLMRequest(ASK, LLMSettings(retries=2, timeout=30.0), budget=0.3)
    try:
        pieces, response = stream(client(fake, FakeTime()), request)
    finally:
        never.set()
    assert pieces == ["We open "]
    assert not response.ok and response.failure is not None
    assert response.failure.kind == "timeout"
    assert "deadline passed" in response.failure.message
    assert response.content == "We open "
