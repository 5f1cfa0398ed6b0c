"""The answer's ``id``, ``created``, ``model`` and ``usage`` reach ``trace.llm`` (issue 11.8),
so a support team can find a call in the provider's logs: plain and streamed calls."""

from __future__ import annotations

import asyncio
import json

from dialogue import Engine, compile_flows, parse_flow
from dialogue.llm.answers import Assembly, from_completion
from dialogue.llm.openai_client import OpenAIChatClient
from dialogue.llm.protocol import LLMRequest
from dialogue.observe import events_of
from dialogue.server.models import trace_data
from dialogue.testing import FakeChatServer, FakeReply

FLOW = """
flow: shop
start: menu
states:
  menu:
    say: "Hi!"
fallback: {mode: respond}
"""


def body(**head: object) -> str:
    message = {"role": "assistant", "content": "We open at 8.", "refusal": None}
    completion = {
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 41, "completion_tokens": 5, "total_tokens": 46},
        **head,
    }
    return json.dumps(completion)


def engine(client: OpenAIChatClient) -> Engine:
    bot = compile_flows([parse_flow(FLOW, path="shop.yaml")])
    return Engine(bot, llm=client, llm_settings={"retries": 0, "timeout": 5.0})


def test_the_answers_id_and_created_reach_the_trace(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    fake.script(FakeReply.raw(body(id="chatcmpl-AbC123", created=1_767_225_600)))
    e = engine(client)
    e.start("s")
    r = e.handle("s", "when do you open?")
    llm = r.trace.llm
    assert llm is not None and llm.outcome == "reply"
    assert (llm.response_id, llm.created) == ("chatcmpl-AbC123", 1_767_225_600)
    usage = (llm.model, llm.prompt_tokens, llm.completion_tokens)
    assert usage == ("gpt-4o-mini-2024-07-18", 41, 5)
    assert not llm.estimated
    # the host sees them: the debug trace of the HTTP API, and the observer event
    data = trace_data(r)["llm"]
    assert (data["response_id"], data["created"]) == ("chatcmpl-AbC123", 1_767_225_600)
    called = [ev for ev in events_of(r) if type(ev).__name__ == "LLMCalled"]
    assert [ev.response_id for ev in called] == ["chatcmpl-AbC123"]  # type: ignore[attr-defined]


def test_an_answer_without_id_leaves_the_fields_empty(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    fake.script(FakeReply.raw(body()))
    e = engine(client)
    e.start("s")
    llm = e.handle("s", "when do you open?").trace.llm
    assert llm is not None and llm.outcome == "reply"
    assert (llm.response_id, llm.created) == ("", None)


def test_a_failed_answer_still_names_its_call(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    """A body that parses but is unusable (cut at max_tokens) is a failure with an id."""
    cut = json.loads(body(id="chatcmpl-cut", created=1_767_225_601))
    cut["choices"][0]["finish_reason"] = "length"
    fake.script(FakeReply.raw(json.dumps(cut)))
    e = engine(client)
    e.start("s")
    llm = e.handle("s", "when do you open?").trace.llm
    assert llm is not None and llm.outcome == "failed" and llm.error.startswith("length")
    assert llm.response_id == "chatcmpl-cut" and llm.created == 1_767_225_601


def test_a_streamed_answer_carries_the_streams_id(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    fake.script(FakeReply.chunks(["We open", " at 8."]))
    e = engine(client)

    async def main() -> object:
        try:
            await e.astart("s")
            stream = e.astream("s", "when do you open?")
            async for _ in stream:
                pass
            return stream.result
        finally:
            await e.aclose()

    result = asyncio.run(main())
    llm = result.trace.llm  # type: ignore[attr-defined]
    assert llm.outcome == "reply" and llm.response_id.startswith("chatcmpl-fake")
    assert isinstance(llm.created, int) and llm.created > 0
    assert llm.model == "fake-model"


def test_reading_ids_refuses_what_is_not_one() -> None:
    request = LLMRequest(messages=({"role": "user", "content": "hi"},))
    message = {"content": "ok", "refusal": None}
    choice = {"message": message, "finish_reason": "stop"}
    odd = {"choices": [choice], "id": 7, "created": True, "model": "m", "usage": None}
    response = from_completion(odd, request, 0.0)
    assert response.ok and (response.id, response.created) == ("", None)
    # a stream: the first chunk that names them wins over later empty ones
    assembly = Assembly()
    delta = {"content": "ok", "refusal": None}
    for ident, created, finish in [("chatcmpl-1", 1_700_000_000.0, None), ("", 0, "stop")]:
        chunk_choice = {"index": 0, "delta": delta, "finish_reason": finish}
        assembly.add({"choices": [chunk_choice], "id": ident, "created": created})
    streamed = assembly.result(request, 0.0, "here")
    assert (streamed.id, streamed.created) == ("chatcmpl-1", 1_700_000_000)
