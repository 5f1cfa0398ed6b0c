"""A turn's CPU work does not stall other sessions, and an LLM call fits the turn deadline."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from dialogue.engine import Engine
from dialogue.runtime import template_limits as limits

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
