"""OpenAIChatClient through the real openai SDK against the fake server."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from dialogue.errors import ConfigurationError
from dialogue.llm.openai_client import (
    FAILURE_KINDS,
    LLMClient,
    LLMRequest,
    LLMResponse,
    LLMSettings,
    LLMStream,
    OpenAIChatClient,
    Usage,
)
from dialogue.testing import FakeChatServer, FakeReply

# Calls that should be answered get a timeout no loaded machine reaches.
FAST = LLMSettings(model="gpt-test", timeout=30, retries=0)
MESSAGES = ({"role": "system", "content": "You route orders."}, {"role": "user", "content": "hi"})
ASK = LLMRequest(MESSAGES, FAST)
SCHEMA = {
    "type": "object",
    "properties": {"intent": {"type": "string"}},
    "required": ["intent"],
    "additionalProperties": False,
}
FACES = ["sync", "async", "stream"]


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[FakeChatServer, OpenAIChatClient]]:
    with FakeChatServer() as fake:
        llm = OpenAIChatClient(api_key="sk-test", base_url=fake.url)
        yield fake, llm
        llm.close()


@pytest.fixture
def server(shared: tuple[FakeChatServer, OpenAIChatClient]) -> FakeChatServer:
    shared[0].reset()
    return shared[0]


@pytest.fixture
def client(shared: tuple[FakeChatServer, OpenAIChatClient]) -> OpenAIChatClient:
    shared[1].reset_key_check()  # a test's 401 stops the shared client's requests
    return shared[1]


def ask(client: LLMClient, request: LLMRequest = ASK, face: str = "sync") -> LLMResponse:
    """One call through the sync, async or streaming face."""
    if face == "sync":
        return client.complete(request)
    return asyncio.run(_ask_async(client, request, face))


def timed_ask(
    client: LLMClient, request: LLMRequest = ASK, face: str = "sync"
) -> tuple[LLMResponse, float]:
    """``ask``, and the seconds it took as seen from outside (an upper bound for ``seconds``)."""
    started = time.perf_counter()
    response = ask(client, request, face)
    return response, time.perf_counter() - started


async def _ask_async(client: LLMClient, request: LLMRequest, face: str) -> LLMResponse:
    try:
        if face == "async":
            return await client.acomplete(request)
        stream = client.astream(request)
        text = "".join([chunk async for chunk in stream])
        assert text == (stream.response.content or "")
        return stream.response
    finally:
        if isinstance(client, OpenAIChatClient):
            await client.aclose()


def sse(*events: object, done: bool = True) -> FakeReply:
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + ("data: [DONE]\n\n" * done)
    return FakeReply.raw(body, content_type="text/event-stream")


def chunk(content: str | None = None, finish: str | None = None) -> dict[str, object]:
    choice = {"index": 0, "delta": {"content": content}, "finish_reason": finish}
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [choice],
    }


# -- success ---------------------------------------------------------------------------


@pytest.mark.parametrize("face", FACES)
def test_text_answer(server: FakeChatServer, client: OpenAIChatClient, face: str) -> None:
    server.script(FakeReply.text("Your order ships tomorrow.", usage=(20, 6)))
    response, outside = timed_ask(client, ASK, face)
    assert response.ok and response.failure is None
    assert response.content == "Your order ships tomorrow."
    assert response.data is None
    assert response.usage == Usage(20, 6, 26)
    assert response.model == "fake-model"  # as reported, not as requested
    assert response.finish_reason == "stop"
    assert 0 < response.seconds <= outside  # seconds, measured around the call only


@pytest.mark.parametrize("face", FACES)
def test_schema_answer_is_parsed(
    server: FakeChatServer, client: OpenAIChatClient, face: str
) -> None:
    server.script(FakeReply.json({"intent": "track"}))
    response = ask(client, LLMRequest(MESSAGES, FAST, schema=SCHEMA, schema_name="route"), face)
    assert response.ok and response.data == {"intent": "track"}
    assert response.usage is not None and not response.usage.estimated


def test_request_shape(server: FakeChatServer, client: OpenAIChatClient) -> None:
    settings = LLMSettings(model="gpt-test", temperature=0.3, max_tokens=50, timeout=30, retries=0)
    ask(client, LLMRequest(MESSAGES, settings, schema=SCHEMA, schema_name="route"))
    ask(client, LLMRequest(MESSAGES, settings), "stream")
    plain, streamed = server.requests
    assert plain == {
        "model": "gpt-test",
        "messages": list(MESSAGES),
        "temperature": 0.3,
        "max_completion_tokens": 50,  # this SDK's name for max_tokens
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "route", "strict": True, "schema": SCHEMA},
        },
    }
    assert streamed == {
        "model": "gpt-test",
        "messages": list(MESSAGES),
        "temperature": 0.3,
        "max_completion_tokens": 50,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert server.headers[0]["authorization"] == "Bearer sk-test"
    assert server.headers[0]["x-stainless-read-timeout"] == "30"


def test_default_headers_and_organization(server: FakeChatServer) -> None:
    llm = OpenAIChatClient(
        api_key="k", base_url=server.url, organization="org-1", default_headers={"x-app": "shop"}
    )
    assert ask(llm).ok
    llm.close()
    assert server.headers[0]["x-app"] == "shop"
    assert server.headers[0]["openai-organization"] == "org-1"


def test_streaming_chunks_arrive_in_pieces(
    server: FakeChatServer, client: OpenAIChatClient
) -> None:
    server.script(FakeReply.text("one two three", usage=(5, 3)))

    async def run() -> tuple[list[str], LLMStream]:
        stream = client.astream(ASK)
        with pytest.raises(RuntimeError, match="only available after iterating"):
            stream.response  # noqa: B018
        chunks = [c async for c in stream]
        await client.aclose()
        return chunks, stream

    chunks, stream = asyncio.run(run())
    assert chunks == ["one ", "two ", "three"]
    assert stream.response.content == "one two three"
    assert stream.response.usage == Usage(5, 3, 8)


def test_stopping_a_stream_early(server: FakeChatServer, client: OpenAIChatClient) -> None:
    server.script(FakeReply.text("one two three"), FakeReply.text("next"))

    async def run() -> list[str]:
        stream = client.astream(ASK)
        seen = []
        async for chunk in stream:
            seen.append(chunk)
            break
        await stream.aclose()
        with pytest.raises(RuntimeError):
            stream.response  # noqa: B018
        after = await client.acomplete(ASK)  # the connection pool is still fine
        await client.aclose()
        return [*seen, after.content or ""]

    assert asyncio.run(run()) == ["one ", "next"]


def test_any_client_can_build_a_stream() -> None:
    async def events() -> AsyncIterator[str | LLMResponse]:
        yield "Hel"
        yield "lo"
        yield LLMResponse("Hello", None, None, None, "scripted", 0.0, "stop")

    async def run() -> tuple[list[str], LLMResponse]:
        stream = LLMStream(events())
        return [c async for c in stream], stream.response

    chunks, response = asyncio.run(run())
    assert chunks == ["Hel", "lo"] and response.content == "Hello" and response.ok


@pytest.mark.parametrize("face", ["sync", "stream"])
def test_missing_usage_is_estimated(
    server: FakeChatServer, client: OpenAIChatClient, face: str
) -> None:
    answer = "Twelve chars"
    if face == "sync":
        message = {"role": "assistant", "content": answer}
        choice = {"index": 0, "finish_reason": "stop", "message": message}
        completion = {"id": "c", "object": "chat.completion", "created": 0, "choices": [choice]}
        server.script(FakeReply.raw(json.dumps(completion)))
    else:
        server.script(sse(chunk(answer), chunk(None, "stop")))  # include_usage ignored
    response = ask(client, ASK, face)
    assert response.ok and response.content == answer
    prompt = sum((len(m["content"]) + 3) // 4 + 3 for m in MESSAGES)  # ~4 characters a token
    assert response.usage == Usage(prompt, 3, prompt + 3, estimated=True)


# -- failures ----------------------------------------------------------------------------

HTML = "<html><h1>502 Bad Gateway</h1></html>"
CASES = {  # name: (reply, failure kind)
    "malformed json": (FakeReply.raw('{"choices": ['), "malformed"),
    "html page": (FakeReply.raw(HTML, content_type="text/html"), "malformed"),
    "html as json": (FakeReply.raw(HTML), "malformed"),
    "json list": (FakeReply.raw("[1, 2]"), "malformed"),
    "choices empty": (FakeReply.raw('{"choices": []}'), "empty"),
    "choices null": (FakeReply.raw('{"choices": null}'), "empty"),
    "no content": (FakeReply.text(""), "empty"),
    "length": (FakeReply.text("Your order", finish_reason="length"), "length"),
    "content filter": (FakeReply.text("", finish_reason="content_filter"), "content_filter"),
    "refusal": (FakeReply.refusal("I can't help with that."), "refusal"),
    "401": (FakeReply.error(401), "auth"),
    "403": (FakeReply.error(403), "auth"),
    "400": (FakeReply.error(400), "bad_request"),
    "404": (FakeReply.error(404), "bad_request"),
    "422": (FakeReply.error(422), "bad_request"),
    "429": (FakeReply.error(429, headers={"retry-after": "0"}), "rate_limited"),
    "500": (FakeReply.error(500), "server_error"),
    "502 html": (FakeReply.error(502, body="<html>Bad Gateway</html>"), "server_error"),
    "timeout": (FakeReply.hang(30), "timeout"),  # the client gives up after 0.1 s
    "cut": (FakeReply.cut_stream("one two three four", after_chunks=2), "connection"),
}
# A JSON body where an event stream was asked for has no SSE events at all.
STREAM_KINDS = {"choices empty": "malformed", "choices null": "malformed"}


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize("case", list(CASES))
def test_failures_become_responses(
    server: FakeChatServer, client: OpenAIChatClient, case: str, face: str
) -> None:
    reply, kind = CASES[case]
    server.script(reply)
    timeout = 0.1 if kind == "timeout" else 30  # only the hang may run out of time
    settings = LLMSettings(model="gpt-test", timeout=timeout, retries=0)
    response, outside = timed_ask(client, LLMRequest(MESSAGES, settings), face)
    assert response.failure is not None and not response.ok
    assert response.failure.kind == (STREAM_KINDS.get(case, kind) if face == "stream" else kind)
    assert response.failure.kind in FAILURE_KINDS
    assert response.data is None
    assert 0 < response.seconds <= outside  # a failure is timed too
    if response.failure.status is not None:
        assert response.failure.status == int(case[:3])
    assert len(server.requests) == 1  # retries=0


def test_failure_details(server: FakeChatServer, client: OpenAIChatClient) -> None:
    body = {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}
    server.script(
        FakeReply.error(401, body=body),
        FakeReply.error(503),
        FakeReply.raw(HTML, content_type="text/html"),
        FakeReply.text("Your order", finish_reason="length"),
    )
    auth = ask(client).failure
    client.reset_key_check()  # after a 401 nothing is sent until the key changes
    busy, html, cut = (ask(client).failure for _ in range(3))
    where = f"POST {server.url}/chat/completions"
    assert auth is not None and auth.status == 401 and not auth.retryable
    assert auth.message == (
        f"{where} answered 401: Error code: 401 - Incorrect API key provided; "
        "check the API key (OPENAI_API_KEY) and its access to the model"
    )
    assert busy is not None and busy.kind == "server_error" and busy.retryable
    assert html is not None and html.message == (
        "the endpoint answered with a non-JSON body: '<html><h1>502 Bad Gateway</h1></html>'"
    )
    assert cut is not None and cut.message == (
        "the answer was cut off at max_tokens=300; raise LLMSettings.max_tokens"
    )


def test_partial_content_is_kept(server: FakeChatServer, client: OpenAIChatClient) -> None:
    server.script(FakeReply.text("Your order", finish_reason="length"))
    assert ask(client).content == "Your order"
    server.script(FakeReply.cut_stream("one two three four", after_chunks=2))
    response = ask(client, face="stream")
    assert response.content == "one two "
    assert response.failure is not None and response.failure.kind == "connection"


def test_stream_errors(server: FakeChatServer, client: OpenAIChatClient) -> None:
    server.script(
        sse({"error": {"message": "overloaded"}}),
        FakeReply.raw("data: {not json\n\n", content_type="text/event-stream"),
        sse(chunk("half an ans"), done=False),  # ends cleanly, but unfinished
        FakeReply.raw("data: [DONE]\n\n", content_type="text/event-stream"),
    )
    failures = [ask(client, face="stream").failure for _ in range(4)]
    assert [f.kind if f else None for f in failures] == [
        "server_error",
        "malformed",
        "connection",
        "malformed",
    ]
    assert failures[0] is not None and "overloaded" in failures[0].message


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize(
    ("content", "what"), [("[1, 2]", "not an object"), ("nope", "invalid JSON")]
)
def test_schema_not_json(
    server: FakeChatServer, client: OpenAIChatClient, face: str, content: str, what: str
) -> None:
    server.script(FakeReply.text(content))
    response = ask(client, LLMRequest(MESSAGES, FAST, schema=SCHEMA), face)
    assert response.failure is not None and response.failure.kind == "not_json"
    assert response.failure.message.startswith(
        f"schema 'answer' asked for a JSON object; got {what}"
    )
    assert response.content == content and response.data is None


@pytest.mark.parametrize("face", FACES)
def test_connection_refused(face: str) -> None:
    server = FakeChatServer().start()
    url = server.url
    server.stop()
    response = ask(OpenAIChatClient(api_key="k", base_url=url), ASK, face)
    assert response.failure is not None and response.failure.kind == "connection"
    assert response.failure.retryable
    assert response.failure.message.startswith(
        f"lost the connection to POST {url}/chat/completions"
    )


@pytest.mark.parametrize("face", FACES)
def test_offline(face: str) -> None:
    response = ask(OpenAIChatClient(), ASK, face)
    assert response.failure is not None and response.failure.kind == "offline"
    assert response.failure.message == "no API key configured; set OPENAI_API_KEY or pass api_key="
    assert response.model == "gpt-test" and response.usage is None


def test_from_env(server: FakeChatServer) -> None:
    assert OpenAIChatClient.from_env({}) is None
    assert OpenAIChatClient.from_env({"OPENAI_API_KEY": "  "}) is None
    llm = OpenAIChatClient.from_env({"OPENAI_API_KEY": "sk-env", "OPENAI_BASE_URL": server.url})
    assert llm is not None and "sk-env" not in repr(llm)
    assert ask(llm).ok
    llm.close()
    assert server.headers[0]["authorization"] == "Bearer sk-env"


# -- retries, timeouts, loops ------------------------------------------------------------


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize("status", [429, 500, 503])
def test_retry_then_success(
    server: FakeChatServer,
    client: OpenAIChatClient,
    retry_waits: Callable[[], list[float]],
    face: str,
    status: int,
) -> None:
    server.script(FakeReply.error(status, headers={"retry-after-ms": "1"}), FakeReply.text("ok!"))
    response = ask(client, LLMRequest(MESSAGES, LLMSettings(timeout=30, retries=1)), face)
    assert response.ok and response.content == "ok!"
    assert retry_waits() == [0.001]  # as the server asked, not the SDK's own backoff
    assert [h["x-stainless-retry-count"] for h in server.headers] == ["0", "1"]


def test_retries_run_out(server: FakeChatServer, client: OpenAIChatClient) -> None:
    server.script(*[FakeReply.error(429, headers={"retry-after": "0.001"})] * 3)
    response = ask(client, LLMRequest(MESSAGES, LLMSettings(timeout=30, retries=2)))
    assert response.failure is not None and response.failure.kind == "rate_limited"
    assert response.failure.status == 429 and response.failure.retryable
    assert len(server.requests) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retried(
    server: FakeChatServer, client: OpenAIChatClient, status: int
) -> None:
    server.script(FakeReply.error(status, headers={"retry-after-ms": "1"}), FakeReply.text("ok"))
    response = ask(client, LLMRequest(MESSAGES, LLMSettings(timeout=30, retries=2)))
    assert response.failure is not None and not response.failure.retryable
    assert len(server.requests) == 1


def test_timeout_is_per_request(server: FakeChatServer, client: OpenAIChatClient) -> None:
    server.script(FakeReply.hang(30), FakeReply.hang(0.3))  # the client leaves the first
    short = ask(client, LLMRequest(MESSAGES, LLMSettings(timeout=0.1, retries=0)))
    assert short.failure is not None and short.failure.kind == "timeout"
    assert short.failure.message.startswith(f"POST {server.url}/chat/completions did not answer")
    assert short.seconds >= 0.1  # a timeout never fires early, however loaded the machine
    assert ask(client, LLMRequest(MESSAGES, LLMSettings(timeout=30, retries=0))).ok


def test_one_async_client_per_event_loop(server: FakeChatServer) -> None:
    llm = OpenAIChatClient(api_key="k", base_url=server.url)
    loops = []

    async def calls(close: bool) -> None:
        answers = await asyncio.gather(*(llm.acomplete(ASK) for _ in range(3)))
        assert all(a.ok for a in answers)
        loops.append(asyncio.get_running_loop())
        # one client for this loop; stale loops dropped
        assert list(llm._loops.values) == [loops[-1]]
        assert await llm._async_client(0) is await llm._async_client(0)
        if close:
            await llm.aclose()

    asyncio.run(calls(close=False))  # left open: closed by asyncio.run, not reused
    asyncio.run(calls(close=True))
    assert llm._loops.values == {} and loops[0] is not loops[1]


def test_concurrent_calls() -> None:
    # The server answers nothing until all the calls are waiting at once: calls
    # made one at a time would get a 500 after hold()'s timeout instead.
    patient = LLMRequest(MESSAGES, LLMSettings(model="gpt-test", timeout=30, retries=0))
    with FakeChatServer() as server:
        llm = OpenAIChatClient(api_key="k", base_url=server.url)

        async def many() -> list[LLMResponse]:
            answers = await asyncio.gather(*(llm.acomplete(patient) for _ in range(50)))
            await llm.aclose()
            return answers

        server.hold(50)
        assert [r.failure for r in asyncio.run(many())] == [None] * 50
        assert server.max_in_flight == 50
        server.reset()
        server.hold(10)
        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(llm.complete, [patient] * 10))
        assert [r.failure for r in answers] == [None] * 10
        assert server.max_in_flight == 10
        llm.close()


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="LLM retries must be 0 or more, not -1"):
        LLMSettings(retries=-1)
    with pytest.raises(ConfigurationError, match="LLM timeout must be positive, not 0"):
        LLMSettings(timeout=0)
    with pytest.raises(ConfigurationError, match="temperature 3 is outside 0..2"):
        LLMSettings(temperature=3)
    with pytest.raises(ConfigurationError, match="max_tokens must be at least 1"):
        LLMSettings(max_tokens=0)


def test_openai_is_imported_on_first_use_only() -> None:
    code = (
        "import sys, dialogue.llm.openai_client, dialogue.testing\n"
        "from dialogue.llm.openai_client import LLMRequest, OpenAIChatClient\n"
        "OpenAIChatClient().complete(LLMRequest(({'role': 'user', 'content': 'x'},)))\n"
        "OpenAIChatClient.from_env({'OPENAI_API_KEY': 'k'})\n"
        "assert 'openai' not in sys.modules, 'imported too early'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
