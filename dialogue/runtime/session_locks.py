"""Per-session locks: turns of one session queue, turns of different sessions don't.

One ``threading.Lock`` per session serves both faces, so a ``handle`` in a
thread and an ``ahandle`` on the event loop never interleave on one session
either. The async face never blocks the loop: it tries the lock and, while
another turn holds it, sleeps a little (0.1 ms, doubling up to 5 ms) and
tries again. A session's lock is dropped when no turn holds or waits for it.
"""

from __future__ import annotations

import threading


class SessionLocks:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    def _join(self, key: str) -> threading.Lock:
        with self._guard:
            lock, users = self._locks.get(key) or (threading.Lock(), 0)
            self._locks[key] = (lock, users + 1)
        return lock

    def _leave(self, key: str, lock: threading.Lock) -> None:
        with self._guard:
            _, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def acquire(self, key: str) -> threading.Lock:
        """Wait (blocking this thread) for the session's turn."""
        lock = self._join(key)
        lock.acquire()
        return lock

    async def aacquire(self, key: str) -> threading.Lock:
        """Wait, without blocking the event loop, for the session's turn."""
        import asyncio

        lock = self._join(key)
        delay = 0.0001
        try:
            while not lock.acquire(blocking=False):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.005)
        except BaseException:  # cancelled while waiting: we hold nothing
            self._leave(key, lock)
            raise
        return lock

    def release(self, key: str, lock: threading.Lock) -> None:
        lock.release()
        self._leave(key, lock)
