"""Per-session locks: turns of one session queue, turns of different sessions don't."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio


class SessionLocks:
    """Per-session locks, dropped when no turn holds or waits for them."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._sync: dict[str, tuple[threading.Lock, int]] = {}
        self._async: dict[str, tuple[asyncio.Lock, int]] = {}

    def acquire(self, key: str) -> threading.Lock:
        with self._guard:
            lock, users = self._sync.get(key) or (threading.Lock(), 0)
            self._sync[key] = (lock, users + 1)
        lock.acquire()
        return lock

    def release(self, key: str, lock: threading.Lock) -> None:
        lock.release()
        with self._guard:
            _, users = self._sync[key]
            if users == 1:
                del self._sync[key]
            else:
                self._sync[key] = (lock, users - 1)

    def alock(self, key: str) -> asyncio.Lock:
        import asyncio

        with self._guard:
            lock, users = self._async.get(key) or (asyncio.Lock(), 0)
            self._async[key] = (lock, users + 1)
            return lock

    def arelease(self, key: str, lock: asyncio.Lock) -> None:
        with self._guard:
            _, users = self._async[key]
            if users == 1:
                del self._async[key]
            else:
                self._async[key] = (lock, users - 1)
