"""``dialogue test``: conversation tests without pytest, with flow coverage."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dialogue.cli import run_tests as cli_test

FLOWS = Path(__file__).resolve().parent.parent / "flows"

FLOW = """\
flow: hello
start: menu
intents:
  hi: {keywords: [hi, hello]}
  bye: {keywords: [bye]}
states:
  menu:
    say: "Hello! Say bye to leave."
    on:
      hi: {say: "Hi again!"}
      bye: done
  done: {say: "Bye!", final: true}
"""

PASSING = """\
flow: hello.yaml
conversations:
  - name: greets
    steps:
      - bot: "Hello! Say bye to leave."
  - name: says hi back
    steps:
      - user: hi
        bot: "Hi again!"
  - name: later
    skip: not yet
    steps:
      - user: hi
"""

FAILING = """\
flow: hello.yaml
conversations:
  - name: leaves
    steps:
      - user: bye
        bot: "Goodbye!"
"""

needs_coverage = pytest.mark.skipif(
    importlib.util.find_spec("dialogue.testing.coverage") is None,
    reason="dialogue.testing.coverage is not there",
)


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "hello.yaml").write_text(FLOW)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_hello.yaml").write_text(
        PASSING.replace("hello.yaml", "../hello.yaml")
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str) -> Result:
    return CliRunner().invoke(cli_test.test, list(args))


def test_runs_every_test_below_the_current_directory(here: Path) -> None:
    (here / "node_modules").mkdir()
    (here / "node_modules" / "test_x.yaml").write_text("flow: nope.yaml\n")
    result = run("--no-flow-cov")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("tests/test_hello.yaml ..s\n")
    assert result.output.rstrip().endswith("\n2 passed, 0 failed, 1 skipped")


def test_a_failure_prints_the_report_and_exits_1(here: Path) -> None:
    (here / "hello.test.yaml").write_text(FAILING)
    result = run("-v", "--no-flow-cov")
    assert result.exit_code == 1
    assert "PASSED tests/test_hello.yaml::says hi back\n" in result.output
    assert "SKIPPED tests/test_hello.yaml::later\n" in result.output
    assert (
        "________ FAILED hello.test.yaml::leaves ________\n"
        "conversation 'leaves' failed at step 1 (hello.test.yaml:5)\n"
        "\n"
        "   bot> Hello! Say bye to leave.\n"
        "  user> bye\n"
        "   bot> Bye!\n"
        "        [intent bye ('bye')] menu -> done\n"
        "\n"
        "hello.test.yaml:6: bot\n"
        '    expected: "Goodbye!"\n'
        '    actual:   "Bye!"\n'
    ) in result.output
    assert result.output.rstrip().endswith("2 passed, 1 failed, 1 skipped")


def test_k_and_x(here: Path) -> None:
    (here / "hello.test.yaml").write_text(FAILING)
    result = run("-k", "HI BACK", "-v", "--no-flow-cov")
    assert result.exit_code == 0
    assert result.output.rstrip().endswith("1 passed, 0 failed")
    result = run("-x", "--no-flow-cov")
    assert result.exit_code == 1
    assert result.output.rstrip().endswith("0 passed, 1 failed")


def test_a_broken_test_file_is_an_error(here: Path) -> None:
    (here / "test_bad.yaml").write_text("flow: hello.yaml\nconversations: {}\n")
    result = run("--no-flow-cov")
    assert result.exit_code == 1
    assert (
        "________ ERROR test_bad.yaml ________\n"
        "test_bad.yaml:2:16: 'conversations' at the top level: expected a list, got a mapping\n"
    ) in result.output
    assert result.output.rstrip().endswith("2 passed, 0 failed, 1 skipped, 1 errors")


def test_no_tests_exits_5(tmp_path: Path) -> None:
    result = run(str(tmp_path))
    assert result.exit_code == 5
    assert result.output == f"no conversation tests found under {tmp_path}\n"


@needs_coverage
def test_coverage_is_printed_written_and_can_fail_the_run(here: Path) -> None:
    result = run("--flow-cov-json", "cov.json")
    assert result.exit_code == 0
    assert "Flow coverage: " in result.output
    assert "flow coverage written to cov.json" in result.output
    assert "hello" in json.loads((here / "cov.json").read_text())["flows"]
    result = run("--flow-cov-fail-under", "100")
    assert result.exit_code == 1
    assert "FAIL: flow coverage " in result.output and "is below 100%" in result.output


def test_finds_the_example_flow_tests() -> None:
    names = [p.name for p in cli_test.find_spec_files(FLOWS)]
    assert names == [
        "test_customer_service.yaml",
        "test_customer_service_handoff.yaml",
        "test_customer_service_zh.yaml",
        "test_restaurant.yaml",
    ]


def test_the_example_flow_tests_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FLOWS.parent)
    result = run("flows", "--no-flow-cov")
    assert result.exit_code == 0, result.output
