"""A rejected API key: one ERROR, no more requests, a health check that says so.

Run it from the repository root:

    python docs/examples/key_health.py

A fake Chat Completions server on 127.0.0.1 answers 401 as the real API does
for a wrong key. The first unmatched message sends one request; the next sends
none; rules keep answering; ``check_health`` raises until the key changes.
"""

from __future__ import annotations

import logging
from pathlib import Path

from dialogue import Engine, LLMKeyRejected, OpenAIChatClient
from dialogue.testing import FakeChatServer, FakeReply

FLOWS = Path(__file__).resolve().parents[2] / "flows"
WRONG = {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}

logging.basicConfig(level=logging.ERROR, format="log> %(levelname)s %(message)s")

with FakeChatServer() as server:
    server.script(FakeReply.error(401, body=WRONG))
    llm = OpenAIChatClient(api_key="sk-wrong", base_url=server.url)
    with Engine.from_path(FLOWS / "customer_service.yaml", llm=llm) as engine:
        engine.start("s")
        for text in ["it never showed up", "it never showed up", "I want a refund"]:
            result = engine.handle("s", text)
            print(f"you> {text}\nbot> {result.replies[0]}")
            print(f"     requests sent so far: {len(server.requests)}")
        try:
            engine.check_health()
        except LLMKeyRejected as exc:
            print(f"health: {exc.code}")
        llm.set_api_key("sk-right")  # or llm.reset_key_check() for the same key
        engine.check_health()
        print("health: ok after set_api_key")
