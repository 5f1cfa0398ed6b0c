"""Several worker processes sharing one persistent store: no message lost, none out of
order, no ConflictError reaching the caller; a restart continues every conversation.

Each worker is a real process with its own engine, as behind a load balancer. Store
URLs are listed in ``STORES``; the Redis one is added where Redis is available.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from dialogue import Engine

FLOWS = Path(__file__).resolve().parent.parent / "flows"
SHOP = FLOWS / "customer_service.yaml"


def sqlite_url(tmp_path: Path, name: str) -> str:
    return f"sqlite:///{tmp_path / 'sessions.db'}"


def redis_url(tmp_path: Path, name: str) -> str:
    if os.environ.get("DIALOGUE_SKIP_REDIS") == "1":
        pytest.skip("DIALOGUE_SKIP_REDIS=1")
    return f"redis://127.0.0.1:6379/9?prefix=dialogue-test:{secrets.token_hex(8)}:&ttl=600"


STORES: dict[str, Callable[[Path, str], str]] = {"sqlite": sqlite_url, "redis": redis_url}


@pytest.fixture(params=sorted(STORES))
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return STORES[request.param](tmp_path, request.node.name)


WORKER = textwrap.dedent(
    """
    import json, sys
    from dialogue import Engine
    url, flow, worker, sessions, rounds = sys.argv[1:6]
    engine = Engine.from_path(flow, llm=None, store=url, history_turns=100)
    print("ready", flush=True)
    sys.stdin.readline()  # go
    errors = []
    for i in range(int(rounds)):
        for s in range(int(sessions)):
            try:
                engine.handle(f"s{s}", f"help {worker}:{i}")
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
    print(json.dumps(errors), flush=True)
    """
)


def run_workers(url: str, workers: int, sessions: int, rounds: int) -> list[list[str]]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, str(SHOP), str(w), str(sessions), str(rounds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in range(workers)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * workers, outputs
    return [json.loads(out.strip().splitlines()[-1]) for out in outputs]


def test_four_workers_lose_nothing_and_keep_each_senders_order(store_url: str) -> None:
    workers, sessions, rounds = 4, 100, 3
    errors = run_workers(store_url, workers, sessions, rounds)
    assert errors == [[]] * workers  # no ConflictError (nor anything else) reached a caller
    reader = Engine.from_path(SHOP, llm=None, store=store_url)
    for s in range(sessions):
        stored = reader.session(f"s{s}")
        assert stored is not None and stored.turn == workers * rounds
        said = [text.removeprefix("help ") for text in stored.history[0::2]]
        assert sorted(said) == sorted(f"{w}:{i}" for w in range(workers) for i in range(rounds))
        for w in range(workers):
            mine = [int(t.split(":")[1]) for t in said if t.startswith(f"{w}:")]
            assert mine == list(range(rounds)), (s, said)


def test_a_restart_continues_every_conversation(store_url: str) -> None:
    first = Engine.from_path(SHOP, llm=None, store=store_url)
    first.handle("a", "where is my order")
    first.handle("b", "I want to return it")
    first.close()
    again = Engine.from_path(SHOP, llm=None, store=store_url)  # a new process would do the same
    assert again.handle("a", "AB123456").state == "menu"
    assert again.session("b").pending == "order_id"  # type: ignore[union-attr]
