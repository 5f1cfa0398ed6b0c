"""A chat endpoint with FastAPI: the engine answers, a store URL says where sessions live.

    POST /chat/{session_id}   {"text": "where is my order?", "message_id": "m-1"}
    -> {"replies": [...], "state": "tracking", "ended": false, "duplicate": false}

Run it from the repository root (any number of workers may share the store):

    DIALOGUE_STORE=sqlite:///sessions.db uvicorn --app-dir docs/examples fastapi_app:app

``message_id`` is optional: a client that retries a request it got no answer to
sends the same id again, and gets the first answer instead of a second turn.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

import dialogue

FLOW = Path(__file__).resolve().parents[2] / "flows" / "customer_service.yaml"
DEFAULT_STORE = "sqlite:///sessions.db"


class Message(BaseModel):
    text: str
    message_id: str | None = None


class Answer(BaseModel):
    replies: list[str]
    state: str
    ended: bool
    duplicate: bool


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Read the environment when the app starts, not at import. The engine opens
    # the store from its URL and closes it with itself.
    store = os.environ.get("DIALOGUE_STORE", DEFAULT_STORE)
    engine = dialogue.Engine.from_path(FLOW, store=store)
    app.state.engine = engine
    try:
        yield
    finally:
        await engine.aclose()


app = FastAPI(lifespan=lifespan)


@app.post("/chat/{session_id}")
async def chat(session_id: str, message: Message, request: Request) -> Answer:
    engine: dialogue.Engine = request.app.state.engine
    try:
        result = await engine.ahandle(session_id, message.text, message_id=message.message_id)
    except dialogue.LeaseTimeout:
        # Another turn of this session held it too long: the message was not handled.
        raise HTTPException(
            503, "this conversation is busy, try again", {"Retry-After": "1"}
        ) from None
    return Answer(
        replies=result.replies,
        state=result.state,
        ended=result.ended,
        duplicate=result.trace.rule == "duplicate",
    )
