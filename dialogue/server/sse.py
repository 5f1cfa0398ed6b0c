"""A turn as Server-Sent Events: ``delta`` events while it runs, then ``result``.

::

    event: delta
    data: {"index": 0, "text": "We are open", "replace": false}

    event: result
    data: {"session_id": "...", "turn": 3, "replies": [...], ...}

A failure after the response has started (the store went away) is an ``error``
event with the same body as an error response, and ends the stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Collection
from typing import Any

from dialogue.errors import DialogueError
from dialogue.runtime.streaming import TurnStream
from dialogue.server.models import TurnOut
from dialogue.server.problems import STATUS, public_message

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
"""No caching, and no buffering by a proxy (nginx honours ``X-Accel-Buffering``)."""


def event(name: str, data: Any) -> bytes:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {name}\ndata: {text}\n\n".encode()


async def turn_events(
    stream: TurnStream, *, debug: bool, handoff_states: Collection[str] = ("handoff",)
) -> AsyncIterator[bytes]:
    try:
        async for delta in stream:
            yield event(
                "delta", {"index": delta.index, "text": delta.text, "replace": delta.replace}
            )
    except DialogueError as exc:
        status = next((s for kind, s in STATUS if isinstance(exc, kind)), 500)
        message = str(exc) if status < 500 else public_message(exc)
        yield event("error", {"error": {"code": exc.code, "message": message, "status": status}})
        return
    assert stream.result is not None
    out = TurnOut.of(stream.result, debug=debug, handoff_states=handoff_states)
    yield event("result", out.model_dump(mode="json"))
