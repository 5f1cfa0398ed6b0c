"""What guards the API: the bearer token, the request body limit, the rate limit.

``BodyLimit`` is plain ASGI middleware: it refuses a declared ``Content-Length``
over the limit before reading anything, and stops a chunked body as soon as it
grows past it (413 either way). ``RateLimit`` counts each session's messages in
a sliding window, in this process (a worker of several counts its own).
"""

from __future__ import annotations

import hmac
import json
import math
import time
from collections import deque
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

AUTHENTICATE = 'Bearer realm="dialogue"'


def token_matches(header: str | None, token: str) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time."""
    if header is None:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


DRAIN = 1024 * 1024
"""After a 413, read (and drop) up to this much of the rest of the body, so the client
reads the answer instead of a connection reset; a larger body is cut off."""


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with a 413 and a JSON error body."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(send, receive)
            return
        seen, refused = 0, False

        async def counted() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                seen += len(message.get("body", b""))
                if seen > self.limit:  # the app sees a client that went away
                    refused = True
                    await self._refuse(send, receive, more=message.get("more_body", False))
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            if not refused:  # after a 413 the app's own answer is dropped
                await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not refused:
                raise

    async def _refuse(self, send: Send, receive: Receive, *, more: bool = True) -> None:
        # Read the rest of the body (up to DRAIN) before answering: once the answer is
        # complete the server closes the connection, and a client still sending would
        # get a reset instead of the 413.
        drained = 0
        while more and drained < DRAIN:
            message = await receive()
            if message["type"] != "http.request":
                break
            drained += len(message.get("body", b""))
            more = message.get("more_body", False)
        body = error_body("body_too_large", f"the request body is over {self.limit} bytes")
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class RateLimit:
    """At most ``messages`` per session in any ``per`` seconds (a sliding window)."""

    def __init__(
        self, messages: int, per: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.messages, self.per, self._clock = messages, per, clock
        self._seen: dict[str, deque[float]] = {}

    def wait(self, session_id: str) -> float:
        """0 if the session may send a message now (and count it), else the seconds to
        wait before it may."""
        now = self._clock()
        seen = self._seen.setdefault(session_id, deque())
        while seen and seen[0] <= now - self.per:
            seen.popleft()
        if len(seen) >= self.messages:
            return seen[0] + self.per - now
        seen.append(now)
        if len(self._seen) > 10_000:
            self._forget(now)
        return 0.0

    def forget(self, session_id: str) -> None:
        """Drop a session's count (an id that named no session: kept, ids made up by a
        client would fill the table within one window)."""
        self._seen.pop(session_id, None)

    def _forget(self, now: float) -> None:
        """Drop the sessions that sent nothing within the window (bounds the memory)."""
        for sid in [s for s, q in self._seen.items() if not q or q[-1] <= now - self.per]:
            del self._seen[sid]

    @staticmethod
    def retry_after(seconds: float) -> str:
        return str(max(1, math.ceil(seconds)))
