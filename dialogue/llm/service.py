"""The engine's access to the LLM: the client, an optional cache, offline mode.

``LLMService.complete`` / ``acomplete`` answer an ``LLMRequest`` with an
``LLMResponse`` and never raise. The cache (off by default) keys a response by
everything that determines it: model, sampling settings, the rendered messages
and the answer schema; only successful answers are kept.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

from dialogue.llm.protocol import LLMClient, LLMFailure, LLMRequest, LLMResponse

OFFLINE_NOTICE = (
    "no LLM configured (set OPENAI_API_KEY, or pass llm=... to the Engine): "
    "rules work as usual; unmatched messages get the flow's no-match replies"
)


def cache_key(request: LLMRequest) -> str:
    s = request.settings
    return json.dumps(
        [s.model, s.temperature, s.max_tokens, list(map(dict, request.messages)), request.schema],
        sort_keys=True,
        ensure_ascii=False,
    )


class LLMService:
    def __init__(self, client: LLMClient | None, *, cache_size: int = 0) -> None:
        self.client = client
        self.cache_size = cache_size
        self._cache: OrderedDict[str, LLMResponse] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.client is not None

    @property
    def rejected(self) -> LLMFailure | None:
        """The 401/403 that stopped the client's requests, if the client keeps one."""
        rejected = getattr(self.client, "rejected", None)
        return rejected if isinstance(rejected, LLMFailure) else None

    def _cached(self, request: LLMRequest) -> tuple[str, LLMResponse | None]:
        if not self.cache_size:
            return "", None
        key = cache_key(request)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return key, replace(hit, cached=True)
        return key, None

    def _keep(self, key: str, response: LLMResponse) -> LLMResponse:
        if key and response.ok:
            with self._lock:
                self._cache[key] = response
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return response

    def complete(self, request: LLMRequest) -> LLMResponse:
        assert self.client is not None
        key, hit = self._cached(request)
        return hit or self._keep(key, self.client.complete(request))

    async def acomplete(
        self, request: LLMRequest, on_text: Callable[[str], Any] | None = None
    ) -> LLMResponse:
        """Ask the LLM from a coroutine; with ``on_text``, the answer is streamed and
        ``on_text`` gets its raw text chunk by chunk (free text, or the JSON of a
        structured answer: the caller reads what it needs from it)."""
        assert self.client is not None
        key, hit = self._cached(request)
        if hit is not None:
            if on_text is not None and hit.content:
                on_text(hit.content)
            return hit
        if on_text is None:
            return self._keep(key, await self.client.acomplete(request))
        stream = self.client.astream(request)
        chunks: AsyncIterator[str] = stream.__aiter__()
        async for chunk in chunks:
            on_text(chunk)
        return self._keep(key, stream.response)

    async def aclose(self) -> None:
        close = getattr(self.client, "aclose", None)
        if close is not None:
            await close()

    def close(self) -> None:
        close = getattr(self.client, "close", None)
        if close is not None:
            close()
