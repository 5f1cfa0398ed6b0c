"""``create_app(engine, **options)``: the HTTP API of a dialogue engine, on FastAPI.

FastAPI because the API's bodies are pydantic models, as the rest of the package's
schema is: the same models validate requests and make the OpenAPI document at
``/openapi.json``. ``app_from_env`` builds an app from ``DIALOGUE_*`` variables:
the factory ``dialogue serve --workers N`` gives uvicorn, so every worker process
builds its own engine.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from dialogue.engine import Engine
from dialogue.errors import ConfigurationError
from dialogue.server.metrics import Metrics
from dialogue.server.page import add_chat_page
from dialogue.server.problems import install
from dialogue.server.routes import api, ops
from dialogue.server.security import BodyLimit, RateLimit
from dialogue.server.service import Service

MAX_BODY_BYTES = 64 * 1024


def create_app(
    engine: Engine,
    *,
    token: str | None = None,
    cors_origins: Sequence[str] = (),
    max_body_bytes: int = MAX_BODY_BYTES,
    max_text_chars: int | None = None,
    rate_limit: tuple[int, float] | None = (30, 60.0),
    debug: bool = False,
    handoff_states: Collection[str] = ("handoff",),
    count_sessions: bool = True,
    close_engine: bool = False,
    multiprocess_dir: str | None = None,
    chat_page: bool = True,
) -> FastAPI:
    """The API of ``engine`` as an ASGI app (see docs/server.md).

    ``token``: every call but ``/healthz`` needs ``Authorization: Bearer <token>``.
    ``cors_origins``: origins a browser may call from (none by default).
    ``max_body_bytes``: larger request bodies get 413. ``max_text_chars``: a longer
    message text gets 422 (default: the engine's ``max_text_length``).
    ``rate_limit``: ``(messages, seconds)`` per session, in this process; over it
    429 with ``Retry-After`` (``None``: no limit). ``debug``: answers carry the
    turn's trace. ``handoff_states``: final states counted as handoffs.
    ``count_sessions``: ``/metrics`` counts the store's sessions (a listing store).
    ``close_engine``: the app closes the engine when it shuts down.
    ``multiprocess_dir``: ``/metrics`` shows the numbers of every worker process
    (prometheus-client's multiprocess mode, whose ``PROMETHEUS_MULTIPROC_DIR`` must
    name this directory before ``prometheus_client`` is imported).
    ``chat_page``: serve the web chat page at ``/`` (see docs/server.md, "Web chat").
    """
    if token is not None and not token:
        raise ConfigurationError("token is empty", hint="give a token, or None for no token")
    # a state the flows mark with `handoff` is answered by the session's mark (until resume)
    # and counted when reached; `handoff_states` names the others
    flows = engine.bot.flows.values()
    marked = {name for f in flows for name, st in f.states.items() if st.handoff is not None}
    legacy = frozenset(handoff_states) - marked
    metrics = Metrics(handoff_states=legacy, multiprocess_dir=multiprocess_dir)
    limit = None if rate_limit is None else RateLimit(*rate_limit)
    chars = engine.max_text_length if max_text_chars is None else max_text_chars

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine.add_observer(metrics.observe)
        try:
            yield
        finally:
            engine.remove_observer(metrics.observe)
            if close_engine:
                await engine.aclose()

    app = FastAPI(
        title=f"dialogue: {engine.bot.main}",
        version="1",
        description="Conversations with a dialogue flow. See docs/server.md.",
        lifespan=lifespan,
    )
    app.state.dialogue = Service(
        engine, metrics, token, chars, limit, debug, count_sessions, legacy
    )
    install(app)
    app.include_router(api)
    app.include_router(ops)
    if chat_page:
        add_chat_page(app)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Retry-After", "Location"],
        )
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    return app


ENV_FLOW = "DIALOGUE_FLOW"
ENV_STORE = "DIALOGUE_STORE"
ENV_TOKEN = "DIALOGUE_TOKEN"
ENV_DEBUG = "DIALOGUE_DEBUG"
ENV_CORS = "DIALOGUE_CORS_ORIGINS"
ENV_METRICS = "PROMETHEUS_MULTIPROC_DIR"


def app_from_env() -> FastAPI:
    """An app over the flow ``DIALOGUE_FLOW`` with the store ``DIALOGUE_STORE``, the token
    ``DIALOGUE_TOKEN``, ``DIALOGUE_DEBUG=1`` and ``DIALOGUE_CORS_ORIGINS`` (comma
    separated), the workers' shared metrics in ``PROMETHEUS_MULTIPROC_DIR``; the LLM
    client from ``OPENAI_*`` as ``Engine.from_path`` makes it."""
    path = os.environ.get(ENV_FLOW)
    if not path:
        raise ConfigurationError(f"{ENV_FLOW} is not set", hint="the flow file to serve")
    engine = Engine.from_path(path, store=os.environ.get(ENV_STORE) or None)
    origins = [o.strip() for o in os.environ.get(ENV_CORS, "").split(",") if o.strip()]
    return create_app(
        engine,
        token=os.environ.get(ENV_TOKEN) or None,
        debug=os.environ.get(ENV_DEBUG) == "1",
        cors_origins=origins,
        close_engine=True,
        multiprocess_dir=os.environ.get(ENV_METRICS) or None,
    )
