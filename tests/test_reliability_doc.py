"""docs/reliability.md names only tests that exist.

Each name in backticks is checked: ``tests/test_x.py`` or ``test_x.py`` (a file,
and the file later bare names belong to), ``test_x.py::test_name``, a bare
``test_name`` (in the file named last before it), ``invalid/name.yaml`` (a broken
flow fixture).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reliability.md"
FILE = re.compile(r"^(?:tests/)?(test_\w+\.py)(?:::(test_\w+))?$")
NAME = re.compile(r"^test_\w+$")


def named() -> list[tuple[str, str | None]]:
    """(file, test or None) for every test the page names, in order."""
    found: list[tuple[str, str | None]] = []
    current = ""
    for token in re.findall(r"`([^`\n]+)`", DOC.read_text(encoding="utf-8")):
        if m := FILE.match(token):
            current = m.group(1)
            found.append((current, m.group(2)))
        elif NAME.match(token):
            assert current, f"{token} is named before any test file"
            found.append((current, token))
    return found


def test_every_test_the_reliability_page_names_exists() -> None:
    missing = []
    for file, test in named():
        path = ROOT / "tests" / file
        if not path.is_file():
            missing.append(file)
        elif test is not None and not re.search(
            rf"^(async )?def {test}\(", path.read_text(encoding="utf-8"), re.M
        ):
            missing.append(f"{file}::{test}")
    assert missing == []
    assert len(named()) > 150


def test_every_fixture_the_reliability_page_names_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    fixtures = re.findall(r"`(?:tests/flows/)?invalid/([\w.-]+\.yaml)`", text)
    assert fixtures
    assert [f for f in fixtures if not (ROOT / "tests" / "flows" / "invalid" / f).is_file()] == []
