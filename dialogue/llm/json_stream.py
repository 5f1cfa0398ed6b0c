"""Reading one string field of a JSON object while the object is still arriving.

A structured answer streams as JSON text in arbitrary pieces::

    {"intent": null, "slots": {}, "reply": "We open at 8

``FieldScanner("reply").feed(piece)`` returns the decoded text of the field's
string value that this piece made certain, so a chat UI can show the reply as
the model writes it. Keys may come in any order and be split across pieces;
escapes (``\\n``, ``\\"``, ``\\uXXXX``, surrogate pairs) are decoded exactly as
``json.loads`` decodes them, whatever piece boundary falls inside them. The
other top-level fields are kept, once complete, in ``values`` (parsed with
``json.loads``), so a caller can decide from them whether the text is worth
showing. Text that is not a JSON object sets ``broken`` and stops the scan.

One pass over the text, no re-parsing of what arrived before: the cost per
piece is proportional to the piece (``bench/stream_scan.py``).
"""

from __future__ import annotations

import json
import re
from typing import Any

_WS = " \t\n\r"
_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_PLAIN = re.compile(r'[^"\\\x00-\x1f]+')
"""A run of string characters that need no decoding."""
_HEX = frozenset("0123456789abcdefABCDEF")


class StringDecoder:
    """The body of one JSON string (after its opening quote), fed in pieces."""

    __slots__ = ("_escape", "_high", "closed")

    def __init__(self) -> None:
        self._escape: str | None = None
        """None outside an escape; "" after a backslash; "u..." while reading \\uXXXX."""
        self._high = ""
        """A high surrogate waiting to see whether a low one follows."""
        self.closed = False

    def feed(self, text: str, pos: int) -> tuple[str, int]:
        """Decode ``text[pos:]`` up to the closing quote: (decoded text, where it stopped).

        Stops after the closing quote (``closed`` is then true) or at the end of
        ``text``. Raises ``ValueError`` on what ``json.loads`` would refuse.
        """
        out: list[str] = []
        end = len(text)
        while pos < end:
            if self._escape is not None:
                pos = self._escaped(text, pos, out)
                continue
            plain = _PLAIN.match(text, pos)
            if plain is not None:
                self._flush(out)
                out.append(plain.group())
                pos = plain.end()
                continue
            char = text[pos]
            pos += 1
            if char == '"':
                self._flush(out)
                self.closed = True
                break
            if char == "\\":
                self._escape = ""
                continue
            raise ValueError(f"control character {char!r} in a string")
        return "".join(out), pos

    def _flush(self, out: list[str]) -> None:
        if self._high:
            out.append(self._high)  # a lone high surrogate, as json.loads keeps it
            self._high = ""

    def _escaped(self, text: str, pos: int, out: list[str]) -> int:
        escape = self._escape
        assert escape is not None
        if escape == "":
            char = text[pos]
            if char == "u":
                self._escape = "u"
                return pos + 1
            if char not in _ESCAPES:
                raise ValueError(f"invalid escape \\{char}")
            self._flush(out)
            out.append(_ESCAPES[char])
            self._escape = None
            return pos + 1
        need = 5 - len(escape)
        digits = text[pos : pos + need]
        if not _HEX.issuperset(digits):
            raise ValueError(f"invalid \\u escape {escape + digits!r}")
        escape += digits
        if len(escape) < 5:
            self._escape = escape
            return pos + len(digits)
        self._escape = None
        self._unit(int(escape[1:], 16), out)
        return pos + len(digits)

    def _unit(self, unit: int, out: list[str]) -> None:
        """One UTF-16 code unit from a \\uXXXX escape."""
        if 0xD800 <= unit < 0xDC00:
            self._flush(out)
            self._high = chr(unit)
        elif 0xDC00 <= unit < 0xE000 and self._high:
            high, self._high = ord(self._high), ""
            out.append(chr(0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00)))
        else:
            self._flush(out)
            out.append(chr(unit))


class _Value:
    """The raw text of a value other than the watched string, until it is complete."""

    __slots__ = ("depth", "escape", "parts", "quoted")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.depth = 0
        self.quoted = False
        self.escape = False

    def feed(self, text: str, pos: int) -> tuple[bool, int]:
        """Take ``text[pos:]`` up to the value's end: (complete, where it stopped)."""
        start, end = pos, len(text)
        done = False
        while pos < end:
            char = text[pos]
            if self.quoted:
                pos += 1
                if self.escape:
                    self.escape = False
                elif char == "\\":
                    self.escape = True
                elif char == '"':
                    self.quoted = False
                    done = self.depth == 0
            elif char == '"':
                pos += 1
                self.quoted = True
            elif char in "{[":
                pos += 1
                self.depth += 1
            elif char in "}]" and self.depth:
                pos += 1
                self.depth -= 1
                done = self.depth == 0
            elif self.depth == 0 and (char in ",}" or char in _WS):
                done = True  # a number, true, false or null ends here
            else:
                pos += 1
            if done:
                break
        self.parts.append(text[start:pos])
        return done, pos

    def parsed(self) -> Any:
        return json.loads("".join(self.parts))  # a ValueError breaks the scan


class FieldScanner:
    """Finds the string value of the top-level key ``field`` in a JSON object fed in pieces.

    ``feed(piece)`` returns the value's decoded text made certain by ``piece``.
    ``values`` holds the top-level fields complete so far, in the order they came
    (the watched field too, once its string is closed); ``done`` is true after the
    object's closing brace; ``broken`` when the text cannot be a JSON object (the
    scan stops; the answer's final check will refuse it). Only the first occurrence
    of ``field`` is streamed; a later one is kept in ``values``, as ``json.loads``
    keeps the last.
    """

    __slots__ = (
        "_decoder",
        "_name",
        "_parts",
        "_state",
        "_value",
        "broken",
        "completed",
        "field",
        "values",
    )

    def __init__(self, field: str) -> None:
        self.field = field
        self.values: dict[str, Any] = {}
        self.completed = 0
        """How many top-level values have been completed (a repeated key counts again)."""
        self.broken = False
        self._state = "start"
        self._decoder = StringDecoder()
        """The key being read, or the watched string."""
        self._parts: list[str] = []
        self._name = ""
        self._value: _Value | None = None

    @property
    def done(self) -> bool:
        """The object's closing brace has arrived."""
        return self._state == "done"

    @property
    def streaming(self) -> bool:
        """The watched string has begun and is not closed yet."""
        return self._state == "text"

    def feed(self, piece: str) -> str:
        if self.broken or not piece:
            return ""
        out: list[str] = []
        try:
            pos = 0
            while pos < len(piece):
                pos = self._step(piece, pos, out)
        except ValueError:  # the text cannot be the start of a JSON object
            self.broken = True
        return "".join(out)

    def _step(self, text: str, pos: int, out: list[str]) -> int:
        state = self._state
        if state in ("text", "key"):
            decoded, pos = self._decoder.feed(text, pos)
            self._parts.append(decoded)
            if state == "text":
                out.append(decoded)
            if self._decoder.closed:
                self._closed(state)
            return pos
        if self._value is not None:
            complete, pos = self._value.feed(text, pos)
            if complete:
                self.values[self._name] = self._value.parsed()
                self.completed += 1
                self._value = None
                self._state = "after"
            return pos
        char = text[pos]
        if char in _WS:
            return pos + 1
        if state == "value":
            if char == '"' and self._name == self.field and self.field not in self.values:
                self._decoder, self._parts = StringDecoder(), []
                self._state = "text"
                return pos + 1
            self._value = _Value()  # read from this character on
            return pos
        self._punctuation(char)
        return pos + 1

    def _closed(self, state: str) -> None:
        text, self._parts = "".join(self._parts), []
        if state == "text":
            self.values[self.field] = text
            self.completed += 1
            self._state = "after"
        else:
            self._name = text
            self._state = "colon"

    def _punctuation(self, char: str) -> None:
        """A character outside strings and values: the object's structure."""
        state = self._state
        if state == "start" and char == "{":
            self._state = "first"
        elif state in ("first", "key?") and char == '"':
            self._decoder, self._parts = StringDecoder(), []
            self._state = "key"
        elif state == "first" and char == "}":
            self._state = "done"
        elif state == "colon" and char == ":":
            self._state = "value"
        elif state == "after" and char == ",":
            self._state = "key?"
        elif state == "after" and char == "}":
            self._state = "done"
        else:
            raise ValueError(f"unexpected {char!r} ({state})")
