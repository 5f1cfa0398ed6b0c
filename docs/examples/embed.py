"""Embedding the dialogue engine: build it, talk to it, read traces, plug in
business actions and a session store, and use the async face.

Run it from the repository root:

    python docs/examples/embed.py
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import threading
from pathlib import Path
from typing import Any

import dialogue

FLOWS = Path(__file__).resolve().parents[2] / "flows"

# --------------------------------------------------------------------------- actions
# Business actions are plain functions, sync or async. The flow calls them with
# keyword arguments (its `with:`); what they return must be JSON data.

ORDERS = {
    "AB123456": {"status": "on its way", "eta": "Thursday"},
    "CD654321": {"status": "delivered", "eta": None},
}


def lookup_order(order_id: str) -> dict[str, Any] | None:
    """A sync action: it runs in a worker thread, so it may block (a database query)."""
    if order_id == "ZZ999999":
        raise ConnectionError("order database unreachable")
    order = ORDERS.get(order_id)
    return None if order is None else {"id": order_id, **order}


async def create_return(order_id: str, reason: str) -> dict[str, Any] | None:
    """An async action: awaited by `ahandle`, run in a private event loop by `handle`."""
    await asyncio.sleep(0.01)  # e.g. an HTTP call with an async client
    if order_id not in ORDERS:
        return None
    return {"number": "R2001", "order_id": order_id, "reason": reason}


# --------------------------------------------------------------------------- a store
# Any object with load/save/delete is a session store. This one keeps each
# session as a JSON string, as a key-value database would, and follows the
# contract: save succeeds only if the stored version is the one the session was
# loaded with, and bumps the version; otherwise ConflictError.


class JsonStore:
    def __init__(self) -> None:
        self._rows: dict[str, str] = {}
        self._lock = threading.Lock()

    def load(self, session_id: str) -> dialogue.Session | None:
        row = self._rows.get(session_id)
        return None if row is None else dialogue.Session.from_dict(json.loads(row))

    def save(self, session: dialogue.Session) -> None:
        with self._lock:
            row = self._rows.get(session.id)
            current = 0 if row is None else json.loads(row)["version"]
            if current != session.version:
                raise dialogue.ConflictError(
                    f"session {session.id!r} was saved meanwhile", session_id=session.id
                )
            data = session.to_dict()
            data["version"] = current + 1
            self._rows[session.id] = json.dumps(data)  # fails before anything changes
            session.version = current + 1

    def delete(self, session_id: str) -> None:
        with self._lock:
            self._rows.pop(session_id, None)


# --------------------------------------------------------------------------- helpers


def show(text: str | None, result: dialogue.TurnResult) -> None:
    if text is not None:
        print(f"you> {text}")
    for reply in result.replies:
        print(f"bot> {reply}")
    trace = result.trace
    print(f"     {trace.summary()}")
    for action in trace.actions:
        print(f"     action {action.name}: ok={action.ok} in {action.seconds * 1000:.1f} ms")


def build_engine(store: JsonStore) -> dialogue.Engine:
    # Load (and validate) the flow and what it imports, compile, then build the
    # engine. Every dependency is a keyword argument; nothing comes from the
    # environment. A fixed clock makes dates ("tomorrow") reproducible.
    loaded = dialogue.load_flows(FLOWS / "customer_service.yaml")
    bot = dialogue.compile_flows(loaded)
    for warning in bot.warnings:
        print(warning)
    return dialogue.Engine(
        bot,
        actions={"lookup_order": lookup_order, "create_return": create_return},
        store=store,
        clock=lambda: datetime.datetime(2026, 3, 4, 9, 30),
        history_turns=5,
    )


# --------------------------------------------------------------------------- sync


def sync_conversation(engine: dialogue.Engine) -> None:
    print("== a conversation (sync face)")
    show(None, engine.start("user-1"))  # greet first
    for text in [
        "where is my order AB123456",
        "I want to return it, it arrived broken",
        "yes",
    ]:
        show(text, engine.handle("user-1", text))

    session = engine.session("user-1")  # a copy of the stored session
    assert session is not None
    print(f"     stored: state={session.state} version={session.version}")
    print(f"     slots: {json.dumps(session.slots)}")

    print("== an action that fails")
    show("track ZZ999999", engine.handle("user-2", "track ZZ999999"))

    print("== reset")
    engine.reset("user-1")
    print(f"     after reset: {engine.session('user-1')}")


# --------------------------------------------------------------------------- async


async def async_conversations(engine: dialogue.Engine) -> None:
    print("== three sessions at once (async face)")
    texts = ["where is my order CD654321", "I'd like a refund", "agent"]
    results = await asyncio.gather(
        *(engine.ahandle(f"web-{i}", text) for i, text in enumerate(texts))
    )
    for text, result in zip(texts, results):
        show(text, result)

    # Two messages for one session never interleave: the second waits for the first.
    first, second = await asyncio.gather(
        engine.ahandle("web-1", "AB123456"), engine.ahandle("web-1", "damaged")
    )
    show("AB123456", first)
    show("damaged", second)


# --------------------------------------------------------------------------- errors


def flow_errors() -> None:
    print("== a broken flow")
    text = "flow: broken\nstart: menu\nstates:\n  menu:\n    sya: hello\n"
    try:
        dialogue.parse_flow(text, path="broken.yaml")
    except dialogue.FlowError as exc:
        for error in getattr(exc, "errors", [exc]):
            print(f"     {error.code} at {error.path}:{error.line}:{error.col}: {error.message}")
            print(f"     hint: {error.hint}")


def main() -> None:
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    with build_engine(JsonStore()) as engine:  # closing stops the action threads
        sync_conversation(engine)
        asyncio.run(async_conversations(engine))
    flow_errors()


if __name__ == "__main__":
    main()
