"""Pydantic validation errors -> designer-facing diagnostics at ``path:line:col``.

``locate`` walks a root model (`dialogue.schema.Flow` unless told otherwise) and
the YAML data along an error's location, to learn what was expected there; any
YAML document validated by a pydantic model can use it (the test-spec
explainer does, with ``root=``). ``explain`` then says, for flow files, what
was expected there (allowed keys for a did-you-mean, the slot type of a tagged
union member, the bounds of a number) and says what is wrong in the
designer's terms, with a stable code: ``unknown_key``, ``missing_key``,
``unknown_slot_type``, ``missing_slot_type``, ``bad_name``, ``bad_choice``,
``wrong_type``, ``out_of_range`` and ``invalid``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Tag, ValidationError
from pydantic_core import ErrorDetails

from dialogue import regex, schema
from dialogue.authoring.yaml_source import SourceMap, dotted, kind_of, show
from dialogue.errors import Diagnostic, Loc, did_you_mean
from dialogue.schema import Flow


@dataclass(frozen=True)
class Problem:
    """One pydantic error, with where it points in the YAML document."""

    type: str
    message: str
    input: Any
    ctx: dict[str, Any]
    loc: Loc  # the YAML location (indices the schema added and union tags removed)
    field: Any  # the annotation at the error (None if unknown)
    model: Any  # the model holding the last key (for the allowed keys)
    node: Any  # the YAML data at ``loc`` (None if absent)
    at_key: bool  # the error is about a mapping key (pydantic's '[key]')

    @property
    def keys(self) -> list[str]:
        """The keys ``model`` allows, as written in YAML (for a did-you-mean)."""
        return list(_fields(self.model)) if _is_model(self.model) else []


def _unwrap(tp: Any) -> tuple[Any, list[Any]]:
    """Strip ``Annotated`` and ``| None``; return the core type and the metadata."""
    metadata: list[Any] = []
    while True:
        members = [a for a in get_args(tp) if a is not type(None)]
        if get_origin(tp) is Annotated:
            tp, *extra = get_args(tp)
            metadata.extend(extra)
        elif get_origin(tp) in (Union, UnionType) and len(members) == 1:
            tp = members[0]
        else:
            return tp, metadata


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    """Key as written in YAML (the alias if any) -> the field's full annotation."""
    fields = {}
    for name, info in model.model_fields.items():
        parts = (info.annotation, *info.metadata)
        fields[info.alias or name] = Annotated[parts] if info.metadata else info.annotation
    return fields


def _tagged_member(core: Any, metadata: list[Any], tag: Any) -> Any:
    """The member of a tagged union selected by ``tag``, or None: by the value of its
    discriminator field (the slots' ``type``) or by its ``Tag`` (a callable discriminator)."""
    discriminators = (getattr(m, "discriminator", None) for m in metadata)
    key = next((d for d in discriminators if isinstance(d, str)), "type")
    for member in get_args(core):
        model, extra = _unwrap(member)
        if any(isinstance(m, Tag) and m.tag == tag for m in extra):
            return member
        if _is_model(model) and key in model.model_fields:
            if tag in get_args(model.model_fields[key].annotation):
                return member
    return None


def _child(core: Any, element: Any) -> Any:
    if _is_model(core):
        return _fields(core).get(element)
    origin, args = get_origin(core), get_args(core)
    if origin is dict:
        return args[0] if element == "[key]" else args[1]
    return args[0] if origin in (tuple, list) and args else None


def _descend(node: Any, element: Any) -> tuple[Any, Loc]:
    """Follow one pydantic loc element in the YAML data; () if it has no node there."""
    if isinstance(node, dict) and element in node:
        return node[element], (element,)
    if isinstance(node, list) and isinstance(element, int) and 0 <= element < len(node):
        return node[element], (element,)
    if isinstance(node, list) and isinstance(element, str) and element in node:
        return element, (node.index(element),)  # enum values written as a list
    if isinstance(element, int):
        return node, ()  # a value the schema wrapped in a one-item list
    return None, (element,)


def locate(error: ErrorDetails, data: Any, *, root: type[BaseModel] = Flow) -> Problem:
    """Walk ``root``'s fields and the data along the error's pydantic loc.

    A union member's name or tag in the loc is no step in the YAML.
    """
    about = (error["type"], error["msg"], error.get("input"), dict(error.get("ctx") or {}))
    tp: Any = root
    model: Any = root
    node = data
    yaml_loc: Loc = ()
    for element in error["loc"]:
        core, metadata = _unwrap(tp)
        if element == "[key]":
            return Problem(*about, yaml_loc, _child(core, element), model, node, True)
        if get_origin(core) in (Union, UnionType):
            tp = _tagged_member(core, metadata, element)
            continue
        model = core if _is_model(core) else model
        tp = _child(core, element)
        node, step = _descend(node, element)
        yaml_loc += step
    return Problem(*about, yaml_loc, tp, model, node, False)


# --------------------------------------------------------------------------- messages

_ENTITIES = {"states": "state", "slots": "slot", "intents": "intent"}
_SECTIONS = {"settings": "the flow's settings", "fallback": "the flow's fallback"}
_SLOT_TYPES = ", ".join(schema.SLOT_TYPES)
_MISSING_HINTS = {
    "flow": "add 'flow: <name>'; other flows call this one by its name",
    "start": "add 'start: <state>' naming the state the conversation begins in",
    "states": "add 'states:' with at least one state",
    "type": f"add 'type:' with one of: {_SLOT_TYPES}",
    "values": "list the enum's values, e.g. 'values: [small, medium, large]'",
}
_EXPECTED = {
    "string": "a string", "int": "a whole number", "float": "a number", "bool": "true or false",
    "dict": "a mapping", "model": "a mapping", "tuple": "a list", "list": "a list",
}  # fmt: skip
_DESCRIBED = [
    (schema.Texts, "a string or a list of strings"),
    (schema.Transitions, "a state name, a transition or a list of transitions"),
    (_fields(schema.EnumSlot)["values"], "a list or a mapping of values"),
]
_BOUNDS = {
    "greater_than_equal": ("ge", "at least"), "greater_than": ("gt", "more than"),
    "less_than_equal": ("le", "at most"), "less_than": ("lt", "less than"),
    "too_short": ("min_length", "at least"), "too_long": ("max_length", "at most"),
}  # fmt: skip


def _split(loc: Loc) -> tuple[str, Loc]:
    """(the entity holding ``loc``, the rest): ``("state 'menu'", ("on", "track"))``."""
    if len(loc) >= 2 and loc[0] in _ENTITIES:
        return f"{_ENTITIES[str(loc[0])]} '{loc[1]}'", loc[2:]
    if len(loc) >= 2 and loc[0] in _SECTIONS:
        return _SECTIONS[str(loc[0])], loc[1:]
    return "", loc


def _within(loc: Loc) -> str:
    """Where a mapping is: ``in state 'menu', under 'on.track'``."""
    if len(loc) == 1 and loc[0] in _SECTIONS:
        return f"in {_SECTIONS[str(loc[0])]}"
    entity, rest = _split(loc)
    where = f"in {entity}" if entity else "at the top level"
    return f"{where}, under '{dotted(rest)}'" if rest else where


def _subject(loc: Loc) -> str:
    """What a value is: ``'say' in state 'menu'``, ``slot 'size'``."""
    entity, rest = _split(loc)
    if not rest:
        return entity or "the top level"
    return f"'{dotted(rest)}' {f'in {entity}' if entity else 'at the top level'}"


_Text = tuple[str, str, str]  # code, message, hint


def _key_problem(p: Problem) -> _Text:
    key, where = p.loc[-1], _within(p.loc[:-1])
    if p.type == "missing":
        return (
            "missing_key",
            f"missing required key '{key}' {where}",
            _MISSING_HINTS.get(str(key), ""),
        )
    allowed = p.keys
    hint = did_you_mean(key, allowed) or f"allowed keys: {', '.join(allowed)}"
    return "unknown_key", f"unknown key '{key}' {where}", hint


def _tag_invalid(p: Problem) -> _Text:
    node = p.node
    tag = node.get("type") if isinstance(node, dict) else p.ctx.get("tag")
    message = f"unknown slot type {show(tag)} {_within(p.loc)}"
    close = did_you_mean(tag, schema.SLOT_TYPES)
    message += f"; {close}" if close else ""
    return "unknown_slot_type", message, f"slot types: {_SLOT_TYPES}"


def _tag_missing(p: Problem) -> _Text:
    return "missing_slot_type", f"{_subject(p.loc)} needs a 'type'", _MISSING_HINTS["type"]


def _bad_name(p: Problem) -> _Text:
    loc, value = p.loc, str(p.input)
    if p.ctx.get("pattern") != schema.NAME_RE:
        return "invalid", f"{_subject(loc)}: {show(value)} does not match the pattern", ""
    container = str(loc[-2]) if p.at_key and len(loc) >= 2 else ""
    owner = "" if p.at_key or not loc else str(loc[-1])
    kind = _ENTITIES.get(container) or {"flow": "flow", "into": "slot"}.get(owner, "")
    suggestion = re.sub(r"\W+", "_", value).strip("_")
    suggestion = "_" + suggestion if suggestion[:1].isdigit() else suggestion
    hint = f"did you mean '{suggestion}'?" if re.match(schema.NAME_RE, suggestion) else ""
    name = f"{kind} name" if kind else "name"
    rule = "use letters, digits and _, not starting with a digit"
    return "bad_name", f"{show(value)} is not a valid {name}: {rule}", hint


def _bad_choice(p: Problem) -> _Text:
    core, _ = _unwrap(p.field)
    choices = [str(c) for c in get_args(core)] if get_origin(core) is Literal else []
    listed = ", ".join(f"'{c}'" for c in choices) or str(p.ctx.get("expected", ""))
    message = f"{_subject(p.loc)}: {show(p.input)} is not one of {listed}"
    return "bad_choice", message, did_you_mean(p.input, choices)


def _out_of_range(p: Problem) -> _Text:
    key, words = _BOUNDS[p.type]
    limit = p.ctx.get(key)
    if p.type in ("too_short", "too_long"):
        text = f"needs {words} {limit} {'entry' if limit == 1 else 'entries'}"
        text += f", got {p.ctx.get('actual_length')}"
    else:
        limit = int(limit) if isinstance(limit, float) and limit.is_integer() else limit
        text = f"must be {words} {limit}, got {show(p.input)}"
    return "out_of_range", f"{_subject(p.loc)}: {text}", ""


def _wrong_type(p: Problem) -> _Text:
    expected = _EXPECTED[p.type.split("_")[0]]
    if p.type in ("tuple_type", "list_type", "dict_type"):
        expected = next((text for tp, text in _DESCRIBED if tp == p.field), expected)
    parsed = not p.type.endswith("_type")  # int_parsing, int_from_float, ...
    got = show(p.input) if parsed else kind_of(p.input)
    hint = ""
    if p.input is None:
        hint = "write a value after the colon, or remove the key"
    elif p.type == "string_type" and isinstance(p.input, (int, float)):
        hint = "put the value in quotes to make it a string"
    elif p.loc[:1] == ("slots",) and p.input in schema.SLOT_TYPES:
        hint = f"write it as a mapping: '{p.loc[-1]}: {{type: {p.input}}}'"
    return "wrong_type", f"{_subject(p.loc)}: expected {expected}, got {got}", hint


def _not_text(p: Problem, written: str | None) -> _Text:
    """``values: [1.10]``: YAML made a number of what the designer meant as text."""
    if written is None or isinstance(p.input, (dict, list)):
        return "wrong_type", f"{_subject(p.loc)}: expected text, got {kind_of(p.input)}", ""
    if not written:
        message = f"{_subject(p.loc)}: an empty value is read by YAML as null, not as text"
        return "not_text", message, "write a value, or remove the item"
    read = "null" if p.input is None else f"the {kind_of(p.input)[2:]} {show(p.input)}"
    message = f"{_subject(p.loc)}: {written} is read by YAML as {read}, not as text"
    return "not_text", message, f"put it in quotes to keep it as written: '{written}'"


def _invalid(p: Problem) -> _Text:
    error = p.ctx.get("error")
    text = str(error) if error is not None else p.message.removeprefix("Value error, ")
    hint = regex.HINT if "linear-time engine" in text else ""
    return "invalid", f"{_subject(p.loc)}: {text}", hint


_HANDLERS: dict[str, Callable[[Problem], _Text]] = {
    "extra_forbidden": _key_problem,
    "missing": _key_problem,
    "union_tag_invalid": _tag_invalid,
    "union_tag_not_found": _tag_missing,
    "string_pattern_mismatch": _bad_name,
    "literal_error": _bad_choice,
    "value_error": _invalid,
    **dict.fromkeys(_BOUNDS, _out_of_range),
}


def _handler(kind: str) -> Callable[[Problem], _Text]:
    if kind in _HANDLERS:
        return _HANDLERS[kind]
    if kind.split("_")[0] in _EXPECTED and kind.endswith(("_type", "_parsing", "_from_float")):
        return _wrong_type
    return _invalid


def _position(p: Problem) -> tuple[Loc, bool]:
    """The location to report, and whether it is a key's position."""
    loc, node = p.loc, p.node
    if p.type in ("extra_forbidden", "union_tag_not_found") or p.at_key:
        return loc, True
    if p.type == "missing":
        return loc[:-1], True
    if p.type == "union_tag_invalid":
        return loc + ("type",), False
    if p.type == "value_error" and isinstance(node, dict):
        # "'goto' is only for global intents", "min (5) is greater...": point at that key
        word = str(p.ctx.get("error", "")).split(" ", 1)[0].strip("'")
        return (loc + (word,) if word in node else loc), True
    return loc, False


def explain(
    exc: ValidationError, data: Any, source: SourceMap, *, root: type[BaseModel] = Flow
) -> list[Diagnostic]:
    """A flow file's validation errors as diagnostics, in the designer's words."""
    found: list[Diagnostic] = []
    for error in exc.errors(include_url=False):
        problem = locate(error, data, root=root)
        written = source.written.get(problem.loc)
        if problem.type == schema.NOT_TEXT:
            code, message, hint = _not_text(problem, written)
        else:
            code, message, hint = _handler(problem.type)(problem)
        loc, at_key = _position(problem)
        diagnostic = source.diagnostic(loc, code, message, hint, at_key=at_key)
        if diagnostic not in found:
            found.append(diagnostic)
    return found
