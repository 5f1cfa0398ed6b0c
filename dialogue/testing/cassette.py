"""Record an LLM's answers once, replay them in CI: ``CassetteClient``.

A cassette is a YAML file of interactions, each a request (model, sampling
settings, rendered messages, answer schema) and its answer. Requests are keyed
as ``dialogue.llm.service.cache_key`` keys them; interactions are sorted by key
and multi-line messages written as ``|`` blocks, so a re-recording reads as a diff.

Modes: ``replay`` (the default) answers from the cassette only; ``record`` asks
``inner`` every time and writes a fresh cassette of this run's requests;
``auto`` replays what is recorded and records the rest.

In replay, a request that is not in the cassette is a *miss*, never a live
call: the answer is an ``LLMResponse`` with failure kind ``"cassette_miss"`` (so
the turn degrades as when the LLM is down), ``misses`` keeps a ``CassetteMiss``
saying what differs from the closest recorded request, and
``assert_no_misses()`` raises it. Successful answers and failures that are the
model's doing (``RECORDED_FAILURES``) are recorded; transport failures are not.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import threading
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Literal

from dialogue.errors import CassetteError, CassetteMiss, ConfigurationError
from dialogue.llm.protocol import (
    LLMClient,
    LLMFailure,
    LLMRequest,
    LLMResponse,
    LLMStream,
)
from dialogue.testing.cassette_file import (
    _as_request,
    _Interaction,
    _key,
    _record,
    _replayed,
    _write,
    dump_cassette,
    load_cassette,
)

__all__ = ["CassetteClient", "CassetteError", "CassetteMiss", "Mode"]

Mode = Literal["replay", "record", "auto"]
RECORDED_FAILURES = frozenset({"empty", "length", "content_filter", "refusal", "not_json"})
"""Failure kinds that are the model's answer, so a cassette keeps them."""


# --------------------------------------------------------------------------- miss reports


def closest(request: LLMRequest, recorded: Sequence[LLMRequest]) -> int | None:
    """The index of the recorded request most like ``request`` (most messages in common)."""
    mine = {(m.get("role"), m.get("content")) for m in request.messages}

    def score(other: LLMRequest) -> tuple[int, int, bool, int]:
        shared = sum((m.get("role"), m.get("content")) in mine for m in other.messages)
        a, b = request.settings, other.settings
        settings = sum(
            getattr(a, n) == getattr(b, n) for n in ("model", "temperature", "max_tokens")
        )
        length = -abs(len(other.messages) - len(request.messages))
        return shared, settings, other.schema == request.schema, length

    return max(range(len(recorded)), key=lambda i: score(recorded[i]), default=None)


def describe_request(request: LLMRequest, recorded: LLMRequest) -> str:
    """What differs between ``request`` and a ``recorded`` one, for a designer."""
    lines = []
    for name in ("model", "temperature", "max_tokens"):
        now, then = getattr(request.settings, name), getattr(recorded.settings, name)
        if now != then:
            lines.append(f"{name} is {now!r}, recorded {then!r}")
    if request.schema != recorded.schema:
        lines.append("the answer schema differs:")
        lines += _text_diff(_json(recorded.schema), _json(request.schema), limit=4)
    now_m, then_m = request.messages, recorded.messages
    if len(now_m) != len(then_m):
        lines.append(f"{len(now_m)} messages, recorded {len(then_m)}")
    differ = [i for i in range(max(len(now_m), len(then_m))) if _at(now_m, i) != _at(then_m, i)]
    if differ:
        i = differ[0]
        role = (_at(now_m, i) or _at(then_m, i) or {}).get("role", "?")
        more = f" (and {len(differ) - 1} more)" if len(differ) > 1 else ""
        lines.append(f"message {i} ({role}) differs{more}:")
        old, new = ((_at(m, i) or {}).get("content", "") for m in (then_m, now_m))
        lines += _text_diff(old, new)
    return "\n      ".join(lines or ["nothing differs but the key: was the file edited?"])


def _at(messages: Sequence[Mapping[str, str]], index: int) -> dict[str, str] | None:
    return dict(messages[index]) if index < len(messages) else None


def _json(value: object) -> str:
    return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False)


def _text_diff(old: str, new: str, *, limit: int = 6) -> list[str]:
    """Changed lines, ``-`` recorded and ``+`` now, cut to show where they start to differ."""
    diff = difflib.ndiff(old.splitlines(), new.splitlines())
    changed = [d for d in diff if d[:2] in ("- ", "+ ")]
    if not changed:
        return [f"- {old!r}", f"+ {new!r}"]
    first = [next((d[2:] for d in changed if d[0] == sign), "") for sign in "-+"]
    start = max(0, len(os.path.commonprefix(first)) - 30)
    more = [f"... ({len(changed) - limit} more changed lines)"] if len(changed) > limit else []
    return [d[:2] + _clip(d[2:], start) for d in changed[:limit]] + more


def _clip(text: str, start: int, width: int = 90) -> str:
    """``width`` characters of ``text`` from ``start``, marking what is cut with ``...``."""
    head = "..." if 0 < start < len(text) else ""
    body = text[start:] if head else text
    return head + (body if len(body) <= width else body[: width - 3] + "...")


# --------------------------------------------------------------------------- the client


_PIECES = re.compile(r"\s*\S+\s*|\s+")


class CassetteClient:
    """An ``LLMClient`` that records answers to, and replays them from, a cassette file."""

    def __init__(
        self, inner: LLMClient | None, path: str | os.PathLike[str], mode: Mode = "replay"
    ) -> None:
        if mode not in ("replay", "record", "auto"):
            raise ConfigurationError(f"unknown cassette mode {mode!r}; use replay, record or auto")
        if mode != "replay" and inner is None:
            raise ConfigurationError(
                f"cassette mode {mode!r} needs a client to record from",
                hint="pass the real client: CassetteClient(OpenAIChatClient(...), path, mode=...)",
            )
        self.inner = inner
        self.path = Path(path)
        self.mode: Mode = mode
        self.misses: list[CassetteMiss] = []
        self._lock = threading.Lock()
        self._entries: dict[str, _Interaction] = {}
        self._lines: dict[str, int] = {}
        if mode == "replay" and not self.path.is_file():
            raise ConfigurationError(
                f"cassette {self.path} not found",
                hint="record it first: CassetteClient(client, path, mode='record' or 'auto')",
            )
        if mode != "record" and self.path.is_file():
            self._entries, self._lines = load_cassette(self.path)

    def __repr__(self) -> str:
        return f"CassetteClient({str(self.path)!r}, mode={self.mode!r}, {len(self)} recorded)"

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def assert_no_misses(self) -> None:
        """Raise the first ``CassetteMiss`` of this client, saying how many there were."""
        with self._lock:
            misses = list(self.misses)
        if not misses:
            return
        first = misses[0]
        if len(misses) == 1:
            raise first
        more = f"\n    and {len(misses) - 1} more misses (see .misses)"
        raise CassetteMiss(first.path, first.request, first.detail + more)

    # -- answering -------------------------------------------------------------------

    def _lookup(self, request: LLMRequest) -> tuple[str, LLMResponse | None]:
        key = _key(request)
        if self.mode == "record":
            return key, None
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None:
            return key, _replayed(request, hit.response)
        if self.mode == "replay":
            return key, self._miss(request)
        return key, None

    def _miss(self, request: LLMRequest) -> LLMResponse:
        with self._lock:
            keys = list(self._entries)
            recorded = [_as_request(self._entries[k].request) for k in keys]
        index = closest(request, recorded)
        if index is None:
            detail = "the cassette has no recorded requests"
        else:
            line = self._lines.get(keys[index])
            where = f"{self.path}:{line}" if line else "recorded in this run"
            detail = f"closest ({where}): {describe_request(request, recorded[index])}"
        miss = CassetteMiss(str(self.path), request, detail)
        with self._lock:
            self.misses.append(miss)
        failure = LLMFailure("cassette_miss", str(miss))
        return LLMResponse(None, None, failure, None, request.settings.model, 0.0, None)

    def _keep(self, key: str, request: LLMRequest, response: LLMResponse) -> LLMResponse:
        failure = response.failure
        if failure is not None and failure.kind not in RECORDED_FAILURES:
            return response
        with self._lock:
            self._entries[key] = _record(request, response)
            self._lines.pop(key, None)
            text = dump_cassette(self._entries)
            _write(self.path, text)
        return response

    def complete(self, request: LLMRequest) -> LLMResponse:
        key, answer = self._lookup(request)
        if answer is not None:
            return answer
        assert self.inner is not None
        return self._keep(key, request, self.inner.complete(request))

    async def acomplete(self, request: LLMRequest) -> LLMResponse:
        key, answer = self._lookup(request)
        if answer is not None:
            return answer
        assert self.inner is not None
        return self._keep(key, request, await self.inner.acomplete(request))

    def astream(self, request: LLMRequest) -> LLMStream:
        return LLMStream(self._events(request))

    async def _events(self, request: LLMRequest) -> AsyncIterator[str | LLMResponse]:
        key, answer = self._lookup(request)
        if answer is not None:
            for piece in _PIECES.findall(answer.content or ""):
                yield piece
            yield answer
            return
        assert self.inner is not None
        stream = self.inner.astream(request)
        try:
            async for chunk in stream:
                yield chunk
        finally:
            await stream.aclose()
        yield self._keep(key, request, stream.response)

    # -- closing: passed on to the recording client ------------------------------------

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()

    async def aclose(self) -> None:
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()
