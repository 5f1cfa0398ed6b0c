"""A session store as the engine uses it: any failure becomes a ``StoreError``.

Stores may raise anything (``OSError``, a Redis connection error ...); the
engine sees only the exception tree's ``StoreError`` (or ``ConflictError``,
which stores raise themselves). A store without ``aload``/``asave`` is run in a
worker thread from the async face (likewise ``adelete``).

A turn goes ``begin`` (lease and load) -> ``commit`` (save, and give the lease
back) -> ``release`` of whatever lease ``commit`` did not give back. How many
round trips that is depends on the store: none of the lease for a store of this
process (``in_process``), one each for a ``FoldingStore`` (the lease rides on the
load and the save), ``acquire`` + ``load`` and ``save`` + ``release`` for a store
with only the basic ``LeasingStore`` protocol.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dialogue.errors import DialogueError, StoreError
from dialogue.session import Session
from dialogue.stores.base import FoldingStore, LeasingStore, SessionStore, TokenStore


def _store_error(doing: str, session_id: str, exc: Exception) -> StoreError:
    """A store's own exception as a `StoreError`: retryable when it is an I/O error or
    a timeout (``OSError`` covers ``ConnectionError`` and ``TimeoutError``)."""
    message = f"could not {doing} session {session_id!r}: {exc}"
    return StoreError(message, session_id=session_id, retryable=isinstance(exc, OSError))


@contextmanager
def _as_store_error(doing: str, session_id: str) -> Iterator[None]:
    try:
        yield
    except DialogueError:
        raise
    except Exception as exc:
        raise _store_error(doing, session_id, exc) from exc


@contextmanager
def _as_count_error(doing: str, key: str) -> Iterator[None]:
    try:
        yield
    except DialogueError:
        raise
    except Exception as exc:
        message = f"could not {doing} the token count {key!r}: {exc}"
        raise StoreError(message, retryable=isinstance(exc, OSError)) from exc


class GuardedStore:
    def __init__(self, store: SessionStore) -> None:
        self.store = store
        shared = not getattr(store, "in_process", False)
        self.folds = shared and isinstance(store, FoldingStore)
        """Turns lease the session through ``acquire_load`` / ``save_release``."""
        self.leases = self.folds or (shared and isinstance(store, LeasingStore))
        """Turns take the store's lease on their session (a store shared by processes)."""
        self.counts = isinstance(store, TokenStore)
        """The store keeps token counts (a user budget may be configured)."""

    # -- a turn: begin, commit, release

    def begin(
        self, session_id: str, *, ttl: float, wait: float
    ) -> tuple[str | None, Session | None]:
        """The turn's lease (``None``: the store takes none) and the stored session."""
        if self.folds:
            try:
                folded: FoldingStore = self.store  # type: ignore[assignment]
                return folded.acquire_load(session_id, ttl=ttl, wait=wait)
            except DialogueError:
                raise
            except Exception as exc:
                raise _store_error("lease", session_id, exc) from exc
        token = self.acquire(session_id, ttl=ttl, wait=wait) if self.leases else None
        try:
            return token, self.load(session_id)
        except BaseException:
            if token is not None:
                self.release(session_id, token)
            raise

    def commit(self, session: Session, token: str | None) -> str | None:
        """Save the turn's session; returns the lease still to release (``None``: none,
        or ``save_release`` gave it back). A failed save keeps the lease held."""
        if token is None or not self.folds:
            self.save(session)
            return token
        try:
            self.store.save_release(session, token)  # type: ignore[attr-defined]
        except DialogueError:
            raise
        except Exception as exc:
            raise _store_error("save", session.id, exc) from exc
        return None

    async def abegin(
        self, session_id: str, *, ttl: float, wait: float
    ) -> tuple[str | None, Session | None]:
        """``begin`` for coroutines."""
        if self.folds:
            if not hasattr(self.store, "aacquire_load"):
                import asyncio

                return await asyncio.to_thread(self.begin, session_id, ttl=ttl, wait=wait)
            with _as_store_error("lease", session_id):
                found: tuple[str, Session | None]
                found = await self.store.aacquire_load(session_id, ttl=ttl, wait=wait)
                return found
        token = await self.aacquire(session_id, ttl=ttl, wait=wait) if self.leases else None
        try:
            return token, await self.aload(session_id)
        except BaseException:
            if token is not None:
                await self.arelease(session_id, token)
            raise

    async def acommit(self, session: Session, token: str | None) -> str | None:
        """``commit`` for coroutines."""
        if token is None or not self.folds:
            await self.asave(session)
            return token
        if not hasattr(self.store, "asave_release"):
            import asyncio

            return await asyncio.to_thread(self.commit, session, token)
        with _as_store_error("save", session.id):
            await self.store.asave_release(session, token)
        return None

    # -- the store's own calls, failures as StoreError

    # load and save run on every turn: a plain try costs less than the context manager

    def load(self, session_id: str) -> Session | None:
        try:
            session: Session | None = self.store.load(session_id)
        except DialogueError:
            raise
        except Exception as exc:
            raise _store_error("load", session_id, exc) from exc
        return session

    def save(self, session: Session) -> None:
        try:
            self.store.save(session)
        except DialogueError:
            raise
        except Exception as exc:
            raise _store_error("save", session.id, exc) from exc

    def delete(self, session_id: str) -> None:
        with _as_store_error("delete", session_id):
            self.store.delete(session_id)

    async def aload(self, session_id: str) -> Session | None:
        import asyncio

        if not hasattr(self.store, "aload"):
            return await asyncio.to_thread(self.load, session_id)
        with _as_store_error("load", session_id):
            session: Session | None = await self.store.aload(session_id)
            return session

    async def asave(self, session: Session) -> None:
        import asyncio

        if not hasattr(self.store, "asave"):
            await asyncio.to_thread(self.save, session)
            return
        with _as_store_error("save", session.id):
            await self.store.asave(session)

    async def adelete(self, session_id: str) -> None:
        import asyncio

        if not hasattr(self.store, "adelete"):
            await asyncio.to_thread(self.delete, session_id)
            return
        with _as_store_error("delete", session_id):
            await self.store.adelete(session_id)

    def acquire(self, session_id: str, *, ttl: float, wait: float) -> str:
        with _as_store_error("lease", session_id):
            token: str = self._leasing.acquire(session_id, ttl=ttl, wait=wait)
            return token

    def release(self, session_id: str, token: str) -> None:
        with _as_store_error("release the lease of", session_id):
            self._leasing.release(session_id, token)

    async def aacquire(self, session_id: str, *, ttl: float, wait: float) -> str:
        import asyncio

        if not hasattr(self.store, "aacquire"):
            return await asyncio.to_thread(self.acquire, session_id, ttl=ttl, wait=wait)
        with _as_store_error("lease", session_id):
            token: str = await self.store.aacquire(session_id, ttl=ttl, wait=wait)
            return token

    async def arelease(self, session_id: str, token: str) -> None:
        import asyncio

        if not hasattr(self.store, "arelease"):
            await asyncio.to_thread(self.release, session_id, token)
            return
        with _as_store_error("release the lease of", session_id):
            await self.store.arelease(session_id, token)

    # -- token counts of the user budget (``TokenStore``), failures as StoreError

    def hold_tokens(self, key: str, want: int, *, least: int, limit: int, ttl: float) -> int:
        with _as_count_error("hold tokens of", key):
            held: int = self._counting.hold_tokens(key, want, least=least, limit=limit, ttl=ttl)
            return held

    def charge_tokens(self, key: str, tokens: int, *, ttl: float) -> int:
        with _as_count_error("charge tokens to", key):
            used: int = self._counting.charge_tokens(key, tokens, ttl=ttl)
            return used

    def used_tokens(self, key: str) -> int:
        with _as_count_error("read", key):
            used: int = self._counting.used_tokens(key)
            return used

    async def ahold_tokens(self, key: str, want: int, *, least: int, limit: int, ttl: float) -> int:
        import asyncio

        if not hasattr(self.store, "ahold_tokens"):
            return await asyncio.to_thread(
                self.hold_tokens, key, want, least=least, limit=limit, ttl=ttl
            )
        with _as_count_error("hold tokens of", key):
            held: int = await self.store.ahold_tokens(key, want, least=least, limit=limit, ttl=ttl)
            return held

    async def acharge_tokens(self, key: str, tokens: int, *, ttl: float) -> int:
        import asyncio

        if not hasattr(self.store, "acharge_tokens"):
            return await asyncio.to_thread(self.charge_tokens, key, tokens, ttl=ttl)
        with _as_count_error("charge tokens to", key):
            used: int = await self.store.acharge_tokens(key, tokens, ttl=ttl)
            return used

    async def aused_tokens(self, key: str) -> int:
        import asyncio

        if not hasattr(self.store, "aused_tokens"):
            return await asyncio.to_thread(self.used_tokens, key)
        with _as_count_error("read", key):
            used: int = await self.store.aused_tokens(key)
            return used

    @property
    def _counting(self) -> TokenStore:
        return self.store  # type: ignore[return-value]

    @property
    def _leasing(self) -> LeasingStore:
        # checked once, in __init__ (self.leases): isinstance of a runtime-checkable
        # protocol looks up each of its methods, some microseconds on every call
        return self.store  # type: ignore[return-value]
