"""Streaming a turn: text deltas for chat UIs, the same ``TurnResult`` at the end.

``Engine.astream(session_id, text)`` returns a ``TurnStream``. Iterating it
gives ``Delta(index, text)``: ``index`` is the reply the text belongs to, so a
UI can draw one bubble per reply and append each delta to its bubble. Replies
from rules arrive whole, as soon as the turn has said them (before it waits for
a business action or the LLM); an LLM reply arrives in pieces as the API sends
them, in fallback mode ``respond`` (free text) and ``both`` (the ``reply``
field of the structured answer, ``runtime/reply_stream.py``). ``stream.result``
is then exactly what ``ahandle`` would have returned.

The replace rule: whenever the text a reply must show is not what was sent so
far plus more, a ``Delta`` with ``replace=True`` carries its whole text, which
replaces the bubble's. That happens when the checked answer is not the one that
streamed (refused, cut off, a move chosen after the reply was written: the
no-match or the flow's reply replaces it), or when a turn is run again after a
conflicting save. A bubble the final result does not have gets
``Delta(index, "", replace=True)``: remove it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dialogue.trace import TurnResult

if TYPE_CHECKING:
    import asyncio

Sink = Callable[[Sequence[str], str], None]
"""Called with the replies the turn has said so far and the next chunk of the reply
being streamed (``""``: nothing new, send the replies said so far)."""


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of reply ``index``: append ``text`` to it, or, with ``replace``, show
    ``text`` instead of what it showed (``""``: remove that reply)."""

    index: int
    text: str
    replace: bool = False


class _Shown:
    """What the client shows, per reply index, and the deltas that change it."""

    def __init__(self, put: Callable[[Delta], None]) -> None:
        self.put = put
        self.shown: dict[int, str] = {}
        self.replies: Sequence[str] | None = None
        """The replies list of the turn being run (a new list: the turn runs again)."""
        self.said = 0
        self.streamed = ""

    def show(self, index: int, text: str) -> None:
        old = self.shown.get(index)
        if old is None or (text.startswith(old) and text != old):
            self.put(Delta(index, text if old is None else text[len(old) :]))
        elif text != old:
            self.put(Delta(index, text, replace=True))
        self.shown[index] = text

    def sink(self, replies: Sequence[str], chunk: str) -> None:
        if replies is not self.replies:
            self.replies, self.said, self.streamed = replies, 0, ""
        for index in range(self.said, len(replies)):
            self.show(index, replies[index])
            self.streamed = ""
        self.said = len(replies)
        if chunk:
            self.streamed += chunk
            self.show(len(replies), self.streamed)

    def final(self, replies: Sequence[str]) -> None:
        for index, reply in enumerate(replies):
            self.show(index, reply)
        for index in sorted(self.shown):
            if index >= len(replies) and self.shown[index]:
                self.show(index, "")


class TurnStream:
    def __init__(self, run: Callable[[Sink], Awaitable[TurnResult]]) -> None:
        self._run = run
        self.result: TurnResult | None = None

    async def __aiter__(self) -> AsyncIterator[Delta]:
        import asyncio

        queue: asyncio.Queue[Delta | None] = asyncio.Queue()
        shown = _Shown(queue.put_nowait)
        task = asyncio.ensure_future(self._run(shown.sink))
        task.add_done_callback(lambda _: queue.put_nowait(None))
        while (delta := await queue.get()) is not None:
            yield delta
        self.result = task.result()
        final: list[Delta] = []
        shown.put = final.append
        shown.final(self.result.replies)
        for delta in final:
            yield delta

    async def collect(self) -> TurnResult:
        """Drain the stream and return the result."""
        async for _ in self:
            pass
        assert self.result is not None
        return self.result
