"""Asking an LLM: the client protocol and the OpenAI Chat Completions client.

This is the only module that imports ``openai``, and only on first use, so
``import dialogue`` stays light and offline. Every call returns an
``LLMResponse``: nothing the SDK, the network or the endpoint does escapes as an
exception. A failed call has an ``LLMFailure`` whose ``kind`` is one of
``FAILURE_KINDS``.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from dialogue.llm import retry
from dialogue.llm.answers import (
    Assembly,
    create_args,
    failed,
    from_completion,
)
from dialogue.llm.key_check import KeyCheck
from dialogue.llm.protocol import (
    FAILURE_KINDS,
    FailureKind,
    LLMClient,
    LLMFailure,
    LLMRequest,
    LLMResponse,
    LLMSettings,
    LLMStream,
    Usage,
)
from dialogue.llm.sse import DONE, Decoder
from dialogue.per_loop import PerLoop

__all__ = [
    "FAILURE_KINDS",
    "LLMClient",
    "LLMFailure",
    "LLMRequest",
    "LLMResponse",
    "LLMSettings",
    "LLMStream",
    "OpenAIChatClient",
    "Usage",
]

if TYPE_CHECKING:
    import ssl

    import openai

log = logging.getLogger("dialogue.llm")

_SDK = TypeVar("_SDK", "openai.OpenAI", "openai.AsyncOpenAI")


def _status_failure(status: int, detail: str, where: str) -> LLMFailure:
    kind: FailureKind
    if status in (401, 403):
        kind, hint = "auth", "check the API key (OPENAI_API_KEY) and its access to the model"
    elif status == 429:
        kind, hint = "rate_limited", "send fewer requests, or raise LLMSettings.retries"
    elif status == 408:
        kind, hint = "timeout", "the endpoint gave up waiting; try again later"
    elif status >= 500:
        kind, hint = "server_error", "the endpoint failed; try again later"
    else:
        kind, hint = "bad_request", "check LLMSettings.model and the request parameters"
    retryable = status in (408, 409, 429) or status >= 500
    return LLMFailure(kind, f"{where} answered {status}: {detail}; {hint}", status, retryable)


def _failure(exc: Exception, where: str, settings: LLMSettings) -> LLMFailure:
    """Map whatever the SDK raised to an LLMFailure."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        message = f"{where} did not answer within {settings.timeout:g} s"
        hint = f" ({settings.retries} retries); raise LLMSettings.timeout or check the endpoint"
        return LLMFailure("timeout", message + hint, retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        cause = f" ({type(exc.__cause__).__name__}: {exc.__cause__})" if exc.__cause__ else ""
        message = f"lost the connection to {where}{cause}; check base_url and the network"
        return LLMFailure("connection", message, retryable=True)
    import httpx2  # the SDK's HTTP library: a stream's body is read here, not by the SDK

    if isinstance(exc, httpx2.TimeoutException):
        message = f"{where} stopped sending within {settings.timeout:g} s"
        return LLMFailure("timeout", message + "; raise LLMSettings.timeout", retryable=True)
    if isinstance(exc, httpx2.TransportError):
        message = f"lost the connection to {where} ({type(exc).__name__}: {exc})"
        return LLMFailure("connection", message, retryable=True)
    if isinstance(exc, openai.APIStatusError):
        return _status_failure(exc.status_code, exc.message, where)
    if isinstance(exc, openai.APIResponseValidationError):
        return LLMFailure("malformed", f"{where} answered with an invalid body: {exc.message}")
    if isinstance(exc, openai.APIError):  # an error event inside a stream
        message = f"{where} reported an error: {exc.message}"
        return LLMFailure("server_error", message, retryable=True)
    if isinstance(exc, ValueError):  # JSONDecodeError on a bad body, pydantic validation
        message = f"{where} answered with a malformed body ({type(exc).__name__}: {exc})"
        return LLMFailure("malformed", message)
    if isinstance(exc, openai.OpenAIError):
        return LLMFailure("bad_request", f"the openai SDK refused the request: {exc}")
    return LLMFailure("malformed", f"unexpected {type(exc).__name__} from {where}: {exc}")


_RAW = "X-Stainless-Raw-Response"
"""The SDK's header that leaves a response's body unread (``with_streaming_response``)."""


def _post(request: LLMRequest, left: float | None, attempt: int, *, stream: bool) -> dict[str, Any]:
    """``client.post`` arguments for ``/chat/completions``: the body as ``create()`` would
    send it, the attempt's timeout cut to the time the turn has left. The SDK's
    ``post`` (its documented way to any endpoint) skips ``create()``'s parameter
    transformation and the model objects of the answer, some milliseconds of CPU
    per call; ``answers`` reads the JSON itself."""
    body = create_args(request)
    timeout = body.pop("timeout")
    if left is not None:
        timeout = min(timeout, left)
    headers = {"x-stainless-retry-count": str(attempt)}  # as the SDK's own
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        headers[_RAW] = "stream"
    return {"body": body, "options": {"headers": headers, "timeout": timeout}}


def _decoded(body: bytes) -> object:
    """A response body's JSON data, or its text when it is not JSON."""
    from pydantic_core import from_json

    try:
        return from_json(body)
    except ValueError:
        return body.decode("utf-8", "replace")


async def _events(response: Any) -> AsyncGenerator[object, None]:
    """The data of each event of a streamed response, up to ``[DONE]``."""
    decoder = Decoder()
    async for line in response.aiter_lines():
        event = decoder.feed(line)
        if event is not None:
            if event.data.startswith(DONE):
                return
            if event.event in (None, "error"):
                yield _event_data(event.data, response)
    last = decoder.end()
    if last is not None and not last.data.startswith(DONE) and last.event in (None, "error"):
        yield _event_data(last.data, response)


def _event_data(data: str, response: Any) -> object:
    """One event's JSON; an ``{"error": ...}`` event raises the SDK's ``APIError``."""
    import openai
    from pydantic_core import from_json

    decoded = from_json(data)  # ValueError on garbage: a malformed answer
    if isinstance(decoded, dict) and decoded.get("error"):
        error = decoded["error"]
        message = error.get("message") if isinstance(error, dict) else None
        text = message if isinstance(message, str) else "an error event in the stream"
        raise openai.APIError(text, response.request, body=error)
    return decoded


def _response_type() -> Any:
    import httpx2  # the SDK's HTTP library

    return httpx2.Response


async def _asyncio_sleep(seconds: float) -> None:
    import asyncio  # not at ``import dialogue``

    await asyncio.sleep(seconds)


_DEADLINE = object()
"""What ``_until`` yields, last, when the turn's deadline came before the stream ended."""


async def _until(
    stream: AsyncIterator[Any], end: float | None, clock: Callable[[], float]
) -> AsyncIterator[Any]:
    """``stream``'s items, each waited for no later than ``end`` (``clock``'s time);
    then ``_DEADLINE`` if that came first."""
    if end is None:
        async for item in stream:
            yield item
        return
    import asyncio  # not at ``import dialogue``

    items = aiter(stream)
    while True:
        try:
            if sys.version_info >= (3, 11):  # in this task: wait_for runs a task per piece
                async with asyncio.timeout(max(end - clock(), 0.0)):
                    item = await anext(items)
            else:  # pragma: no cover - Python 3.10
                item = await asyncio.wait_for(anext(items), max(end - clock(), 0.0))
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError:
            yield _DEADLINE
            return
        yield item


def _log_retry(wait: float, attempt: int) -> None:
    log.info("Retrying request to /chat/completions in %g seconds (attempt %d)", wait, attempt + 2)


async def _close_first(clients: dict[int, openai.AsyncOpenAI]) -> None:
    """Close a loop's clients: they share the first one's connection pool."""
    for client in list(clients.values())[:1]:
        await client.close()


class OpenAIChatClient:
    """``LLMClient`` over the official SDK: ``openai.OpenAI`` for the sync face,
    one ``openai.AsyncOpenAI`` per event loop for the async faces.

    Without an API key every call fails fast with kind "offline". The SDK itself may
    read ``OPENAI_ORG_ID``, ``OPENAI_PROJECT_ID`` and ``OPENAI_CUSTOM_HEADERS`` when
    the first call builds its client. ``close()`` / ``await aclose()`` release the
    connections, and the client stays usable; ``asyncio.run()`` closes its loop's anyway.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        organization: str | None = None,
        default_headers: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        asleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self._clock, self._sleep, self._asleep = clock, sleep, asleep
        """What the attempts are timed and spaced with (``dialogue.llm.retry``)."""
        self._api_key = api_key
        self._base_url = base_url or "https://api.openai.com/v1"
        self._organization = organization
        self._headers = dict(default_headers or {})
        self._lock = threading.Lock()
        self._sync: dict[int, openai.OpenAI] = {}  # by retries; all share one connection pool
        self._loops: PerLoop[dict[int, openai.AsyncOpenAI]] = PerLoop(dict, _close_first)
        self._tls: ssl.SSLContext | None = None
        self._key_check = KeyCheck()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OpenAIChatClient | None:
        """A client from OPENAI_API_KEY / OPENAI_BASE_URL / OPENAI_ORG_ID; None without a key."""
        env = os.environ if environ is None else environ
        key = env.get("OPENAI_API_KEY", "").strip()
        if not key:
            return None
        return cls(
            api_key=key,
            base_url=env.get("OPENAI_BASE_URL") or None,
            organization=env.get("OPENAI_ORG_ID") or None,
        )

    def __repr__(self) -> str:
        state = "offline" if self._api_key is None else "key set"
        return f"OpenAIChatClient(base_url={self._base_url!r}, {state})"

    @property
    def rejected(self) -> LLMFailure | None:
        """The 401/403 that stopped requests with the current key (``dialogue.llm.key_check``)."""
        return self._key_check.rejected

    def reset_key_check(self) -> None:
        """Send requests with the current key again (after a 401/403 stopped them)."""
        self._key_check.reset()

    def set_api_key(self, api_key: str | None) -> None:
        """Use another API key from the next request on (a rejection of the old one ends)."""
        with self._lock:
            self._api_key = api_key
            clients, self._sync = list(self._sync.values()), {}
            self._loops = PerLoop(dict, _close_first)  # each loop's old clients close with it
        for client in clients[:1]:
            client.close()
        self._key_check.reset()

    @property
    def _where(self) -> str:
        return f"POST {self._base_url.rstrip('/')}/chat/completions"

    def _options(self, retries: int, http_client: Callable[..., object]) -> dict[str, Any]:
        import httpx2  # the SDK's HTTP library

        if self._tls is None:  # loading CA certificates costs ~30 ms: once, not once per loop
            self._tls = httpx2.create_ssl_context()
        return {
            "api_key": self._api_key,
            "base_url": self._base_url,
            "organization": self._organization,
            "default_headers": self._headers or None,
            "max_retries": retries,
            "http_client": http_client(verify=self._tls),
        }

    def _offline(self, request: LLMRequest, started: float) -> LLMResponse:
        message = "no API key configured; set OPENAI_API_KEY or pass api_key="
        return failed(request, started, LLMFailure("offline", message))

    @staticmethod
    def _pick(clients: dict[int, _SDK], retries: int, new: Callable[[], _SDK]) -> _SDK:
        """The SDK client for this many retries; all share the first one's connections."""
        if retries not in clients:
            first = next(iter(clients.values()), None)
            clients[retries] = new() if first is None else first.with_options(max_retries=retries)
        return clients[retries]

    def _sync_client(self, retries: int) -> openai.OpenAI:
        import openai

        with self._lock:

            def new() -> openai.OpenAI:
                return openai.OpenAI(**self._options(retries, openai.DefaultHttpxClient))

            return self._pick(self._sync, retries, new)

    async def _async_client(self, retries: int) -> openai.AsyncOpenAI:

        import openai

        def new() -> openai.AsyncOpenAI:
            return openai.AsyncOpenAI(**self._options(retries, openai.DefaultAsyncHttpxClient))

        clients = await self._loops.get()  # one set per event loop, closed with it
        with self._lock:
            return self._pick(clients, retries, new)

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Ask, trying again as ``dialogue.llm.retry`` decides (within ``request.budget``);
        nothing is sent while the key stands rejected (``dialogue.llm.key_check``)."""
        return self._key_check.blocked(request) or self._key_check.seen(self._attempts(request))

    def _attempts(self, request: LLMRequest) -> LLMResponse:
        started = time.perf_counter()
        if self._api_key is None:
            return self._offline(request, started)
        end = None if request.budget is None else self._clock() + request.budget
        attempt = 0
        while True:
            left = None if end is None else end - self._clock()
            if left is not None and left < retry.MIN_ATTEMPT:
                return failed(request, started, retry.deadline_failure(request.budget or 0))
            try:
                client = self._sync_client(0)  # the attempts are ours
                started = time.perf_counter()  # time the call, not the SDK's first import
                response = client.post(
                    "/chat/completions",
                    cast_to=_response_type(),
                    **_post(request, left, attempt, stream=False),
                )
                return from_completion(_decoded(response.content), request, started)
            except Exception as exc:  # every failure becomes an LLMResponse
                wait, failure = self._next(exc, request, attempt, end)
                if wait is None:
                    return failed(request, started, failure)
            _log_retry(wait, attempt)
            self._sleep(wait)
            attempt += 1

    async def acomplete(self, request: LLMRequest) -> LLMResponse:
        """``complete`` for coroutines."""
        blocked = self._key_check.blocked(request)
        return blocked or self._key_check.seen(await self._aattempts(request))

    async def _aattempts(self, request: LLMRequest) -> LLMResponse:
        started = time.perf_counter()
        if self._api_key is None:
            return self._offline(request, started)
        end = None if request.budget is None else self._clock() + request.budget
        attempt = 0
        while True:
            left = None if end is None else end - self._clock()
            if left is not None and left < retry.MIN_ATTEMPT:
                return failed(request, started, retry.deadline_failure(request.budget or 0))
            try:
                client = await self._async_client(0)
                started = time.perf_counter()
                response = await client.post(
                    "/chat/completions",
                    cast_to=_response_type(),
                    **_post(request, left, attempt, stream=False),
                )
                return from_completion(_decoded(response.content), request, started)
            except Exception as exc:  # every failure becomes an LLMResponse
                wait, failure = self._next(exc, request, attempt, end)
                if wait is None:
                    return failed(request, started, failure)
            _log_retry(wait, attempt)
            await (self._asleep or _asyncio_sleep)(wait)
            attempt += 1

    def _next(
        self, exc: Exception, request: LLMRequest, attempt: int, end: float | None
    ) -> tuple[float | None, LLMFailure]:
        failure = _failure(exc, self._where, request.settings)
        response = getattr(exc, "response", None)
        asked = retry.retry_after(getattr(response, "headers", None))
        left = None if end is None else end - self._clock()
        return retry.next_wait(failure, asked, attempt, request.settings.retries, left)

    def astream(self, request: LLMRequest) -> LLMStream:
        return LLMStream(self._stream_events(request))

    async def _stream_events(self, request: LLMRequest) -> AsyncIterator[str | LLMResponse]:
        """The pieces as they arrive, then the whole answer. Attempts as ``acomplete``'s,
        but only until the first piece: what was shown cannot be taken back, so a
        stream that breaks later fails (with the text so far). Waiting for each piece
        stops at the turn's deadline (``request.budget``)."""
        started = time.perf_counter()
        if self._api_key is None:
            yield self._offline(request, started)
            return
        blocked = self._key_check.blocked(request)
        if blocked is not None:
            yield blocked
            return
        end = None if request.budget is None else self._clock() + request.budget
        attempt = 0
        while True:
            left = None if end is None else end - self._clock()
            if left is not None and left < retry.MIN_ATTEMPT:
                yield failed(request, started, retry.deadline_failure(request.budget or 0))
                return
            assembly = Assembly()
            try:
                client = await self._async_client(0)  # the attempts are ours
                started = time.perf_counter()  # time the call, not the SDK's first import
                response = await client.post(
                    "/chat/completions",
                    cast_to=_response_type(),
                    **_post(request, left, attempt, stream=True),
                )
                events = _events(response)
                try:
                    async for chunk in _until(events, end, self._clock):
                        if chunk is _DEADLINE:
                            failure = retry.deadline_failure(request.budget or 0)
                            yield failed(request, started, failure, assembly.text)
                            return
                        yield assembly.add(chunk)
                finally:
                    await events.aclose()
                    await response.aclose()
            except Exception as exc:  # every failure becomes an LLMResponse
                wait, failure = self._next(exc, request, attempt, end)
                if wait is None or assembly.chunks:
                    yield self._key_check.seen(failed(request, started, failure, assembly.text))
                    return
                _log_retry(wait, attempt)
                await (self._asleep or _asyncio_sleep)(wait)
                attempt += 1
                continue
            yield self._key_check.seen(assembly.result(request, started, self._where))
            return

    def close(self) -> None:
        """Close the sync client's connections (async ones need ``aclose``)."""
        with self._lock:
            clients, self._sync = list(self._sync.values()), {}
        for client in clients[:1]:  # the others share its connection pool
            client.close()

    async def aclose(self) -> None:
        """Close the async client of the running event loop, and the sync client."""
        await self._loops.aclose()
        self.close()
