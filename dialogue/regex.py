"""Designer regular expressions, run by a linear-time engine.

Every regular expression a designer writes (intent ``patterns``, ``pattern`` slots,
``redact`` patterns) meets user text, so it runs on RE2 (the ``google-re2``
binding): matching takes time linear in the text, whatever the pattern.
``^(\\w+\\s?)+$`` on ``"a" * 26 + "!"`` takes ~35 s with Python's ``re`` and
doubles with every character; with RE2 it takes microseconds (bench/regex_engine.py).

RE2 cannot run backreferences (``\\1``, ``(?P=name)``) or lookarounds
(``(?=...)``, ``(?!...)``, ``(?<=...)``): :func:`problem` names them, and flows
using them are refused at validate time.

Python's ``re`` reads ``\\w``, ``\\d`` and ``\\s`` as Unicode classes; RE2 reads
them as ASCII. :func:`translate` rewrites them to the Unicode classes ``re``
means (``\\w`` is ``[\\p{L}\\p{N}_]``, ``\\d`` is ``\\p{Nd}``), so ``(?P<name>\\w+)``
still captures ``张伟``. ``\\b`` stays RE2's: a boundary next to an ASCII letter,
digit or ``_``. ``\\Z`` becomes RE2's ``\\z``.

RE2 is imported on the first compile, not at ``import dialogue``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol

WORD = r"\p{L}\p{N}_"
SPACE = (
    r"\t-\r\x{1c}-\x{20}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}"
    r"\x{202f}\x{205f}\x{3000}"
)
_OUTSIDE = {
    "w": f"[{WORD}]",
    "W": f"[^{WORD}]",
    "d": r"\p{Nd}",
    "D": r"\P{Nd}",
    "s": f"[{SPACE}]",
    "S": f"[^{SPACE}]",
    "Z": r"\z",
}
_INSIDE = {"w": WORD, "d": r"\p{Nd}", "D": r"\P{Nd}", "s": SPACE}
_NOT_IN_CLASS = "\\W or \\S inside [...]: write [^...] with the classes it excludes"


class Match(Protocol):
    """What a match of a designer pattern offers (``re.Match``'s common part)."""

    def group(self, group: str | int = 0, /) -> Any: ...
    def groupdict(self) -> dict[str, Any]: ...
    def span(self, group: str | int = 0, /) -> tuple[int, int]: ...
    def start(self, group: str | int = 0, /) -> int: ...
    def end(self, group: str | int = 0, /) -> int: ...


class Pattern(Protocol):
    """A compiled designer pattern (``re.Pattern``'s common part)."""

    @property
    def pattern(self) -> str: ...
    @property
    def groupindex(self) -> Any: ...
    def search(self, text: str, pos: int = ..., endpos: int = ...) -> Match | None: ...
    def fullmatch(self, text: str, pos: int = ..., endpos: int = ...) -> Match | None: ...
    def sub(self, repl: str | Callable[[Any], str], text: str, count: int = ...) -> str: ...


def translate(source: str) -> str:
    """``source`` with Python's Unicode meanings of ``\\w \\d \\s \\Z`` spelt out for RE2.

    Raises ``ValueError`` for ``\\W`` or ``\\S`` inside a character class.
    """
    out: list[str] = []
    i, inside, n = 0, False, len(source)
    while i < n:
        char = source[i]
        if char == "\\" and i + 1 < n:
            nxt = source[i + 1]
            table = _INSIDE if inside else _OUTSIDE
            if nxt in table:
                out.append(table[nxt])
            elif inside and nxt in "WS":
                raise ValueError(_NOT_IN_CLASS)
            else:
                out.append(source[i : i + 2])
            i += 2
            continue
        if char == "[" and not inside:
            inside = True
            out.append(char)
            i += 1
            # a ']' first in the class (after an optional '^') is a literal
            if i < n and source[i] == "^":
                out.append("^")
                i += 1
            if i < n and source[i] == "]":
                out.append("]")
                i += 1
            continue
        if char == "]" and inside:
            inside = False
        out.append(char)
        i += 1
    return "".join(out)


def compile_pattern(source: str, *, ignorecase: bool = False) -> Pattern:
    """Compile a designer pattern for RE2 (raises ``ValueError`` with the reason)."""
    import re2  # imported when a flow has a pattern

    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern on stderr
    options.case_sensitive = not ignorecase
    options.max_mem = 8 << 20
    try:
        compiled: Pattern = re2.compile(translate(source), options)
    except re2.error as exc:
        raise ValueError(_reason(exc, source)) from None
    return _Compiled(source, compiled)


class _Compiled:
    """An RE2 pattern that reports the designer's source as its ``pattern``.

    ``search`` of ASCII text (most messages) calls RE2 directly: there byte offsets
    are character offsets, so the wrapper's encoding and offset conversion, a few
    microseconds a call, give the same spans for nothing. Other text goes through the
    wrapper. Either way the match is the wrapper's own match object.
    """

    __slots__ = ("_match", "_new", "_re2", "_search", "fullmatch", "groupindex", "pattern", "sub")

    def __init__(self, source: str, compiled: Any) -> None:
        import re2

        self.pattern = source
        self._re2 = compiled
        self.groupindex = dict(compiled.groupindex)
        self._search = compiled.search
        self._match = functools.partial(compiled._regexp.Match, re2._Anchor.UNANCHORED)
        self._new = re2._Match
        self.fullmatch = compiled.fullmatch
        self.sub = compiled.sub

    def search(self, text: str, pos: int | None = None, endpos: int | None = None) -> Any:
        if pos is not None or endpos is not None or not text.isascii():
            return self._search(text, pos, endpos)
        spans = self._match(text.encode(), 0, len(text))
        if spans[0] == _NO_SPAN:
            return None
        return self._new(self._re2, text, 0, len(text), spans)


_NO_SPAN = (-1, -1)
"""RE2's span of a group that did not take part (the wrapper's ``_NULL_SPAN``)."""


def _reason(exc: Exception, source: str) -> str:
    raw = exc.args[0] if exc.args else exc
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    if "invalid perl operator: (?=" in text or "invalid perl operator: (?!" in text:
        return "uses a lookahead, which the linear-time engine (RE2) cannot run"
    if "invalid perl operator: (?<" in text:
        return "uses a lookbehind, which the linear-time engine (RE2) cannot run"
    if "(?P=" in source and "invalid perl operator: (?P" in text:
        return "uses a backreference, which the linear-time engine (RE2) cannot run"
    if "invalid escape sequence: \\" in text and text[-1:].isdigit():
        return "uses a backreference, which the linear-time engine (RE2) cannot run"
    return f"cannot run on the linear-time engine (RE2): {text}"


def problem(source: str) -> str:
    """Why RE2 cannot run ``source`` ("" if it can)."""
    try:
        compile_pattern(source)
    except ValueError as exc:
        return str(exc)
    return ""


HINT = (
    "designer patterns run on RE2, which matches in linear time: rewrite it without "
    "backreferences or lookarounds (match more and check the value in an action)"
)
