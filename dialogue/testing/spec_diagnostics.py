"""Pydantic validation errors of a YAML document -> diagnostics at ``path:line:col``.

Like `dialogue.authoring.diagnostics` (whose messages are written for flow files),
for any root model: errors are located with its ``locate(..., root=)``, and an
`Explainer` says which model the document is, how to name a location in the
designer's words (``in step 2 of conversation 'x'``), and the hints for unknown
keys of particular models. Codes
are the loader's: ``unknown_key``, ``missing_key``, ``bad_choice``, ``bad_name``,
``out_of_range``, ``wrong_type`` and ``invalid``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from dialogue.authoring.diagnostics import Problem, locate
from dialogue.authoring.yaml_source import SourceMap, dotted, kind_of, show
from dialogue.errors import Diagnostic, Loc, did_you_mean


@dataclass(frozen=True)
class Explainer:
    root: type[BaseModel]
    place: Callable[[Loc, Any], tuple[str, Loc]]
    """(where a location is, in words; the rest of it): ``("in step 2 of ...", ("bot",))``."""
    key_hints: Mapping[Any, str] = field(default_factory=dict)
    """The hint for an unknown key of these models (instead of a did-you-mean)."""
    names: Mapping[str, str] = field(default_factory=dict)
    """What a key of these mappings names: ``{"actions": "action "}``."""


_EXPECTED = {
    "string": "a string", "int": "a whole number", "float": "a number", "bool": "true or false",
    "dict": "a mapping", "model": "a mapping", "tuple": "a list", "list": "a list",
    "date": "a date such as 2026-06-01", "literal": "",
}  # fmt: skip


def _message(
    error: Any, problem: Problem, at_key: bool, data: Any, how: Explainer
) -> tuple[str, str, str]:
    kind, loc = error["type"], problem.loc
    where, rest = how.place(loc[:-1] if loc else loc, data)
    key = str(loc[-1]) if loc else ""
    subject = f"'{dotted((*rest, loc[-1]))}' {where}" if loc else "the file"
    if kind == "extra_forbidden":
        allowed = problem.keys
        hint = did_you_mean(key, allowed) or f"allowed keys: {', '.join(allowed)}"
        hint = how.key_hints.get(problem.model, hint)
        return "unknown_key", f"unknown key '{key}' {where}", hint
    if kind == "missing":
        return "missing_key", f"missing required key '{key}' {where}", ""
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(error["ctx"].get("expected", "")))
        listed = ", ".join(f"'{c}'" for c in choices)
        message = f"{subject}: {show(error['input'])} is not one of {listed}"
        return "bad_choice", message, did_you_mean(error["input"], choices)
    if kind == "string_pattern_mismatch" or at_key:
        rule = "use letters, digits and _, not starting with a digit"
        container = str(loc[-2]) if at_key and len(loc) >= 2 else ""
        what = how.names.get(container, "")
        return "bad_name", f"{show(error['input'])} is not a valid {what}name: {rule}", ""
    if kind == "too_short":
        return "out_of_range", f"{subject}: needs at least one entry", ""
    if kind == "value_error":
        return "invalid", f"{subject}: {error['ctx']['error']}", ""
    expected = _EXPECTED.get(kind.split("_")[0])
    if expected:
        got = kind_of(error["input"]) if kind.endswith("_type") else show(error["input"])
        return "wrong_type", f"{subject}: expected {expected}, got {got}", ""
    return "invalid", f"{subject}: {error['msg'][0].lower()}{error['msg'][1:]}", ""


def explain(exc: ValidationError, data: Any, source: SourceMap, how: Explainer) -> list[Diagnostic]:
    """Pydantic's errors as diagnostics; a union's alternatives become one message."""
    found: dict[tuple[Loc, bool], list[tuple[str, str, str]]] = {}
    errors = exc.errors(include_url=False)
    for error in errors:
        if error["type"] == "too_short" and any(
            e["loc"][: len(error["loc"])] == error["loc"] and e is not error for e in errors
        ):
            continue  # pydantic counts only the items that validated
        problem = locate(error, data, root=how.root)
        loc = problem.loc
        at_key = problem.at_key or error["type"] in ("extra_forbidden", "missing")
        place = loc[:-1] if error["type"] == "missing" else loc
        text = _message(error, problem, at_key, data, how)
        found.setdefault((place, at_key), []).append(text)
    diagnostics: list[Diagnostic] = []
    for (loc, at_key), texts in found.items():
        texts = list(dict.fromkeys(texts))
        if len(texts) > 1 and all(code == "wrong_type" for code, _, _ in texts):
            texts = [_merge(texts)]
        for code, message, hint in texts:
            diagnostics.append(source.diagnostic(loc, code, message, hint, at_key=at_key))
    return diagnostics


def _merge(texts: list[tuple[str, str, str]]) -> tuple[str, str, str]:
    """``x: expected a string, got a number`` twice -> ``expected a string or a list``."""
    heads = [message.split(": expected ", 1) for _, message, _ in texts]
    wanted = dict.fromkeys(rest.rsplit(", got ", 1)[0] for _, rest in heads)
    got = heads[0][1].rsplit(", got ", 1)[1]
    return "wrong_type", f"{heads[0][0]}: expected {' or '.join(wanted)}, got {got}", ""
