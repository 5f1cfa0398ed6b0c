"""The pytest plugin: conversation test files are collected and run as tests.

Installed with the package (entry point ``pytest11``, name ``dialogue``); turn it
off with ``-p no:dialogue``. A file is a conversation test when its name is
``test_*.yaml`` or ``*.test.yaml`` (``.yml`` too) and it has a top-level ``flow:``
or ``conversations:`` key. Every conversation is one test item,
``test_shop.yaml::track an order``, so ``-k``, ``-x``, ``--lf`` and pytest-xdist work
as for Python tests. Engines are built when an item runs, never at collection.

Options: ``--flow-cov`` prints flow coverage after the run, ``--flow-cov-json PATH``
writes it as JSON, ``--flow-cov-fail-under N`` fails the run below N percent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dialogue.errors import ConversationFailure, DialogueError, FlowError
from dialogue.testing.json_file import write_json
from dialogue.testing.runner import Runner, coverage_class, display_path
from dialogue.testing.spec import LoadedSpec, is_spec_file, load_spec

RUNNER = pytest.StashKey[Runner]()
_WORKER_KEY = "dialogue_flow_coverage"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dialogue", "dialogue conversation tests")
    group.addoption(
        "--flow-cov",
        action="store_true",
        help="report which states, transitions, intents and ladders the conversations covered",
    )
    group.addoption(
        "--flow-cov-json", metavar="PATH", help="write flow coverage as JSON (implies --flow-cov)"
    )
    group.addoption(
        "--flow-cov-fail-under",
        type=float,
        metavar="N",
        help="fail the run when flow coverage is below N percent (implies --flow-cov)",
    )


def _wants_coverage(config: pytest.Config) -> bool:
    options = ("flow_cov", "flow_cov_json", "flow_cov_fail_under")
    return any(config.getoption(name) not in (None, False) for name in options)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[RUNNER] = Runner(coverage=_wants_coverage(config))


def pytest_unconfigure(config: pytest.Config) -> None:
    runner = config.stash.get(RUNNER, None)
    if runner is not None:
        runner.close()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if not is_spec_file(file_path):
        return None
    collector: SpecFileCollector = SpecFileCollector.from_parent(parent, path=file_path)
    return collector


class SpecFileCollector(pytest.File):
    """A conversation test file; its items are its conversations."""

    def collect(self) -> Iterator[ConversationItem]:
        try:
            loaded = load_spec(self.path, display=display_path(self.path))
        except FlowError as exc:
            raise self.CollectError(str(exc)) from None
        for index, conversation in enumerate(loaded.spec.conversations):
            item: ConversationItem = ConversationItem.from_parent(
                self, name=conversation.name, loaded=loaded, index=index
            )
            if conversation.skip is not None:
                item.add_marker(pytest.mark.skip(reason=conversation.skip))
            yield item


class ConversationItem(pytest.Item):
    """One conversation of a test file."""

    def __init__(self, *, loaded: LoadedSpec, index: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loaded = loaded
        self.index = index

    def runtest(self) -> None:
        self.config.stash[RUNNER].run(self.loaded, self.index)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> Any:
        if isinstance(excinfo.value, (ConversationFailure, DialogueError)):
            return str(excinfo.value)  # the report, or a problem of the flow or test file
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        line = self.loaded.line(("conversations", self.index))
        return self.path, line - 1, f"conversation: {self.name}"


# --------------------------------------------------------------------------- coverage


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist: merge the coverage a worker collected."""
    entries = getattr(node, "workeroutput", {}).get(_WORKER_KEY)
    if entries:
        node.config.stash[RUNNER].add_coverage_data(entries)


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    runner = config.stash.get(RUNNER, None)
    if runner is None or runner.coverage is None:
        return
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller reports
        workeroutput[_WORKER_KEY] = runner.coverage_data()
        return
    report = runner.coverage_report()
    path = config.getoption("flow_cov_json")
    if path and report is not None:
        write_json(path, report.to_json())
    threshold = config.getoption("flow_cov_fail_under")
    if threshold is not None and report is not None and report.percent < threshold:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    runner = config.stash.get(RUNNER, None)
    if runner is None or runner.coverage is None or hasattr(config, "workerinput"):
        return
    write = terminalreporter.write_line
    terminalreporter.section("flow coverage")
    if coverage_class() is None:
        write("flow coverage is not available: dialogue.testing.coverage is missing")
        return
    report = runner.coverage_report()
    if report is None:
        write("no conversation test ran: no flow coverage")
        return
    for line in report.render_terminal().rstrip("\n").split("\n"):
        write(line)
    path = config.getoption("flow_cov_json")
    if path:
        write(f"flow coverage written to {path}")
    threshold = config.getoption("flow_cov_fail_under")
    if threshold is not None:
        verdict = "FAIL" if report.percent < threshold else "ok"
        write(f"{verdict}: flow coverage {report.percent:.1f}% (required: {threshold:g}%)")
