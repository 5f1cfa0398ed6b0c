"""The package's import graph: no circles, and imports point one way along the data path.

Every ``import`` in ``dialogue/`` counts, including the lazy ones inside functions
and those under ``TYPE_CHECKING``: a circle drawn lazily is still a circle.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import dialogue

ROOT = Path(dialogue.__file__).parent


def module_names() -> list[str]:
    found = pkgutil.walk_packages([str(ROOT)], "dialogue.")
    return sorted(m.name for m in found if m.name != "dialogue.cli.__main__")


def imports_of(name: str) -> set[str]:
    """The ``dialogue`` modules that module ``name`` imports, anywhere in its source."""
    path = ROOT.joinpath(*name.split(".")[1:])
    is_package = path.is_dir()
    file = path / "__init__.py" if is_package else path.with_suffix(".py")
    known = set(module_names()) | {"dialogue"}
    found: set[str] = set()
    for node in ast.walk(ast.parse(file.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            base = node.module
            if node.level:
                package = name if is_package else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}"
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in known and t != name)
    return found


GRAPH = {name: imports_of(name) for name in module_names()}


def test_every_module_imports() -> None:
    for name in GRAPH:
        importlib.import_module(name)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the graph as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}  # 1 on the path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_find_cycle_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_circles() -> None:
    # the package's __init__ re-exports everything: it is the door, not a room
    graph = {k: v - {"dialogue"} for k, v in GRAPH.items() if k != "dialogue"}
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


# (importer room, imported room): imports that would run back up the data path
FORBIDDEN = [
    ("dialogue.authoring", "dialogue.runtime"),
    ("dialogue.authoring", "dialogue.compiler"),
    ("dialogue.runtime", "dialogue.authoring"),
    ("dialogue.runtime", "dialogue.compiler"),
    ("dialogue.llm", "dialogue.runtime"),
    ("dialogue.llm", "dialogue.compiler"),
    ("dialogue.llm", "dialogue.authoring"),
    ("dialogue.stores", "dialogue.runtime"),
    ("dialogue.nlu", "dialogue.compiler"),
    ("dialogue.runtime", "dialogue.nlu"),
]
UPPER = ["dialogue.engine", "dialogue.cli", "dialogue.testing", "dialogue.assemble"]
UPPER += ["dialogue.server"]
LOWER = ["dialogue.authoring", "dialogue.compiler", "dialogue.runtime", "dialogue.llm"]
LOWER += ["dialogue.stores", "dialogue.errors", "dialogue.session", "dialogue.trace"]
LOWER += ["dialogue.schema", "dialogue.redact", "dialogue.regex", "dialogue.nlu"]


def rooms_of(name: str) -> str:
    for prefix in {*UPPER, *LOWER}:
        if name == prefix or name.startswith(prefix + "."):
            return prefix
    return name


@pytest.mark.parametrize(
    ("importer", "imported"), FORBIDDEN + [(lo, up) for lo in LOWER for up in UPPER]
)
def test_imports_point_one_way(importer: str, imported: str) -> None:
    wrong = sorted(
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        if rooms_of(name) == importer
        for target in targets
        if rooms_of(target) == imported
    )
    assert not wrong, "\n".join(wrong)


def test_only_the_cli_and_testing_import_testing() -> None:
    wrong = sorted(
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        if rooms_of(name) not in ("dialogue.cli", "dialogue.testing")
        for target in targets
        if rooms_of(target) == "dialogue.testing"
    )
    assert not wrong, "\n".join(wrong)


def test_redact_stands_alone() -> None:
    """The runtime, the engine and hosts use it; it needs nothing but the error tree
    and the linear-time engine of designer patterns."""
    assert GRAPH["dialogue.redact"] <= {"dialogue.errors", "dialogue.regex"}


def test_regex_stands_alone() -> None:
    assert GRAPH["dialogue.regex"] == set()
