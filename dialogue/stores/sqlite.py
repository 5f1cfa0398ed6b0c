"""SQLite session store: one file, persistent, shared by the processes of one host.

``SQLiteStore(path, *, ttl=None, clock=time.time, busy_timeout=5.0)``, or by URL
through ``open_store``: ``sqlite:///bot.db`` is ``bot.db`` relative to the
current directory, ``sqlite:////var/lib/bot/sessions.db`` an absolute path (the
part after ``sqlite:///``, percent-decoded); ``?ttl=3600&busy_timeout=5`` sets
options. The file is created when missing, its directory is not: a missing
directory is a ``ConfigurationError`` when the store is made.

The file is in WAL mode (readers never wait for the writer) with
``synchronous=NORMAL``: a commit survives a crash of the process, while a power
cut may lose the last commits (never the file); ``FULL`` cost an fsync per
commit, some 10 ms a turn on a VM disk. One table,
``sessions (id, version, data, expires_at, updated_at, lease, lease_expires)``,
``data`` being ``Session.to_dict()`` as JSON text. A session's lease is on its
row (``lease``: the holder's token, until ``lease_expires``), so a turn is two
statements, each its own transaction: ``acquire_load`` claims the lease and
reads the session (an upsert ``RETURNING`` the row), ``save_release`` writes the
session if its version is still the one loaded and gives the lease back (one
``UPDATE``); that is what a bare ``SELECT`` + upsert costs, give or take the
commit of the claim. A lease on a session not stored yet is a row of version 0
(no data), which no query shows and ``release``/``sweep`` delete.

The user budget's token counts (``TokenStore``) are a second table, ``tokens (key,
used, expires_at)``, made the first time a store holds or charges tokens; each
change is one ``BEGIN IMMEDIATE`` transaction (read, check, write), so processes
sharing the file never lose an update. Files without it stay version 2.

``PRAGMA user_version`` holds the schema version (``SCHEMA_VERSION``); a file of
a newer version is refused; a file of version 1 (leases in a table of their own)
is migrated when opened: its ``leases`` table goes (leases held at that moment
are lost: upgrade all processes of a file together; the version check at save
still keeps every update).

Connections: one per store and process, behind a lock (``check_same_thread=False``),
rather than one per thread. SQLite lets one writer at a time into a file anyway,
and every call here is one short statement or transaction, so the lock costs
only the parallelism of reads within one process; in exchange a process holds
one connection (its file descriptors, one WAL reader slot) however many threads
call the store (engine workers, the ``asyncio.to_thread`` pool, a web server's
threads), and ``close()`` closes it, which a connection per thread (closable
only by its own thread) would not allow. A connection never crosses a fork: each
call compares the count of forks (``os.register_at_fork``; the process id would
cost a system call) with the one the connection was opened under, and a child
opens its own; the inherited one is set aside, never used nor closed by the store (only
the garbage collector closes it, with the store). Waiting for a lease sleeps
without holding the lock.

Expiry (``ttl``): a save sets ``expires_at = clock() + ttl``. Every query
ignores expired rows, so they are gone at once; they are deleted by ``sweep()``
(unless leased), which ``save`` also runs every ``SWEEP_EVERY`` saves of a
store. ``clock`` must give the same time in every process sharing the file: the
wall clock (``time.time``), not ``time.monotonic``. Lease expiry uses it too;
the time ``acquire`` waits is measured with ``time.monotonic``.

Errors: a write that waited ``busy_timeout`` seconds for another writer, and any
other ``sqlite3`` error, is a ``StoreError`` with the session id; so is a stored
session that cannot be read back (not JSON, or not a session).
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from dialogue.errors import (
    ConfigurationError,
    ConflictError,
    LeaseTimeout,
    SessionError,
    StoreError,
)
from dialogue.session import Session
from dialogue.stores import sqlite_sql as sql
from dialogue.stores.codec import dumps, loads

SCHEMA_VERSION = sql.SCHEMA_VERSION
"""``PRAGMA user_version`` of the files this module writes."""

SWEEP_EVERY = 256
"""A store deletes expired rows every this many saves."""

OPTIONS = ("ttl", "busy_timeout")
"""The options of a ``sqlite://`` URL's query string."""

R = TypeVar("R")

_POLL_FIRST, _POLL_MAX = 0.005, 0.05
"""Waiting for a lease: the first pause, doubling up to the last (seconds)."""

_forks = 0
"""Forks this process descends from (``os.register_at_fork``): a store made before a
fork opens a connection of its own in the child."""


def _forked() -> None:
    global _forks
    _forks += 1


os.register_at_fork(after_in_child=_forked)


class SQLiteStore:
    """Sessions in a SQLite file, for one or several processes on one host.

    ``ttl``: seconds a session lives after its last save (``None``: for ever).
    ``clock``: seconds, the same in every process (for expiry and leases).
    ``busy_timeout``: seconds a write waits for another process's write.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        ttl: float | None = None,
        clock: Callable[[], float] = time.time,
        busy_timeout: float = 5.0,
    ) -> None:
        if ttl is not None and not ttl > 0:
            raise ConfigurationError(
                f"SQLiteStore: ttl={ttl!r} is not a number of seconds > 0",
                hint="ttl=None keeps sessions for ever",
            )
        if not busy_timeout >= 0:
            raise ConfigurationError(
                f"SQLiteStore: busy_timeout={busy_timeout!r} is not a number of seconds >= 0"
            )
        self.path = Path(path)
        self.ttl = ttl
        self.busy_timeout = busy_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._inline: int | None = None
        """The thread running a call inline (``_soon``), holding ``_lock`` already."""
        self._forks = _forks
        self._saves = 0
        self._charges = 0
        self._counted = False
        """The ``tokens`` table is known to exist (``_counts``)."""
        self._inherited: list[sqlite3.Connection] = []
        self._conn: sqlite3.Connection | None = self._open()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SQLiteStore:
        """``sqlite:///relative.db`` or ``sqlite:////absolute.db`` (``?ttl=&busy_timeout=``)."""
        from dialogue.stores.url import query_options

        parts = urlsplit(url)
        if parts.netloc or len(parts.path) < 2:
            raise ConfigurationError(
                f"store URL {url!r} names no SQLite file",
                hint="write sqlite:///bot.db (relative to the current directory) "
                "or sqlite:////var/lib/bot/bot.db (absolute)",
            )
        given = query_options(url, numbers=OPTIONS)
        unknown = sorted(set(given) - set(OPTIONS))
        if unknown:
            raise ConfigurationError(
                f"store URL {url!r}: unknown option {unknown[0]!r}",
                hint="a sqlite:// URL takes ?ttl=SECONDS&busy_timeout=SECONDS",
            )
        return cls(unquote(parts.path[1:]), **{**given, **options})

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r}, ttl={self.ttl!r})"

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection; the store cannot be used afterwards."""
        if self._forks != _forks:
            self._after_fork(reopen=False)
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            self._conn = None

    # ------------------------------------------------------------------ sessions

    def load(self, session_id: str) -> Session | None:
        with self._use(f"load session {session_id!r}", session_id) as conn:
            row = conn.execute(sql.LOAD, (session_id, self._clock())).fetchone()
        return None if row is None else self._decode(session_id, row[0], row[1])

    def save(self, session: Session) -> None:
        self._write_session(session, sql.SAVE)

    def save_release(self, session: Session, token: str) -> None:
        """``save`` + ``release`` in one statement; a conflict keeps the lease."""
        self._write_session(session, sql.SAVE_RELEASE, token)

    def _write_session(self, session: Session, update: tuple[str, str], *token: str) -> None:
        """One statement: the session written if the stored version is the one loaded."""
        data = self._encode(session)
        with self._use(f"save session {session.id!r}", session.id) as conn:
            now = self._clock()
            expires = None if self.ttl is None else now + self.ttl
            version = session.version
            args = (version, data, expires, now, session.id, *token)
            if conn.execute(update[0] if version else update[1], args).rowcount != 1:
                row = conn.execute(sql.LOAD, (session.id, now)).fetchone()
                raise ConflictError(
                    f"session {session.id!r} was saved meanwhile "
                    f"(version {0 if row is None else row[0]}, expected {version})",
                    session_id=session.id,
                )
            self._saves += 1
            if self._saves % SWEEP_EVERY == 0:
                _sweep_unless_busy(conn, now)  # the save is done: never fail it now
        session.version += 1

    def delete(self, session_id: str) -> None:
        """Delete the session; a lease held on it stays (as a placeholder row)."""
        with self._use(f"delete session {session_id!r}", session_id) as conn, sql.write(conn):
            now = self._clock()
            conn.execute(
                "UPDATE sessions SET version = 0, data = '', expires_at = lease_expires "
                "WHERE id = ? AND lease_expires > ?",
                (session_id, now),
            )
            conn.execute(
                f"DELETE FROM sessions WHERE id = ? AND {sql.FREE.format(n='')}", (session_id, now)
            )

    def session_ids(self) -> Iterator[str]:
        with self._use("list sessions") as conn:
            rows = conn.execute(
                f"SELECT id FROM sessions WHERE {sql.LIVE} ORDER BY id", (self._clock(),)
            ).fetchall()
        return iter([row[0] for row in rows])

    def count(self) -> int:
        with self._use("count sessions") as conn:
            rows = conn.execute(f"SELECT COUNT(*) FROM sessions WHERE {sql.LIVE}", (self._clock(),))
            return int(rows.fetchone()[0])

    def sweep(self) -> int:
        """Delete expired sessions and leases now; returns how many sessions went."""
        with self._use("delete expired sessions") as conn, sql.write(conn):
            return sql.sweep(conn, self._clock())

    # ------------------------------------------------------------------ leases

    def acquire(self, session_id: str, *, ttl: float, wait: float) -> str:
        return self.acquire_load(session_id, ttl=ttl, wait=wait, load=False)[0]

    def acquire_load(
        self, session_id: str, *, ttl: float, wait: float, load: bool = True
    ) -> tuple[str, Session | None]:
        """``acquire`` + ``load`` in one statement (and one more per pause of a wait)."""
        token = secrets.token_hex(8)
        poll = _Poll(wait)
        while True:
            held, found = self._claim(session_id, token, ttl, load)
            if held is None:
                return token, found
            pause = poll.pause(held)
            if pause is None:
                raise _busy(session_id, wait)
            time.sleep(pause)

    def release(self, session_id: str, token: str) -> None:
        with self._use(f"release the lease of session {session_id!r}", session_id) as conn:
            gone = conn.execute(  # the placeholder of a session never saved
                "DELETE FROM sessions WHERE id = ? AND lease = ? AND version = 0",
                (session_id, token),
            )
            if gone.rowcount == 0:
                conn.execute(
                    "UPDATE sessions SET lease = NULL, lease_expires = NULL "
                    "WHERE id = ? AND lease = ?",
                    (session_id, token),
                )

    def _claim(
        self, session_id: str, token: str, ttl: float, load: bool
    ) -> tuple[float | None, Session | None]:
        """Take the lease if it is free: (``None``, the session if ``load``); else (how
        long its holder keeps it, ``None``)."""
        with self._use(f"lease session {session_id!r}", session_id) as conn:
            now = self._clock()
            args = (session_id, token, now + ttl, now)
            if not load:
                if conn.execute(sql.CLAIM, args).rowcount == 1:
                    return None, None
            elif rows := conn.execute(sql.CLAIM_LOAD, args).fetchall():  # all: the commit
                version, data, expires = rows[0]
                if version == 0 or (expires is not None and expires <= now):
                    return None, None
                return None, self._decode(session_id, version, data)
            row = conn.execute(
                "SELECT lease_expires FROM sessions WHERE id = ?", (session_id,)
            ).fetchone()
        return (0.0 if row is None or row[0] is None else max(float(row[0]) - now, 0.0)), None

    # ------------------------------------------------------------------ token counts

    def hold_tokens(self, key: str, want: int, *, least: int, limit: int, ttl: float) -> int:
        """``TokenStore.hold_tokens``: one write transaction."""
        with self._use(f"hold tokens of the count {key!r}") as conn:
            self._counts(conn)
            with sql.write(conn):
                now = self._clock()
                row = conn.execute(sql.COUNT, (key, now)).fetchone()
                used = 0 if row is None else int(row[0])
                take = min(want, limit - used)
                if take < least or take <= 0:
                    return 0
                conn.execute(sql.SET_COUNT, (key, used + take, now + ttl))
                return take

    def charge_tokens(self, key: str, tokens: int, *, ttl: float) -> int:
        """``TokenStore.charge_tokens``: one write transaction."""
        with self._use(f"charge tokens to the count {key!r}") as conn:
            self._counts(conn)
            with sql.write(conn):
                now = self._clock()
                row = conn.execute(sql.COUNT, (key, now)).fetchone()
                used = max((0 if row is None else int(row[0])) + tokens, 0)
                conn.execute(sql.SET_COUNT, (key, used, now + ttl))
                self._charges += 1
                if self._charges % SWEEP_EVERY == 0:
                    conn.execute(sql.SWEEP_COUNTS, (now,))
                return used

    def used_tokens(self, key: str) -> int:
        with self._use(f"read the count {key!r}") as conn:
            self._counts(conn)
            row = conn.execute(sql.COUNT, (key, self._clock())).fetchone()
        return 0 if row is None else int(row[0])

    def _counts(self, conn: sqlite3.Connection) -> None:
        """Make the ``tokens`` table, the first time this store uses it."""
        if not self._counted:
            conn.execute(sql.TOKENS)
            self._counted = True

    # ------------------------------------------------------------------ async face

    # A call that would not wait runs on the event loop: the connection's lock is free
    # and SQLite does not make it wait for another writer (busy_timeout 0 for it); one
    # that would wait runs in a worker thread, as before. A thread hop costs more than
    # the statement itself (tens of microseconds against a few on a local file).

    async def _soon(self, call: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """``call(*args, **kwargs)`` now if that does not wait, else in a worker thread."""
        if self._forks == _forks and self._conn is not None and self._lock.acquire(False):
            try:
                conn = self._conn
                if conn is not None:
                    conn.execute("PRAGMA busy_timeout = 0")
                    self._inline = threading.get_ident()
                    try:
                        return call(*args, **kwargs)
                    except StoreError as exc:
                        if not exc.retryable:  # busy: another writer; wait in a thread
                            raise
                    finally:
                        self._inline = None
                        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            finally:
                self._lock.release()
        import asyncio

        return await asyncio.to_thread(call, *args, **kwargs)

    async def aload(self, session_id: str) -> Session | None:
        return await self._soon(self.load, session_id)

    async def asave(self, session: Session) -> None:
        await self._soon(self.save, session)

    async def adelete(self, session_id: str) -> None:
        await self._soon(self.delete, session_id)

    async def aacquire(self, session_id: str, *, ttl: float, wait: float) -> str:
        """As ``acquire``; waits on the event loop, not in a thread."""
        return (await self.aacquire_load(session_id, ttl=ttl, wait=wait, load=False))[0]

    async def aacquire_load(
        self, session_id: str, *, ttl: float, wait: float, load: bool = True
    ) -> tuple[str, Session | None]:
        """As ``acquire_load``; waits on the event loop, not in a thread."""
        import asyncio

        token = secrets.token_hex(8)
        poll = _Poll(wait)
        while True:
            held, found = await self._soon(self._claim, session_id, token, ttl, load)
            if held is None:
                return token, found
            pause = poll.pause(held)
            if pause is None:
                raise _busy(session_id, wait)
            await asyncio.sleep(pause)

    async def asave_release(self, session: Session, token: str) -> None:
        await self._soon(self.save_release, session, token)

    async def ahold_tokens(self, key: str, want: int, *, least: int, limit: int, ttl: float) -> int:
        return await self._soon(self.hold_tokens, key, want, least=least, limit=limit, ttl=ttl)

    async def acharge_tokens(self, key: str, tokens: int, *, ttl: float) -> int:
        return await self._soon(self.charge_tokens, key, tokens, ttl=ttl)

    async def aused_tokens(self, key: str) -> int:
        return await self._soon(self.used_tokens, key)

    async def arelease(self, session_id: str, token: str) -> None:
        await self._soon(self.release, session_id, token)

    # ------------------------------------------------------------------ internals

    def _open(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,  # autocommit: transactions are explicit BEGINs
                check_same_thread=False,  # used by any thread, under self._lock
            )
        except sqlite3.Error as exc:
            raise self._unusable(exc) from exc
        try:
            sql.prepare(conn, self.path)
        except sqlite3.Error as exc:
            conn.close()
            if _is_busy(exc):
                raise StoreError(self._locked("open the session store")) from exc
            raise self._unusable(exc) from exc
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def _use(self, doing: str, session_id: str = "") -> Iterator[sqlite3.Connection]:
        """The connection of this process, for one call; ``sqlite3`` errors -> ``StoreError``."""
        if self._forks != _forks:  # not os.getpid(): a system call on every call
            self._after_fork(reopen=True)
        inline = self._inline == threading.get_ident()  # ``_soon`` holds the lock
        with nullcontext() if inline else self._lock:
            if self._conn is None:
                raise StoreError(
                    f"could not {doing}: the SQLite store {str(self.path)!r} is closed",
                    session_id=session_id,
                    retryable=False,
                )
            try:
                yield self._conn
            except sqlite3.Error as exc:
                message = (
                    self._locked(doing)
                    if _is_busy(exc)
                    else f"could not {doing} in the SQLite database {str(self.path)!r}: "
                    f"{type(exc).__name__}: {exc}"
                )
                retryable = _is_busy(exc)  # else a broken file or schema: not by waiting
                raise StoreError(message, session_id=session_id, retryable=retryable) from exc

    def _after_fork(self, *, reopen: bool) -> None:
        # Not under self._lock: a parent thread may have held it at the fork, and
        # the forking thread is the only one in the child until it starts others.
        if self._conn is not None:
            self._inherited.append(self._conn)  # never used, nor closed, here
            self._conn = self._open() if reopen else None
        self._lock = threading.Lock()
        self._forks = _forks

    def _locked(self, doing: str) -> str:
        return (
            f"could not {doing}: another writer held the SQLite database "
            f"{str(self.path)!r} for more than busy_timeout={self.busy_timeout:g} s; "
            "retry, look for a process that keeps a write transaction open, "
            "or raise busy_timeout"
        )

    def _unusable(self, exc: sqlite3.Error) -> ConfigurationError:
        directory = self.path.parent
        if not directory.is_dir():
            return ConfigurationError(
                f"SQLite store {str(self.path)!r}: the directory "
                f"{str(directory.absolute())!r} does not exist",
                hint="create it first (the store creates the file, not its directory), "
                "or correct the path",
            )
        return ConfigurationError(
            f"SQLite store {str(self.path)!r} cannot be used: {type(exc).__name__}: {exc}",
            hint="check that the file is a SQLite database this process may read and write",
        )

    def _encode(self, session: Session) -> str:
        data = session.to_dict()
        data["version"] = session.version + 1
        try:
            return dumps(data)
        except (TypeError, ValueError) as exc:
            raise StoreError(
                f"could not save session {session.id!r}: it holds data that is not JSON: {exc}",
                session_id=session.id,
                retryable=False,
            ) from exc

    def _decode(self, session_id: str, version: int, text: str) -> Session:
        where = f"session {session_id!r} in the SQLite database {str(self.path)!r}"
        try:
            session = Session.from_dict(loads(text))
        except ValueError as exc:  # not JSON
            message = f"{where} is corrupt: not JSON: {exc}"
            raise StoreError(message, session_id=session_id, retryable=False) from exc
        except SessionError as exc:
            message = f"{where} is corrupt: {exc}"
            raise StoreError(message, session_id=session_id, retryable=False) from exc
        session.version = version
        return session


class _Poll:
    """The pauses of a wait for a lease: short, doubling, never past the deadline."""

    def __init__(self, wait: float) -> None:
        self._deadline = time.monotonic() + wait
        self._next = _POLL_FIRST

    def pause(self, held_for: float) -> float | None:
        """How long to sleep before trying again, or ``None``: the wait is over."""
        left = self._deadline - time.monotonic()
        if left <= 0:
            return None
        pause = min(self._next, left, max(held_for, 0.001))
        self._next = min(self._next * 2, _POLL_MAX)
        return pause


def _sweep_unless_busy(conn: sqlite3.Connection, now: float) -> None:
    """Delete what expired, unless another writer holds the file (then a later save)."""
    try:
        with sql.write(conn):
            sql.sweep(conn, now)
    except sqlite3.Error as exc:
        if not _is_busy(exc):
            raise


def _is_busy(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "")
    return name.startswith("SQLITE_BUSY") or "database is locked" in str(exc)


def _busy(session_id: str, wait: float) -> LeaseTimeout:
    return LeaseTimeout(
        f"session {session_id!r} is busy: another turn held it for more than {wait:g} s",
        session_id=session_id,
    )
