"""Serve a flow's HTTP API from Python, with options of your own.

    DIALOGUE_TOKEN=change-me python docs/examples/serve_app.py     # http://127.0.0.1:8000

``dialogue serve`` does the same from the command line; write your own launcher like
this one when you need options it has no flag for (business actions from your code,
a rate limit, the metrics' handoff states) or want to mount the API in a larger app.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

import dialogue
from dialogue.server import create_app

FLOW = Path(__file__).resolve().parents[2] / "flows" / "customer_service.yaml"


def make_app() -> FastAPI:
    # read the environment when the app is made, not at import
    engine = dialogue.Engine.from_path(
        FLOW, store=os.environ.get("DIALOGUE_STORE", "sqlite:///sessions.db")
    )
    return create_app(
        engine,
        token=os.environ.get("DIALOGUE_TOKEN"),  # None: no token (loopback only!)
        cors_origins=["https://shop.example"],  # the page that embeds the chat
        rate_limit=(20, 60.0),  # 20 messages per session per minute
        handoff_states=["handoff"],
        close_engine=True,  # the app closes the engine (and its store) at shutdown
    )


if __name__ == "__main__":
    import uvicorn

    port = int(os.environ.get("PORT", "8000"))
    uvicorn.run(make_app(), host="127.0.0.1", port=port)
