"""The one exception tree: every exception class of the package is in `dialogue.errors`."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import jinja2
import pytest

import dialogue
from dialogue import errors

# Exception classes allowed outside errors.py: none.
ELSEWHERE: set[str] = set()


def _modules() -> list[str]:
    names = [dialogue.__name__]
    for info in pkgutil.walk_packages(dialogue.__path__, prefix="dialogue."):
        if info.name.endswith(".__main__"):  # runs the command line
            continue
        try:
            importlib.import_module(info.name)
        except ImportError:  # an optional extra that is not installed
            continue
        names.append(info.name)
    return names


def _exception_classes() -> dict[str, type[BaseException]]:
    found = {}
    for name in _modules():
        for obj in vars(importlib.import_module(name)).values():
            if inspect.isclass(obj) and issubclass(obj, BaseException):
                if obj.__module__.startswith("dialogue"):
                    found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return found


def test_every_exception_class_is_defined_in_errors() -> None:
    outside = {name for name in _exception_classes() if not name.startswith("dialogue.errors.")}
    assert outside == ELSEWHERE


def test_every_error_is_a_dialogue_error_with_its_own_code() -> None:
    tree = [obj for name, obj in _exception_classes().items() if name not in ELSEWHERE]
    assert len(tree) >= 17
    codes: dict[str, type[BaseException]] = {}
    for cls in tree:
        assert issubclass(cls, errors.DialogueError), cls
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", cls.code), cls
        assert codes.setdefault(cls.code, cls) is cls, f"{cls} repeats the code {cls.code!r}"


def test_every_error_is_drawn_in_the_docstring() -> None:
    assert errors.__doc__ is not None
    for name in _exception_classes():
        assert re.search(rf"\s{name.rsplit('.', 1)[1]}\s", errors.__doc__), name


@pytest.mark.parametrize(
    ("old", "name"),
    [
        ("dialogue.runtime.templates", "RenderError"),
        ("dialogue.runtime.templates", "UnknownFilter"),
        ("dialogue.runtime.machine", "IllegalMove"),
        ("dialogue.testing.evaluation", "DatasetError"),
        ("dialogue.testing.cassette", "CassetteError"),
        ("dialogue.testing.cassette", "CassetteMiss"),
        ("dialogue.testing", "ConversationFailure"),
        ("dialogue.testing", "StubError"),
    ],
)
def test_old_import_paths_name_the_same_class(old: str, name: str) -> None:
    assert getattr(importlib.import_module(old), name) is getattr(errors, name)


def test_deliberate_second_bases() -> None:
    assert issubclass(errors.ConversationFailure, AssertionError)  # pytest: a failed test
    assert issubclass(errors.UnknownFilter, jinja2.TemplateSyntaxError)  # one except clause


def test_structured_attributes() -> None:
    failure = errors.ConversationFailure("report", name="n", label="step 1", where="t.yaml:3")
    assert (str(failure), failure.name, failure.label, failure.where) == (
        "report",
        "n",
        "step 1",
        "t.yaml:3",
    )
    unknown = errors.UnknownFilter("filter", "uper", ["upper", "lower"], 2)
    assert (unknown.kind, unknown.unknown, unknown.known, unknown.lineno) == (
        "filter",
        "uper",
        ("lower", "upper"),
        2,
    )
    assert unknown.message == "unknown filter 'uper'" and unknown.code == "unknown_filter"
    stub = errors.StubError("warehouse down", action="create_return")
    assert (str(stub), stub.action) == ("warehouse down", "create_return")
    dataset = errors.DatasetError("d.csv", [(3, "bad row")] * 25)
    assert dataset.line == 3 and len(dataset.problems) == 25
    assert str(dataset).splitlines()[-1] == "d.csv: ... and 5 more problems"


def test_did_you_mean() -> None:
    assert errors.did_you_mean("adress", ["address", "phone"]) == "did you mean 'address'?"
    assert errors.did_you_mean("sat", ["say", "set", "goto"]) == "did you mean 'say' or 'set'?"
    assert errors.did_you_mean("zzz", ["say", "set"]) == ""
    assert errors.did_you_mean(3, ["3s"]) == "did you mean '3s'?"  # YAML gives non-strings too
