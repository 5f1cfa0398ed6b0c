"""Sessions in Redis: many workers, processes and hosts over one server (extra ``[redis]``).

Two keys per session (``prefix`` defaults to ``dialogue:``):

- ``{prefix}session:{id}``: the session as JSON (``Session.to_dict`` with
  ``version`` first, so the save script reads it without decoding, and ``write``,
  a random id of the save that wrote it); with ``ttl`` it expires ``ttl`` seconds
  after its last save.
- ``{prefix}lease:{id}``: the random token of the turn that holds the session,
  expiring by itself after the lease's ``ttl``.

- ``{prefix}tokens:{key}``: a token count of the user budget (``TokenStore``),
  expiring ``ttl`` seconds after its last change.

Saving, taking and giving back a lease, holding and charging tokens are Lua
scripts: each is one atomic step on the server, so a failure or a crash never
leaves half of one behind. Every
redis-py error becomes a ``StoreError`` that names the session and the step.
"""

from __future__ import annotations

import asyncio
import math
import random
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
import redis.asyncio

from dialogue.errors import (
    ConfigurationError,
    ConflictError,
    LeaseTimeout,
    SessionError,
    StoreError,
)
from dialogue.per_loop import PerLoop
from dialogue.session import Session
from dialogue.stores.codec import dumps, loads
from dialogue.stores.redis_scripts import (
    ACQUIRE,
    ACQUIRE_LOAD,
    CHARGE_TOKENS,
    HOLD_TOKENS,
    RELEASE,
    SAVE,
    SAVE_RELEASE,
    Lua,
)
from dialogue.stores.url import query_options, shown

DEFAULT_URL = "redis://localhost:6379/0"
OPTIONS = ("ttl", "prefix")
"""Query options of a store URL that are the store's own; the others go to redis-py."""
TIMEOUTS = {"socket_timeout": 5.0, "socket_connect_timeout": 5.0}
"""Socket timeouts (s) of clients made from a URL unless it names them: never hang."""


_TRANSIENT = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.BusyLoadingError,
    redis.exceptions.ReadOnlyError,  # a replica being promoted
    redis.exceptions.TryAgainError,
    redis.exceptions.MasterDownError,
)
"""Redis errors that pass by themselves: a ``StoreError`` from them is ``retryable``."""

_REFUSED = (
    redis.exceptions.AuthenticationError,
    redis.exceptions.AuthorizationError,
    redis.exceptions.ExternalAuthProviderError,
)
"""Connection errors that waiting will not fix: a wrong password or user (redis-py
makes them ``ConnectionError`` subclasses)."""


def _transient(exc: Exception) -> bool:
    """Whether the same call may work later (``StoreError.retryable``)."""
    return isinstance(exc, _TRANSIENT) and not isinstance(exc, _REFUSED)


def _run(client: Any, script: Lua, key: str, *args: object) -> Any:
    try:
        return client.evalsha(script.sha, 1, key, *args)
    except redis.exceptions.NoScriptError:  # first use on this server: EVAL caches it
        return client.eval(script.text, 1, key, *args)


async def _arun(client: Any, script: Lua, key: str, *args: object) -> Any:
    try:
        return await client.evalsha(script.sha, 1, key, *args)
    except redis.exceptions.NoScriptError:
        return await client.eval(script.text, 1, key, *args)


def _run2(client: Any, script: Lua, keys: tuple[str, str], *args: object) -> Any:
    try:
        return client.evalsha(script.sha, 2, *keys, *args)
    except redis.exceptions.NoScriptError:
        return client.eval(script.text, 2, *keys, *args)


async def _arun2(client: Any, script: Lua, keys: tuple[str, str], *args: object) -> Any:
    try:
        return await client.evalsha(script.sha, 2, *keys, *args)
    except redis.exceptions.NoScriptError:
        return await client.eval(script.text, 2, *keys, *args)


class RedisStore:
    """``RedisStore(client=None, *, url=None, prefix="dialogue:", ttl=None, async_client=None)``.

    ``client`` is a ``redis.Redis``; without one, ``url`` (default
    ``redis://localhost:6379/0``) makes it, and the async face gets one
    ``redis.asyncio.Redis`` per event loop from the same URL. With a ``client``
    of your own, pass ``async_client`` (used on its loop only) or the async
    methods run the sync ones in a thread. ``ttl`` (seconds) ends a session that
    long after its last save. A server that cannot be reached is a ``StoreError``
    here, at construction. ``close()``/``aclose()`` close the clients the store
    made (the store stays usable); clients passed in are yours to close.
    """

    def __init__(
        self,
        client: redis.Redis | None = None,
        *,
        url: str | None = None,
        prefix: str = "dialogue:",
        ttl: float | None = None,
        async_client: redis.asyncio.Redis | None = None,
    ) -> None:
        if ttl is not None and not ttl > 0:
            raise ConfigurationError(f"RedisStore: ttl={ttl!r}", hint="a number of seconds > 0")
        self.prefix = prefix
        self.ttl = ttl
        self._url: str | None = None
        if client is None:
            if async_client is not None and url is None:
                raise ConfigurationError(
                    "RedisStore(async_client=...) needs the sync face's server too",
                    hint="pass client=redis.Redis(...) or url='redis://host:port/db' as well",
                )
            self._url = url or DEFAULT_URL
            if set(query_options(self._url)) & set(OPTIONS):
                raise ConfigurationError(
                    f"RedisStore(url={shown(self._url)!r}): ttl and prefix are arguments here",
                    hint="pass ttl=/prefix= to RedisStore, or use RedisStore.from_url(url)",
                )
            client = _from_url(redis.Redis, self._url)
        elif url is not None:
            raise ConfigurationError(
                "RedisStore takes client= or url=, not both", hint="drop one of them"
            )
        self._client: Any = client
        self._given_async: Any = async_client
        self._loops: PerLoop[Any] = PerLoop(self._new_aclient, lambda client: client.aclose())
        self.where = _describe(client)
        """Where the server is, for messages: ``host:port/db`` (no password)."""
        self._ping()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisStore:
        """``redis://[[user]:password@]host[:port][/db]`` or ``rediss://`` (TLS), with
        ``?ttl=SECONDS`` and ``?prefix=TEXT``; other query options go to redis-py
        (``?socket_timeout=2``). Keyword ``options`` win over the query string."""
        found = query_options(url)
        own = {name: found[name] for name in OPTIONS if name in found}
        return cls(url=_strip(url), **{**own, **options})

    def __repr__(self) -> str:
        return f"RedisStore({self.where!r}, prefix={self.prefix!r}, ttl={self.ttl!r})"

    def _ping(self) -> None:
        try:
            self._client.ping()
        except (TypeError, ValueError) as exc:  # an option redis-py does not know
            if self._url is None:
                raise
            raise _bad_url(self._url, exc) from exc
        except redis.RedisError as exc:
            port = _kwargs(self._client).get("port", 6379)
            self.close()
            raise StoreError(
                f"cannot reach Redis at {self.where}: {exc}\n    hint: start a server "
                f"(redis-server --port {port}) or fix the store URL (redis://host:port/db)",
                retryable=_transient(exc),
            ) from exc

    def _key(self, session_id: str) -> str:
        return f"{self.prefix}session:{session_id}"

    def _lease(self, session_id: str) -> str:
        return f"{self.prefix}lease:{session_id}"

    def _keys(self, session_id: str) -> tuple[str, str]:
        """The lease and the session (the keys of ``ACQUIRE_LOAD``)."""
        return f"{self.prefix}lease:{session_id}", f"{self.prefix}session:{session_id}"

    @contextmanager
    def _failing(self, doing: str, session_id: str = "") -> Iterator[None]:
        try:
            yield
        except redis.RedisError as exc:
            raise StoreError(
                f"could not {doing} in Redis at {self.where}: {type(exc).__name__}: {exc}",
                session_id=session_id,
                retryable=_transient(exc),
            ) from exc

    # -- sessions

    def _decode(self, session_id: str, raw: bytes | str | None) -> Session | None:
        if raw is None:
            return None
        try:
            return Session.from_dict(loads(raw))
        except (ValueError, SessionError) as exc:
            raise StoreError(
                f"could not load session {session_id!r}: {self._key(session_id)!r} in Redis "
                f"at {self.where} does not hold a dialogue session ({exc})",
                session_id=session_id,
                retryable=False,
            ) from exc

    def _encode(self, session: Session) -> tuple[str, int, str, str | int]:
        # the version goes first in the JSON: the save script reads it without decoding;
        # "write" tells this save from any other, so a retried one is not a conflict
        data: dict[str, Any] = {"version": 0, "write": secrets.token_hex(8), **session.to_dict()}
        data["version"] = session.version + 1  # a key keeps its first place: still first
        try:
            text = dumps(data, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise StoreError(
                f"could not save session {session.id!r}: it holds data that is not JSON ({exc})",
                session_id=session.id,
                retryable=False,
            ) from exc
        expiry = "" if self.ttl is None else _ms(self.ttl)
        return self._key(session.id), session.version, text, expiry

    def _saved(self, session: Session, result: Any) -> None:
        current = int(result)
        if current >= 0:
            raise ConflictError(
                f"session {session.id!r} was saved meanwhile "
                f"(version {current}, expected {session.version})",
                session_id=session.id,
            )
        session.version += 1

    def load(self, session_id: str) -> Session | None:
        with self._failing(f"load session {session_id!r}", session_id):
            raw = self._client.get(self._key(session_id))
        return self._decode(session_id, raw)

    def save(self, session: Session) -> None:
        key, *args = self._encode(session)
        with self._failing(f"save session {session.id!r}", session.id):
            result = _run(self._client, SAVE, key, *args)
        self._saved(session, result)

    def delete(self, session_id: str) -> None:
        with self._failing(f"delete session {session_id!r}", session_id):
            self._client.delete(self._key(session_id))

    def session_ids(self) -> Iterator[str]:
        """The ids of the stored sessions, found with SCAN (never KEYS)."""
        head = f"{self.prefix}session:"
        seen: set[str] = set()
        with self._failing("list the sessions"):
            for key in self._client.scan_iter(match=_glob_escape(head) + "*", count=500):
                name = _text(key)[len(head) :]
                if name not in seen:  # SCAN may return a key twice
                    seen.add(name)
                    yield name

    def count(self) -> int:
        """How many sessions are stored (a SCAN of the prefix: O(keys))."""
        return sum(1 for _ in self.session_ids())

    # -- leases

    def _busy(self, session_id: str, wait: float) -> LeaseTimeout:
        return LeaseTimeout(
            f"session {session_id!r} is busy: another turn held it for more than {wait:g} s",
            session_id=session_id,
        )

    def acquire(self, session_id: str, *, ttl: float, wait: float) -> str:
        token, wait_ = secrets.token_hex(16), _Wait(wait)
        while True:
            with self._failing(f"lease session {session_id!r}", session_id):
                if _run(self._client, ACQUIRE, self._lease(session_id), token, _ms(ttl)):
                    return token
            pause = wait_.pause(None)
            if pause is None:
                raise self._busy(session_id, wait)
            time.sleep(pause)

    def release(self, session_id: str, token: str) -> None:
        with self._failing(f"release the lease of session {session_id!r}", session_id):
            _run(self._client, RELEASE, self._lease(session_id), token)

    def acquire_load(
        self, session_id: str, *, ttl: float, wait: float
    ) -> tuple[str, Session | None]:
        """``acquire`` + ``load`` in one script call (and one more per pause of a wait)."""
        token, keys, wait_ = secrets.token_hex(16), self._keys(session_id), _Wait(wait)
        while True:
            with self._failing(f"lease session {session_id!r}", session_id):
                held, found = _run2(self._client, ACQUIRE_LOAD, keys, token, _ms(ttl))
            if held:
                return token, self._decode(session_id, found)
            pause = wait_.pause(found)
            if pause is None:
                raise self._busy(session_id, wait)
            time.sleep(pause)

    def save_release(self, session: Session, token: str) -> None:
        """``save`` + ``release`` in one script call; a conflict keeps the lease."""
        key, *args = self._encode(session)
        with self._failing(f"save session {session.id!r}", session.id):
            result = _run2(self._client, SAVE_RELEASE, (key, self._lease(session.id)), *args, token)
        self._saved(session, result)

    # -- token counts (``TokenStore``)

    def _count(self, key: str) -> str:
        return f"{self.prefix}tokens:{key}"

    def hold_tokens(self, key: str, want: int, *, least: int, limit: int, ttl: float) -> int:
        with self._failing(f"hold tokens of the count {key!r}", key):
            args = (want, least, limit, _ms(ttl))
            return int(_run(self._client, HOLD_TOKENS, self._count(key), *args))

    def charge_tokens(self, key: str, tokens: int, *, ttl: float) -> int:
        with self._failing(f"charge tokens to the count {key!r}", key):
            return int(_run(self._client, CHARGE_TOKENS, self._count(key), tokens, _ms(ttl)))

    def used_tokens(self, key: str) -> int:
        with self._failing(f"read the count {key!r}", key):
            return int(self._client.get(self._count(key)) or 0)

    async def ahold_tokens(self, key: str, want: int, *, least: int, limit: int, ttl: float) -> int:
        client = await self._aclient()
        if client is None:
            return await asyncio.to_thread(
                self.hold_tokens, key, want, least=least, limit=limit, ttl=ttl
            )
        with self._failing(f"hold tokens of the count {key!r}", key):
            args = (want, least, limit, _ms(ttl))
            return int(await _arun(client, HOLD_TOKENS, self._count(key), *args))

    async def acharge_tokens(self, key: str, tokens: int, *, ttl: float) -> int:
        client = await self._aclient()
        if client is None:
            return await asyncio.to_thread(self.charge_tokens, key, tokens, ttl=ttl)
        with self._failing(f"charge tokens to the count {key!r}", key):
            return int(await _arun(client, CHARGE_TOKENS, self._count(key), tokens, _ms(ttl)))

    async def aused_tokens(self, key: str) -> int:
        client = await self._aclient()
        if client is None:
            return await asyncio.to_thread(self.used_tokens, key)
        with self._failing(f"read the count {key!r}", key):
            return int(await client.get(self._count(key)) or 0)

    # -- the async face

    async def _aclient(self) -> Any:
        """The running loop's client; ``None``: run the sync face in a thread."""
        if self._given_async is not None or self._url is None:
            return self._given_async
        return await self._loops.get()

    def _new_aclient(self) -> Any:
        assert self._url is not None
        return _from_url(redis.asyncio.Redis, self._url)

    async def aload(self, session_id: str) -> Session | None:
        client = await self._aclient()
        if client is None:
            return await asyncio.to_thread(self.load, session_id)
        with self._failing(f"load session {session_id!r}", session_id):
            raw = await client.get(self._key(session_id))
        return self._decode(session_id, raw)

    async def asave(self, session: Session) -> None:
        client = await self._aclient()
        if client is None:
            return await asyncio.to_thread(self.save, session)
        key, *args = self._encode(session)
        with self._failing(f"save session {session.id!r}", session.id):
            result = await _arun(client, SAVE, key, *args)
        self._saved(session, result)

    async def adelete(self, session_id: str) -> None:
        client = await self._aclient()
        if client is None:
            return await asyncio.to_thread(self.delete, session_id)
        with self._failing(f"delete session {session_id!r}", session_id):
            await client.delete(self._key(session_id))

    async def aacquire(self, session_id: str, *, ttl: float, wait: float) -> str:
        client = await self._aclient()
        if client is None:
            return await asyncio.to_thread(self.acquire, session_id, ttl=ttl, wait=wait)
        token, wait_ = secrets.token_hex(16), _Wait(wait)
        while True:
            with self._failing(f"lease session {session_id!r}", session_id):
                if await _arun(client, ACQUIRE, self._lease(session_id), token, _ms(ttl)):
                    return token
            pause = wait_.pause(None)
            if pause is None:
                raise self._busy(session_id, wait)
            await asyncio.sleep(pause)

    async def aacquire_load(
        self, session_id: str, *, ttl: float, wait: float
    ) -> tuple[str, Session | None]:
        client = await self._aclient()
        if client is None:
            return await asyncio.to_thread(self.acquire_load, session_id, ttl=ttl, wait=wait)
        token, keys, wait_ = secrets.token_hex(16), self._keys(session_id), _Wait(wait)
        while True:
            with self._failing(f"lease session {session_id!r}", session_id):
                held, found = await _arun2(client, ACQUIRE_LOAD, keys, token, _ms(ttl))
            if held:
                return token, self._decode(session_id, found)
            pause = wait_.pause(found)
            if pause is None:
                raise self._busy(session_id, wait)
            await asyncio.sleep(pause)

    async def asave_release(self, session: Session, token: str) -> None:
        client = await self._aclient()
        if client is None:
            return await asyncio.to_thread(self.save_release, session, token)
        key, *args = self._encode(session)
        with self._failing(f"save session {session.id!r}", session.id):
            result = await _arun2(
                client, SAVE_RELEASE, (key, self._lease(session.id)), *args, token
            )
        self._saved(session, result)

    async def arelease(self, session_id: str, token: str) -> None:
        client = await self._aclient()
        if client is None:
            return await asyncio.to_thread(self.release, session_id, token)
        with self._failing(f"release the lease of session {session_id!r}", session_id):
            await _arun(client, RELEASE, self._lease(session_id), token)

    # -- closing

    def close(self) -> None:
        """Close the sync client's connections, if the store made it."""
        if self._url is not None:
            self._client.close()

    async def aclose(self) -> None:
        """Close the running loop's client and the sync client, if the store made them."""
        await self._loops.aclose()
        self.close()


class _Wait:
    """The pauses of a wait for a lease: short and doubling (with jitter), never past the
    lease's own end nor the deadline."""

    def __init__(self, wait: float) -> None:
        self._deadline = time.monotonic() + wait
        self._next = 0.002

    def pause(self, held_ms: Any) -> float | None:
        """How long to sleep before trying again, or ``None``: the wait is over."""
        left = self._deadline - time.monotonic()
        if left <= 0:
            return None
        held = int(held_ms) / 1000 if held_ms is not None and int(held_ms) > 0 else left
        pause = min(left, self._next * random.uniform(0.5, 1.0), max(held, 0.001))
        self._next = min(self._next * 2, 0.05)
        return pause


def _from_url(kind: Any, url: str) -> Any:
    """A redis-py client (sync or asyncio) for ``url``, with ``TIMEOUTS`` by default."""
    named = {name for name, _ in parse_qsl(urlsplit(url).query)}
    defaults = {name: value for name, value in TIMEOUTS.items() if name not in named}
    try:
        return kind.from_url(url, **defaults)
    except (TypeError, ValueError) as exc:
        raise _bad_url(url, exc) from exc


def _bad_url(url: str, exc: Exception) -> ConfigurationError:
    return ConfigurationError(
        f"store URL {shown(url)!r}: {exc}",
        hint="write redis://[[user]:password@]host[:port][/db] (rediss:// for TLS) with "
        "?ttl=SECONDS, ?prefix=TEXT or redis-py's connection options",
    )


def _strip(url: str) -> str:
    """``url`` without the store's own query options (redis-py would not know them)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in OPTIONS]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _kwargs(client: Any) -> dict[str, Any]:
    pool = getattr(client, "connection_pool", None)
    return dict(getattr(pool, "connection_kwargs", None) or {})


def _describe(client: Any) -> str:
    kwargs = _kwargs(client)
    if "path" in kwargs:
        return f"unix:{kwargs['path']}/{kwargs.get('db', 0)}"
    if "host" in kwargs:
        return f"{kwargs['host']}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
    return repr(client)


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _text(key: bytes | str) -> str:
    return key.decode("utf-8", "surrogateescape") if isinstance(key, bytes) else key


def _glob_escape(text: str) -> str:
    """``text`` matched literally by a Redis glob pattern (SCAN MATCH)."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
