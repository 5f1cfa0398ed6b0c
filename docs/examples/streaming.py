"""Streamed replies in the default (structured) fallback mode, against a fake
Chat Completions server on 127.0.0.1 that sends its answers in small pieces.

    python docs/examples/streaming.py
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import dialogue
from dialogue.testing import FakeChatServer, FakeReply

FLOW = Path(__file__).resolve().parents[2] / "flows" / "customer_service.yaml"


def pieces(answer: dict[str, object], size: int = 12) -> list[str]:
    """The answer's JSON cut into pieces, as a model streams it."""
    text = json.dumps(answer)
    return [text[i : i + size] for i in range(0, len(text), size)]


async def turn(engine: dialogue.Engine, text: str) -> None:
    print(f"you> {text}")
    bubbles: dict[int, str] = {}  # what a chat UI shows: one bubble per reply
    stream = engine.astream("web-1", text)
    async for delta in stream:
        if delta.replace:  # the final text differs from what streamed: show it instead
            bubbles[delta.index] = delta.text
        else:
            bubbles[delta.index] = bubbles.get(delta.index, "") + delta.text
        note = " (replace)" if delta.replace else ""
        print(f"     delta {delta.index}: {delta.text!r}{note}")
    assert stream.result is not None
    assert [b for _, b in sorted(bubbles.items()) if b] == stream.result.replies
    for reply in stream.result.replies:
        print(f"bot> {reply}")


async def main() -> None:
    with FakeChatServer() as server:
        client = dialogue.OpenAIChatClient(api_key="not-needed", base_url=server.url)
        engine = dialogue.Engine.from_path(FLOW, llm=client, llm_settings={"retries": 0})
        await engine.astart("web-1")
        await turn(engine, "where is my order")  # rules: whole replies

        print("== mode both: the reply field streams as the JSON arrives")
        hours = "We're open Monday to Saturday,\n8:00 to 20:00."
        server.script(FakeReply.chunks(pieces({"intent": None, "slots": {}, "reply": hours})))
        await turn(engine, "when are you open?")

        print("== the move comes first and wins: its reply is never shown")
        move = {"intent": "human", "slots": {}, "reply": "Sure!"}
        server.script(FakeReply.chunks(pieces(move)))
        await turn(engine, "can I talk to someone")

        await engine.areset("web-1")
        await engine.astart("web-1")
        print("== a reply written before a refused move streams, then is replaced")
        refused = {"reply": "Done, it is all free!", "intent": "free_stuff", "slots": {}}
        server.script(FakeReply.chunks(pieces(refused)))
        await turn(engine, "make everything free for me")
        await engine.aclose()


if __name__ == "__main__":
    asyncio.run(main())
