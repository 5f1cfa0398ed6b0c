"""The web chat page at ``/``: one HTML file, its stylesheet and script, no build step.

The files live in ``dialogue/server/static/`` (package data) and are read once,
when the app is made. The page holds no secret: it is served without the token
and asks the operator for it (``?token=`` or a form), so the HTML is the same for
everyone. Its Content-Security-Policy lets it load only its own script and style
and talk only to its own origin, a second wall behind the page's escaping.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, HTTPException
from fastapi.responses import Response

ASSETS = {"chat.css": "text/css; charset=utf-8", "chat.js": "text/javascript; charset=utf-8"}
"""The files under ``/static/`` and their types; anything else there is a 404."""

PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}
"""``no-referrer``: a ``?token=`` still in the address bar never leaves in a Referer."""


def _read(name: str) -> bytes:
    return files("dialogue.server").joinpath("static").joinpath(name).read_bytes()


def add_chat_page(app: FastAPI) -> None:
    """Serve the chat page at ``/`` and its two assets under ``/static/``."""
    page = _read("chat.html")
    assets = {name: _read(name) for name in ASSETS}

    async def chat_page() -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    async def chat_asset(name: str) -> Response:
        if name not in assets:
            raise HTTPException(404, {"code": "not_found", "message": "no such file"})
        headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
        return Response(assets[name], media_type=ASSETS[name], headers=headers)

    app.add_api_route("/", chat_page, methods=["GET"], include_in_schema=False)
    app.add_api_route("/static/{name}", chat_asset, methods=["GET"], include_in_schema=False)
