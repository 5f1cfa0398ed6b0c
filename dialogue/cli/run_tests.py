"""``dialogue test [PATH]``: run every conversation test under PATH, print flow coverage.

Conversation tests run directly, without pytest or any conftest: the same
runner as the pytest plugin, the same reports. Exit status: 0 when every
conversation passed, 1 on a failure, a test file that does not load or
coverage below ``--flow-cov-fail-under``, 5 when there is no test to run.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click

from dialogue.errors import ConversationFailure, DialogueError, FlowError
from dialogue.testing.json_file import write_json
from dialogue.testing.runner import Runner, coverage_class, display_path
from dialogue.testing.spec import LoadedSpec, is_spec_file, load_spec

SKIP_DIRS = frozenset({"node_modules", "__pycache__", "site-packages", "venv", "build", "dist"})
"""Folders never searched for tests (and every folder whose name starts with a dot)."""


def find_spec_files(root: Path) -> list[Path]:
    """The conversation test files at or below ``root``, in name order."""
    if root.is_file():
        return [root]
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS)
        found += [Path(folder) / f for f in sorted(files) if is_spec_file(Path(folder) / f)]
    return found


@dataclass
class _Tally:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    errors: int = 0
    reports: list[tuple[str, str]] = field(default_factory=list)
    """(title, report) of every failure and error, in order."""

    def line(self) -> str:
        text = f"{self.passed} passed, {self.failed} failed"
        text += f", {self.skipped} skipped" if self.skipped else ""
        return text + (f", {self.errors} errors" if self.errors else "")


def _conversations(
    files: list[Path], tally: _Tally, keyword: str | None
) -> Iterator[tuple[LoadedSpec, int, str]]:
    """(file, index, id) of every conversation to run; load errors go to ``tally``."""
    for file in files:
        shown = display_path(file)
        try:
            loaded = load_spec(file, display=shown)
        except FlowError as exc:
            tally.errors += 1
            tally.reports.append((f"ERROR {shown}", str(exc)))
            click.echo(f"{shown} E")
            continue
        for index, conv in enumerate(loaded.spec.conversations):
            ident = f"{shown}::{conv.name}"
            if keyword is None or keyword.lower() in ident.lower():
                yield loaded, index, ident


def _run_one(runner: Runner, loaded: LoadedSpec, index: int, ident: str, tally: _Tally) -> str:
    """Run a conversation; its outcome: PASSED, FAILED, SKIPPED or ERROR."""
    conv = loaded.spec.conversations[index]
    if conv.skip is not None:
        tally.skipped += 1
        return "SKIPPED"
    try:
        runner.run(loaded, index)
    except (ConversationFailure, DialogueError) as exc:
        tally.failed += 1
        tally.reports.append((f"FAILED {ident}", str(exc)))
        return "FAILED"
    except Exception:  # a crash in the engine or an action: show where, then go on
        tally.errors += 1
        tally.reports.append((f"ERROR {ident}", traceback.format_exc().rstrip()))
        return "ERROR"
    tally.passed += 1
    return "PASSED"


_MARKS = {"PASSED": ".", "FAILED": "F", "SKIPPED": "s", "ERROR": "E"}


def _run_all(
    runner: Runner, files: list[Path], keyword: str | None, *, exitfirst: bool, verbose: bool
) -> _Tally:
    """Run the conversations, printing a mark each (a line each with ``verbose``)."""
    tally = _Tally()
    current: LoadedSpec | None = None
    for loaded, index, ident in _conversations(files, tally, keyword):
        outcome = _run_one(runner, loaded, index, ident, tally)
        if verbose:
            click.echo(f"{outcome} {ident}")
        else:
            if current is not loaded:
                start = "" if current is None else "\n"
                click.echo(f"{start}{loaded.source.path} ", nl=False)
                current = loaded
            click.echo(_MARKS[outcome], nl=False)
        if exitfirst and outcome in ("FAILED", "ERROR"):
            break
    if current is not None and not verbose:
        click.echo()
    for title, report in tally.reports:
        click.echo(f"\n{'_' * 8} {title} {'_' * 8}\n{report}")
    return tally


def _coverage(runner: Runner, json_path: str | None, fail_under: float | None) -> bool:
    """Print (and write) flow coverage; False when it is below ``fail_under``."""
    if coverage_class() is None:
        click.echo("flow coverage is not available (dialogue.testing.coverage is missing)")
        return True
    report = runner.coverage_report()
    if report is None:
        return fail_under is None
    click.echo()
    click.echo(report.render_terminal().rstrip("\n"))
    if json_path:
        write_json(json_path, report.to_json())
        click.echo(f"flow coverage written to {json_path}")
    if fail_under is not None and report.percent < fail_under:
        click.echo(f"FAIL: flow coverage {report.percent:.1f}% is below {fail_under:g}%")
        return False
    return True


@click.command("test")
@click.argument("path", default=".", type=click.Path(exists=True, path_type=Path))
@click.option("-k", "keyword", default=None, help="Only conversations whose id contains this.")
@click.option("-x", "--exitfirst", is_flag=True, help="Stop at the first failure.")
@click.option("-v", "--verbose", is_flag=True, help="A line per conversation.")
@click.option("--flow-cov/--no-flow-cov", default=True, help="Print flow coverage (default: on).")
@click.option("--flow-cov-json", metavar="PATH", default=None, help="Write flow coverage as JSON.")
@click.option(
    "--flow-cov-fail-under", metavar="N", type=float, default=None, help="Fail below N percent."
)
def test(
    path: Path,
    keyword: str | None,
    exitfirst: bool,
    verbose: bool,
    flow_cov: bool,
    flow_cov_json: str | None,
    flow_cov_fail_under: float | None,
) -> None:
    """Run the conversation tests (test_*.yaml, *.test.yaml) under PATH (default: here)."""
    started = time.perf_counter()
    coverage = flow_cov or flow_cov_json is not None or flow_cov_fail_under is not None
    runner = Runner(coverage=coverage)
    quiet = logging.NullHandler()  # stubbed actions fail on purpose: no warnings on stderr
    logging.getLogger("dialogue").addHandler(quiet)
    try:
        tally = _run_all(
            runner, find_spec_files(path), keyword, exitfirst=exitfirst, verbose=verbose
        )
        ran = tally.passed + tally.failed + tally.skipped + tally.errors
        covered = not coverage or not ran or _coverage(runner, flow_cov_json, flow_cov_fail_under)
    finally:
        runner.close()
        logging.getLogger("dialogue").removeHandler(quiet)
    if ran == 0:
        click.echo(f"no conversation tests found under {path}")
        raise SystemExit(5)
    click.echo(f"\nin {time.perf_counter() - started:.2f} s")
    click.echo(tally.line())
    raise SystemExit(0 if tally.failed == tally.errors == 0 and covered else 1)
