"""The endpoints. Each reads the app's ``Service`` (engine, metrics, options)."""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, Security
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dialogue.errors import ConfigurationError, SessionNotFound, StoreError
from dialogue.server.metrics import CONTENT_TYPE
from dialogue.server.models import (
    ErrorOut,
    EventIn,
    FeedbackIn,
    FeedbackOut,
    Health,
    MessageIn,
    SessionOut,
    TurnOut,
)
from dialogue.server.problems import problem, public_message
from dialogue.server.security import AUTHENTICATE, RateLimit, token_matches
from dialogue.server.service import Service
from dialogue.server.sse import HEADERS, turn_events
from dialogue.session import Session
from dialogue.stores.base import ListingStore

SESSION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
"""What ids this app makes look like (``secrets.token_urlsafe(24)``): anything else is
no session of ours."""

bearer = HTTPBearer(auto_error=False, description="Needed when the app has a token.")


async def service(request: Request) -> Service:
    found: Service = request.app.state.dialogue
    return found


async def authorized(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> None:
    token = (await service(request)).token
    if token is not None and not token_matches(request.headers.get("authorization"), token):
        raise HTTPException(
            401,
            {"code": "unauthorized", "message": "this API needs 'Authorization: Bearer <token>'"},
            headers={"WWW-Authenticate": AUTHENTICATE},
        )


ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (400, 401, 404, 413, 422, 429, 503)
}

api = APIRouter(prefix="/v1", dependencies=[Depends(authorized)], responses=ERRORS)
ops = APIRouter()

Svc = Annotated[Service, Depends(service)]


def _no_session(session_id: str) -> SessionNotFound:
    return SessionNotFound(f"no session {session_id!r}", session_id=session_id)


async def stored(svc: Service, session_id: str) -> Session:
    found = await svc.engine.asession(session_id) if SESSION_ID.fullmatch(session_id) else None
    if found is None:
        raise _no_session(session_id)
    return found


@api.post("/sessions", status_code=201, response_model=TurnOut)
async def create_session(svc: Svc, response: Response) -> TurnOut:
    """Start a conversation: a new unguessable id, and the flow's greeting."""
    session_id = secrets.token_urlsafe(24)
    result = await svc.engine.astart(session_id)
    svc.metrics.created.inc()
    response.headers["Location"] = f"/v1/sessions/{session_id}"
    return TurnOut.of(result, debug=svc.debug, handoff_states=svc.handoff_states)


@api.get("/sessions/{session_id}", response_model=SessionOut)
async def get_session(svc: Svc, session_id: str) -> SessionOut:
    """Where a conversation is: state, slots, history, ratings."""
    return SessionOut.of(await stored(svc, session_id), handoff_states=svc.handoff_states)


@api.delete("/sessions/{session_id}", status_code=204, response_class=Response)
async def delete_session(svc: Svc, session_id: str) -> Response:
    """Erase a conversation and everything stored about it."""
    await stored(svc, session_id)
    await svc.engine.areset(session_id)
    return Response(status_code=204)


async def admit(svc: Service, session_id: str, message: MessageIn, *, load: bool = True) -> None:
    """The checks before a turn: the text's length, the session (with ``load=False`` the
    turn checks it in its own load: ``existing=True``), its rate limit."""
    if len(message.text) > svc.max_text_chars:
        raise HTTPException(
            422,
            {
                "code": "text_too_long",
                "message": f"text is {len(message.text)} characters; "
                f"the limit is {svc.max_text_chars}",
            },
        )
    if load:
        await stored(svc, session_id)
    elif not SESSION_ID.fullmatch(session_id):  # not an id the server makes
        raise _no_session(session_id)
    if message.language is not None:
        from dialogue.runtime.language import spoken

        try:
            spoken(svc.engine.bot, message.language)
        except ConfigurationError as exc:
            said = str(exc).splitlines()[0]  # the hint names the languages
            raise HTTPException(422, {"code": "unknown_language", "message": said}) from None
    if svc.rate_limit is not None and (wait := svc.rate_limit.wait(session_id)) > 0:
        raise HTTPException(
            429,
            {"code": "rate_limited", "message": "too many messages: wait before sending more"},
            headers={"Retry-After": RateLimit.retry_after(wait)},
        )


@api.post("/sessions/{session_id}/messages", response_model=TurnOut)
async def send_message(svc: Svc, session_id: str, message: MessageIn) -> TurnOut:
    """Answer one message (a redelivered ``message_id`` gets the first answer)."""
    await admit(svc, session_id, message, load=False)
    try:
        result = await svc.engine.ahandle(
            session_id,
            message.text,
            message_id=message.message_id,
            language=message.language,
            user=message.user,
            existing=True,  # a session the server did not create is a 404, found by the turn
        )
    except SessionNotFound:
        if svc.rate_limit is not None:
            svc.rate_limit.forget(session_id)
        raise
    return TurnOut.of(result, debug=svc.debug, handoff_states=svc.handoff_states)


@api.post(
    "/sessions/{session_id}/messages/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "delta* result"}},
)
async def stream_message(svc: Svc, session_id: str, message: MessageIn) -> StreamingResponse:
    """Answer one message as Server-Sent Events: ``delta`` events, then ``result``."""
    await admit(svc, session_id, message)
    stream = svc.engine.astream(
        session_id,
        message.text,
        message_id=message.message_id,
        language=message.language,
        user=message.user,
    )
    return StreamingResponse(
        turn_events(stream, debug=svc.debug, handoff_states=svc.handoff_states),
        media_type="text/event-stream",
        headers=HEADERS,
    )


@api.post("/sessions/{session_id}/resume", response_model=SessionOut)
async def resume_session(svc: Svc, session_id: str) -> SessionOut:
    """Give a conversation handed to a person back to the bot: its next message is
    answered again (a session not handed off is left as it is)."""
    await stored(svc, session_id)
    session = await svc.engine.aresume(session_id)
    return SessionOut.of(session, handoff_states=svc.handoff_states)


@api.post("/sessions/{session_id}/events", response_model=TurnOut)
async def send_event(svc: Svc, session_id: str, event: EventIn) -> TurnOut:
    """Tell the conversation that something happened (a timeout, a payment, a parcel
    shipped): the flow reacts as it declares (``events:``), and the replies are the
    host's to deliver. An event the current state does not handle changes nothing
    (``replies`` empty); one no flow declares, or data it does not carry, is a 422."""
    await stored(svc, session_id)
    result = await svc.engine.aevent(
        session_id, event.name, data=event.data, message_id=event.message_id
    )
    return TurnOut.of(result, debug=svc.debug, handoff_states=svc.handoff_states)


@api.post("/sessions/{session_id}/feedback", status_code=201, response_model=FeedbackOut)
async def give_feedback(svc: Svc, session_id: str, feedback: FeedbackIn) -> FeedbackOut:
    """Rate a turn's replies (a later rating of the same turn replaces it)."""
    await stored(svc, session_id)
    entry = await svc.engine.afeedback(session_id, feedback.turn, feedback.rating, feedback.comment)
    return FeedbackOut.of(entry)


PROBE = "healthz-probe"
"""The id ``/healthz`` loads: never a session (ids this app makes are longer)."""


@ops.get("/healthz", response_model=Health, responses={503: {"model": Health}})
async def healthz(svc: Svc) -> Response:
    """200 when the session store answers, else 503; ``degraded`` (still 200: rules
    answer) when the LLM API rejected the API key, so no LLM requests are sent."""
    try:
        await svc.engine.asession(PROBE)
    except StoreError as exc:
        error = {"code": exc.code, "message": public_message(exc)}
        return JSONResponse({"status": "unavailable", "error": error}, status_code=503)
    try:
        svc.engine.check_health()
    except ConfigurationError as exc:
        error = {"code": exc.code, "message": public_message(exc)}
        return JSONResponse({"status": "degraded", "error": error})
    return JSONResponse({"status": "ok"})


@ops.get(
    "/metrics",
    response_class=Response,
    dependencies=[Depends(authorized)],
    responses={200: {"content": {CONTENT_TYPE: {}}}, 401: {"model": ErrorOut}},
)
async def metrics(svc: Svc) -> Response:
    """Prometheus metrics of this app (the token is needed when the app has one)."""
    store = svc.engine.store
    if svc.count_sessions and isinstance(store, ListingStore):
        try:
            svc.metrics.sessions.set(await asyncio.to_thread(store.count))
        except Exception:  # a scrape still answers when the store does not
            svc.metrics.sessions.set(float("nan"))
    return Response(svc.metrics.render(), media_type=CONTENT_TYPE)


__all__ = ["api", "ops", "problem"]
