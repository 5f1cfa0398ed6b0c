"""The token budget is a budget (``dialogue/runtime/token_budget.py``): reserved
before a call, charged within bounds after it, kept across conversations, and
answered with the designer's "limit reached" reply once spent.

End to end: engine -> real openai SDK -> loopback fake server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dialogue import Engine, compile_flows, parse_flow
from dialogue.llm.openai_client import OpenAIChatClient
from dialogue.llm.protocol import LLMFailure, LLMRequest, LLMResponse, LLMSettings, Usage
from dialogue.runtime.token_budget import (
    MIN_COMPLETION,
    charge,
    estimate,
    estimate_prompt,
    reserve,
)
from dialogue.testing import FakeChatServer, FakeReply

FLOW = """
flow: shop
language: {language}
start: menu
fallback: {{mode: respond}}
llm: {{token_budget: {budget}, max_tokens: 300}}
settings: {settings}
intents:
  bye: {{keywords: [bye, 再见]}}
states:
  menu:
    say: "Hi!"
    on: {{bye: done}}
  done: {{say: "Bye!", final: true}}
"""
LIMIT = "That's all the questions I can take today."

Make = Callable[..., Engine]


@pytest.fixture
def make(client: OpenAIChatClient, fake: FakeChatServer) -> Iterator[Make]:
    engines: list[Engine] = []

    def build(budget: int, *, language: str = "en", settings: str = "{}") -> Engine:
        text = FLOW.format(budget=budget, language=language, settings=settings)
        engine = Engine(
            compile_flows([parse_flow(text, path="shop.yaml")]),
            llm=client,
            llm_settings={"retries": 0, "timeout": 5.0},
        )
        engines.append(engine)
        return engine

    yield build
    for engine in engines:
        engine.close()


def tokens(engine: Engine, sid: str = "s") -> int:
    session = engine.store.load(sid)
    assert session is not None
    return session.tokens


def spend(engine: Engine, amount: int, sid: str = "s") -> None:
    session = engine.store.load(sid)
    assert session is not None
    session.tokens = amount
    engine.store.save(session)


# --------------------------------------------------------------------------- reserve


def test_a_call_that_cannot_fit_in_the_budget_is_not_sent(make: Make, fake: FakeChatServer) -> None:
    engine = make(60)  # the case: a budget of 60, max_tokens 300
    engine.handle("s", None)
    fake.script(FakeReply.text("x" * 1000, usage=(50, 100_000)))
    result = engine.handle("s", "tell me everything")
    assert fake.requests == []
    assert result.trace.llm is not None and result.trace.llm.outcome == "budget"
    assert tokens(engine) == 0


def test_max_tokens_is_lowered_to_what_the_budget_has_left(
    make: Make, fake: FakeChatServer
) -> None:
    engine = make(100_000)
    engine.handle("s", None)
    fake.script(FakeReply.text("We open at 8.", usage=(400, 5)))
    engine.handle("s", "when do you open?")
    assert fake.requests[-1]["max_completion_tokens"] == 300  # plenty left: as configured
    spend(engine, 100_000 - 400)
    fake.script(FakeReply.text("We open at 8.", usage=(400, 5)))
    result = engine.handle("s", "and on Sunday?")
    body = fake.requests[-1]
    sent = body["max_completion_tokens"]
    assert MIN_COMPLETION <= sent < 300
    asked = LLMRequest(messages=tuple(body["messages"]), settings=LLMSettings())
    assert estimate_prompt(asked) + sent == 400  # exactly what was left
    assert result.trace.llm is not None and result.trace.llm.outcome == "reply"


def test_reserve_counts_the_prompt_and_max_tokens() -> None:
    request = LLMRequest(
        messages=({"role": "system", "content": "a" * 400}, {"role": "user", "content": "hi"}),
        settings=LLMSettings(max_tokens=300),
    )
    prompt = 100 + 4 + 1 + 4
    assert reserve(request, spent=0, budget=None) is request
    assert reserve(request, spent=0, budget=prompt + 300) is request
    lowered = reserve(request, spent=50, budget=prompt + 300)
    assert lowered is not None and lowered.settings.max_tokens == 250
    assert reserve(request, spent=0, budget=prompt + MIN_COMPLETION - 1) is None


def test_chinese_text_is_estimated_a_token_a_character() -> None:
    assert estimate("hello world!") == 3
    assert estimate("营业时间") == 4


# --------------------------------------------------------------------------- charge


@pytest.mark.parametrize(
    "usage",
    [(-5000, -5000), (10**9, 5), (400, 100_000), (-1, 10**12)],
    ids=["negative", "absurd-prompt", "over-max-tokens", "both"],
)
def test_reported_usage_is_clamped(
    make: Make, fake: FakeChatServer, usage: tuple[int, int]
) -> None:
    engine = make(1_000_000)
    engine.handle("s", None)
    fake.script(FakeReply.text("We open at 8.", usage=usage))
    result = engine.handle("s", "when do you open?")
    llm = result.trace.llm
    assert llm is not None and llm.outcome == "reply" and llm.estimated
    assert 0 <= llm.completion_tokens <= 300
    assert 0 < llm.prompt_tokens < 5_000
    assert tokens(engine) == llm.prompt_tokens + llm.completion_tokens


def test_plausible_usage_is_charged_as_reported(make: Make, fake: FakeChatServer) -> None:
    engine = make(1_000_000)
    engine.handle("s", None)
    fake.script(FakeReply.text("We open at 8.", usage=(412, 7)))
    result = engine.handle("s", "when do you open?")
    assert result.trace.llm is not None and not result.trace.llm.estimated
    assert tokens(engine) == 419


def test_a_cut_stream_is_charged_an_estimate(make: Make, fake: FakeChatServer) -> None:
    engine = make(1_000_000)
    fake.script(FakeReply.cut_stream("We open at eight in the morning, " * 10, after_chunks=3))

    async def run() -> Any:
        await engine.ahandle("s", None)
        return await engine.astream("s", "when do you open?").collect()

    result = asyncio.run(run())
    llm = result.trace.llm
    assert llm is not None and llm.outcome == "failed" and llm.estimated
    assert tokens(engine) > 0 and tokens(engine) == llm.prompt_tokens + llm.completion_tokens


@pytest.mark.parametrize("status", [400, 401, 429, 500])
def test_failures_before_the_model_are_free(make: Make, fake: FakeChatServer, status: int) -> None:
    engine = make(1_000_000)
    engine.handle("s", None)
    fake.script(FakeReply.error(status, headers={"retry-after": "0"}))
    result = engine.handle("s", "when do you open?")
    assert result.trace.llm is not None and result.trace.llm.outcome == "failed"
    assert tokens(engine) == 0


def test_charge_of_a_timeout_without_usage_is_the_prompt_estimate() -> None:
    request = LLMRequest(
        messages=({"role": "user", "content": "a" * 400},), settings=LLMSettings(max_tokens=50)
    )
    failure = LLMFailure("timeout", "no answer")
    response = LLMResponse(None, None, failure, None, "m", 1.0, None)
    assert charge(request, response) == Usage(104, 0, 104, estimated=True)
    free = LLMResponse(None, None, LLMFailure("auth", "401"), None, "m", 0.1, None)
    assert charge(request, free) is None


# --------------------------------------------------------------------------- keep and say


def test_the_budget_is_kept_across_conversations(make: Make, fake: FakeChatServer) -> None:
    engine = make(1_000_000)
    engine.handle("s", None)
    fake.script(FakeReply.text("We open at 8.", usage=(412, 7)))
    engine.handle("s", "when do you open?")
    ended = engine.handle("s", "bye")
    assert ended.ended
    engine.handle("s", "hello again")  # a new conversation, same session: the greeting
    fake.script(FakeReply.text("Until 20:00.", usage=(500, 4)))
    again = engine.handle("s", "and when do you close?")
    assert again.trace.llm is not None and again.trace.llm.outcome == "reply"
    assert tokens(engine) == 419 + 504


def test_a_spent_budget_stays_spent_in_the_next_conversation(
    make: Make, fake: FakeChatServer
) -> None:
    engine = make(1000, settings=f'{{budget_reply: ["{LIMIT}"]}}')
    engine.handle("s", None)
    spend(engine, 1000)
    assert engine.handle("s", "bye").ended
    assert engine.handle("s", "hello again").replies == ["Hi!"]
    result = engine.handle("s", "one more question")
    assert result.replies == [LIMIT]
    assert result.trace.llm is not None and result.trace.llm.outcome == "budget"
    assert fake.requests == []


def test_the_designer_s_limit_reply_replaces_the_no_match(make: Make, fake: FakeChatServer) -> None:
    engine = make(1000, settings=f'{{budget_reply: ["{LIMIT}"]}}')
    engine.handle("s", None)
    spend(engine, 990)
    result = engine.handle("s", "tell me a story")
    assert result.replies == [LIMIT] and fake.requests == []
    session = engine.store.load("s")
    assert session is not None and session.no_match == 0


def test_the_built_in_limit_reply_speaks_the_flow_s_language(
    make: Make, fake: FakeChatServer
) -> None:
    engine = make(1000, language="zh")
    engine.handle("s", None)
    spend(engine, 1000)
    result = engine.handle("s", "讲个故事")
    assert result.replies == ["抱歉，本次对话无法再回答更多开放式问题。"]
