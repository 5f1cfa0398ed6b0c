"""Cycles of states with no user message between them are found before a flow runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from dialogue.authoring.loader import parse_flow
from dialogue.cli.main import main
from dialogue.compiler.build import compile_flows
from dialogue.engine import Engine
from dialogue.errors import FlowErrors

MAYBE = """\
flow: retry
start: check
states:
  check:
    call: {action: ping, into: ok, on_error: check}
    next:
      - if: ok
        goto: done
      - goto: again
  again:
    say: "Trying again."
    next: check
  done:
    final: true
"""


def warnings(text: str) -> list[str]:
    bot = compile_flows([parse_flow(text, path="f.yaml")])
    return [str(w) for flow in bot.flows.values() for w in flow.warnings]


def test_a_certain_cycle_is_an_error() -> None:
    text = "flow: loop\nstart: a\nstates:\n  a: {say: A, next: b}\n  b: {next: a}\n"
    with pytest.raises(FlowErrors) as caught:
        compile_flows([parse_flow(text, path="f.yaml")])
    assert [str(d) for d in caught.value.diagnostics] == [
        "f.yaml:4:3: states a -> b -> a move in a circle with no question or wait between them\n"
        "    hint: every turn that reaches them fails after 64 moves: collect a slot, wait for "
        "a message ('on') or end with 'final: true' on the way"
    ]
    assert caught.value.errors[0].code == "input_cycle"


def test_a_state_moving_to_itself_is_a_cycle() -> None:
    with pytest.raises(FlowErrors, match="states a -> a move in a circle"):
        compile_flows([parse_flow("flow: x\nstart: a\nstates:\n  a: {next: a}\n")])


def test_a_conditional_cycle_is_a_warning() -> None:
    assert warnings(MAYBE) == [
        "f.yaml:4:3: warning: states check -> again -> check may move in a circle with no "
        "question or wait between them\n"
        "    hint: if their conditions keep holding, the turn fails after 64 moves: make sure "
        "one of them asks or waits"
    ]


def test_validate_strict_fails_on_a_possible_cycle(tmp_path: Path) -> None:
    path = tmp_path / "retry.yaml"
    path.write_text(MAYBE, encoding="utf-8")
    (tmp_path / "actions.py").write_text("def ping():\n    return None\n", encoding="utf-8")
    relaxed = CliRunner().invoke(main, ["validate", str(path)])
    strict = CliRunner().invoke(main, ["validate", "--strict", str(path)])
    assert relaxed.exit_code == 0
    assert strict.exit_code == 1
    assert f"{path}:4:3: warning: states check -> again -> check may move" in strict.stderr


@pytest.mark.parametrize(
    "states",
    [
        # a question on the way breaks the circle: the slot is cleared, so it is asked again
        "  a: {clear: [n], collect: [n], next: b}\n  b: {next: a}\n",
        "  a: {collect: [n], next: b}\n  b: {clear: [n], next: a}\n",
        # waiting for a message ('on') breaks it
        "  a: {next: b}\n  b: {on: {go: a}}\n",
        # a final state ends it
        "  a: {next: b}\n  b: {final: true}\n",
    ],
)
def test_a_question_or_a_wait_breaks_the_cycle(states: str) -> None:
    text = (
        "flow: x\nstart: a\nslots:\n  n: {type: integer, ask: 'N?'}\n"
        "intents:\n  go: {keywords: [go]}\nstates:\n" + states
    )
    assert not [w for w in warnings(text) if "circle" in w]


def test_a_slot_asked_only_once_does_not_break_the_cycle() -> None:
    # n is filled the first time round; after that 'a' no longer asks
    text = (
        "flow: x\nstart: a\nslots:\n  n: {type: integer, ask: 'N?'}\nstates:\n"
        "  a: {collect: [n], next: b}\n  b: {say: 'Got {{ n }}', next: a}\n"
    )
    with pytest.raises(FlowErrors, match="states a -> b -> a move in a circle"):
        compile_flows([parse_flow(text)])


def test_what_the_warning_predicts_happens(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine(MAYBE, actions={"ping": lambda: None})
    result = engine.start("s")
    assert result.trace.rule == "error"
    assert "moved 64 times in one turn without waiting" in result.trace.errors[0]
