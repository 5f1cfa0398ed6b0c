"""Reading an answer of the Chat Completions API into an ``LLMResponse``.

Pure functions over the answer's JSON data, as the endpoint sent it (the client
decodes the body or each stream event itself, rather than have the SDK build its
model objects: that was most of its CPU work per call): what the request looks
like, how a completion or a stream of chunks becomes content, parsed JSON, usage
(estimated when the endpoint gives none) and, when the answer is unusable, an
``LLMFailure``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dialogue.llm.protocol import LLMFailure, LLMRequest, LLMResponse, Usage


def estimate(text: str) -> int:
    return (len(text) + 3) // 4


def _get(data: object, name: str) -> Any:
    """``data[name]`` of a JSON object; ``None`` when missing or not an object."""
    return data.get(name) if isinstance(data, dict) else None


def usage_of(reported: object, request: LLMRequest, content: str | None) -> Usage:
    prompt, completion = (_get(reported, n) for n in ("prompt_tokens", "completion_tokens"))
    if isinstance(prompt, int) and isinstance(completion, int):
        return Usage(prompt, completion, prompt + completion)
    prompt = sum(estimate(str(m.get("content", ""))) + 3 for m in request.messages)
    completion = estimate(content or "")
    return Usage(prompt, completion, prompt + completion, estimated=True)


def failed(
    request: LLMRequest, started: float, failure: LLMFailure, content: str | None = None
) -> LLMResponse:
    seconds = time.perf_counter() - started
    return LLMResponse(content, None, failure, None, request.settings.model, seconds, None)


def judge(
    content: str | None, refusal: str | None, finish: str | None, request: LLMRequest
) -> tuple[Mapping[str, Any] | None, LLMFailure | None]:
    """The parsed data, or what is wrong with a complete answer."""
    if refusal:
        return None, LLMFailure("refusal", f"the model refused to answer: {refusal}")
    if finish == "length":
        limit = request.settings.max_tokens
        message = f"the answer was cut off at max_tokens={limit}; raise LLMSettings.max_tokens"
        return None, LLMFailure("length", message)
    if finish == "content_filter":
        return None, LLMFailure("content_filter", "the answer was withheld by the content filter")
    if not content:
        message = f"the model returned no content (finish_reason {finish!r})"
        return None, LLMFailure("empty", message)
    if request.schema is None:
        return None, None
    try:
        data = json.loads(content)
    except ValueError as exc:
        data, what = None, f"invalid JSON ({exc})"
    else:
        what = "not an object"
    if isinstance(data, dict):
        return data, None
    message = f"schema {request.schema_name!r} asked for a JSON object; got {what}"
    return None, LLMFailure("not_json", message)


def finish(
    request: LLMRequest,
    started: float,
    *,
    content: str | None,
    refusal: str | None,
    finish_reason: str | None,
    usage: object,
    model: str | None,
    ident: object = None,
    created: object = None,
) -> LLMResponse:
    """The response for a complete answer (from one body or an assembled stream)."""
    data, failure = judge(content, refusal, finish_reason, request)
    return LLMResponse(
        content=content,
        data=data,
        failure=failure,
        usage=usage_of(usage, request, content),
        model=model or request.settings.model,
        seconds=time.perf_counter() - started,
        finish_reason=finish_reason,
        id=ident if isinstance(ident, str) else "",
        created=_seconds(created),
    )


def _seconds(value: object) -> int | None:
    """A reported ``created`` as whole seconds (a bool or a non-number is not one)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if value == value and abs(value) < 2**53 else None


def snippet(value: object) -> str:
    text = " ".join(str(value).split())
    return repr(text if len(text) <= 80 else text[:77] + "...")


def from_completion(completion: object, request: LLMRequest, started: float) -> LLMResponse:
    """Judge a decoded response body (a ``str`` when it was not JSON)."""
    if isinstance(completion, str):
        message = f"the endpoint answered with a non-JSON body: {snippet(completion)}"
        return failed(request, started, LLMFailure("malformed", message))
    if not isinstance(completion, dict) or "choices" not in completion:
        what = snippet(completion)
        message = f"the endpoint answered with JSON that is not a chat completion: {what}"
        return failed(request, started, LLMFailure("malformed", message))
    choices = completion["choices"]
    if not choices or not isinstance(choices, list):
        message = f"the endpoint answered with no choices ({snippet(choices)})"
        return failed(request, started, LLMFailure("empty", message))
    choice = choices[0]
    message_obj = _get(choice, "message")
    content = _get(message_obj, "content")
    refusal = _get(message_obj, "refusal")
    finish_reason = _get(choice, "finish_reason")
    if not isinstance(choice, dict) or not all(
        isinstance(v, (str, type(None))) for v in (content, refusal, finish_reason)
    ):
        message = f"the endpoint answered with a malformed choice: {snippet(choice)}"
        return failed(request, started, LLMFailure("malformed", message))
    model = completion.get("model")
    return finish(
        request,
        started,
        content=content,
        refusal=refusal,
        finish_reason=finish_reason,
        usage=completion.get("usage"),
        model=model if isinstance(model, str) else None,
        ident=completion.get("id"),
        created=completion.get("created"),
    )


def create_args(request: LLMRequest) -> dict[str, Any]:
    settings = request.settings
    args: dict[str, Any] = {
        "model": settings.model,
        "messages": [dict(message) for message in request.messages],
        "temperature": settings.temperature,
        "max_completion_tokens": settings.max_tokens,
        "timeout": settings.timeout,
    }
    if request.schema is not None:
        spec = {"name": request.schema_name, "strict": True, "schema": dict(request.schema)}
        args["response_format"] = {"type": "json_schema", "json_schema": spec}
    return args


@dataclass
class Assembly:
    """A streamed answer, chunk by chunk."""

    parts: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    usage: object = None
    model: str | None = None
    ident: object = None
    created: object = None
    chunks: int = 0

    def add(self, chunk: object) -> str:
        """Take one stream event's data; the reply text it adds."""
        self.chunks += 1
        self.model = _text(_get(chunk, "model")) or self.model
        self.ident = _get(chunk, "id") or self.ident
        self.created = _get(chunk, "created") or self.created
        self.usage = _get(chunk, "usage") or self.usage
        piece = ""
        choices = _get(chunk, "choices")
        for choice in choices if isinstance(choices, list) else ():
            if (_get(choice, "index") or 0) == 0:
                delta = _get(choice, "delta")
                piece = _text(_get(delta, "content"))
                self.refusal.append(_text(_get(delta, "refusal")))
                self.finish_reason = _text(_get(choice, "finish_reason")) or self.finish_reason
        self.parts.append(piece)
        return piece

    @property
    def text(self) -> str | None:
        return "".join(self.parts) or None

    def result(self, request: LLMRequest, started: float, where: str) -> LLMResponse:
        if self.chunks == 0:
            message = f"{where} sent no stream events; is base_url an OpenAI-compatible endpoint?"
            return failed(request, started, LLMFailure("malformed", message))
        if self.finish_reason is None:
            message = f"the stream from {where} ended before the answer was finished"
            failure = LLMFailure("connection", message, retryable=True)
            return failed(request, started, failure, self.text)
        return finish(
            request,
            started,
            content=self.text,
            refusal="".join(self.refusal) or None,
            finish_reason=self.finish_reason,
            usage=self.usage,
            model=self.model,
            ident=self.ident,
            created=self.created,
        )


def _text(value: object) -> str:
    """A string field of a stream event ('' when missing, null or not a string)."""
    return value if isinstance(value, str) else ""
