from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dialogue import Engine, compile_flows, parse_flow

ROOT = Path(__file__).resolve().parent.parent
FLOWS = ROOT / "flows"


@pytest.fixture
def make_engine() -> Callable[..., Engine]:
    """Build an engine from flow YAML text (``extra`` texts are sub-flows)."""

    def make(text: str, *extra: str, **options: object) -> Engine:
        loaded = [parse_flow(text, path="main.yaml")]
        loaded += [parse_flow(t, path=f"sub{i}.yaml") for i, t in enumerate(extra)]
        return Engine(compile_flows(loaded), **options)  # type: ignore[arg-type]

    return make
