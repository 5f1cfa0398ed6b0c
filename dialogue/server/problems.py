"""Every failure as a JSON error body with a stable code; never a traceback.

``{"error": {"code": ..., "message": ..., "details": [...]}}``: invalid requests
(422, or 400 for a body that is not JSON) list each problem's location; errors
of the engine map to a status by their class (``STATUS``); anything unexpected
is a 500 whose body says only ``internal_error`` (the traceback goes to the log).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dialogue.errors import (
    ConflictError,
    DialogueError,
    EventError,
    FeedbackError,
    LeaseTimeout,
    LLMKeyRejected,
    SessionNotFound,
    StoreError,
)
from dialogue.redact import Privacy

log = logging.getLogger("dialogue.server")

STATUS: list[tuple[type[DialogueError], int]] = [
    (SessionNotFound, 404),
    (FeedbackError, 422),
    (EventError, 422),
    (ConflictError, 409),
    (LeaseTimeout, 503),
    (StoreError, 503),
]
"""Engine errors -> HTTP status, first match wins; any other ``DialogueError`` is 500.
A `StoreError` that is not ``retryable`` (a corrupt record, a schema mismatch) is a 500
without ``Retry-After``."""


def problem(
    status: int,
    code: str,
    message: str,
    *,
    details: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def route_of(request: Request) -> str:
    """The route's template (``/v1/sessions/{session_id}``): logs never show session ids."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "?"))


def _code_of(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "http_error"


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    detail = exc.detail
    if isinstance(detail, dict):  # raised by this app with its own code
        code, message = str(detail["code"]), str(detail["message"])
    else:
        code, message = _code_of(exc.status_code), str(detail)
    return problem(exc.status_code, code, message, headers=exc.headers)


async def on_invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"loc": list(e.get("loc", ())), "message": str(e.get("msg", "")), "type": e.get("type")}
        for e in exc.errors()
    ]
    if any(d["type"] == "json_invalid" for d in details):
        return problem(400, "malformed_json", "the request body is not valid JSON", details=details)
    where = ", ".join(".".join(str(p) for p in d["loc"]) for d in details)
    return problem(422, "invalid_request", f"invalid request: {where}", details=details)


async def on_dialogue_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DialogueError)
    status = next((s for kind, s in STATUS if isinstance(exc, kind)), 500)
    if isinstance(exc, StoreError) and not exc.retryable:
        status = 500  # a corrupt record or a schema mismatch: trying again will not help
    headers = {"Retry-After": "1"} if status == 503 else None
    if status >= 500:
        log.error("%s %s: %s", request.method, route_of(request), described(request, exc))
    message = str(exc) if status < 500 else public_message(exc)
    return problem(status, exc.code, message, headers=headers)


def public_message(exc: DialogueError) -> str:
    """What a client is told of a server-side failure: no paths, hosts or data."""
    if isinstance(exc, LeaseTimeout):
        return "this conversation is busy: try again"
    if isinstance(exc, StoreError):
        if not exc.retryable:
            return "the session store failed"
        return "the session store is unavailable: try again"
    if isinstance(exc, LLMKeyRejected):
        return "the LLM API rejected the API key: no LLM fallback until it is fixed (see the log)"
    return "the server could not answer"


def privacy_of(request: Request) -> Privacy:
    engine = request.app.state.dialogue.engine
    return Privacy(engine.redactor, engine.log_user_data)


def described(request: Request, exc: DialogueError) -> str:
    """An engine error as the log shows it: its code and class; its message (which may
    quote a store's data) only with ``log_user_data``, redacted, without the session id
    (an id is the key to its conversation)."""
    privacy = privacy_of(request)
    shown = f"{exc.code} ({type(exc).__name__})"
    if privacy.log_user_data:
        message = str(exc)
        if sid := getattr(exc, "session_id", ""):
            message = message.replace(sid, "<session>")
        shown += ": " + privacy(message)
    return shown


class CatchAll:
    """ASGI middleware: an unexpected exception becomes a bare 500 (or, once the
    response has started, a cut-off stream), logged by its traceback's types and
    frames. Not re-raised: the server's own log line would quote its message."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            if scope["type"] != "http":
                raise
            request = Request(scope)
            trace = privacy_of(request).exception(exc)  # types and frames, not messages
            log.error("%s %s failed:\n%s", request.method, route_of(request), trace)
            if not started:
                response = problem(500, "internal_error", "the server could not answer")
                await response(scope, receive, send)


def install(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    app.add_exception_handler(DialogueError, on_dialogue_error)
    app.add_middleware(CatchAll)
