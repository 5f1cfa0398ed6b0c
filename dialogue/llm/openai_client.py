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
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
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


def _args(request: LLMRequest, left: float | None, attempt: int) -> dict[str, Any]:
    """The SDK's arguments, the attempt's timeout cut to the time the turn has left."""
    args = create_args(request)
    if left is not None:
        args["timeout"] = min(args["timeout"], left)
    args["extra_headers"] = {"x-stainless-retry-count": str(attempt)}  # as the SDK's own
    return args


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
                completion = client.chat.completions.create(**_args(request, left, attempt))
                return from_completion(completion, request, started)
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
                completion = await client.chat.completions.create(**_args(request, left, attempt))
                return from_completion(completion, request, started)
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
                stream = await client.chat.completions.create(
                    **_args(request, left, attempt),
                    stream=True,
                    stream_options={"include_usage": True},
                )
                try:
                    async for chunk in _until(stream, end, self._clock):
                        if chunk is _DEADLINE:
                            failure = retry.deadline_failure(request.budget or 0)
                            yield failed(request, started, failure, assembly.text)
                            return
                        yield assembly.add(chunk)
                finally:
                    await stream.close()
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
