"""What the engine and an LLM client exchange: settings, requests, responses, the protocol.

No ``openai`` here: any client (the OpenAI one in ``llm.py``, a test double,
a client for another API) implements ``LLMClient`` over these types.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from dialogue.errors import ConfigurationError

FailureKind = Literal[
    "offline",
    "timeout",
    "connection",
    "rate_limited",
    "server_error",
    "auth",
    "bad_request",
    "malformed",
    "empty",
    "length",
    "content_filter",
    "refusal",
    "not_json",
    "cassette_miss",
]
"""Why an LLM call failed; ``FAILURE_KINDS`` says what each means."""

FAILURE_KINDS: Mapping[FailureKind, str] = {  # kind -> what it means
    "offline": "no API key configured; nothing was sent",
    "timeout": "no answer within LLMSettings.timeout (after the retries)",
    "connection": "endpoint unreachable, or the connection dropped (mid-stream too)",
    "rate_limited": "429 after the SDK's retries, which honour retry-after",
    "server_error": "5xx after the retries, or an error event inside a stream",
    "auth": "401 or 403",
    "bad_request": "another 4xx (400, 404, 422, ...), or a request the SDK refused",
    "malformed": "a body that is not a chat completion (bad JSON, HTML, no SSE events)",
    "empty": "no choices, or a choice without content",
    "length": "finish_reason 'length': the answer hit max_tokens",
    "content_filter": "finish_reason 'content_filter'",
    "refusal": "the model refused (message.refusal)",
    "not_json": "a schema was requested but the content is not a JSON object",
    "cassette_miss": "replay only: the cassette holds no answer for this request",
}


@dataclass(frozen=True)
class LLMSettings:
    model: str = "gpt-4o-mini"
    temperature: float = 0.0
    max_tokens: int = 300  # sent as ``max_completion_tokens``
    timeout: float = 10.0  # seconds, per attempt (connect, and each read)
    retries: int = 2  # the SDK's own retries (429, 408, 409, 5xx, timeouts, connection errors)

    def __post_init__(self) -> None:
        if not 0.0 <= self.temperature <= 2.0:
            raise ConfigurationError(f"LLM temperature {self.temperature} is outside 0..2")
        if self.max_tokens < 1:
            raise ConfigurationError(f"LLM max_tokens must be at least 1, not {self.max_tokens}")
        if self.timeout <= 0:
            raise ConfigurationError(f"LLM timeout must be positive, not {self.timeout}")
        if self.retries < 0:
            raise ConfigurationError(f"LLM retries must be 0 or more, not {self.retries}")


@dataclass(frozen=True)
class LLMRequest:
    messages: tuple[Mapping[str, str], ...]  # {"role": ..., "content": ...}
    settings: LLMSettings = field(default_factory=LLMSettings)
    schema: Mapping[str, Any] | None = None  # JSON Schema of the answer (strict structured output)
    schema_name: str = "answer"
    budget: float | None = field(default=None, compare=False)
    """Seconds the turn has left when it asks (``Engine(turn_deadline=...)``): the
    client's attempts, their timeouts and its waits between them fit in it."""


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    estimated: bool = False  # True when the endpoint reported none (about 4 characters a token)


@dataclass(frozen=True)
class LLMFailure:
    kind: FailureKind
    message: str
    status: int | None = None  # the HTTP status, when there was one
    retryable: bool = False  # worth trying again later


@dataclass(frozen=True)
class LLMResponse:
    content: str | None  # the text (partial text on a cut stream or "length")
    data: Mapping[str, Any] | None  # the parsed JSON object, when a schema was given
    failure: LLMFailure | None
    usage: Usage | None
    model: str  # as reported by the endpoint, else the requested one
    seconds: float
    finish_reason: str | None
    cached: bool = False  # set by a caching layer that answered without asking the endpoint
    id: str = ""
    """The answer's ``id`` as the endpoint reported it (``chatcmpl-...``): how the
    provider's logs name the call; empty when there was no answer to read it from."""
    created: int | None = None
    """The answer's ``created`` (Unix seconds, the provider's clock), when reported."""

    @property
    def ok(self) -> bool:
        return self.failure is None


class LLMStream:
    """Text chunks as they arrive (``async for``); then ``response`` holds the whole answer.

    Built from an async iterator that yields text chunks and, last, the ``LLMResponse``;
    any ``LLMClient`` can make one that way.
    """

    def __init__(self, events: AsyncIterator[str | LLMResponse]) -> None:
        self._events = events
        self._response: LLMResponse | None = None

    async def __aiter__(self) -> AsyncIterator[str]:
        async for event in self._events:
            if isinstance(event, LLMResponse):
                self._response = event
            elif event:
                yield event

    async def aclose(self) -> None:
        """Stop early and release the connection; ``response`` stays unavailable."""
        close = getattr(self._events, "aclose", None)
        if close is not None:
            await close()

    @property
    def response(self) -> LLMResponse:
        if self._response is None:
            raise RuntimeError("LLMStream.response is only available after iterating to the end")
        return self._response


class LLMClient(Protocol):
    def complete(self, request: LLMRequest) -> LLMResponse: ...

    async def acomplete(self, request: LLMRequest) -> LLMResponse: ...

    def astream(self, request: LLMRequest) -> LLMStream: ...
