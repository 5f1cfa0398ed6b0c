"""The conversation test format: models, loading, and its error messages word for word."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from dialogue.errors import FlowError, FlowErrors
from dialogue.testing import expectations as checks
from dialogue.testing.spec import (
    DEFAULT_TODAY,
    Expect,
    LLMAnswer,
    LLMFault,
    LLMText,
    is_spec_file,
    load_spec,
    parse_spec,
    spec_json_schema,
)

GOOD = """\
flow: ../shop.yaml
today: 2026-11-24
actions:
  lookup: {returns: {status: shipped}}
conversations:
  - name: first
    slots: {order_id: AB123456}
    meta: {channel: web}
    actions:
      lookup: [{raises: down}, {returns: null}]
    steps:
      - bot: Hi
      - user: where is it
        llm: {intent: track}
        bot_contains: shipped
        slots_set: order_id
        state: menu
      - user: x
        llm: {text: "free"}
      - user: y
        llm: {fault: 500}
      - user: z
        llm: {fault: timeout}
"""


def test_a_good_file() -> None:
    loaded = parse_spec(GOOD, path="t/test_shop.yaml")
    spec = loaded.spec
    assert loaded.flow_path == Path("t/../shop.yaml")
    assert spec.today == datetime.date(2026, 11, 24)
    conv = spec.conversations[0]
    assert conv.uses_llm and conv.slots == {"order_id": "AB123456"}
    assert [s.raises for s in conv.actions["lookup"]] == ["down", None]
    assert conv.actions["lookup"][1].model_fields_set == {"returns"}
    first, track, text, fault, timeout = conv.steps
    assert first.user is None and first.bot == ("Hi",)
    assert isinstance(track.llm, LLMAnswer) and track.llm.data() == {"intent": "track"}
    assert track.bot_contains == ("shipped",) and track.slots_set == ("order_id",)
    assert track.given() == ["bot_contains", "state", "slots_set"]
    assert isinstance(text.llm, LLMText) and text.llm.text == "free"
    assert isinstance(fault.llm, LLMFault) and fault.llm.fault == 500
    assert isinstance(timeout.llm, LLMFault) and timeout.llm.fault == "timeout"
    assert loaded.line(("conversations", 0, "steps", 1, "state")) == 17


def test_the_default_date_is_a_monday() -> None:
    assert DEFAULT_TODAY.weekday() == 0


def test_every_expectation_has_a_check() -> None:
    assert set(checks._CHECKS) == set(Expect.model_fields)


def test_json_schema() -> None:
    schema = spec_json_schema()
    assert schema["required"] == ["flow", "conversations"]
    assert "bot_contains" in schema["$defs"]["StepSpec"]["properties"]


@pytest.mark.parametrize(
    ("name", "collected"),
    [
        ("test_shop.yaml", True),
        ("shop.test.yaml", True),
        ("test_shop.yml", True),
        ("shop.yaml", False),
        ("test_shop.json", False),
    ],
)
def test_file_names(tmp_path: Path, name: str, collected: bool) -> None:
    path = tmp_path / name
    path.write_text("flow: shop.yaml\n")
    assert is_spec_file(path) is collected


def test_a_test_named_file_without_flow_or_conversations_is_not_ours(tmp_path: Path) -> None:
    path = tmp_path / "test_ci.yaml"
    path.write_text("jobs: {}\n")
    assert not is_spec_file(path)


HEAD = "flow: shop.yaml\nconversations:\n  - name: c\n    steps:\n"

ERRORS = [
    (
        HEAD + "      - user: hi\n        stat: menu\n",
        "t.yaml:6:9: unknown key 'stat' in step 1 of conversation 'c'\n"
        "    hint: did you mean 'state'?",
    ),
    (
        HEAD + "      - user: hi\n        bot: 5\n",
        "t.yaml:6:14: 'bot' in step 1 of conversation 'c': expected a string, got a number",
    ),
    (
        HEAD + "      - user: hi\n        rule: no_mach\n",
        "t.yaml:6:15: 'rule' in step 1 of conversation 'c': 'no_mach' is not one of 'start', "
        "'intent', 'intent_blocked', 'slot', 'invalid', 'no_match', 'no_input', 'llm', "
        "'too_long', 'error', 'handed_off', 'llm_failed', 'event', 'event_ignored'\n"
        "    hint: did you mean 'no_match'?",
    ),
    (
        HEAD + "      - user: hi\n        llm: {fault: timeot}\n",
        "t.yaml:6:22: 'llm.fault' in step 1 of conversation 'c': 'timeot' is not an HTTP "
        "error status (400-599) nor one of 'timeout', 'malformed', 'refusal'; "
        "did you mean 'timeout'?",
    ),
    (
        HEAD + "      - user: hi\n        llm: {text: hi, intent: track}\n",
        "t.yaml:6:25: unknown key 'intent' in step 1 of conversation 'c'\n"
        "    hint: an LLM answer is {intent:, slots:, reply:}, or {text: ...}, or {fault: ...}",
    ),
    (
        HEAD + "      - user: hi\n        bot_matches: '(('\n",
        "t.yaml:6:22: 'bot_matches' in step 1 of conversation 'c': '((' is not a valid "
        "regular expression: missing ), unterminated subpattern at position 1",
    ),
    (
        HEAD + "      - user: hi\n        llm_called: maybe\n",
        "t.yaml:6:21: 'llm_called' in step 1 of conversation 'c': "
        "expected true or false, got 'maybe'",
    ),
    (
        "flow: shop.yaml\nconversations:\n  - name: c\n    today: soon\n    steps: [{user: hi}]\n",
        "t.yaml:4:12: 'today' in conversation 'c': expected a date such as 2026-06-01, got 'soon'",
    ),
    (
        "flow: shop.yaml\nconversations:\n  - name: c\n    actions: {a: {returns: 1, raises: x}}"
        "\n    steps: [{user: hi}]\n",
        "t.yaml:4:18: 'actions.a' in conversation 'c': a stub either 'returns' a value "
        "or 'raises' an error message",
    ),
    (
        "flow: shop.yaml\nactions: {2bad: {returns: 1}}\nconversations: [{name: c, steps: "
        "[{user: hi}]}]\n",
        "t.yaml:2:11: '2bad' is not a valid action name: use letters, digits and _, "
        "not starting with a digit",
    ),
    (
        "flow: shop.yaml\nconversations:\n  - name: c\n    steps: []\n",
        "t.yaml:4:12: 'steps' in conversation 'c': needs at least one entry",
    ),
    (
        "flow: shop\nconversations: [{name: c, steps: [{user: hi}]}]\n",
        "t.yaml:1:7: 'flow' at the top level: 'shop' is not a flow file (a .yaml path)",
    ),
    (
        "conversations: [{name: c, steps: [{user: hi}]}]\n",
        "t.yaml:1:1: missing required key 'flow' at the top level",
    ),
    (
        HEAD + "      - user: hi\n      - bot: hello\n",
        "t.yaml:6:9: step 2 of conversation 'c' has no 'user' message\n"
        "    hint: only the first step may leave 'user' out: it then checks the greeting",
    ),
    (
        "flow: shop.yaml\nconversations:\n  - name: c\n    greeting: with_first_message\n"
        "    steps:\n      - bot: hello\n",
        "t.yaml:6:9: step 1 of conversation 'c' has no 'user' message\n"
        "    hint: with 'greeting: with_first_message' the greeting is in the first step's "
        "reply: every step needs 'user'",
    ),
    (
        "flow: shop.yaml\ngreeting: together\nconversations: [{name: c, steps: [{user: hi}]}]\n",
        "t.yaml:2:11: 'greeting' at the top level: 'together' is not one of 'separate', "
        "'with_first_message'",
    ),
    (
        HEAD + "      - resume: true\n",
        "t.yaml:5:17: 'resume' needs a 'user' message: the bot answers it after resuming",
    ),
    (
        HEAD + "      - llm: {reply: hi}\n",
        "t.yaml:5:14: 'llm' needs a 'user' message: the greeting never asks the LLM",
    ),
    (
        "flow: shop.yaml\nconversations:\n  - name: c\n    steps: [{user: hi}]\n"
        "  - name: c\n    steps: [{user: hi}]\n",
        "t.yaml:5:11: two conversations are named 'c' (the first on line 3)\n"
        "    hint: give each conversation its own name: it is the test's id",
    ),
]


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_error_messages(text: str, message: str) -> None:
    with pytest.raises(FlowErrors) as caught:
        parse_spec(text, path="t.yaml")
    assert str(caught.value) == message


def test_yaml_problems_come_with_positions() -> None:
    with pytest.raises(FlowError) as caught:
        parse_spec("flow: a.yaml\nconversations: [\n", path="t.yaml")
    assert str(caught.value).startswith("t.yaml:3:1: invalid YAML")


def test_load_checks_the_flow_file_exists(tmp_path: Path) -> None:
    path = tmp_path / "test_x.yaml"
    path.write_text("flow: gone.yaml\nconversations: [{name: c, steps: [{user: hi}]}]\n")
    with pytest.raises(FlowError) as caught:
        load_spec(path, display="test_x.yaml")
    assert str(caught.value) == (
        "test_x.yaml:1:7: flow file 'gone.yaml' not found (looked for gone.yaml)\n"
        "    hint: the path is relative to the folder of this test file"
    )
    (tmp_path / "gone.yaml").write_text("flow: x\n")
    assert load_spec(path).path == path


def test_an_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(FlowError) as caught:
        load_spec(tmp_path / "test_none.yaml", display="test_none.yaml")
    assert (
        str(caught.value)
        == "test_none.yaml:1:1: cannot read the test file: No such file or directory"
    )
