"""Helpers for the HTTP benchmarks: servers in child processes on free loopback ports."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

from dialogue.testing.live_server import clean_environment as clean_environment
from dialogue.testing.live_server import free_port as free_port

STARTUP = 180.0
"""Seconds a server may take to answer its first request."""


def wait_until_up(process: subprocess.Popen[bytes], url: str, path: str = "/healthz") -> None:
    deadline = time.monotonic() + STARTUP
    while True:
        if process.poll() is not None:
            sys.exit(f"the server stopped before answering (exit {process.returncode})")
        try:
            if httpx.get(url + path, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"the server did not answer within {STARTUP:g} s")
        time.sleep(0.1)


@contextlib.contextmanager
def serving(
    command: Sequence[str], port: int, *, env: dict[str, str], up: str = "/healthz"
) -> Iterator[str]:
    """Run ``command`` (a server on ``port``), yield its URL once ``up`` answers, stop it."""
    process = subprocess.Popen(
        list(command), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(process, url, up)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def dialogue_serve(
    flow: Path, port: int, *args: str, env: dict[str, str] | None = None
) -> contextlib.AbstractContextManager[str]:
    """``dialogue serve FLOW --port PORT ARGS...`` in a child process."""
    command = [sys.executable, "-m", "dialogue.cli", "serve", str(flow), "--port", str(port)]
    return serving([*command, *args], port, env=env or clean_environment())


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f}"
