"""Designer text that YAML would read as a boolean, null or number is an error, not
silently 'True', 'None', '1.1', '31' or '1000.0'."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dialogue.authoring.loader import parse_flow
from dialogue.engine import Engine
from dialogue.errors import FlowErrors

FLOW = """\
flow: versions
start: ask
slots:
  version:
    type: enum
    values: [true, null, 1.10, 0x1F, 1e3, '2.0']
    ask: "Which version?"
  fit:
    type: enum
    values: {slim: [1.5, thin], wide: 2, regular: ~}
    ask: "Which fit?"
states:
  ask:
    collect: [version, fit]
    final: true
"""


def test_each_unquoted_value_is_an_error_at_its_place_with_a_hint() -> None:
    with pytest.raises(FlowErrors) as caught:
        parse_flow(FLOW, path="v.yaml")
    assert [str(d) for d in caught.value.diagnostics] == [
        "v.yaml:6:14: 'values[0]' in slot 'version': true is read by YAML as the boolean true, "
        "not as text\n    hint: put it in quotes to keep it as written: 'true'",
        "v.yaml:6:20: 'values[1]' in slot 'version': null is read by YAML as null, not as text\n"
        "    hint: put it in quotes to keep it as written: 'null'",
        "v.yaml:6:26: 'values[2]' in slot 'version': 1.10 is read by YAML as the number 1.1, "
        "not as text\n    hint: put it in quotes to keep it as written: '1.10'",
        "v.yaml:6:32: 'values[3]' in slot 'version': 0x1F is read by YAML as the number 31, "
        "not as text\n    hint: put it in quotes to keep it as written: '0x1F'",
        "v.yaml:6:38: 'values[4]' in slot 'version': 1e3 is read by YAML as the number 1000.0, "
        "not as text\n    hint: put it in quotes to keep it as written: '1e3'",
        "v.yaml:10:21: 'values.slim[0]' in slot 'fit': 1.5 is read by YAML as the number 1.5, "
        "not as text\n    hint: put it in quotes to keep it as written: '1.5'",
        "v.yaml:10:39: 'values.wide' in slot 'fit': 2 is read by YAML as the number 2, "
        "not as text\n    hint: put it in quotes to keep it as written: '2'",
    ]
    assert {e.code for e in caught.value.errors} == {"not_text"}


def test_an_empty_item_is_not_text_either() -> None:
    text = "flow: x\nstart: a\nslots:\n  s:\n    type: enum\n    values:\n      - a\n      -\n"
    text += "    ask: S?\nstates:\n  a: {collect: s, final: true}\n"
    with pytest.raises(FlowErrors) as caught:
        parse_flow(text, path="x.yaml")
    assert str(caught.value.diagnostics[0]) == (
        "x.yaml:8:8: 'values[1]' in slot 's': an empty value is read by YAML as null, "
        "not as text\n    hint: write a value, or remove the item"
    )


def test_quoted_values_keep_what_was_written(make_engine: Callable[..., Engine]) -> None:
    quoted = (
        FLOW.replace("[true, null, 1.10, 0x1F, 1e3, '2.0']", "['true', 'null', '1.10', '0x1F']")
        .replace("[1.5, thin]", "['1.5', thin]")
        .replace("wide: 2,", "wide: '2',")
    )
    engine = make_engine(quoted)
    engine.start("s")
    result = engine.handle("s", "1.10")
    assert result.slots["version"] == "1.10"  # YAML would have made it 1.1 and refused this
    assert engine.handle("s", "1.5").slots["fit"] == "slim"


def test_numbers_where_the_format_wants_numbers_stay_numbers() -> None:
    text = (
        "flow: x\nstart: a\nslots:\n  n: {type: integer, min: 1, max: 12, ask: 'N?', "
        "max_attempts: 3}\nstates:\n  a: {collect: n, set: {m: 1.5}, final: true}\n"
    )
    text = text.replace("set: {m: 1.5}, ", "")
    loaded = parse_flow(text)
    assert loaded.flow.slots["n"].max == 12  # type: ignore[union-attr]
