"""A token budget per user and day, shared by the user's sessions and workers.

Run it from the repository root:

    python docs/examples/user_budget.py

Two engines (two workers) share one SQLite file. Alice talks in two sessions, one
on each worker: both draw from her one count of the day. Once it is spent, her
open questions get the budget reply (rules still answer); Bob is not affected; the
next day starts fresh. A fake Chat Completions server on 127.0.0.1 answers.
"""

from __future__ import annotations

import datetime
import tempfile
from pathlib import Path

from dialogue import Engine, OpenAIChatClient, compile_flows, parse_flow
from dialogue.testing import FakeChatServer, FakeReply

FLOW = """
flow: shop
start: menu
fallback: {mode: respond}
llm: {max_tokens: 200, user_budget: {tokens: 2000, per: day}}
settings: {budget_reply: "That's all the open questions I can take today."}
intents:
  bye: {keywords: [bye]}
states:
  menu: {say: "Hi!", on: {bye: done}}
  done: {say: "Bye!", final: true}
"""

today = datetime.datetime(2026, 12, 2, 9, 0)
bot = compile_flows([parse_flow(FLOW, path="shop.yaml")])

with tempfile.TemporaryDirectory() as folder, FakeChatServer() as server:
    store = f"sqlite:///{Path(folder) / 'sessions.db'}"
    llm = OpenAIChatClient(api_key="sk-test", base_url=server.url)
    workers = [Engine(bot, llm=llm, store=store, clock=lambda: today) for _ in range(2)]

    def ask(worker: int, session: str, user: str, text: str) -> None:
        server.script(FakeReply.text("We open at 8.", usage=(600, 10)))
        result = workers[worker].handle(session, text, user=user)
        llm_trace = result.trace.llm
        why = f" ({llm_trace.outcome}: {llm_trace.budget})" if llm_trace.budget else ""
        spent = workers[0].user_tokens(user)
        print(f"{user}@{session}> {text}\n  bot> {result.replies[-1]}{why}  [{spent} today]")

    for worker, session in enumerate(["web", "app"]):
        workers[worker].start(session)
    ask(0, "web", "alice", "when do you open?")
    ask(1, "app", "alice", "and on Sunday?")
    ask(0, "web", "alice", "and on holidays?")
    ask(1, "app", "alice", "is there parking?")
    print(f"alice@app> bye\n  bot> {workers[1].handle('app', 'bye', user='alice').replies[-1]}")
    workers[1].start("bob-web")
    ask(1, "bob-web", "bob", "when do you open?")
    today += datetime.timedelta(days=1)
    ask(0, "web", "alice", "when do you open tomorrow?")
    for worker in workers:
        worker.close()
    llm.close()
