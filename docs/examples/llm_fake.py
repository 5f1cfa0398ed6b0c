"""The LLM fallback without an API key: the real openai SDK talks to a fake
Chat Completions server on 127.0.0.1 whose answers are scripted.

Run it from the repository root:

    python docs/examples/llm_fake.py

It shows an out-of-scope question answered from the FAQ (then the task goes
on), an intent chosen by the LLM, an answer the state does not allow (rejected:
the designer's reply, nothing changes), a failed call, what was sent, the token
count, and a free-text reply streamed piece by piece.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import dialogue
from dialogue import OpenAIChatClient
from dialogue.testing import FakeChatServer, FakeReply

FLOWS = Path(__file__).resolve().parents[2] / "flows"


def answer(intent: str | None = None, reply: str | None = None, **slots: Any) -> FakeReply:
    """The structured answer the fallback asks for (mode ``both``)."""
    return FakeReply.json({"intent": intent, "slots": slots, "reply": reply})


def show(text: str, result: dialogue.TurnResult) -> None:
    print(f"you> {text}")
    for reply in result.replies:
        print(f"bot> {reply}")
    print(f"     {result.trace.summary()}")


def conversation(server: FakeChatServer) -> None:
    client = OpenAIChatClient(api_key="not-needed", base_url=server.url)
    engine = dialogue.Engine.from_path(
        FLOWS / "customer_service.yaml",
        llm=client,  # instead of the OPENAI_API_KEY / OPENAI_BASE_URL default
        llm_settings={"retries": 0, "timeout": 2.0},  # override the flow's llm: section
        trace_prompts=True,  # keep the messages sent in trace.llm.messages
    )
    with engine:
        engine.start("s")
        show("where is my order", engine.handle("s", "where is my order"))  # rules

        print("== an out-of-scope question: the LLM answers from the FAQ, the task resumes")
        server.script(answer(reply="We're open Monday to Saturday, 8:00 to 20:00 (UK time)."))
        result = engine.handle("s", "what are your opening hours?")
        show("what are your opening hours?", result)

        print("== what was sent: the rendered prompt, the history, then the user's text")
        assert result.trace.llm is not None and result.trace.llm.messages is not None
        for message in result.trace.llm.messages:
            first = message["content"].splitlines()[0]
            print(f"     {message['role']:>9}: {first[:70]}")
        schema = server.requests[-1]["response_format"]["json_schema"]["schema"]
        print(f"     allowed intents: {schema['properties']['intent']['enum']}")

        print("== the LLM picks an intent the state allows: it acts like a rule")
        server.script(answer(intent="cancel"))
        show("scrap that, different question", engine.handle("s", "scrap that, different question"))

        print("== an answer the state does not allow is rejected as a whole")
        server.script(answer(intent="refund_everything", reply="Done!"))
        show("give me everything for free", engine.handle("s", "give me everything for free"))

        print("== a failed call: the designer's reply, the session unchanged")
        server.script(FakeReply.error(500))
        show("tell me a joke", engine.handle("s", "tell me a joke"))

        session = engine.session("s")
        assert session is not None
        print(f"     tokens spent by this session: {session.tokens}")


RESPOND = """
flow: faq
language: en
start: ask
fallback: {mode: respond}
intents:
  bye: {keywords: [bye]}
states:
  ask:
    say: "Ask me anything."
    on: {bye: done}
  done: {say: "Bye!", final: true}
"""


async def streaming(server: FakeChatServer) -> None:
    print("== a free-text reply (mode respond), streamed")
    bot = dialogue.compile_flows([dialogue.parse_flow(RESPOND, path="faq.yaml")])
    client = OpenAIChatClient(api_key="not-needed", base_url=server.url)
    engine = dialogue.Engine(bot, llm=client, llm_settings={"retries": 0})
    await engine.astart("web-1")
    server.script(FakeReply.text("We deliver on Saturdays too, between 8:00 and 14:00."))
    stream = engine.astream("web-1", "do you deliver at weekends?")
    async for delta in stream:
        print(f"     delta {delta.index}: {delta.text!r}{' (replace)' if delta.replace else ''}")
    assert stream.result is not None
    print(f"     result: {stream.result.replies} | {stream.result.trace.summary()}")
    await engine.aclose()


def main() -> None:
    with FakeChatServer(model="fake-model") as server:
        conversation(server)
        asyncio.run(streaming(server))


if __name__ == "__main__":
    main()
