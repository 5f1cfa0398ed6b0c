"""Every fixture in ``tests/flows/invalid`` through the whole pipeline: load, then compile.

A fixture's first line is ``# expect: LINE:COL: message``: the first diagnostic,
without the path. A second line ``# hint: ...``, when present, pins the hint.
``compile_*`` fixtures load cleanly and hold one problem that only the compiler sees.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dialogue.authoring.loader import load_flows
from dialogue.compiler.build import compile_flows
from dialogue.errors import Diagnostic, FlowError, FlowErrors

INVALID = Path(__file__).parent / "flows" / "invalid"
FIXTURES = sorted(INVALID.glob("*.yaml"))

HINT_OPTIONAL = frozenset({"invalid", "bad_choice", "out_of_range", "wrong_type"})
"""Codes whose message already says what is allowed (``not one of 'en', 'zh'``,
``must be at least 1``, ``expected a whole number``), so a hint may be empty."""


def _param(path: Path) -> object:
    return pytest.param(path, id=path.stem)


def _header(path: Path) -> tuple[str, str | None]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines and lines[0].startswith("# expect: "), f"{path.name}: no '# expect:' line"
    hint = (
        lines[1].removeprefix("# hint: ")
        if lines[1:2] and lines[1].startswith("# hint: ")
        else None
    )
    return lines[0].removeprefix("# expect: "), hint


def _problems(path: Path) -> list[Diagnostic]:
    """Run the whole pipeline; only FlowError may come out of it."""
    try:
        compile_flows(load_flows(path))
    except FlowErrors as exc:
        return exc.diagnostics
    except FlowError as exc:
        return [exc.diagnostic]
    except Exception as exc:  # the point: nothing but FlowError may escape
        pytest.fail(f"{path.name}: {type(exc).__name__} escaped instead of a FlowError: {exc}")
    pytest.fail(f"{path.name} loads and compiles without an error")


@pytest.mark.parametrize("path", [_param(p) for p in FIXTURES])
def test_invalid_fixture(path: Path) -> None:
    expect, hint = _header(path)
    found = _problems(path)
    first = found[0]
    assert str(first).split("\n")[0] == f"{path}:{expect}"
    assert first.severity == "error"
    assert first.code
    if hint is not None:
        assert first.hint == hint
    if path.name.startswith("compile_") or first.code not in HINT_OPTIONAL:
        assert first.hint, f"{path.name}: '{first.code}' should say how to fix it"
    if path.name.startswith("compile_"):
        assert len(found) == 1, [str(d) for d in found]


@pytest.mark.parametrize("path", [_param(p) for p in FIXTURES if p.name.startswith("compile_")])
def test_compile_fixture_loads_cleanly(path: Path) -> None:
    """A compile_* fixture is a valid flow file: its problem is one only the compiler finds."""
    loaded = load_flows(path)
    assert [lf.path for lf in loaded] == [path]
    with pytest.raises(FlowError) as info:
        compile_flows(loaded)
    assert info.value.path == str(path)


def test_there_are_enough_invalid_fixtures() -> None:
    assert len(FIXTURES) >= 20
    assert len([p for p in FIXTURES if p.name.startswith("compile_")]) >= 14


def test_every_fixture_has_an_expect_line() -> None:
    for path in FIXTURES:
        expect, _ = _header(path)
        line, col, message = expect.split(":", 2)
        assert line.isdigit() and col.isdigit() and message.startswith(" "), path.name
