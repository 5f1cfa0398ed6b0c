"""A bounded load run: ``dialogue serve --workers 2`` on Redis, many clients, many sessions.

Concurrent clients talk to many sessions at once, several clients per session,
with message ids and redeliveries (``dialogue.testing.load``); afterwards every
session's stored history must hold every message exactly once, at the turn its
answer named, each client's messages in the order it sent them, and no request
may have failed. The full-size run (5,000 requests) is ``bench/server_load.py``.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import redis_prefix

from dialogue.testing.live_server import clean_environment, free_port
from dialogue.testing.load import Answer, Plan, history_problems, run, sse_result, write_flow

REDIS_DB = "redis://127.0.0.1:6379/13"
STARTUP = 120.0
"""Seconds the server may take to answer its first request (a deadline, not a measurement)."""

PLAN = Plan(sessions=36, clients=4, messages=6, concurrency=50)
"""1,008 message requests: 36 sessions x 4 clients x (6 messages + 1 redelivery); 28
messages per session, under the server's default rate limit of 30 a minute."""


@pytest.fixture
def prefix() -> Iterator[str]:
    with redis_prefix(REDIS_DB, "load") as name:
        yield name


@pytest.fixture
def served(tmp_path: Path, prefix: str) -> Iterator[str]:
    """``dialogue serve`` of the load flow, 2 workers on Redis; its URL."""
    port = free_port()
    env = clean_environment()
    store = f"{REDIS_DB}?prefix={prefix}"
    command = [sys.executable, "-m", "dialogue.cli", "serve", str(write_flow(tmp_path))]
    command += ["--port", str(port), "--workers", "2", "--store", store]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP
    try:
        while True:
            assert process.poll() is None, process.communicate()[0]
            try:
                if httpx.get(url + "/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "dialogue serve did not answer"
            time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            out, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
        assert "Traceback" not in out, out


def test_two_workers_on_redis_lose_and_repeat_no_message_under_load(served: str) -> None:
    report = asyncio.run(run(served, PLAN))
    assert report.problems == [], report.summary()
    assert report.statuses == {"201": PLAN.sessions, "200": PLAN.requests + PLAN.sessions}
    assert report.sessions_checked == PLAN.sessions
    assert len(report.answers) == PLAN.requests
    # every redelivery (one per client) was answered as a duplicate, and nothing else but
    # a retry after a connection error whose first try had been applied
    duplicates = sum(a.duplicate for a in report.answers)
    redeliveries = PLAN.sessions * PLAN.clients
    assert redeliveries <= duplicates <= redeliveries + sum(report.retried.values())


def answered(tag: str, turn: int) -> Answer:
    return Answer(tag, 200, turn=turn, replies=[f"noted {tag}"])


def stored(*tags: str) -> dict[str, object]:
    history = [x for t in tags for x in (f"note {t}", f"noted {t}")]
    return {"turns": 1 + len(tags), "history": history}


def test_the_check_accepts_interleaved_clients() -> None:
    session = stored("c1m0", "c0m0", "c0m1", "c1m1")
    clients = [[answered("c0m0", 3), answered("c0m1", 4)], [answered("c1m0", 2)]]
    clients[1].append(answered("c1m1", 5))
    assert history_problems(session, clients, messages=2) == []


def test_the_check_finds_lost_repeated_reordered_and_misplaced_messages() -> None:
    clients = [[answered("c0m0", 2), answered("c0m1", 3)]]
    lost = history_problems(stored("c0m1"), clients, messages=2)
    assert "2 turns for 2 messages and the greeting" in lost
    assert "lost: ['note c0m0']" in lost
    twice = history_problems(stored("c0m0", "c0m1", "c0m1"), clients, messages=2)
    assert "applied twice: ['note c0m1']" in twice
    swapped = history_problems(stored("c0m1", "c0m0"), clients, messages=2)
    assert "client 0: its messages are out of order in the history" in swapped
    assert "c0m0: answered as turn 2, not there in the history" in swapped
    wrong = stored("c0m0", "c0m1")
    wrong["history"][1] = "noted c0m1"  # type: ignore[index]
    assert history_problems(wrong, clients, messages=2) == [
        "a reply in the history does not answer its message"
    ]


def test_the_result_event_is_read_from_a_stream() -> None:
    body = (
        'event: delta\ndata: {"index":0,"text":"noted","replace":false}\n\n'
        'event: result\ndata: {"turn":3,"replies":["noted c0m0"],"duplicate":false}\n\n'
    )
    assert sse_result(body) == {"turn": 3, "replies": ["noted c0m0"], "duplicate": False}
    assert sse_result('event: error\ndata: {"error":{}}\n\n') is None
