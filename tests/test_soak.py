"""A short soak run (``dialogue.testing.soak``): many sessions through ``Engine.ahandle``
on Redis, two workers, faults injected at random into the LLM and the saves.

Every session's history holds every applied message once, in order; no action ran
twice for one message unless its save (or its turn) failed, and then with the same
idempotency key; no turn failed; no reply quoted the prompt; no move outside the
state's; traced memory flat from round to round. The long run is ``bench/soak.py``.
"""

from __future__ import annotations

import asyncio
import logging
import os

import pytest

from dialogue.testing import FakeChatServer
from dialogue.testing.soak import SoakPlan, SoakReport, soak

pytest.importorskip("redis")

REDIS_URL = os.environ.get("DIALOGUE_TEST_REDIS", "redis://127.0.0.1:6379/0")

PLAN = SoakPlan(sessions=10, messages=6, rounds=3, concurrency=10, seed=13, llm_timeout=3.0)
"""A generous LLM timeout: on a loaded machine a good answer must not time out."""


def test_a_short_soak_keeps_every_message_once_and_memory_flat(
    server: FakeChatServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="dialogue")  # kept log records are memory too
    report = asyncio.run(soak(PLAN, redis_url=REDIS_URL, server=server))
    print(report.summary())
    assert report.problems == []
    assert report.turns >= PLAN.sessions * PLAN.rounds * PLAN.messages * 0.9
    # the faults were there: every kind of LLM fault, failed saves, redeliveries
    assert set(report.llm) == {"good", "error", "slow", "timeout", "garbage", "leak", "disallowed"}
    assert report.save_failures > 0 and report.duplicates > 0 and report.leaks_blocked > 0
    assert report.action_runs > 0
    # nothing per session is left behind: no session lock after any round
    assert report.locks == [0] * PLAN.rounds
    # memory: the round after the warm-up keeps less than 128 KiB, whatever the
    # noise of a run (a few dozen KiB either way); a turn that kept its session
    # (~3 KiB) would keep ~180 KiB here. bench/soak.py measures finer, over many
    # rounds (the slope of the readings after the warm-up, per session).
    _, *later = report.growth()
    assert max(later) < 128 * 1024, report.memory


def test_the_memory_slope_is_a_least_squares_fit_after_the_warm_up() -> None:
    # a leak: every round keeps the same; the warm-up round's jump is left out
    leak = SoakReport(memory=[1_000_000, 1_500_000, 1_600_000, 1_700_000, 1_800_000])
    assert leak.slope() == 100_000
    # one noisy round moves the slope by a fraction of its own jump
    noisy = SoakReport(memory=[0, 500, 500, 90_500, 500, 500])
    assert noisy.growth()[2] == 90_000 and abs(noisy.slope()) < 10_000
    # a cache filling up: the later rounds' slope is smaller than the whole run's
    filling = SoakReport(memory=[0, 1000, 1500, 1750, 1875, 1875, 1875])
    assert filling.slope(warmup=4) < filling.slope() / 4
    assert SoakReport(memory=[5, 7]).slope() == 0.0
