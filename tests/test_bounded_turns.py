"""A turn's CPU work does not stall other sessions, and an LLM call fits the turn deadline."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dialogue.engine import Engine
from dialogue.errors import ConfigurationError
from dialogue.llm import retry
from dialogue.llm.openai_client import (
    LLMRequest,
    LLMResponse,
    LLMSettings,
    OpenAIChatClient,
    _post,
)
from dialogue.runtime import template_limits as limits
from dialogue.testing.fake_server import FakeChatServer, FakeReply

FLOW = """
flow: shop
start: menu
intents:
  count: {keywords: [count]}
  hi: {keywords: [hi]}
states:
  menu:
    say: "Hello"
    on:
      count:
        say: "{% for i in range(3) %}{{ i }}{% endfor %}"
      hi:
        say: "Hi there"
"""


def gate(
    monkeypatch: pytest.MonkeyPatch, order: list[str]
) -> tuple[threading.Event, threading.Event]:
    """The first template step of a render waits for ``release`` (after setting ``entered``).

    The wait gives up after 10 s so that a render on the event loop (which would keep
    the other session from ever running) fails the test instead of hanging it."""
    entered, release = threading.Event(), threading.Event()
    original = limits.charge

    def charge(steps: int = 1) -> None:
        if not entered.is_set():
            entered.set()
            release.wait(timeout=10)
            order.append("slow render resumed")
        original(steps)

    monkeypatch.setattr(limits, "charge", charge)
    return entered, release


def test_a_slow_render_does_not_stall_other_sessions(
    make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(FLOW)
    order: list[str] = []
    entered, release = gate(monkeypatch, order)

    async def run() -> None:
        slow = asyncio.create_task(engine.ahandle("slow", "count"))
        try:
            await asyncio.to_thread(entered.wait, 30)  # the slow render is in progress
            fast = await engine.ahandle("fast", "hi")
            order.append("fast done")
        finally:
            release.set()
        assert fast.replies == ["Hello", "Hi there"]
        result = await slow
        order.append("slow done")
        assert result.replies == ["Hello", "012"]

    asyncio.run(run())
    assert order == ["fast done", "slow render resumed", "slow done"]


def test_without_offload_the_render_runs_on_the_loop(
    make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(FLOW, offload=False)
    seen: list[bool] = []
    original = limits.charge

    def charge(steps: int = 1) -> None:
        seen.append(threading.current_thread() is threading.main_thread())
        original(steps)

    monkeypatch.setattr(limits, "charge", charge)
    assert asyncio.run(engine.ahandle("s", "count")).replies == ["Hello", "012"]
    assert seen and all(seen)
    seen.clear()
    offloaded = make_engine(FLOW)
    assert asyncio.run(offloaded.ahandle("s", "count")).replies == ["Hello", "012"]
    assert seen and not any(seen)


# --------------------------------------------------------------------------- the deadline

FLOWS = Path(__file__).resolve().parent.parent / "flows"
TROUBLE = ["Sorry, something went wrong on my side. Please try again in a moment."]
"""The shop's ``failure_reply``: a failed call is an apology, not a no-match."""


class FakeTime:
    """A clock that only sleeping moves; records every wait."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


def engine_with(server: FakeChatServer, fake_time: FakeTime, **options: Any) -> Engine:
    client = OpenAIChatClient(
        api_key="test-key",
        base_url=server.url,
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        asleep=fake_time.asleep,
    )
    options.setdefault("llm_settings", {"retries": 2, "timeout": 10.0})
    return Engine.from_path(FLOWS / "customer_service.yaml", llm=client, **options)


@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_retry_after_past_the_deadline_is_not_waited_for(fake: FakeChatServer, face: str) -> None:
    fake_time = FakeTime()
    engine = engine_with(fake, fake_time, turn_deadline=15.0)
    engine.start("s")
    fake.script(FakeReply.error(429, headers={"retry-after": "60"}), FakeReply.text("late"))
    if face == "sync":
        r = engine.handle("s", "tell me a joke")
    else:
        r = asyncio.run(engine.ahandle("s", "tell me a joke"))
    assert r.replies == TROUBLE  # the failure reply, at once
    assert fake_time.waits == []  # 60 s would pass the 15 s deadline: not waited
    assert len(fake.requests) == 1
    assert r.trace.llm is not None and r.trace.llm.outcome == "failed"
    assert r.trace.llm.error.startswith("rate_limited:")
    assert "not retried: waiting 60 s would pass the turn's deadline" in r.trace.llm.error
    engine.close()


def test_a_retry_after_within_the_deadline_is_waited_for(fake: FakeChatServer) -> None:
    fake_time = FakeTime()
    engine = engine_with(fake, fake_time, turn_deadline=15.0)
    engine.start("s")
    answer = FakeReply.json({"intent": "track", "slots": {}, "reply": None})
    fake.script(FakeReply.error(429, headers={"retry-after": "2"}), answer)
    r = engine.handle("s", "the thing I bought never showed up")
    assert fake_time.waits == [2.0]
    assert len(fake.requests) == 2
    assert r.state == "tracking"
    engine.close()


def test_backoff_waits_stop_at_the_deadline(fake: FakeChatServer) -> None:
    fake_time = FakeTime()
    engine = engine_with(
        fake, fake_time, turn_deadline=2.0, llm_settings={"retries": 5, "timeout": 10.0}
    )
    engine.start("s")
    fake.script(*[FakeReply.error(503)] * 6)
    r = engine.handle("s", "tell me a joke")
    # back-off 0.5 s then 1 s fit in 2 s; the next, 2 s, would not
    assert fake_time.waits == [0.5, 1.0]
    assert len(fake.requests) == 3
    assert r.replies == TROUBLE
    engine.close()


def test_each_attempt_s_timeout_is_cut_to_the_time_left() -> None:
    request = LLMRequest(({"role": "user", "content": "hi"},), LLMSettings(timeout=10.0))
    assert _post(request, 3.5, 0, stream=False)["options"]["timeout"] == 3.5
    assert _post(request, None, 0, stream=False)["options"]["timeout"] == 10.0
    sent = _post(request, 20.0, 1, stream=True)["options"]["headers"]
    assert sent["x-stainless-retry-count"] == "1"


def test_the_deadline_reaches_the_llm_request(fake: FakeChatServer) -> None:
    seen: list[float | None] = []

    class Recording(OpenAIChatClient):
        def complete(self, request: LLMRequest) -> LLMResponse:
            seen.append(request.budget)
            return super().complete(request)

    client = Recording(api_key="test-key", base_url=fake.url)
    engine = Engine.from_path(FLOWS / "customer_service.yaml", llm=client, turn_deadline=7.0)
    engine.start("s")
    fake.script(FakeReply.text("ok"))
    engine.handle("s", "tell me a joke")
    assert len(seen) == 1 and seen[0] is not None and 0 < seen[0] <= 7.0
    engine.close()


def test_a_deadline_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match="turn_deadline must be positive, not 0"):
        Engine.from_path(FLOWS / "customer_service.yaml", turn_deadline=0)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "60"}, 60.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, 10.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_read(headers: dict[str, str], seconds: float | None) -> None:
    now = 1445412480.0  # 07:28:00 on that day
    assert retry.retry_after(headers, now=now) == seconds
