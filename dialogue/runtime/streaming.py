"""Streaming a turn: text deltas for chat UIs, the same ``TurnResult`` at the end.

``Engine.astream(session_id, text)`` returns a ``TurnStream``. Iterating it
gives ``Delta(index, text)``: ``index`` is the reply the text belongs to, so a
UI can draw one bubble per reply. Replies from rules arrive whole; a free-text
LLM reply (fallback mode ``respond``) arrives in pieces as the API sends them.
``stream.result`` is then exactly what ``ahandle`` would have returned. If the
final reply differs from what was streamed (a stream cut off by a failure is
replaced by the no-match reply), a ``Delta`` with ``replace=True`` carries the
final text of that reply.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dialogue.trace import TurnResult

if TYPE_CHECKING:
    import asyncio

Sink = Callable[[Sequence[str], str], None]
"""Called with the replies so far and the next chunk of the reply being streamed."""


@dataclass(frozen=True, slots=True)
class Delta:
    index: int
    text: str
    replace: bool = False


class TurnStream:
    def __init__(self, run: Callable[[Sink], Awaitable[TurnResult]]) -> None:
        self._run = run
        self.result: TurnResult | None = None

    async def __aiter__(self) -> AsyncIterator[Delta]:
        import asyncio

        queue: asyncio.Queue[Delta | None] = asyncio.Queue()
        sent: dict[int, str] = {}

        def sink(replies: Sequence[str], chunk: str) -> None:
            for i, reply in enumerate(replies):
                if i not in sent:
                    sent[i] = reply
                    queue.put_nowait(Delta(i, reply))
            index = len(replies)
            sent[index] = sent.get(index, "") + chunk
            queue.put_nowait(Delta(index, chunk))

        task = asyncio.ensure_future(self._run(sink))
        task.add_done_callback(lambda _: queue.put_nowait(None))
        while (delta := await queue.get()) is not None:
            yield delta
        self.result = task.result()
        for i, reply in enumerate(self.result.replies):
            if i not in sent:
                yield Delta(i, reply)
            elif sent[i] != reply:
                yield Delta(i, reply, replace=True)

    async def collect(self) -> TurnResult:
        """Drain the stream and return the result."""
        async for _ in self:
            pass
        assert self.result is not None
        return self.result
