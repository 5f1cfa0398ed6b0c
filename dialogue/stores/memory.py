"""In-process session store (the default)."""

from __future__ import annotations

import threading

from dialogue.errors import ConflictError
from dialogue.session import Session


class MemoryStore:
    """Sessions in a dict. Loads hand out copies, so a failed turn changes nothing.

    ``save`` keeps the very object it is given: the caller hands it over and must
    not change it afterwards (the engine doesn't; it works on the next ``load``'s copy).
    """

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._sessions

    def load(self, session_id: str) -> Session | None:
        stored = self._sessions.get(session_id)
        return None if stored is None else stored.copy()

    def save(self, session: Session) -> None:
        with self._lock:
            stored = self._sessions.get(session.id)
            current = 0 if stored is None else stored.version
            if current != session.version:
                raise ConflictError(
                    f"session {session.id!r} was saved meanwhile "
                    f"(version {current}, expected {session.version})",
                    session_id=session.id,
                )
            session.version += 1
            self._sessions[session.id] = session  # the engine never touches it after saving

    def delete(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    async def aload(self, session_id: str) -> Session | None:
        return self.load(session_id)

    async def asave(self, session: Session) -> None:
        self.save(session)

    async def adelete(self, session_id: str) -> None:
        self.delete(session_id)
