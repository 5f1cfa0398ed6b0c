"""The session store protocol.

Contract, for every store:

- ``load(id)`` returns an independent copy of the saved session, or ``None``.
- ``save(session)`` is atomic and versioned: it succeeds only if the stored
  version still equals ``session.version`` (``0``: nothing stored yet), then
  stores the session with ``version + 1`` and sets ``session.version`` to it.
  Otherwise it raises ``ConflictError`` and stores nothing.
- Failures raise ``StoreError``; a failed save leaves the stored session as it was.

The engine serialises turns of one session within a process; the version
check catches writers in other processes (several workers on one Redis).
A store used through ``Engine.ahandle`` implements the ``a``-prefixed methods
without blocking the event loop.
"""

from __future__ import annotations

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
