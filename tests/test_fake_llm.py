"""The fake Chat Completions server, checked with the real openai SDK."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from dialogue.testing import FakeChatServer, FakeReply

USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "where is my order?"}]


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[FakeChatServer, openai.OpenAI]]:
    with FakeChatServer() as fake:
        with openai.OpenAI(api_key="sk-test", base_url=fake.url, max_retries=0, timeout=2) as sdk:
            yield fake, sdk


@pytest.fixture
def server(shared: tuple[FakeChatServer, openai.OpenAI]) -> FakeChatServer:
    shared[0].reset()
    return shared[0]


@pytest.fixture
def client(shared: tuple[FakeChatServer, openai.OpenAI]) -> openai.OpenAI:
    return shared[1]


def test_plain_text_reply(server: FakeChatServer, client: openai.OpenAI) -> None:
    server.script(FakeReply.text("It ships tomorrow.", usage=(12, 5)))
    completion = client.chat.completions.create(model="gpt-x", messages=USER, temperature=0)
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "fake-model"
    [choice] = completion.choices
    assert choice.index == 0 and choice.finish_reason == "stop" and choice.logprobs is None
    assert choice.message.role == "assistant"
    assert choice.message.content == "It ships tomorrow."
    assert choice.message.refusal is None
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (12, 5)
    assert completion.usage.total_tokens == 17
    assert server.requests == [{"model": "gpt-x", "messages": USER, "temperature": 0}]
    assert server.headers[0]["authorization"] == "Bearer sk-test"


def test_default_reply_usage_is_estimated(server: FakeChatServer, client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="m", messages=USER)
    assert completion.choices[0].message.content == "ok"
    assert completion.usage is not None and completion.usage.completion_tokens == 1
    assert completion.usage.prompt_tokens > 0


def test_json_reply(server: FakeChatServer, client: openai.OpenAI) -> None:
    server.script(FakeReply.json({"intent": "track", "slots": {}}))
    completion = client.chat.completions.create(model="m", messages=USER)
    content = completion.choices[0].message.content
    assert content is not None and json.loads(content) == {"intent": "track", "slots": {}}


def test_refusal(server: FakeChatServer, client: openai.OpenAI) -> None:
    server.script(FakeReply.refusal("I can't help with that."))
    message = client.chat.completions.create(model="m", messages=USER).choices[0].message
    assert message.content is None and message.refusal == "I can't help with that."


def test_script_is_fifo_then_responder_then_ok(client: openai.OpenAI) -> None:
    def echo(request: dict[str, object]) -> FakeReply:
        return FakeReply.text(f"echo {request['model']}")

    with FakeChatServer(responder=echo) as server:
        sdk = client.with_options(base_url=server.url)
        server.script(FakeReply.text("one"), FakeReply.text("two"))
        assert server.pending == 2
        answers = [
            sdk.chat.completions.create(model=f"m{i}", messages=USER).choices[0].message.content
            for i in range(3)
        ]
        assert answers == ["one", "two", "echo m2"]
        assert [r["model"] for r in server.requests] == ["m0", "m1", "m2"]
        server.script(FakeReply.text("unused"))
        server.reset()
        assert server.requests == [] and server.pending == 0


def test_streaming_with_usage(server: FakeChatServer, client: openai.OpenAI) -> None:
    server.script(FakeReply.text("Your order ships tomorrow.", usage=(9, 4)))
    stream = client.chat.completions.create(
        model="m",
        messages=USER,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    pieces = [c.choices[0].delta.content for c in chunks if c.choices]
    assert pieces == ["", "Your ", "order ", "ships ", "tomorrow.", None]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 13
    assert all(c.usage is None for c in chunks[:-1])
    assert server.requests[0]["stream"] is True


def test_streaming_without_usage(server: FakeChatServer, client: openai.OpenAI) -> None:
    server.script(FakeReply.text("hi there"))
    stream = client.chat.completions.create(model="m", messages=USER, stream=True)
    chunks = list(stream)
    assert all(c.choices and c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "hi there"


def test_streamed_refusal(server: FakeChatServer, client: openai.OpenAI) -> None:
    server.script(FakeReply.refusal("No."))
    stream = client.chat.completions.create(model="m", messages=USER, stream=True)
    assert "".join(c.choices[0].delta.refusal or "" for c in stream) == "No."


def test_cut_stream_drops_the_connection(server: FakeChatServer, client: openai.OpenAI) -> None:
    server.script(FakeReply.cut_stream("one two three four", after_chunks=2))
    stream = client.chat.completions.create(model="m", messages=USER, stream=True)
    seen = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content)
    assert seen == ["", "one ", "two "]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (403, openai.PermissionDeniedError),
        (404, openai.NotFoundError),
        (422, openai.UnprocessableEntityError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_error_statuses(
    server: FakeChatServer, client: openai.OpenAI, status: int, error: type[Exception]
) -> None:
    server.script(FakeReply.error(status))
    with pytest.raises(error, match=f"fake error {status}"):
        client.chat.completions.create(model="m", messages=USER)


def test_error_body_and_headers(server: FakeChatServer, client: openai.OpenAI) -> None:
    body = {"error": {"message": "Incorrect API key", "type": "invalid_request_error", "code": "x"}}
    server.script(FakeReply.error(401, body=body, headers={"x-request-id": "req_42"}))
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model="m", messages=USER)
    assert info.value.message == "Error code: 401 - Incorrect API key"
    assert info.value.code == "x" and info.value.request_id == "req_42"


def test_429_retry_after_then_success(
    server: FakeChatServer, retry_waits: Callable[[], list[float]]
) -> None:
    server.script(FakeReply.error(429, headers={"retry-after-ms": "1"}), FakeReply.text("ok!"))
    with openai.OpenAI(api_key="k", base_url=server.url, max_retries=1) as sdk:
        completion = sdk.chat.completions.create(model="m", messages=USER)
    assert completion.choices[0].message.content == "ok!"
    assert retry_waits() == [0.001]  # the header arrived: not the SDK's own 0.375-0.5 s backoff
    assert [h["x-stainless-retry-count"] for h in server.headers] == ["0", "1"]


def test_raw_bodies(server: FakeChatServer, client: openai.OpenAI) -> None:
    server.script(
        FakeReply.raw("<html>502 Bad Gateway</html>", content_type="text/html"),
        FakeReply.raw('{"choices": [', status=200),
    )
    html: object = client.chat.completions.create(model="m", messages=USER)
    assert html == "<html>502 Bad Gateway</html>"  # the SDK hands back non-JSON text as str
    with pytest.raises(json.JSONDecodeError):  # ... and lets a broken JSON body raise raw
        client.chat.completions.create(model="m", messages=USER)


def test_hang_trips_the_client_timeout(server: FakeChatServer, client: openai.OpenAI) -> None:
    server.script(FakeReply.hang(30))  # the client gives up long before: nobody waits 30 s
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.2).chat.completions.create(model="m", messages=USER)
    assert server.in_flight == 1  # still hanging when the client gave up


def test_models_and_unknown_paths(server: FakeChatServer, client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["fake-model"]
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="m", input="x")


def test_broken_responder_answers_500(client: openai.OpenAI) -> None:
    def broken(request: dict[str, object]) -> FakeReply:
        raise KeyError("oops")

    with FakeChatServer(responder=broken) as server:
        with pytest.raises(openai.InternalServerError, match="fake responder raised KeyError"):
            client.with_options(base_url=server.url).chat.completions.create(
                model="m",
                messages=USER,
            )


def test_stopped_server_refuses_connections() -> None:
    server = FakeChatServer().start()
    url = server.url
    server.stop()
    server.stop()  # idempotent
    with openai.OpenAI(api_key="k", base_url=url, max_retries=0) as sdk:
        with pytest.raises(openai.APIConnectionError):
            sdk.chat.completions.create(model="m", messages=USER)


def test_concurrent_slow_requests_overlap() -> None:
    async def burst(url: str, n: int) -> list[str | None]:
        async with openai.AsyncOpenAI(api_key="k", base_url=url, max_retries=0) as sdk:
            calls = [sdk.chat.completions.create(model=f"m{i}", messages=USER) for i in range(n)]
            return [c.choices[0].message.content for c in await asyncio.gather(*calls)]

    with FakeChatServer() as server:
        server.hold(50)  # one at a time: the first request waits for 49 that never come
        assert asyncio.run(burst(server.url, 50)) == ["ok"] * 50
        assert server.max_in_flight == 50
        assert len(server.requests) == 50


def test_hold_gives_up_saying_how_many_came(client: openai.OpenAI) -> None:
    with FakeChatServer() as server:
        with pytest.raises(ValueError, match="hold\\(\\) needs a count of 1 or more, not 0"):
            server.hold(0)
        server.hold(2, timeout=0.1)  # a request alone can never make 2
        patient = client.with_options(base_url=server.url, timeout=30)
        with pytest.raises(openai.InternalServerError) as info:
            patient.chat.completions.create(model="m", messages=USER)
        assert info.value.message == (
            "Error code: 500 - fake server: hold(2) gave up after 0.1 s"
            " with only 1 request(s) in flight at once"
        )
        completion = patient.chat.completions.create(model="m", messages=USER)
        assert completion.choices[0].message.content == "ok"  # the hold is used up
        assert (server.in_flight, server.max_in_flight) == (0, 1)
        server.reset()
        assert server.max_in_flight == 0


BODY = json.dumps({"model": "m", "messages": USER}).encode()
POST = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n" % len(BODY)


async def _post_twice(port: int) -> list[bytes]:
    """Two requests on one kept-alive connection, the second one closing it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(POST + b"\r\n" + BODY + POST + b"connection: close\r\n\r\n" + BODY)
    data = await reader.read()
    writer.close()
    return data.split(b"HTTP/1.1 ")[1:]


def test_hundreds_of_connections_at_once() -> None:
    # Raw sockets: cheap enough to open hundreds at once on a small machine.
    async def burst(port: int, n: int) -> list[list[bytes]]:
        return await asyncio.gather(*(_post_twice(port) for _ in range(n)))

    with FakeChatServer() as server:
        port = int(server.url.rsplit(":", 1)[1].split("/")[0])
        # Served one at a time, or connection by connection, the first request
        # would wait for 249 others that never come, and be answered 500.
        server.hold(250)
        answers = asyncio.run(burst(port, 250))
    assert all(len(a) == 2 and all(r.startswith(b"200 OK") for r in a) for a in answers)
    assert len(server.requests) == 500
    assert server.max_in_flight == 250  # one per connection: its second request waits its turn


def test_bad_requests_do_not_break_the_server(
    server: FakeChatServer, client: openai.OpenAI
) -> None:
    async def send(raw: bytes) -> bytes:
        port = int(server.url.rsplit(":", 1)[1].split("/")[0])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(raw)
        data = await reader.read()
        writer.close()
        return data

    not_json = (
        b"POST /v1/chat/completions HTTP/1.1\r\ncontent-length: 3\r\nconnection: close\r\n\r\n{x}"
    )
    assert asyncio.run(send(not_json)).startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert asyncio.run(send(b"garbage\r\n\r\n")) == b""  # not HTTP: the connection is closed
    assert (
        client.chat.completions.create(model="m", messages=USER).choices[0].message.content == "ok"
    )
    assert server.requests == [{"model": "m", "messages": USER}]
