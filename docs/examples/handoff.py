"""Handing a conversation to a person: the reason, the hook, held messages, resume.

Run it from the repository root:

    python docs/examples/handoff.py
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import dialogue

SHOP = Path(__file__).resolve().parents[2] / "flows" / "customer_service.yaml"

tickets: list[dict[str, object]] = []


def open_ticket(info: dialogue.HandoffInfo) -> None:
    """The hook: a real one would call a help desk's API (it runs in a worker thread
    under `ahandle`, so it may block). If it raised, the turn would still stand."""
    tickets.append(info.to_dict())
    print(f"  [ticket #{len(tickets)}: {info.reason}, {len(info.transcript)} lines]")


def talk(engine: dialogue.Engine, session_id: str, text: str) -> dialogue.TurnResult:
    print(f"user> {text}")
    result = engine.handle(session_id, text)
    for reply in result.replies or ["(no reply: a person has the conversation)"]:
        print(f" bot> {reply}")
    return result


with dialogue.Engine.from_path(SHOP, llm=None, on_handoff=open_ticket) as engine:
    print("== the user asks for a person")
    talk(engine, "u1", "where is my order")
    result = talk(engine, "u1", "can I talk to a real person")
    assert result.handoff is not None and result.handed_off
    print(f"reason: {result.handoff.reason}; slots: {result.handoff.slots}")
    for line in result.handoff.transcript:
        print(f"  {line.role:>4}: {line.text.splitlines()[0]}")

    print("== while the person has it, the bot keeps quiet")
    held = talk(engine, "u1", "hello? are you there?")
    assert held.trace.rule == "handed_off" and held.replies == []

    print("== the person is done: the host gives the conversation back")
    engine.resume("u1")
    talk(engine, "u1", "where is my order AB123456")

    print("== three invalid order numbers hand off with another reason")
    for text in ("track my order", "1234", "no idea", "still no idea"):
        result = talk(engine, "u2", text)
    assert result.handoff is not None
    print(f"reason: {result.handoff.reason}")


async def main() -> None:
    """The async face: a coroutine hook is awaited."""

    async def route(info: dialogue.HandoffInfo) -> None:
        await asyncio.sleep(0)  # e.g. an async HTTP client posting to an agent queue
        print(f"  [queued for an agent: {info.reason}]")

    async with asyncio.timeout(60):
        engine = dialogue.Engine.from_path(SHOP, llm=None, on_handoff=route)
        try:
            print("== async: asking for an agent")
            result = await engine.ahandle("u3", "agent")
            print(f"handed off: {result.handed_off}")
            await engine.aresume("u3")
        finally:
            await engine.aclose()


asyncio.run(main())
print(f"tickets opened: {len(tickets)}")
