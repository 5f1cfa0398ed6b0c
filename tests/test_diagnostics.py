"""`dialogue.authoring.diagnostics` for any root model: ``explain(..., root=)`` and ``locate``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Discriminator, Tag, ValidationError

from dialogue.authoring.diagnostics import explain, locate
from dialogue.authoring.yaml_source import load_yaml
from dialogue.errors import Diagnostic


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Model):
    text: str


class Fault(_Model):
    fault: int


def _kind(value: Any) -> str:
    return "fault" if isinstance(value, dict) and "fault" in value else "text"


class Step(_Model):
    user: str
    answer: Annotated[
        Annotated[Text, Tag("text")] | Annotated[Fault, Tag("fault")], Discriminator(_kind)
    ]


class Script(_Model):
    name: str
    mode: Literal["strict", "loose"] = "strict"
    steps: list[Step]


def diagnose(text: str) -> list[Diagnostic]:
    data, source = load_yaml(text, path="s.yaml")
    with pytest.raises(ValidationError) as info:
        Script.model_validate(data)
    return explain(info.value, data, source, root=Script)


def test_explain_takes_the_root_model() -> None:
    found = diagnose("name: x\nmode: lose\nsteps:\n  - user: hi\n    answr: {text: yo}\n")
    assert [str(d) for d in found] == [
        "s.yaml:2:7: 'mode' at the top level: 'lose' is not one of 'strict', 'loose'"
        "\n    hint: did you mean 'loose'?",
        "s.yaml:4:5: missing required key 'answer' at the top level, under 'steps[0]'",
        "s.yaml:5:5: unknown key 'answr' at the top level, under 'steps[0]'"
        "\n    hint: did you mean 'answer'?",
    ]


def test_locate_skips_a_tagged_union_member_and_knows_its_keys() -> None:
    data, _ = load_yaml("name: x\nsteps:\n  - user: hi\n    answer: {fault: 1, txt: a}\n", path="s")
    with pytest.raises(ValidationError) as info:
        Script.model_validate(data)
    (error,) = info.value.errors()
    assert error["loc"] == ("steps", 0, "answer", "fault", "txt")
    problem = locate(error, data, root=Script)
    assert problem.loc == ("steps", 0, "answer", "txt") and problem.model is Fault
    assert problem.keys == ["fault"]
