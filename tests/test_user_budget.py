"""The user budget (``llm.user_budget``, ``runtime/user_budget.py``): one token count
per host-given user key and period, shared by all of the user's sessions and workers
through the session store, held before a call and charged after it.

Real stores (memory, a SQLite file, Redis on 127.0.0.1:6379 under a prefix of its
own), both faces, the real openai SDK against the loopback fake server; the period's
clock is injected.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import redis_prefix

from dialogue import Engine, FlowError, compile_flows, parse_flow
from dialogue.errors import ConfigurationError, StoreError
from dialogue.llm.openai_client import OpenAIChatClient
from dialogue.llm.protocol import LLMRequest, LLMResponse, LLMStream, Usage
from dialogue.runtime.token_budget import estimate_prompt
from dialogue.runtime.user_budget import count_key, period
from dialogue.schema import UserBudget
from dialogue.session import Session
from dialogue.stores.memory import MemoryStore
from dialogue.stores.sqlite import SQLiteStore
from dialogue.testing import FakeChatServer, FakeReply
from dialogue.trace import TurnResult

REDIS = "redis://127.0.0.1:6379/0"
FLOW = """
flow: shop
language: en
start: menu
fallback: {{mode: respond}}
llm: {{max_tokens: 300{llm}}}
settings: {{budget_reply: ["{limit}"]}}
intents:
  bye: {{keywords: [bye]}}
states:
  menu:
    say: "Hi!"
    on: {{bye: done}}
  done: {{say: "Bye!", final: true}}
"""
LIMIT = "That's all the questions I can take today."
BUDGET = 10_000
NOON = datetime.datetime(2026, 12, 2, 12, 0)


class Clock:
    """The engines' clock, moved by the test (no sleeping)."""

    def __init__(self, now: datetime.datetime = NOON) -> None:
        self.now = now

    def __call__(self) -> datetime.datetime:
        return self.now


def flow_text(llm: str = f", user_budget: {{tokens: {BUDGET}, per: day}}") -> str:
    return FLOW.format(llm=llm, limit=LIMIT)


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A store that keeps token counts, shared by the engines of a test."""
    if request.param == "memory":
        yield MemoryStore()
    elif request.param == "sqlite":
        with SQLiteStore(tmp_path / "sessions.db") as sqlite:
            yield sqlite
    else:
        from dialogue.stores.redis import RedisStore

        with redis_prefix(REDIS, "userbudget") as prefix:
            redis_store = RedisStore(url=REDIS, prefix=prefix)
            yield redis_store
            redis_store.close()


Face = Callable[..., TurnResult]


@pytest.fixture(params=["sync", "async"])
def say(request: pytest.FixtureRequest) -> Face:
    """One message through the sync face, or through the async one."""

    def through(engine: Engine, sid: str, text: str | None, user: str | None = None) -> TurnResult:
        if text is None:
            return engine.start(sid)
        if request.param == "sync":
            return engine.handle(sid, text, user=user)
        return asyncio.run(engine.ahandle(sid, text, user=user))

    return through


Make = Callable[..., Engine]


@pytest.fixture
def make(client: OpenAIChatClient) -> Iterator[Make]:
    engines: list[Engine] = []

    def build(store: Any = None, *, text: str | None = None, **options: Any) -> Engine:
        engine = Engine(
            compile_flows([parse_flow(text or flow_text(), path="shop.yaml")]),
            llm=options.pop("llm", client),
            llm_settings={"retries": 0, "timeout": 5.0},
            store=store,
            **options,
        )
        engines.append(engine)
        return engine

    yield build
    for engine in engines:
        engine.close()


def spend(engine: Engine, user: str, total: int) -> None:
    """Set ``user``'s count of this period to ``total``."""
    assert engine.user_budget is not None
    key = count_key(engine.user_budget, user, engine._clock())
    engine._store.charge_tokens(key, total - engine.user_tokens(user), ttl=3600)


def outcome(result: TurnResult) -> tuple[str, str]:
    llm = result.trace.llm
    assert llm is not None
    return llm.outcome, llm.budget


# --------------------------------------------------------------------------- shared


def test_two_sessions_of_one_user_draw_from_one_budget(
    make: Make, store: Any, fake: FakeChatServer, say: Face
) -> None:
    clock = Clock()
    first, second = make(store, clock=clock), make(store, clock=clock)  # two workers
    say(first, "s1", None)
    say(second, "s2", None)
    fake.script(FakeReply.text("We open at 8.", usage=(412, 7)))
    assert outcome(say(first, "s1", "when do you open?", "alice")) == ("reply", "")
    fake.script(FakeReply.text("Until 20:00.", usage=(500, 4)))
    assert outcome(say(second, "s2", "and when do you close?", "alice")) == ("reply", "")
    assert first.user_tokens("alice") == second.user_tokens("alice") == 419 + 504

    spend(first, "alice", BUDGET)
    for engine, sid in [(first, "s1"), (second, "s2")]:
        result = say(engine, sid, "one more question", "alice")
        assert result.replies == [LIMIT]
        assert outcome(result) == ("budget", "user")
    assert len(fake.requests) == 2  # nothing was sent for the spent budget

    say(second, "s3", None)
    fake.script(FakeReply.text("We open at 8.", usage=(412, 7)))
    assert outcome(say(second, "s3", "when do you open?", "bob")) == ("reply", "")
    assert second.user_tokens("bob") == 419 and second.user_tokens("alice") == BUDGET
    # rules keep working for the user whose budget is spent
    assert say(first, "s1", "bye", "alice").replies == ["Bye!"]


def test_a_new_period_starts_fresh(make: Make, store: Any, fake: FakeChatServer, say: Face) -> None:
    clock = Clock(datetime.datetime(2026, 12, 2, 23, 59))
    engine = make(store, clock=clock)
    say(engine, "s", None)
    spend(engine, "alice", BUDGET)
    assert outcome(say(engine, "s", "tell me a story", "alice")) == ("budget", "user")
    clock.now = datetime.datetime(2026, 12, 3, 0, 1)
    assert engine.user_tokens("alice") == 0
    fake.script(FakeReply.text("Once upon a time.", usage=(412, 7)))
    assert outcome(say(engine, "s", "tell me a story", "alice")) == ("reply", "")
    assert engine.user_tokens("alice") == 419
    clock.now = datetime.datetime(2026, 12, 2, 23, 59)  # the old day's count is still there
    assert engine.user_tokens("alice") == BUDGET


def test_the_call_is_held_before_and_corrected_after(
    make: Make, store: Any, fake: FakeChatServer, say: Face
) -> None:
    engine = make(store)
    say(engine, "s", None)
    spend(engine, "alice", BUDGET - 200)  # less than prompt + max_tokens is left
    fake.script(FakeReply.text("We open at 8.", usage=(100, 5)))
    result = say(engine, "s", "when do you open?", "alice")
    assert outcome(result) == ("reply", "")
    body = fake.requests[-1]
    asked = LLMRequest(messages=tuple(body["messages"]))
    assert estimate_prompt(asked) + body["max_completion_tokens"] == 200  # what was left
    assert engine.user_tokens("alice") == BUDGET - 200 + 105  # the hold, corrected


@pytest.mark.parametrize("status", [401, 500])
def test_a_failure_before_the_model_gives_the_hold_back(
    make: Make, store: Any, fake: FakeChatServer, status: int
) -> None:
    engine = make(store)
    engine.start("s")
    fake.script(FakeReply.error(status, headers={"retry-after": "0"}))
    result = engine.handle("s", "when do you open?", user="alice")
    assert outcome(result) == ("failed", "")
    assert engine.user_tokens("alice") == 0


def test_a_cut_stream_is_charged_its_estimate(make: Make, store: Any, fake: FakeChatServer) -> None:
    engine = make(store)
    fake.script(FakeReply.cut_stream("We open at eight in the morning, " * 10, after_chunks=3))

    async def run() -> TurnResult:
        await engine.astart("s")
        return await engine.astream("s", "when do you open?", user="alice").collect()

    result = asyncio.run(run())
    llm = result.trace.llm
    assert llm is not None and llm.outcome == "failed" and llm.estimated
    assert engine.user_tokens("alice") == llm.prompt_tokens + llm.completion_tokens > 0


def test_the_session_budget_and_the_user_budget_are_told_apart(
    make: Make, fake: FakeChatServer
) -> None:
    text = flow_text(f", token_budget: 1000, user_budget: {{tokens: {BUDGET}}}")
    engine = make(text=text)
    engine.start("s")
    session = engine.store.load("s")
    assert session is not None
    session.tokens = 1000
    engine.store.save(session)
    result = engine.handle("s", "tell me a story", user="alice")
    assert result.replies == [LIMIT] and outcome(result) == ("budget", "session")
    assert fake.requests == []


# --------------------------------------------------------------------------- concurrency


class WorstServer:
    """An LLM client that always reports the most a call may cost: its prompt, more than
    estimated by ``ERROR`` tokens, and a completion of the full ``max_tokens``."""

    ERROR = 7

    def __init__(self) -> None:
        self.calls = 0

    def complete(self, request: LLMRequest) -> LLMResponse:
        self.calls += 1
        prompt = estimate_prompt(request) + self.ERROR
        completion = request.settings.max_tokens
        usage = Usage(prompt, completion, prompt + completion)
        return LLMResponse('{"reply": "ok"}', None, None, usage, "m", 0.0, "stop")

    async def acomplete(self, request: LLMRequest) -> LLMResponse:
        await asyncio.sleep(0)  # the other turns hold their tokens meanwhile
        return self.complete(request)

    def astream(self, request: LLMRequest) -> LLMStream:  # pragma: no cover - unused
        raise NotImplementedError


def test_many_turns_of_one_user_at_once_never_overshoot_beyond_the_estimate_error(
    make: Make, store: Any
) -> None:
    llm = WorstServer()
    text = flow_text(", user_budget: {tokens: 3000, per: hour}")
    engines = [make(store, text=text, llm=llm) for _ in range(2)]
    sessions = [f"s{n}" for n in range(24)]

    async def run() -> list[TurnResult]:
        for n, sid in enumerate(sessions):
            await engines[n % 2].astart(sid)
        turns = [
            engines[n % 2].ahandle(sid, "tell me everything", user="alice")
            for n, sid in enumerate(sessions)
        ]
        return await asyncio.gather(*turns)

    results = asyncio.run(run())
    answered = [r for r in results if outcome(r)[0] == "reply"]
    refused = [r for r in results if outcome(r) == ("budget", "user")]
    assert len(answered) + len(refused) == len(sessions) and answered and refused
    assert llm.calls == len(answered)
    used = engines[0].user_tokens("alice")
    charged = sum(r.trace.llm.prompt_tokens + r.trace.llm.completion_tokens for r in answered)  # type: ignore[union-attr]
    assert used == charged  # every hold was corrected: nothing held for ever
    assert used <= 3000 + WorstServer.ERROR * len(answered)
    assert engines[1].user_tokens("bob") == 0


# --------------------------------------------------------------------------- configuration


class CountingStore(MemoryStore):
    """A memory store that counts the token calls the engine makes."""

    def __init__(self) -> None:
        super().__init__()
        self.token_calls = 0

    def hold_tokens(self, key: str, want: int, *, least: int, limit: int, ttl: float) -> int:
        self.token_calls += 1
        return super().hold_tokens(key, want, least=least, limit=limit, ttl=ttl)

    def charge_tokens(self, key: str, tokens: int, *, ttl: float) -> int:
        self.token_calls += 1
        return super().charge_tokens(key, tokens, ttl=ttl)


def test_without_a_user_key_or_a_user_budget_no_count_is_touched(
    make: Make, fake: FakeChatServer
) -> None:
    counted = CountingStore()
    engine = make(counted)
    engine.start("s")
    fake.script(FakeReply.text("We open at 8.", usage=(412, 7)))
    engine.handle("s", "when do you open?")  # no user
    plain = make(counted, text=flow_text(""))
    plain.start("t")
    fake.script(FakeReply.text("We open at 8.", usage=(412, 7)))
    plain.handle("t", "when do you open?", user="alice")  # no user budget
    engine.handle("s", "bye", user="alice")  # a rule answered: no LLM call
    assert counted.token_calls == 0 and len(fake.requests) == 2


class SessionsOnly:
    """A store of the basic protocol only: no token counts."""

    def __init__(self) -> None:
        self.inner = MemoryStore()

    def load(self, session_id: str) -> Session | None:
        return self.inner.load(session_id)

    def save(self, session: Session) -> None:
        self.inner.save(session)

    def delete(self, session_id: str) -> None:
        self.inner.delete(session_id)


def test_a_user_budget_over_a_store_without_counts_is_a_configuration_error(
    make: Make,
) -> None:
    with pytest.raises(ConfigurationError, match="keeps no token counts") as error:
        make(SessionsOnly())
    assert "TokenStore" in str(error.value)
    make(SessionsOnly(), text=flow_text(""))  # no user budget: fine


def test_the_engine_s_user_budget_wins_over_the_flow_s(make: Make) -> None:
    engine = make(user_budget={"tokens": 50, "per": "month"})
    assert engine.user_budget == UserBudget(tokens=50, per="month")
    assert make().user_budget == UserBudget(tokens=BUDGET, per="day")
    assert make(text=flow_text("")).user_budget is None
    with pytest.raises(ConfigurationError, match="user_budget"):
        make(user_budget={"tokens": 0})
    with pytest.raises(TypeError, match="user must be a str"):
        make().handle("s", "hi", user=42)  # type: ignore[arg-type]


def test_a_bad_user_budget_in_the_flow_names_its_place() -> None:
    with pytest.raises(FlowError) as error:
        parse_flow(flow_text(", user_budget: {tokens: 100, per: week}"), path="shop.yaml")
    assert "shop.yaml:6:" in str(error.value) and "per" in str(error.value)


def test_periods_are_calendar_periods_of_the_clock() -> None:
    now = datetime.datetime(2026, 12, 2, 13, 45)
    assert period("hour", now) == "hour:2026-12-02T13"
    assert period("day", now) == "day:2026-12-02"
    assert period("month", now) == "month:2026-12"


# --------------------------------------------------------------------------- store failures


class BrokenCounts(MemoryStore):
    def __init__(self, fail: str) -> None:
        super().__init__()
        self.fail = fail

    def hold_tokens(self, key: str, want: int, *, least: int, limit: int, ttl: float) -> int:
        if self.fail == "hold":
            raise OSError("connection reset")
        return super().hold_tokens(key, want, least=least, limit=limit, ttl=ttl)

    def charge_tokens(self, key: str, tokens: int, *, ttl: float) -> int:
        if self.fail == "charge":
            raise OSError("connection reset")
        return super().charge_tokens(key, tokens, ttl=ttl)


def test_a_count_that_cannot_be_held_fails_the_turn_and_changes_nothing(
    make: Make, fake: FakeChatServer
) -> None:
    engine = make(BrokenCounts("hold"))
    engine.start("s")
    result = engine.handle("s", "when do you open?", user="alice")
    assert result.trace.rule == "error" and fake.requests == []
    assert any("could not hold tokens" in e for e in result.trace.errors)
    session = engine.store.load("s")
    assert session is not None and session.turn == 1


def test_a_count_that_cannot_be_corrected_keeps_the_answer(
    make: Make, fake: FakeChatServer, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make(BrokenCounts("charge"))
    engine.start("s")
    fake.script(FakeReply.text("We open at 8.", usage=(412, 7)))
    user = "jane.doe@example.com"
    with caplog.at_level(logging.WARNING, logger="dialogue"):
        result = engine.handle("s", "when do you open?", user=user)
    assert result.replies == ["We open at 8."]
    assert any("user token count not corrected" in e for e in result.trace.errors)
    assert engine.user_tokens(user) > 419  # the whole hold stays counted
    logged = [r.getMessage() for r in caplog.records if "token count" in r.getMessage()]
    assert len(logged) == 1 and "[email]" in logged[0] and user not in logged[0]


def test_store_errors_of_counts_are_store_errors(tmp_path: Path) -> None:
    sqlite = SQLiteStore(tmp_path / "s.db")
    sqlite.close()
    with pytest.raises(StoreError, match="hold tokens"):
        sqlite.hold_tokens("day:2026-12-02:alice", 10, least=1, limit=100, ttl=60)


# --------------------------------------------------------------------------- the guide

ROOT = Path(__file__).resolve().parent.parent


def test_the_guide_s_example_runs_and_prints_what_the_guide_says(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    example = ROOT / "docs" / "examples" / "user_budget.py"
    guide = (ROOT / "docs" / "llm.md").read_text(encoding="utf-8")
    code = example.read_text(encoding="utf-8")
    assert f"```python\n{code}```" in guide, "copy docs/examples/user_budget.py into llm.md"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    run = subprocess.run(
        [sys.executable, str(example)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert f"It prints:\n\n```\n{run.stdout}```" in guide
