from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from dialogue import Engine, compile_flows, parse_flow
from dialogue.llm.openai_client import OpenAIChatClient
from dialogue.testing import FakeChatServer

ROOT = Path(__file__).resolve().parent.parent
FLOWS = ROOT / "flows"
SDK_RETRY = re.compile(r"^Retrying request.* in ([0-9.]+) seconds")

# Property tests check what holds, never how fast: no per-example deadline, which a
# loaded 2-core machine or `pytest -n` would turn into flaky failures.
settings.register_profile("dialogue", deadline=None)
settings.load_profile("dialogue")


@contextlib.contextmanager
def redis_prefix(url: str, label: str) -> Iterator[str]:
    """A key prefix of its own in the Redis db at ``url``, every key under it removed
    afterwards; skips the test when ``DIALOGUE_SKIP_REDIS=1``."""
    if os.environ.get("DIALOGUE_SKIP_REDIS") == "1":
        pytest.skip("DIALOGUE_SKIP_REDIS=1")
    import redis

    name = f"dialogue-test-{label}:{secrets.token_hex(6)}:"
    try:
        yield name
    finally:
        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter(match=name + "*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def make_engine() -> Callable[..., Engine]:
    """Build an engine from flow YAML text (``extra`` texts are sub-flows)."""

    def make(text: str, *extra: str, **options: object) -> Engine:
        loaded = [parse_flow(text, path="main.yaml")]
        loaded += [parse_flow(t, path=f"sub{i}.yaml") for i, t in enumerate(extra)]
        return Engine(compile_flows(loaded), **options)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="module")
def server() -> Iterator[FakeChatServer]:
    """A loopback Chat Completions server, one per test module."""
    with FakeChatServer(model="fake-model") as srv:
        yield srv


@pytest.fixture
def fake(server: FakeChatServer) -> FakeChatServer:
    """The module's fake server, with its script and request log emptied."""
    server.reset()
    return server


@pytest.fixture
def client(server: FakeChatServer) -> Iterator[OpenAIChatClient]:
    """The real OpenAI client, pointed at the fake server."""
    c = OpenAIChatClient(api_key="test-key", base_url=server.url)
    yield c
    c.close()


@pytest.fixture
def retry_waits(caplog: pytest.LogCaptureFixture) -> Callable[[], list[float]]:
    """The waits (seconds) the client chose before its retries so far, from its log.

    How long a retry waited depends on the machine's load; what the client chose to
    wait does not, so tests assert on this instead of on a clock.
    """
    caplog.set_level(logging.INFO, logger="dialogue.llm")  # our attempts
    caplog.set_level(logging.INFO, logger="openai")  # the SDK's, for streams

    def waits() -> list[float]:
        found = (SDK_RETRY.match(r.getMessage()) for r in caplog.records)
        return [float(m.group(1)) for m in found if m is not None]

    return waits


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[object]:
    """Keep each phase's report on the test item (``item.rep_call``): fixtures read it
    at teardown, e.g. to keep a screenshot of a failed browser test."""
    report = yield
    setattr(item, "rep_" + report.when, report)  # type: ignore[attr-defined]
    return report
