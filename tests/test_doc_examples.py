"""The runnable examples of ``docs/examples`` do what ``docs/embedding.md`` says.

They are documentation: each runs here as a reader would run it (the scripts as
processes, the FastAPI app through its lifespan), over real SQLite files and a
real Redis server (DB 9, a unique prefix, removed afterwards).
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import redis_prefix

from dialogue import Engine

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"
SHOP = ROOT / "flows" / "customer_service.yaml"
REDIS = "redis://127.0.0.1:6379/9"
WAIT = 120
"""Seconds to wait for a reply before failing (a deadline, not a measurement)."""


def environment(**extra: str) -> dict[str, str]:
    """This process's environment without an LLM key (the examples then run offline)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    return {**env, **extra}


def load(path: Path) -> ModuleType:
    """Import an example from its path, as a fresh module each time."""
    name = f"example_{path.stem}_{secrets.token_hex(4)}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the scripts


@pytest.mark.parametrize(
    "example",
    [
        "embed.py",
        "fastapi_app.py",
        "queue_worker.py",
        "key_health.py",
        "handoff.py",
        "idempotent_actions.py",
    ],
)
def test_the_guide_shows_each_example_as_it_is(example: str) -> None:
    guide = (ROOT / "docs" / "embedding.md").read_text(encoding="utf-8")
    code = (EXAMPLES / example).read_text(encoding="utf-8")
    assert f"```python\n{code}```" in guide, f"copy docs/examples/{example} into the guide"


def test_the_nlu_guide_shows_its_example_as_it_is() -> None:
    guide = (ROOT / "docs" / "nlu.md").read_text(encoding="utf-8")
    code = (EXAMPLES / "nlu.py").read_text(encoding="utf-8")
    assert f"```python\n{code}```" in guide, "copy docs/examples/nlu.py into docs/nlu.md"


@pytest.mark.parametrize(
    ("script", "said"),
    [
        ("embed.py", "bot> Done: your return number is R2001."),
        (
            "handoff.py",
            "user> hello? are you there?\n bot> (no reply: a person has the conversation)\n",
        ),
        ("handoff.py", "[ticket #2: invalid_order_number, 8 lines]"),
        ("key_health.py", "requests sent so far: 1\nhealth: llm_key_rejected\nhealth: ok"),
        ("llm_fake.py", "== a free-text reply (mode respond), streamed"),
        (
            "idempotent_actions.py",
            "save failed; retryable: True\nbot> Return R1 filed for AB123456.\n"
            "action runs: 2, keys: 1, returns filed: 1",
        ),
        ("nlu.py", "abstained (threshold 0.5)"),
        ("streaming.py", "     delta 0: 'll free!'\n     delta 0: \"Sorry, I didn't get that."),
    ],
)
def test_an_example_script_runs(script: str, said: str, tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        cwd=tmp_path,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert said in run.stdout


def test_the_llm_guide_shows_the_streaming_example_as_it_is() -> None:
    guide = (ROOT / "docs" / "llm.md").read_text(encoding="utf-8")
    code = (EXAMPLES / "streaming.py").read_text(encoding="utf-8")
    assert f"```python\n{code}```" in guide, "copy docs/examples/streaming.py into docs/llm.md"


# -- FastAPI


@pytest.fixture
def fastapi_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``DIALOGUE_STORE`` names a SQLite file in ``tmp_path``; no LLM key."""
    for name in [n for n in os.environ if n.startswith("OPENAI_")]:
        monkeypatch.delenv(name)
    db = tmp_path / "sessions.db"
    monkeypatch.setenv("DIALOGUE_STORE", f"sqlite:///{db}")
    return db


def test_the_fastapi_app_keeps_a_conversation_across_a_restart(fastapi_env: Path) -> None:
    from fastapi.testclient import TestClient

    with TestClient(load(EXAMPLES / "fastapi_app.py").app) as client:
        first = client.post("/chat/user-1", json={"text": "where is my order", "message_id": "m1"})
    assert first.status_code == 200
    assert first.json() == {
        "replies": [
            "Hi! I'm the shop assistant. I can track an order, start a return, "
            "or get you a person.",
            "What's your order number? It looks like AB123456.",
        ],
        "state": "tracking",
        "ended": False,
        "duplicate": False,
    }
    assert fastapi_env.exists()

    # a new app (a restart, or another worker) over the same file goes on
    with TestClient(load(EXAMPLES / "fastapi_app.py").app) as client:
        second = client.post("/chat/user-1", json={"text": "AB123456", "message_id": "m2"})
        assert second.json()["replies"] == [
            "Your order AB123456 is on its way and should arrive Thursday. "
            "Can I help with anything else?"
        ]
        assert second.json()["state"] == "menu"
        # the client did not get that answer and sends the message again
        again = client.post("/chat/user-1", json={"text": "AB123456", "message_id": "m2"})
        assert again.json() == {**second.json(), "duplicate": True}
        # without a message id, the same text is a new turn
        plain = client.post("/chat/user-1", json={"text": "AB123456"})
        assert plain.json()["duplicate"] is False

    with Engine.from_path(SHOP, llm=None, store=f"sqlite:///{fastapi_env}") as reader:
        stored = reader.session("user-1")
    assert stored is not None and stored.turn == 3  # m1, m2, and the one without an id


def test_the_fastapi_app_checks_the_request(fastapi_env: Path) -> None:
    from fastapi.testclient import TestClient

    with TestClient(load(EXAMPLES / "fastapi_app.py").app) as client:
        assert client.post("/chat/user-1", json={"message_id": "m1"}).status_code == 422


# -- the queue worker


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of its own in Redis DB 9, and every key under it removed afterwards."""
    with redis_prefix(REDIS, "docs") as name:
        yield name


SCRIPT = ["where is my order", "AB123456", "where is my order CD654321", "help", "agent"]
"""What every session says, one message after the other's reply."""


def message(session_id: str, n: int) -> str:
    return json.dumps({"session_id": session_id, "text": SCRIPT[n], "message_id": f"m{n}"})


def expected_replies() -> list[list[str]]:
    """The replies to ``SCRIPT``, from an engine of this process."""
    with Engine.from_path(SHOP, llm=None) as engine:
        return [engine.handle("s", text).replies for text in SCRIPT]


class Replies:
    """Reads one session's reply list: first answers in order, repeats aside."""

    def __init__(self, client: Any, key: str) -> None:
        self.client, self.key = client, key
        self.first: dict[str, list[str]] = {}
        self.repeats: list[tuple[str, list[str]]] = []

    def take(self) -> None:
        popped = self.client.blpop([self.key], timeout=WAIT)
        assert popped is not None, f"no reply in {self.key}"
        reply = json.loads(popped[1])
        if reply["message_id"] in self.first:
            self.repeats.append((reply["message_id"], reply["replies"]))
        else:
            self.first[reply["message_id"]] = reply["replies"]

    def until(self, message_id: str) -> list[str]:
        while message_id not in self.first:
            self.take()
        return self.first[message_id]


def test_queue_workers_answer_every_message_once_and_in_order(prefix: str) -> None:
    import redis

    # a reply may take long on a busy machine: let BLPOP wait past the 5 s socket default
    client = redis.Redis.from_url(REDIS, socket_timeout=WAIT + 30)
    queue = prefix + "inbox"
    store = f"{REDIS}?prefix={prefix}&ttl=600"
    sessions = [f"s{i}" for i in range(6)]
    # w0 died after taking s-crashed's first message: it answers it when started again
    client.rpush(f"{queue}:processing:w0", message("s-crashed", 0))
    workers = [
        subprocess.Popen(
            [sys.executable, str(EXAMPLES / "queue_worker.py")],
            stdout=subprocess.PIPE,
            text=True,
            env=environment(
                DIALOGUE_REDIS=REDIS,
                DIALOGUE_STORE=store,
                DIALOGUE_QUEUE=queue,
                DIALOGUE_WORKER=f"w{w}",
            ),
        )
        for w in range(3)
    ]
    try:
        for w, worker in enumerate(workers):  # each one is running: SIGTERM stops it cleanly
            assert worker.stdout is not None
            assert worker.stdout.readline() == f"w{w}: answering {queue}\n"
        readers = {s: Replies(client, f"{queue}:replies:{s}") for s in sessions}
        for n in range(len(SCRIPT)):
            for s in sessions:  # the sessions' messages interleave on the queue
                client.rpush(queue, message(s, n))
            if n == 1:
                client.rpush(queue, message("s0", 1))  # delivered twice
            for s in sessions:  # each user waits for the answer before saying more
                readers[s].until(f"m{n}")
        while not readers["s0"].repeats:
            readers["s0"].take()
        crashed = Replies(client, f"{queue}:replies:s-crashed").until("m0")
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        outputs = [worker.communicate(timeout=60)[0] for worker in workers]  # closes the pipes
        codes = [worker.returncode for worker in workers]
        client.close()
    assert codes == [0, 0, 0], outputs

    expected = expected_replies()
    for s in sessions:
        assert list(readers[s].first) == [f"m{n}" for n in range(len(SCRIPT))], s
        assert list(readers[s].first.values()) == expected, s
    assert readers["s0"].repeats == [("m1", expected[1])]  # the first answer, again
    assert crashed == expected[0]
    with Engine.from_path(SHOP, llm=None, store=store) as reader:
        for s in sessions:
            stored = reader.session(s)
            assert stored is not None and stored.turn == len(SCRIPT), s  # no extra turn
            assert stored.ended and stored.state == "handoff"


# -- serving a flow's HTTP API


def test_the_server_guide_shows_the_example_as_it_is() -> None:
    guide = (ROOT / "docs" / "server.md").read_text(encoding="utf-8")
    code = (EXAMPLES / "serve_app.py").read_text(encoding="utf-8")
    assert f"```python\n{code}```" in guide, "copy docs/examples/serve_app.py into the guide"


def test_the_serve_app_example_answers_over_http(tmp_path: Path) -> None:
    import socket

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = secrets.token_urlsafe(16)
    env = environment(PORT=str(port), DIALOGUE_TOKEN=token, DIALOGUE_STORE="sqlite:///s.db")
    server = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "serve_app.py")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}
    try:
        for _ in range(WAIT * 10):
            assert server.poll() is None, server.communicate()[1]
            try:
                httpx.get(url + "/healthz")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert httpx.post(url + "/v1/sessions").status_code == 401
        sid = httpx.post(url + "/v1/sessions", headers=auth).json()["session_id"]
        said = httpx.post(
            f"{url}/v1/sessions/{sid}/messages", headers=auth, json={"text": "where is my order"}
        )
        assert said.json()["replies"] == ["What's your order number? It looks like AB123456."]
    finally:
        server.send_signal(signal.SIGTERM)
        log = server.communicate(timeout=60)[1]
    # uvicorn shuts down cleanly, then re-raises the signal it caught
    assert server.returncode in (0, -signal.SIGTERM), log
    assert "Application shutdown complete." in log
    assert (tmp_path / "s.db").exists()
