"""YAML text -> plain data + source positions, with guards for untrusted input.

``load_yaml`` returns the document as plain data (``dict``, ``list``, ``str``,
``int``, ``float``, ``bool``, ``None``) and a `SourceMap` from each location
(the path of keys and indices from the root) to its line and column, so later
steps can report ``path:line:col``.

Scalars are resolved as in the YAML 1.2 core schema, not PyYAML's YAML 1.1:

- only ``true`` / ``false`` (in any case) are booleans; ``yes``, ``no``,
  ``on``, ``off``, ``y`` and ``n`` stay strings, so the ``on:`` key of a state
  is the string ``"on"`` and ``answer: no`` is the string ``"no"``
  (pydantic still accepts ``"yes"``/``"no"`` in a boolean field);
- ``null``, ``Null``, ``NULL``, ``~`` and an empty value are ``None``;
- integers are decimal, ``0o17`` or ``0x1F``; ``010`` is 10, not octal;
- ``10:30`` (sexagesimal) and ``2024-01-31`` (timestamp) stay strings.

Anything that could surprise or hurt is rejected with a `FlowError` carrying a
stable code: ``file_too_large``, ``not_utf8``, ``yaml_syntax``, ``too_deep``,
``yaml_alias`` (anchors, aliases, merge keys), ``yaml_tag`` (tags other than
the core ones), ``yaml_value`` (an explicit tag the value does not fit),
``duplicate_key``, ``bad_key``, ``not_a_mapping`` and ``multiple_documents``.

`dotted`, `show` and `kind_of` write locations and values the way a designer
reads them in a message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from yaml import MarkedYAMLError, YAMLError
from yaml.composer import Composer
from yaml.events import AliasEvent, Event, StreamEndEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader, ReaderError
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from dialogue.errors import Diagnostic, FlowError, FlowErrors, Loc

CParser: Any
try:  # libyaml's parser, when PyYAML was built with it (the wheels are)
    from yaml._yaml import CParser
except ImportError:  # pragma: no cover - a PyYAML built without libyaml
    CParser = None

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null")}
_ALIAS_HINT = (
    "write the value out in full; anchors, aliases and merge keys are not allowed "
    "because they make flows hard to read and can blow up memory"
)
_QUOTE_HINT = "put the key in quotes to make it a string"


@dataclass(frozen=True)
class SourceMap:
    """Where each location of a loaded document is in its file (1-based)."""

    path: str
    values: Mapping[Loc, tuple[int, int]]
    keys: Mapping[Loc, tuple[int, int]]
    written: Mapping[Loc, str] = field(default_factory=lambda: MappingProxyType({}))
    """How each unquoted scalar that YAML did not read as a string was written
    (``1.10``, ``0x1F``, ``true``, ``~`` or ``""`` for null), for messages."""

    def position(self, loc: Sequence[str | int]) -> tuple[int, int]:
        """The value position of the longest known prefix of ``loc``; (1, 1) if none."""
        for end in range(len(loc), -1, -1):
            found = self.values.get(tuple(loc[:end]))
            if found is not None:
                return found
        return (1, 1)

    def key_position(self, loc: Sequence[str | int]) -> tuple[int, int]:
        """The position of the mapping key at ``loc`` if known, else `position`."""
        return self.keys.get(tuple(loc)) or self.position(loc)

    def diagnostic(
        self,
        loc: Sequence[str | int],
        code: str,
        message: str,
        hint: str = "",
        *,
        severity: str = "error",
        at_key: bool = False,
    ) -> Diagnostic:
        line, col = self.key_position(loc) if at_key else self.position(loc)
        return Diagnostic(self.path, line, col, code, message, hint, severity)


def dotted(loc: Loc) -> str:
    """A location as a designer reads it: ``on.track[0].goto``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def show(value: Any) -> str:
    """A YAML value as a designer would write it."""
    if isinstance(value, str):
        text = f"'{value}'"
    elif isinstance(value, bool) or value is None:
        text = {True: "true", False: "false", None: "null"}[value]
    else:
        text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def kind_of(value: Any) -> str:
    """The YAML type of a value: ``a mapping``, ``a list``, ``null``..."""
    if value is None or isinstance(value, bool):
        return "null" if value is None else "a boolean"
    kinds: dict[type, str] = {str: "a string", dict: "a mapping", list: "a list", tuple: "a list"}
    kinds |= {int: "a number", float: "a number"}
    return next((k for t, k in kinds.items() if isinstance(value, t)), type(value).__name__)


class _Guarded(Composer, Resolver):
    """Composes nodes (with their marks), refusing aliases, anchors and deep nesting.

    Only the composer is used: `_Builder` turns the nodes into plain data, so no
    constructor ever runs. Scalars resolve as in YAML 1.2 (see the module docstring).
    The events come from libyaml (`_FastLoader`) when PyYAML has it, else from
    PyYAML's own scanner and parser (`_Loader`), which also words every syntax error.
    """

    yaml_implicit_resolvers: dict[Any, list[tuple[str, Any]]] = {}
    flow_path: str
    max_depth: int
    depth: int

    if TYPE_CHECKING:  # given by the parser each loader is built on

        def get_event(self) -> Event: ...
        def peek_event(self) -> Event: ...
        def check_event(self, *choices: Any) -> bool: ...
        def dispose(self) -> None: ...

    def _guard(self, *, path: str, max_depth: int) -> None:
        Composer.__init__(self)
        Resolver.__init__(self)
        self.flow_path = path
        self.max_depth = max_depth
        self.depth = 0

    def _fail(self, event: Event, code: str, message: str, hint: str) -> FlowError:
        line, col = _mark(event.start_mark)
        return FlowError(Diagnostic(self.flow_path, line, col, code, message, hint))

    def _peek(self) -> Event:
        return self.peek_event()

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self._peek()
        if isinstance(event, AliasEvent):
            message = f"YAML aliases are not allowed ('*{event.anchor}')"
            raise self._fail(event, "yaml_alias", message, _ALIAS_HINT)
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            message = f"YAML anchors are not allowed ('&{anchor}')"
            raise self._fail(event, "yaml_alias", message, _ALIAS_HINT)
        self.depth += 1
        if self.depth > self.max_depth:
            message = f"the document is nested more than {self.max_depth} levels deep"
            hint = "flatten the structure; a flow never needs this much nesting"
            raise self._fail(event, "too_deep", message, hint)
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def single_node(self) -> Node | None:
        """The one document's root node (None if empty); more documents are an error."""
        self.get_event()  # StreamStart
        node = None if self.check_event(StreamEndEvent) else self.get_node()
        if not self.check_event(StreamEndEvent):
            message = "a flow file holds one YAML document, found a second one"
            hint = "remove the '---' line, or put each flow in a file of its own"
            raise self._fail(self._peek(), "multiple_documents", message, hint)
        return node


class _Loader(_Guarded, Reader, Scanner, Parser):
    def __init__(self, text: str, *, path: str, max_depth: int) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)
        self._guard(path=path, max_depth=max_depth)


_FastLoader: Any = None
if CParser is not None:

    class _FastLoader(_Guarded, CParser):  # type: ignore[no-redef, misc]
        def __init__(self, text: str, *, path: str, max_depth: int) -> None:
            CParser.__init__(self, text)
            self._guard(path=path, max_depth=max_depth)


def _mark(mark: Any) -> tuple[int, int]:
    """A PyYAML mark (0-based) as a 1-based (line, col)."""
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def load_yaml(
    text: str | bytes, *, path: str, max_bytes: int = 1_000_000, max_depth: int = 50
) -> tuple[Any, SourceMap]:
    """Parse one YAML document into plain data and its `SourceMap`.

    ``max_depth`` counts every mapping, list and value from the root (``a: 1``
    is two levels). Raises `FlowError` (`FlowErrors` for several key problems)
    on any bad input; nothing else escapes.
    """
    text = _decode(text, path=path, max_bytes=max_bytes)
    root = _compose(text, path=path, max_depth=max_depth)
    if not isinstance(root, MappingNode):
        raise FlowError(_not_a_mapping(root, path))
    builder = _Builder(path)
    data = builder.build(root, ())
    if builder.errors:
        raise FlowErrors(builder.errors)
    positions = MappingProxyType(builder.values), MappingProxyType(builder.keys)
    return data, SourceMap(path, *positions, MappingProxyType(builder.written))


def _compose(text: str, *, path: str, max_depth: int) -> Node | None:
    if _FastLoader is not None:
        try:
            return _single_node(_FastLoader(text, path=path, max_depth=max_depth))
        except YAMLError:
            pass  # worded by PyYAML's own parser below, as without libyaml
    try:
        return _single_node(_Loader(text, path=path, max_depth=max_depth))
    except MarkedYAMLError as exc:
        raise FlowError(_syntax_diagnostic(exc, path)) from None
    except ReaderError as exc:
        line, col = _line_col(text, exc.position)
        char = chr(exc.character) if isinstance(exc.character, int) else exc.character
        message = f"invalid YAML: character {char!r} is not allowed"
        hint = "remove it; YAML allows only printable characters"
        raise FlowError(Diagnostic(path, line, col, "yaml_syntax", message, hint)) from None


def _single_node(loader: _Guarded) -> Node | None:
    try:
        return loader.single_node()
    finally:
        loader.dispose()


def size_error(path: str, size: int, max_bytes: int) -> FlowError:
    """The ``file_too_large`` error (also raised by the loader before reading a file)."""
    message = f"the file is {size:,} bytes, more than the limit of {max_bytes:,}"
    hint = "split the flow into several files and use 'imports'"
    return FlowError(Diagnostic(path, 1, 1, "file_too_large", message, hint))


def _decode(text: str | bytes, *, path: str, max_bytes: int) -> str:
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise size_error(path, size, max_bytes)
    if isinstance(text, bytes):
        data = text
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            message = f"the file is not valid UTF-8 (byte 0x{data[exc.start]:02x})"
            hint = "save the file with the UTF-8 encoding"
            raise FlowError(Diagnostic(path, line, col, "not_utf8", message, hint)) from None
    return text.removeprefix("\ufeff")


def _line_col(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _syntax_diagnostic(exc: MarkedYAMLError, path: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    line, col = _mark(mark)
    problem = exc.problem or exc.context or "the YAML could not be parsed"
    if "'\\t'" in problem:
        hint = "indent with spaces; YAML does not allow tabs for indentation"
    elif exc.context and exc.context_mark and exc.problem:
        what = exc.context.removeprefix("while parsing ").removeprefix("while scanning ")
        start_line, start_col = _mark(exc.context_mark)
        hint = (
            f"in {what} starting at line {start_line}, column {start_col}; "
            "check its indentation and quoting"
        )
    else:
        hint = "check the indentation, and quote values that contain ': ' or start with a symbol"
    return Diagnostic(path, line, col, "yaml_syntax", f"invalid YAML: {problem}", hint)


def _not_a_mapping(root: Node | None, path: str) -> Diagnostic:
    hint = "a flow file is a mapping of keys, starting with 'flow: <name>'"
    if root is None or (
        isinstance(root, ScalarNode) and root.tag == _TAG + "null" and not root.value
    ):
        return Diagnostic(path, 1, 1, "not_a_mapping", "the file is empty", hint)
    got = "a list" if isinstance(root, SequenceNode) else "a single value"
    line, col = _mark(root.start_mark)
    return Diagnostic(
        path, line, col, "not_a_mapping", f"expected a mapping at the top level, got {got}", hint
    )


_NOT_TEXT: list[re.Pattern[str]] = []


def _add(tag: str, regexp: str, first: list[str]) -> None:
    _Guarded.add_implicit_resolver(_TAG + tag, re.compile(regexp), first)
    _NOT_TEXT.append(re.compile(regexp))


def plain_is_text(value: str) -> bool:
    """Whether ``value`` written as a plain (unquoted) scalar reads back as a string here
    (YAML 1.2 core: ``1e3`` and ``0o17`` are numbers, which PyYAML's YAML 1.1 dumper
    writes unquoted)."""
    return not any(p.match(value) for p in _NOT_TEXT)


_add("bool", r"^(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$", list("tTfF"))
_add("null", r"^(?:~|null|Null|NULL|)$", [*"~nN", ""])
_add("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789"))
_add(
    "float",
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
    list("-+.0123456789"),
)
_add("merge", r"^(?:<<)$", ["<"])


class _Builder:
    """Turns composed nodes into plain data, recording positions and key errors."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.values: dict[Loc, tuple[int, int]] = {}
        self.keys: dict[Loc, tuple[int, int]] = {}
        self.written: dict[Loc, str] = {}
        self.errors: list[Diagnostic] = []

    def _error(self, node: Node, code: str, message: str, hint: str) -> None:
        line, col = _mark(node.start_mark)
        self.errors.append(Diagnostic(self.path, line, col, code, message, hint))

    def build(self, node: Node, loc: Loc) -> Any:
        self.values[loc] = _mark(node.start_mark)
        if isinstance(node, MappingNode) and node.tag == _TAG + "map":
            return self._mapping(node, loc)
        if isinstance(node, SequenceNode) and node.tag == _TAG + "seq":
            return [self.build(item, loc + (i,)) for i, item in enumerate(node.value)]
        if isinstance(node, ScalarNode) and node.tag in _SCALAR_TAGS:
            if node.tag != _TAG + "str":
                self.written[loc] = node.value
            return self._scalar(node)
        hint = "remove the tag; a flow holds only strings, numbers, booleans, lists and mappings"
        self._error(node, "yaml_tag", f"the YAML tag '{node.tag}' is not supported", hint)
        return None

    def _mapping(self, node: MappingNode, loc: Loc) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node)
            if key is None:
                continue
            if key in data:
                first = self.keys[loc + (key,)][0]
                message = f"duplicate key '{key}' (first defined on line {first})"
                hint = "remove one of them; YAML would silently keep only the last"
                self._error(key_node, "duplicate_key", message, hint)
                continue
            self.keys[loc + (key,)] = _mark(key_node.start_mark)
            data[key] = self.build(value_node, loc + (key,))
        return data

    def _key(self, node: Node) -> str | None:
        if node.tag == _TAG + "merge":
            self._error(node, "yaml_alias", "YAML merge keys ('<<') are not allowed", _ALIAS_HINT)
            return None
        if isinstance(node, ScalarNode) and node.tag == _TAG + "str":
            return str(node.value)
        if isinstance(node, ScalarNode) and node.tag in _SCALAR_TAGS:
            kind = {"int": "the number ", "float": "the number ", "bool": "the boolean "}
            shown = kind.get(node.tag[len(_TAG) :], "") + (node.value or "null")
            self._error(node, "bad_key", f"mapping keys must be strings, got {shown}", _QUOTE_HINT)
        else:
            self._error(
                node,
                "bad_key",
                "mapping keys must be strings, got a complex key",
                "use a plain key",
            )
        return None

    def _scalar(self, node: ScalarNode) -> Any:
        value: str = node.value
        kind = node.tag[len(_TAG) :]
        try:
            return _construct(kind, value)
        except (ValueError, KeyError):
            shown = value if len(value) <= 40 else value[:37] + "..."
            hint = "write a valid value, or put it in quotes to make it a string"
            self._error(node, "yaml_value", f"cannot read '{shown}' as !!{kind}", hint)
            return None


def _construct(kind: str, value: str) -> Any:
    if kind == "str":
        return value
    if kind == "null":
        if value not in ("", "~", "null", "Null", "NULL"):
            raise ValueError(value)
        return None
    if kind == "bool":
        return {"true": True, "false": False}[value.lower()]
    if kind == "int":
        if value[:2] in ("0o", "0x"):
            return int(value[2:], 8 if value[1] == "o" else 16)
        return int(value)
    special = {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf, ".nan": math.nan}
    return special[value.lower()] if value.lower() in special else float(value)
