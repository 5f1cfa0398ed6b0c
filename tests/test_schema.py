"""The JSON Schema editors use accepts what the loader accepts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from dialogue import parse_flow
from dialogue.authoring.yaml_source import load_yaml
from dialogue.schema import json_schema

ROOT = Path(__file__).resolve().parent.parent
FLOWS = sorted((ROOT / "flows").glob("*.yaml")) + sorted(
    (ROOT / "tests/flows/valid").glob("*.yaml")
)


def validator() -> Any:
    return jsonschema.Draft202012Validator(json_schema())


@pytest.mark.parametrize("path", FLOWS, ids=lambda p: p.name)
def test_every_valid_flow_passes_the_schema(path: Path) -> None:
    data, _ = load_yaml(path.read_bytes(), path=str(path))
    errors = [e.message for e in validator().iter_errors(data)]
    assert errors == []


SHORTHANDS = {
    "flow": "f",
    "version": 2,
    "start": "a",
    "imports": "sub.yaml",
    "slots": {"size": {"type": "enum", "values": ["s", "m"], "ask": "Size?", "invalid": "?"}},
    "intents": {"go": {"keywords": "go", "patterns": "^go$"}, "stop": {"keywords": ["stop"]}},
    "states": {
        "a": {
            "say": "hi",
            "collect": "size",
            "clear": "size",
            "on": {"go": "a", "stop": {"clear": "size", "goto": "b"}},
            "next": {"goto": "a"},
        },
        "b": {"next": "a"},
    },
}


def test_shorthands_are_in_the_schema() -> None:
    # docs/cli.md: editors using the schema do not mark the shorthands
    assert [e.message for e in validator().iter_errors(SHORTHANDS)] == []


def test_the_loader_accepts_the_same_shorthands() -> None:
    flow = parse_flow(json.dumps(SHORTHANDS)).flow
    assert flow.version == "2" and flow.imports == ("sub.yaml",)
    assert flow.states["a"].clear == ("size",)
    assert [t.goto for t in flow.states["b"].next] == ["a"]
    assert flow.states["a"].on["stop"][0].clear == ("size",)


def test_unknown_keys_fail_the_schema() -> None:
    errors = list(validator().iter_errors({"flow": "f", "start": "a", "states": {"a": {"sey": 1}}}))
    assert errors


def test_fields_carry_their_documentation() -> None:
    schema = json_schema()
    ask = schema["$defs"]["PatternSlot"]["properties"]["ask"]
    assert "question" in ask["description"]


def test_published_schema_file_is_current() -> None:
    published = json.loads((ROOT / "docs" / "flow.schema.json").read_text(encoding="utf-8"))
    assert published == json_schema(), "run: dialogue schema > docs/flow.schema.json"
