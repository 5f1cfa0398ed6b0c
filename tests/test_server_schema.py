"""Property-based tests generated from the app's own OpenAPI document: no input the
document allows, or breaks, makes the live server answer with a 5xx.

Bounded: a few dozen examples per operation (``EXAMPLES``), so the suite stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from dialogue import Engine
from dialogue.server import create_app
from dialogue.testing.live_server import LiveServer

SHOP = Path(__file__).resolve().parent.parent / "flows" / "customer_service.yaml"
TOKEN = "schema-token"
EXAMPLES = 15


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    engine = Engine.from_path(SHOP, llm=None, history_turns=3)
    app = create_app(engine, token=TOKEN, rate_limit=None, max_text_chars=200, debug=True)
    with LiveServer(app) as server:
        yield server
    engine.close()


def document() -> dict[str, Any]:
    """The OpenAPI document the live server serves (``test_the_document_is_served``)."""
    with Engine.from_path(SHOP, llm=None) as engine:
        return create_app(engine, token=TOKEN).openapi()


schema = schemathesis.openapi.from_dict(document())


def test_the_document_is_served(live: LiveServer) -> None:
    served = httpx.get(live.url + "/openapi.json")
    assert served.status_code == 200 and served.json() == document()
    paths = served.json()["paths"]
    assert sorted(paths) == [
        "/healthz",
        "/metrics",
        "/v1/sessions",
        "/v1/sessions/{session_id}",
        "/v1/sessions/{session_id}/events",
        "/v1/sessions/{session_id}/feedback",
        "/v1/sessions/{session_id}/messages",
        "/v1/sessions/{session_id}/messages/stream",
        "/v1/sessions/{session_id}/resume",
    ]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_no_request_makes_a_server_error(case: Any, live: LiveServer) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    params = case.path_parameters or {}
    if "session_id" in params and len(str(params["session_id"])) % 2 == 0:
        # half the cases talk to a real session (random ids are all unknown: 404)
        made = httpx.post(live.url + "/v1/sessions", headers=auth)
        params["session_id"] = made.json()["session_id"]
    headers = {**(case.headers or {}), **auth}
    response = case.call(base_url=live.url, headers=headers)
    assert response.status_code < 500, (case.method, case.path, response.text[:500])
    case.validate_response(response, checks=[not_a_server_error])
    if response.status_code >= 400:
        assert response.headers["content-type"] == ["application/json"]
        assert set(response.json()) <= {"error", "status"}
