"""A fake OpenAI Chat Completions server for tests: real HTTP on 127.0.0.1.

The real ``openai`` SDK talks to it exactly as it talks to the API, so tests
exercise the client's whole stack (HTTP, retries, timeouts, SSE, parsing)
without a network. Standard library only: one asyncio loop in a background
thread serves every connection (HTTP/1.1 keep-alive), so hundreds of slow
requests wait side by side instead of in a queue.

::

    with FakeChatServer() as server:
        server.script(FakeReply.json({"intent": "track"}), FakeReply.error(429))
        client = OpenAI(api_key="test", base_url=server.url)
        ...
        assert server.requests[0]["model"] == "gpt-4o-mini"

Queued replies answer one request each, first in first out; when the queue is
empty the ``responder`` (if any) answers, else the text ``"ok"``.

For concurrency tests the server counts the requests it has received but not yet
answered (``in_flight``) and remembers the peak (``max_in_flight``): a client
that sends one request at a time never gets past 1, whatever the timing.
``hold(n)`` goes further and answers nothing until ``n`` requests are waiting
at once, so such a client fails instead of being merely slow::

    with FakeChatServer() as server:
        server.hold(50)
        ...  # send 50 requests concurrently: all are answered once all 50 arrived
        assert server.max_in_flight == 50

For streaming tests, ``FakeReply.chunks(pieces, gates={i: event})`` streams
exactly these pieces and stops before piece ``i`` until the test sets the
``threading.Event``; ``pieces_sent`` counts the pieces written. A test that has
seen the text of piece ``i - 1`` arrive while ``pieces_sent == i`` knows it came
before the rest of the answer, however slow the machine::

    gate = threading.Event()
    server.script(FakeReply.chunks(['{"reply": "Hel', 'lo"}'], gates={1: gate}))
    ...  # on the first delta: assert server.pieces_sent == 1; gate.set()
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any

Request = dict[str, Any]
GATE_TIMEOUT = 10.0
"""Seconds a gated stream waits for its gate before dropping the connection."""
_ids = itertools.count(1)


def _error_body(status: int, message: str) -> dict[str, Any]:
    kind = "invalid_request_error" if status < 500 else "server_error"
    kind = "rate_limit_exceeded" if status == 429 else kind
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


@dataclass(frozen=True)
class FakeReply:
    """What the server answers to one request. Build one with a class method."""

    kind: str  # "text" | "refusal" | "error" | "raw" | "cut"
    content: str | None = None
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    finish_reason: str = "stop"
    usage: tuple[int, int] | None = None
    after_chunks: int = 0
    pieces: tuple[str, ...] | None = None
    gates: tuple[tuple[int, threading.Event], ...] = ()

    @classmethod
    def text(
        cls,
        content: str,
        *,
        delay: float = 0.0,
        finish_reason: str = "stop",
        usage: tuple[int, int] | None = None,
    ) -> FakeReply:
        """An assistant message; ``usage`` is (prompt, completion) tokens, else estimated."""
        return cls("text", content, delay=delay, finish_reason=finish_reason, usage=usage)

    @classmethod
    def json(cls, data: object, **options: Any) -> FakeReply:
        """An assistant message whose content is ``json.dumps(data)``; options as for text."""
        return cls.text(json.dumps(data), **options)

    @classmethod
    def refusal(cls, message: str, *, delay: float = 0.0) -> FakeReply:
        """The model declines: ``message.refusal`` is set and ``content`` is null."""
        return cls("refusal", message, delay=delay)

    @classmethod
    def error(
        cls,
        status: int,
        *,
        body: object | str | None = None,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
    ) -> FakeReply:
        """An HTTP error; without ``body``, an OpenAI-style ``{"error": {...}}`` object."""
        if body is None:
            body = _error_body(status, f"fake error {status}")
        raw = body if isinstance(body, str) else json.dumps(body)
        return cls(
            "error",
            status=status,
            body=raw.encode(),
            headers=tuple((headers or {}).items()),
            delay=delay,
        )

    @classmethod
    def raw(
        cls, body: str | bytes, *, status: int = 200, content_type: str = "application/json"
    ) -> FakeReply:
        """Exactly these bytes as the body (malformed JSON, an HTML page, odd shapes)."""
        data = body.encode() if isinstance(body, str) else body
        return cls("raw", status=status, body=data, content_type=content_type)

    @classmethod
    def cut_stream(cls, content: str, *, after_chunks: int) -> FakeReply:
        """Send ``after_chunks`` pieces of ``content``, then drop the connection."""
        return cls("cut", content, after_chunks=after_chunks)

    @classmethod
    def chunks(
        cls,
        pieces: Sequence[str],
        *,
        gates: Mapping[int, threading.Event] | None = None,
        cut: bool = False,
        finish_reason: str = "stop",
    ) -> FakeReply:
        """A streamed answer sent in exactly these pieces (their concatenation, unstreamed).

        ``gates`` maps a piece's index to a ``threading.Event``: the stream stops before
        that piece until the test sets the event (after 10 s unset, the connection is
        dropped, so a test that forgot fails instead of hanging). With ``cut``, the
        connection is dropped after the last piece, before the answer is finished.
        """
        pieces = tuple(pieces)
        return cls(
            "cut" if cut else "text",
            "".join(pieces),
            finish_reason=finish_reason,
            after_chunks=len(pieces),
            pieces=pieces,
            gates=tuple(sorted((gates or {}).items(), key=lambda item: item[0])),
        )

    @classmethod
    def hang(cls, seconds: float) -> FakeReply:
        """Say nothing for ``seconds`` (to trip client timeouts), then answer "ok"."""
        return cls.text("ok", delay=seconds)


def _tokens(text: str) -> int:
    return (len(text) + 3) // 4


def _pieces(text: str) -> list[str]:
    """Split text the way a model streams it: a word and its trailing space per piece."""
    return re.findall(r"\s*\S+\s*|\s+", text) or [text]


@dataclass
class _Exchange:
    """One chat completion request and how to answer it."""

    request: Request
    reply: FakeReply
    model: str
    ident: str = field(default_factory=lambda: f"chatcmpl-fake{next(_ids)}")
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def stream(self) -> bool:
        return bool(self.request.get("stream"))

    def usage(self) -> dict[str, int]:
        if self.reply.usage is not None:
            prompt, completion = self.reply.usage
        else:
            messages = self.request.get("messages") or []
            prompt = sum(_tokens(str(m.get("content", ""))) + 4 for m in messages)
            completion = _tokens(self.reply.content or "")
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def completion(self) -> dict[str, Any]:
        refused = self.reply.kind == "refusal"
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None if refused else self.reply.content,
            "refusal": self.reply.content if refused else None,
            "annotations": [],
        }
        choice = {
            "index": 0,
            "message": message,
            "finish_reason": self.reply.finish_reason,
            "logprobs": None,
        }
        return {**self._head("chat.completion"), "choices": [choice], "usage": self.usage()}

    def _head(self, obj: str) -> dict[str, Any]:
        return {
            "id": self.ident,
            "object": obj,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_fake",
        }

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        extra = {"usage": None} if self._include_usage() else {}
        return {**self._head("chat.completion.chunk"), "choices": [choice], **extra}

    def _include_usage(self) -> bool:
        options = self.request.get("stream_options") or {}
        return bool(options.get("include_usage"))

    def events(self) -> list[dict[str, Any]]:
        """Every SSE data object of a streamed answer, before ``[DONE]``."""
        field_name = "refusal" if self.reply.kind == "refusal" else "content"
        pieces = list(self.reply.pieces or _pieces(self.reply.content or ""))
        if self.reply.kind == "cut":
            pieces = pieces[: self.reply.after_chunks]
        events = [self.chunk({"role": "assistant", field_name: ""})]
        events += [self.chunk({field_name: piece}) for piece in pieces]
        if self.reply.kind == "cut":
            return events
        events.append(self.chunk({}, self.reply.finish_reason))
        if self._include_usage():
            last = {**self._head("chat.completion.chunk"), "choices": [], "usage": self.usage()}
            events.append(last)
        return events


def _head_bytes(status: int, headers: Mapping[str, str]) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass
class _Hold:
    """Armed by ``FakeChatServer.hold``: replies wait until ``count`` requests are in flight."""

    count: int
    timeout: float
    released: asyncio.Event = field(default_factory=asyncio.Event)
    failure: str | None = None


class FakeChatServer:
    """A Chat Completions endpoint on 127.0.0.1; ``url`` is the ``base_url`` to use.

    ``requests`` and ``headers`` record what arrived; ``in_flight`` and
    ``max_in_flight`` record how many chat completion requests were being
    answered at once, and ``hold(n)`` makes ``n`` of them wait for each other
    (see the module docstring). All of them may be used from any thread.
    """

    def __init__(
        self,
        *,
        model: str = "fake-model",
        delay: float = 0.0,
        responder: Callable[[Request], FakeReply] | None = None,
        port: int = 0,
    ) -> None:
        self.model = model
        self.delay = delay
        self.responder = responder
        self._port = port
        self._lock = threading.Lock()
        self._queue: deque[FakeReply] = deque()
        self._requests: list[Request] = []
        self._headers: list[dict[str, str]] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._pieces_sent = 0
        self._hold: _Hold | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.url = ""

    # -- control, from the test's thread -------------------------------------------------

    def start(self) -> FakeChatServer:
        if self._loop is not None:
            return self
        loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="fake-llm", daemon=True)
        self._thread.start()
        self._loop = loop
        self._server = asyncio.run_coroutine_threadsafe(self._listen(), loop).result(10)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/v1"
        return self

    def stop(self) -> None:
        """Close the listener and every open connection; afterwards connections are refused."""
        loop, self._loop = self._loop, None
        if loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)
        loop.close()

    def __enter__(self) -> FakeChatServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def script(self, *replies: FakeReply) -> None:
        """Queue replies, one per coming chat completion request, in order."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def pending(self) -> int:
        """How many scripted replies have not been used yet."""
        with self._lock:
            return len(self._queue)

    @property
    def requests(self) -> list[Request]:
        """Every chat completion request body received so far (JSON-decoded), in order."""
        with self._lock:
            return list(self._requests)

    @property
    def headers(self) -> list[dict[str, str]]:
        """The headers (lower-case names) of those requests, in the same order."""
        with self._lock:
            return list(self._headers)

    @property
    def in_flight(self) -> int:
        """Chat completion requests received whose answer has not started yet."""
        with self._lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The largest ``in_flight`` seen since the start (or ``reset()``).

        A request counts from the moment its body has arrived until the first
        byte of its answer is sent, so a client that waits for each answer
        before sending the next request never makes this more than 1.
        """
        with self._lock:
            return self._max_in_flight

    @property
    def pieces_sent(self) -> int:
        """Pieces of ``FakeReply.chunks`` answers streamed so far (counted as each is written)."""
        with self._lock:
            return self._pieces_sent

    def hold(self, count: int, *, timeout: float = 10.0) -> None:
        """Answer no chat request until ``count`` of them are in flight at once.

        Then all of them are answered (after their delays, if any), and later
        requests are answered as usual: the hold is used up. A handshake for
        concurrency tests that does not depend on timing: a client that sends
        fewer than ``count`` requests at a time never gets an answer. After
        ``timeout`` seconds without ``count`` requests together, every held
        request is answered with a 500 error saying how many arrived. A new
        ``hold()`` or ``reset()`` lets requests held by the previous one go.
        """
        if count < 1:
            raise ValueError(f"hold() needs a count of 1 or more, not {count}")
        with self._lock:
            self._let_go()
            self._hold = _Hold(count, timeout)

    def _let_go(self) -> None:
        """Disarm the hold, answering the requests it holds as usual (with the lock held)."""
        hold, self._hold = self._hold, None
        if hold is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(hold.released.set)

    def reset(self) -> None:
        """Forget recorded requests, unused scripted replies, the peak, the pieces sent and
        any hold."""
        with self._lock:
            self._pieces_sent = 0
            self._queue.clear()
            self._requests.clear()
            self._headers.clear()
            self._max_in_flight = self._in_flight
            self._let_go()

    # -- serving, on the server's loop ---------------------------------------------------

    async def _listen(self) -> asyncio.Server:
        return await asyncio.start_server(
            self._connection, "127.0.0.1", self._port, backlog=2048, limit=2**20
        )

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while await self._one_request(reader, writer):
                pass
        except (
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
        ):
            pass  # the client went away, or sent something that is not HTTP
        except asyncio.CancelledError:
            pass  # stop(): end quietly (re-raising makes 3.11's stream callback log it)
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Serve one request; False when the connection should end."""
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, path, _version = request_line.split(" ", 2)
        headers = {}
        for line in header_lines:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        if method == "GET" and path.split("?")[0].endswith("/models"):
            listing = {"object": "list", "data": [self._model_entry()]}
            await self._send(writer, 200, json.dumps(listing).encode())
        elif method == "POST" and path.endswith("/chat/completions"):
            if not await self._chat(writer, body, headers):
                return False
        else:
            await self._send(writer, 404, FakeReply.error(404).body)
        return headers.get("connection", "").lower() != "close"

    def _model_entry(self) -> dict[str, Any]:
        return {"id": self.model, "object": "model", "created": 0, "owned_by": "fake"}

    def _next_reply(self, request: Request, headers: dict[str, str]) -> FakeReply:
        with self._lock:
            self._requests.append(request)
            self._headers.append(headers)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            if self._queue:
                return self._queue.popleft()
        if self.responder is None:
            return FakeReply.text("ok")
        try:
            return self.responder(request)
        except Exception as exc:  # a broken responder must show up in the test, not hang it
            return FakeReply.error(500, body=_error_body(500, f"fake responder raised {exc!r}"))

    async def _chat(
        self, writer: asyncio.StreamWriter, body: bytes, headers: dict[str, str]
    ) -> bool:
        try:
            request = json.loads(body)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            await self._send(writer, 400, FakeReply.error(400).body)
            return True
        reply = self._next_reply(request, headers)
        try:
            failure = await self._held()
            if failure is not None:
                reply = FakeReply.error(500, body=_error_body(500, failure))
            if self.delay + reply.delay > 0:
                await asyncio.sleep(self.delay + reply.delay)
        finally:
            with self._lock:
                self._in_flight -= 1  # no await from here to the answer's first byte
        exchange = _Exchange(request, reply, self.model)
        if reply.kind in ("error", "raw"):
            await self._send(writer, reply.status, reply.body, reply.content_type, reply.headers)
        elif exchange.stream:
            return await self._stream(writer, exchange)
        elif reply.kind == "cut":
            data = json.dumps(exchange.completion()).encode()
            await self._send(writer, 200, data[: len(data) // 2], length=len(data))
            return False
        else:
            await self._send(writer, 200, json.dumps(exchange.completion()).encode())
        return True

    async def _held(self) -> str | None:
        """Wait while ``hold()`` is armed and unmet; the error to answer if it never is."""
        with self._lock:
            hold = self._hold
            if hold is None:
                return None
            if self._in_flight >= hold.count:
                self._hold = None
                hold.released.set()
                return None
        try:
            await asyncio.wait_for(hold.released.wait(), hold.timeout)
        except asyncio.TimeoutError:
            with self._lock:
                if self._hold is hold:
                    self._hold = None
                    hold.failure = (
                        f"fake server: hold({hold.count}) gave up after {hold.timeout:g} s"
                        f" with only {self._in_flight} request(s) in flight at once"
                    )
            hold.released.set()
        return hold.failure

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        extra: tuple[tuple[str, str], ...] = (),
        length: int | None = None,
    ) -> None:
        headers = {
            "content-type": content_type,
            "content-length": str(len(body) if length is None else length),
            "x-request-id": f"req_fake{next(_ids)}",
            **dict(extra),
        }
        writer.write(_head_bytes(status, headers) + body)
        await writer.drain()

    async def _stream(self, writer: asyncio.StreamWriter, exchange: _Exchange) -> bool:
        """Answer with ``text/event-stream`` in chunked encoding; False if cut."""
        headers = {
            "content-type": "text/event-stream; charset=utf-8",
            "transfer-encoding": "chunked",
            "cache-control": "no-cache",
            "x-request-id": f"req_fake{next(_ids)}",
        }
        writer.write(_head_bytes(200, headers))
        lines = [f"data: {json.dumps(event)}\n\n" for event in exchange.events()]
        if exchange.reply.kind != "cut":
            lines.append("data: [DONE]\n\n")
        gates = dict(exchange.reply.gates)
        for number, line in enumerate(lines):
            gate = gates.get(number - 1)  # line 0 is the role; piece i is line i + 1
            if gate is not None and not await asyncio.to_thread(gate.wait, GATE_TIMEOUT):
                return False  # nobody opened the gate: drop the connection
            if 1 <= number <= len(exchange.reply.pieces or ()):
                with self._lock:  # counted before the client can see it
                    self._pieces_sent += 1
            data = line.encode()
            writer.write(b"%x\r\n%s\r\n" % (len(data), data))
            await writer.drain()
        if exchange.reply.kind == "cut":
            return False  # the caller closes the connection without the last chunk
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True
