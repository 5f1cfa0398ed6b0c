"""The session store protocol.

Contract, for every store:

- ``load(id)`` returns an independent copy of the saved session, or ``None``
  (never stored, deleted, or expired).
- ``save(session)`` is atomic and versioned: it succeeds only if the stored
  version still equals ``session.version`` (``0``: nothing stored yet), then
  stores the session with ``version + 1`` and sets ``session.version`` to it.
  Otherwise it raises ``ConflictError`` and stores nothing. A store made with a
  ``ttl`` keeps a session that long after its last save (sliding expiry).
- ``delete(id)`` removes the session (a no-op when there is none).
- Failures raise ``StoreError`` (or anything, which the engine turns into one);
  a failed save leaves the stored session as it was.

Stores that several processes share also lease sessions (``LeasingStore``): the
engine holds a session's lease for the whole turn, so turns of one session are
serialised across processes and hosts; the version check at save is the last
line of defence, and a conflict is retried from a fresh load. A lease expires by
itself after ``ttl`` seconds, so a crashed worker's session becomes usable again.

A leasing store may fold the lease into the load and the save (``FoldingStore``):
``acquire_load`` takes the lease and reads the session in one round trip,
``save_release`` saves and gives the lease back in one. The engine uses them
when a store has them, so a turn costs what a bare get + set costs; a store
with only the basic protocols is leased with ``acquire``/``release`` around
``load``/``save``, as before.

A store may also keep token counts (``TokenStore``): the engine's user budget
(``Engine(user_budget=)``, ``llm.user_budget``) holds and charges tokens of one
count per user and period there, each as one atomic step, so every session and
worker of a user draws from the same count. A store without it is refused when a
user budget is configured.

Operators list and count sessions through ``session_ids()`` / ``count()``
(``ListingStore``). A store used through ``Engine.ahandle`` implements the
``a``-prefixed methods without blocking the event loop; otherwise the engine
calls the sync ones in a worker thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from dialogue.session import Session


@runtime_checkable
class SessionStore(Protocol):
    def load(self, session_id: str) -> Session | None: ...

    def save(self, session: Session) -> None: ...

    def delete(self, session_id: str) -> None: ...


@runtime_checkable
class AsyncSessionStore(Protocol):
    async def aload(self, session_id: str) -> Session | None: ...

    async def asave(self, session: Session) -> None: ...

    async def adelete(self, session_id: str) -> None: ...


@runtime_checkable
class LeasingStore(Protocol):
    """A store that serialises turns of one session across processes."""

    def acquire(self, session_id: str, *, ttl: float, wait: float) -> str:
        """Take the session's lease for ``ttl`` seconds, waiting up to ``wait`` seconds
        while another holder has it; returns the token that releases it. Raises
        ``LeaseTimeout`` when the wait runs out."""
        ...

    def release(self, session_id: str, token: str) -> None:
        """Give the lease back, if ``token`` still holds it (an expired lease that
        someone else has taken since is left alone)."""
        ...


@runtime_checkable
class AsyncLeasingStore(Protocol):
    async def aacquire(self, session_id: str, *, ttl: float, wait: float) -> str: ...

    async def arelease(self, session_id: str, token: str) -> None: ...


@runtime_checkable
class FoldingStore(Protocol):
    """A leasing store whose lease rides on the load and the save (one round trip each).

    ``acquire_load`` is ``acquire`` then ``load``; ``save_release`` is ``save`` then
    ``release``, as one step: it checks the version as ``save`` does (a
    ``ConflictError`` stores nothing *and keeps the lease*, so the caller may load
    again and retry), and on success gives the lease back if ``token`` still holds
    it. ``release`` ends a turn that saves nothing (it failed, or had nothing to save).
    """

    def acquire_load(
        self, session_id: str, *, ttl: float, wait: float
    ) -> tuple[str, Session | None]: ...

    def save_release(self, session: Session, token: str) -> None: ...

    def release(self, session_id: str, token: str) -> None: ...


@runtime_checkable
class AsyncFoldingStore(Protocol):
    async def aacquire_load(
        self, session_id: str, *, ttl: float, wait: float
    ) -> tuple[str, Session | None]: ...

    async def asave_release(self, session: Session, token: str) -> None: ...

    async def arelease(self, session_id: str, token: str) -> None: ...


@runtime_checkable
class ListingStore(Protocol):
    """A store that can list its live (unexpired) sessions, for operators."""

    def session_ids(self) -> Iterator[str]: ...

    def count(self) -> int: ...


@runtime_checkable
class TokenStore(Protocol):
    """A store that keeps token counts by key, each change one atomic step.

    A count that is not stored is 0; a count expires ``ttl`` seconds after its last
    change (it is 0 again afterwards)."""

    def hold_tokens(self, key: str, want: int, *, least: int, limit: int, ttl: float) -> int:
        """Add to ``key``'s count ``want`` tokens if the count stays within ``limit``,
        else what is left if that is at least ``least``, else nothing; returns what
        was added (0: nothing)."""
        ...

    def charge_tokens(self, key: str, tokens: int, *, ttl: float) -> int:
        """Add ``tokens`` (negative: give back) to ``key``'s count, never below 0;
        returns the new count."""
        ...

    def used_tokens(self, key: str) -> int:
        """``key``'s count."""
        ...


@runtime_checkable
class AsyncTokenStore(Protocol):
    async def ahold_tokens(
        self, key: str, want: int, *, least: int, limit: int, ttl: float
    ) -> int: ...

    async def acharge_tokens(self, key: str, tokens: int, *, ttl: float) -> int: ...

    async def aused_tokens(self, key: str) -> int: ...
