"""``dialogue serve`` as a user runs it: a subprocess on a free loopback port."""

from __future__ import annotations

import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from conftest import redis_prefix
from prometheus_client.parser import text_string_to_metric_families

from dialogue import Engine
from dialogue.cli.serve import default_store, is_loopback
from dialogue.testing.live_server import clean_environment, free_port

ROOT = Path(__file__).resolve().parent.parent
REDIS_DB = "redis://127.0.0.1:6379/11"
STARTUP = 120.0
"""Seconds a server may take to answer its first request (a deadline, not a measurement)."""


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    """A copy of the example flows: the default store file lands beside them."""
    target = tmp_path / "flows"
    shutil.copytree(ROOT / "flows", target, ignore=shutil.ignore_patterns("*.db*", "tests"))
    return target / "customer_service.yaml"


Start = Callable[..., tuple[subprocess.Popen[str], str]]


@pytest.fixture
def start() -> Iterator[Start]:
    """``start(flow, *args, env=...)``: ``dialogue serve`` on a free port, answering."""
    running: list[subprocess.Popen[str]] = []

    def run(
        flow: Path, *args: str, env: dict[str, str] | None = None
    ) -> tuple[subprocess.Popen[str], str]:
        port = free_port()
        command = [sys.executable, "-m", "dialogue.cli", "serve", str(flow), "--port", str(port)]
        process = subprocess.Popen(
            [*command, *args],
            env=env or clean_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        running.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP
        while True:
            assert process.poll() is None, process.communicate()[0]
            try:
                if httpx.get(url + "/healthz", timeout=5).status_code == 200:
                    return process, url
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "dialogue serve did not answer"
            time.sleep(0.1)

    yield run
    for process in running:
        stop(process)


def stop(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        out, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    return out or ""


def test_serve_answers_and_a_restart_keeps_the_conversation(flows: Path, start: Start) -> None:
    process, url = start(flows)
    with httpx.Client(base_url=url) as client:
        sid = client.post("/v1/sessions").json()["session_id"]
        said = client.post(f"/v1/sessions/{sid}/messages", json={"text": "where is my order"})
        assert said.json()["state"] == "tracking"
        assert client.get("/openapi.json").json()["info"]["title"] == "dialogue: customer_service"
    stop(process)
    assert (flows.parent / "customer_service.sessions.db").exists()

    _, url = start(flows)
    with httpx.Client(base_url=url) as client:
        again = client.get(f"/v1/sessions/{sid}").json()
        assert again["state"] == "tracking" and again["turns"] == 2
        answer = client.post(f"/v1/sessions/{sid}/messages", json={"text": "AB123456"}).json()
        assert answer["replies"][0].startswith("Order AB123456 is on its way")


def test_the_token_comes_from_the_clean_environment(flows: Path, start: Start) -> None:
    token = secrets.token_urlsafe(16)
    process, url = start(flows, env=clean_environment(DIALOGUE_TOKEN=token))
    assert token not in " ".join(process.args)  # type: ignore[arg-type]
    assert httpx.post(url + "/v1/sessions").status_code == 401
    made = httpx.post(url + "/v1/sessions", headers={"Authorization": f"Bearer {token}"})
    assert made.status_code == 201


def test_a_public_address_without_a_token_is_refused(flows: Path) -> None:
    for host in ("0.0.0.0", "192.0.2.7", "::"):
        run = subprocess.run(
            [sys.executable, "-m", "dialogue.cli", "serve", str(flows), "--host", host],
            env=clean_environment(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 2, run.stderr
        assert f"error: refusing to serve on {host} without a token" in run.stderr
        assert "hint: set DIALOGUE_TOKEN (or --token), or pass --insecure" in run.stderr
        assert "Traceback" not in run.stderr
    assert not (flows.parent / "customer_service.sessions.db").exists()


def test_a_broken_flow_is_reported_before_serving(tmp_path: Path) -> None:
    flow = tmp_path / "bad.yaml"
    flow.write_text("flow: bad\nstart: nowhere\nstates:\n  a: {say: hi}\n", encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "dialogue.cli", "serve", str(flow), "--port", str(free_port())],
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    assert run.stderr.startswith(f"{flow}:2:8: ")
    assert "Traceback" not in run.stderr


def test_loopback_addresses() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "10.0.0.1", "example.com", ""]))


def test_the_default_store_is_a_file_beside_the_flow(tmp_path: Path) -> None:
    flow = tmp_path / "my bots" / "shop.yaml"
    assert default_store(str(flow)) == f"sqlite:///{tmp_path}/my%20bots/shop.sessions.db"


@pytest.fixture
def prefix() -> Iterator[str]:
    with redis_prefix(REDIS_DB, "serve") as name:
        yield name


SCRIPT = ["where is my order", "AB123456", "I want to return it", "CD654321", "help"]


def test_two_workers_on_redis_serve_one_conversation(
    flows: Path, start: Start, prefix: str
) -> None:
    store = f"{REDIS_DB}?prefix={prefix}"
    _, url = start(flows, "--workers", "2", "--store", store)
    with Engine.from_path(flows, llm=None) as engine:
        engine.start("s")
        expected = [engine.handle("s", text).replies for text in SCRIPT]
    # no keep-alive: every request is a new connection, which either worker may take
    one_shot = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=url, limits=one_shot, timeout=120) as client:
        sid = client.post("/v1/sessions").json()["session_id"]
        for n, text in enumerate(SCRIPT):
            body = {"text": text, "message_id": f"m{n}"}
            answer = client.post(f"/v1/sessions/{sid}/messages", json=body).json()
            assert answer["replies"] == expected[n], text
            assert answer["turn"] == n + 2

        def say(n: int) -> int:
            body = {"text": "help", "message_id": f"burst-{n}"}
            return client.post(f"/v1/sessions/{sid}/messages", json=body).json()["turn"]

        with ThreadPoolExecutor(8) as pool:  # one session, many messages at once
            turns = list(pool.map(say, range(16)))
        stored = client.get(f"/v1/sessions/{sid}").json()
        scrapes = [client.get("/metrics").text for _ in range(4)]  # whichever worker answers
    first = len(SCRIPT) + 2
    assert sorted(turns) == list(range(first, first + 16))  # serialised, none lost
    assert stored["turns"] == len(SCRIPT) + 1 + 16
    for text in scrapes:  # every worker shows the turns of both
        turns_counted = [
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "dialogue_turns_total"
        ]
        assert sum(turns_counted) == len(SCRIPT) + 1 + 16
