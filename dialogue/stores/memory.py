"""In-process session store (the default for the Python API)."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from dialogue.errors import ConflictError, LeaseTimeout
from dialogue.session import Session


class MemoryStore:
    """Sessions in a dict. Loads hand out copies, so a failed turn changes nothing.

    ``MemoryStore(*, ttl=None, clock=time.monotonic)``: with ``ttl`` (seconds) a
    session not saved for that long is gone (expired sessions are swept as they are
    met). Leases serialise the turns of engines that share this store in one process.

    ``save`` keeps the very object it is given: the caller hands it over and must
    not change it afterwards (the engine doesn't; it works on the next ``load``'s copy).
    """

    in_process = True
    """Its sessions live in this process: the engine's own per-session locks serialise
    turns, so it does not take leases (engines sharing one MemoryStore may)."""

    def __init__(
        self, *, ttl: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._expires: dict[str, float] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._tokens: dict[str, tuple[int, float]] = {}
        """Token counts (``TokenStore``): key -> (count, when it expires by ``clock``)."""
        self._charges = 0
        self._lock = threading.Lock()
        self._released = threading.Condition(self._lock)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MemoryStore:
        """``memory://`` (``?ttl=SECONDS``)."""
        from dialogue.errors import ConfigurationError
        from dialogue.stores.url import query_options

        given = {**query_options(url), **options}
        unknown = sorted(set(given) - {"ttl"})
        if unknown:
            raise ConfigurationError(
                f"store URL {url!r}: unknown option(s) {', '.join(unknown)}",
                hint="memory:// takes ttl (seconds), e.g. memory://?ttl=3600",
            )
        return cls(**given)

    def __len__(self) -> int:
        return self.count()

    def __contains__(self, session_id: object) -> bool:
        return isinstance(session_id, str) and self._live(session_id) is not None

    def _live(self, session_id: str) -> Session | None:
        stored = self._sessions.get(session_id)
        if stored is not None and self.ttl is not None:
            if self._expires.get(session_id, 0.0) <= self._clock():
                self._sessions.pop(session_id, None)
                self._expires.pop(session_id, None)
                return None
        return stored

    def load(self, session_id: str) -> Session | None:
        if self.ttl is None:  # a dict lookup is atomic: no lock needed
            stored = self._sessions.get(session_id)
        else:
            with self._lock:
                stored = self._live(session_id)
        return None if stored is None else stored.copy()

    def save(self, session: Session) -> None:
        with self._lock:
            stored = self._sessions.get(session.id) if self.ttl is None else self._live(session.id)
            current = 0 if stored is None else stored.version
            if current != session.version:
                raise ConflictError(
                    f"session {session.id!r} was saved meanwhile "
                    f"(version {current}, expected {session.version})",
                    session_id=session.id,
                )
            session.version += 1
            self._sessions[session.id] = session  # the engine never touches it after saving
            if self.ttl is not None:
                self._expires[session.id] = self._clock() + self.ttl

    def delete(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)
            self._expires.pop(session_id, None)

    def session_ids(self) -> Iterator[str]:
        with self._lock:
            names = list(self._sessions)
            return iter([n for n in names if self._live(n) is not None])

    def count(self) -> int:
        return sum(1 for _ in self.session_ids())

    def acquire(self, session_id: str, *, ttl: float, wait: float) -> str:
        token = secrets.token_hex(8)
        deadline = time.monotonic() + wait  # waiting is real time; expiry is the clock's
        with self._released:
            while True:
                now = self._clock()
                held = self._leases.get(session_id)
                if held is None or held[1] <= now:
                    self._leases[session_id] = (token, now + ttl)
                    return token
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LeaseTimeout(
                        f"session {session_id!r} is busy: another turn held it for "
                        f"more than {wait:g} s",
                        session_id=session_id,
                    )
                self._released.wait(min(left, max(held[1] - now, 0.001), 0.05))

    def release(self, session_id: str, token: str) -> None:
        with self._released:
            held = self._leases.get(session_id)
            if held is not None and held[0] == token:
                del self._leases[session_id]
                self._released.notify_all()

    async def aload(self, session_id: str) -> Session | None:
        return self.load(session_id)

    async def asave(self, session: Session) -> None:
        self.save(session)

    async def adelete(self, session_id: str) -> None:
        self.delete(session_id)

    # -- token counts (``TokenStore``)

    def _count(self, key: str) -> int:
        held = self._tokens.get(key)
        if held is None or held[1] <= self._clock():
            return 0
        return held[0]

    def hold_tokens(self, key: str, want: int, *, least: int, limit: int, ttl: float) -> int:
        with self._lock:
            used = self._count(key)
            take = min(want, limit - used)
            if take < least or take <= 0:
                return 0
            self._tokens[key] = (used + take, self._clock() + ttl)
            return take

    def charge_tokens(self, key: str, tokens: int, *, ttl: float) -> int:
        with self._lock:
            used = max(self._count(key) + tokens, 0)
            self._tokens[key] = (used, self._clock() + ttl)
            self._charges += 1
            if self._charges % 1024 == 0:  # expired counts go now and then
                self._sweep_tokens()
            return used

    def used_tokens(self, key: str) -> int:
        with self._lock:
            return self._count(key)

    def _sweep_tokens(self) -> None:
        now = self._clock()
        for key in [k for k, (_, end) in self._tokens.items() if end <= now]:
            del self._tokens[key]

    async def ahold_tokens(self, key: str, want: int, *, least: int, limit: int, ttl: float) -> int:
        return self.hold_tokens(key, want, least=least, limit=limit, ttl=ttl)

    async def acharge_tokens(self, key: str, tokens: int, *, ttl: float) -> int:
        return self.charge_tokens(key, tokens, ttl=ttl)

    async def aused_tokens(self, key: str) -> int:
        return self.used_tokens(key)
