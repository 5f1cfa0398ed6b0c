"""Session stores: where sessions live between turns.

A store is anything with the methods of ``SessionStore``. ``MemoryStore``
(the default) keeps sessions in this process. SQLite and Redis stores plug in
behind the same protocol.
"""

from dialogue.stores.base import AsyncSessionStore, SessionStore
from dialogue.stores.memory import MemoryStore

__all__ = ["AsyncSessionStore", "MemoryStore", "SessionStore"]
