"""One value per running event loop, closed when its loop shuts down.

Async network clients (``openai.AsyncOpenAI``, ``redis.asyncio.Redis``) are bound to
the event loop they were made on. ``PerLoop`` keeps one value per loop, drops the
values of loops that have closed, and closes each value while its loop can still
do it: the first ``get`` on a loop starts an async generator whose ``finally``
runs when ``asyncio.run()`` finalises the loop's generators
(``loop.shutdown_asyncgens``), even if nobody called ``aclose``.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    import asyncio

T = TypeVar("T")


async def _close_with_loop(
    value: T, close: Callable[[T], Awaitable[object]]
) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await close(value)


class PerLoop(Generic[T]):
    """``PerLoop(make, close)``: ``await get()`` gives the running loop's value (made
    by ``make()`` the first time); ``await aclose()`` closes and forgets it now."""

    def __init__(self, make: Callable[[], T], close: Callable[[T], Awaitable[object]]) -> None:
        self._make, self._close = make, close
        self.values: dict[asyncio.AbstractEventLoop, T] = {}
        """The value of each loop that has one (stale loops are dropped on the next get)."""
        self._guards: dict[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = {}
        self._lock = threading.Lock()

    async def get(self) -> T:
        import asyncio

        loop = asyncio.get_running_loop()
        guard = None
        with self._lock:
            for old in [old for old in self.values if old.is_closed()]:
                del self.values[old]  # a finished loop's value cannot be used again
                self._guards.pop(old, None)
            value = self.values.get(loop)
            if value is None:
                value = self.values[loop] = self._make()
                guard = self._guards[loop] = _close_with_loop(value, self._close)
        if guard is not None:
            await guard.asend(None)  # runs to its ``yield``: now the loop will finalize it
        return value

    async def aclose(self) -> None:
        """Close the running loop's value, if it has one."""
        import asyncio

        loop = asyncio.get_running_loop()
        with self._lock:
            self.values.pop(loop, None)
            guard = self._guards.pop(loop, None)
        if guard is not None:
            await guard.aclose()  # its ``finally`` closes the value
