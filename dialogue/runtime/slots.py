"""Typed slot values: parse an answer, extract a value from any message, validate a value.

:func:`compile_slot` turns a slot of the flow file into a :class:`SlotParser`:

* ``parse`` reads a message that answers *this* slot's question (``"4"`` for "how
  many people?");
* ``extract`` finds a value inside any message, only for types that identify
  themselves in free text (pattern, enum, email, phone, date, time) and only when
  the message is unambiguous: it prefers missing a value to inventing one;
* ``validate`` checks a value from elsewhere (a regex intent's named group, a
  ``set``, an LLM): strings are parsed as text, typed values are checked.

Results are :class:`ParseResult`; a failure carries a machine-readable ``reason``
(one of :data:`REASONS`). Values are JSON data: dates ``"YYYY-MM-DD"``, times
``"HH:MM"``. English and Chinese words are understood in flows of any language;
other languages have the language-neutral forms only (digits, ISO dates, ``HH:MM``).
"""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from dialogue import schema
from dialogue.regex import compile_pattern
from dialogue.runtime import dates as _dates
from dialogue.runtime.rules import WORD, KeywordIndex, Prepared, prepare

REASONS = (
    "above_max", "ambiguous", "below_min", "in_future", "in_past", "invalid_date",
    "invalid_time", "no_match", "not_a_number", "not_an_integer", "not_from_text",
    "not_json", "too_long", "too_short", "uncertain", "wrong_type",
)  # fmt: skip
"""Every ``ParseResult.reason`` a parser gives."""


@dataclass(frozen=True, slots=True)
class ParseResult:
    """The outcome of reading a slot value: ``ok`` and ``value``, or why not."""

    ok: bool
    value: object = None
    """JSON data: ``str``, ``int``, ``float``, ``bool`` or ``None`` (any JSON for ``any``)."""
    reason: str = ""
    """Why not, when not ``ok``: one of :data:`REASONS`."""


_FAIL = {reason: ParseResult(False, None, reason) for reason in REASONS}

_NORMALIZE: dict[str, Callable[[str], str]] = {
    "none": lambda s: s,
    "upper": str.upper,
    "lower": str.lower,
    "title": str.title,
    "strip_spaces": lambda s: "".join(s.split()),
}


class SlotParser:
    """Reads one slot's values. Subclasses set ``type`` and ``extractable``.

    Subclasses implement ``_read`` (a whole answer), optionally ``_find`` (a value
    inside any message; default ``_read``) and ``_check`` (a typed value). Each
    returns the value, or a failed :class:`ParseResult`.
    """

    type: ClassVar[str] = ""
    extractable: ClassVar[bool] = False
    __slots__ = ("_normalize", "name")

    def __init__(self, name: str, slot: schema.Slot) -> None:
        self.name = name
        self._normalize = _NORMALIZE[slot.normalize]

    def parse(self, text: Prepared, *, today: datetime.date) -> ParseResult:
        """Interpret the whole of ``text`` as the answer to this slot's question."""
        return _result(self._read(text, today))

    def extract(self, text: Prepared, *, today: datetime.date) -> object | None:
        """A value for this slot found inside ``text``, or ``None``."""
        if not self.extractable:
            return None
        found = self._find(text, today)
        return None if isinstance(found, ParseResult) else found

    def validate(self, value: object, *, today: datetime.date) -> ParseResult:
        """Check and normalise a value: strings are parsed as text, typed values checked."""
        if isinstance(value, str):
            return self.parse(prepare(value), today=today)
        return _result(self._check(value, today))

    def _read(self, text: Prepared, today: datetime.date) -> object:
        raise NotImplementedError

    def _find(self, text: Prepared, today: datetime.date) -> object:
        return self._read(text, today)

    def _check(self, value: object, today: datetime.date) -> object:
        return _FAIL["wrong_type"]

    def _norm(self, value: object) -> object:
        return self._normalize(value) if isinstance(value, str) else value


def _result(read: object) -> ParseResult:
    return read if isinstance(read, ParseResult) else ParseResult(True, read)


def _single(values: Iterable[object], none: str) -> object:
    """The one distinct value among ``values``; else a failure: ``ambiguous`` or ``none``."""
    distinct = set(values)
    if len(distinct) == 1:
        return distinct.pop()
    return _FAIL["ambiguous" if distinct else none]


# --------------------------------------------------------------------------- text and numbers


class TextParser(SlotParser):
    type = "text"
    __slots__ = ("_max", "_min")

    def __init__(self, name: str, slot: schema.TextSlot) -> None:
        super().__init__(name, slot)
        self._min, self._max = slot.min_length, slot.max_length

    def _read(self, text: Prepared, today: datetime.date) -> object:
        value = self._normalize(text.raw.strip())
        if len(value) < self._min:
            return _FAIL["too_short"]
        return _FAIL["too_long"] if len(value) > self._max else value


class _NumericParser(SlotParser):
    integer: ClassVar[bool]
    __slots__ = ("_max", "_min")

    def __init__(self, name: str, slot: schema.IntegerSlot | schema.NumberSlot) -> None:
        super().__init__(name, slot)
        self._min, self._max = slot.min, slot.max

    def _read(self, text: Prepared, today: datetime.date) -> object:
        value = _single(_dates.find_numbers(text.folded), "not_a_number")
        if value is None:  # a vague amount: 两三个
            return _FAIL["ambiguous"]
        return value if isinstance(value, ParseResult) else self._check(value, today)

    def _check(self, value: object, today: datetime.date) -> object:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return _FAIL["wrong_type"]
        if not math.isfinite(value):
            return _FAIL["wrong_type"]
        if self.integer:
            if value != int(value):
                return _FAIL["not_an_integer"]
            value = int(value)
        if self._min is not None and value < self._min:
            return _FAIL["below_min"]
        if self._max is not None and value > self._max:
            return _FAIL["above_max"]
        return value


class IntegerParser(_NumericParser):
    type = "integer"
    integer = True
    __slots__ = ()


class NumberParser(_NumericParser):
    type = "number"
    integer = False
    __slots__ = ()


# --------------------------------------------------------------------------- words


class BooleanParser(SlotParser):
    type = "boolean"
    __slots__ = ()

    def _read(self, text: Prepared, today: datetime.date) -> object:
        answer = _dates.yes_no(text.folded)
        return _FAIL[answer] if isinstance(answer, str) else answer

    def _check(self, value: object, today: datetime.date) -> object:
        return value if isinstance(value, bool) else _FAIL["wrong_type"]


class EnumParser(SlotParser):
    type = "enum"
    extractable = True
    __slots__ = ("_index",)

    def __init__(self, name: str, slot: schema.EnumSlot) -> None:
        super().__init__(name, slot)
        self._index = KeywordIndex(
            (word, value) for value, synonyms in slot.values.items() for word in (value, *synonyms)
        )

    def _read(self, text: Prepared, today: datetime.date) -> object:
        hit = self._index.best(text.folded)
        return _FAIL["no_match"] if hit is None else self._normalize(hit.value)

    def _check(self, value: object, today: datetime.date) -> object:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return self._read(prepare(str(value)), today)
        return _FAIL["wrong_type"]


# --------------------------------------------------------------------------- self-identifying


class PatternParser(SlotParser):
    type = "pattern"
    extractable = True
    __slots__ = ("_group", "_search")

    def __init__(self, name: str, slot: schema.PatternSlot) -> None:
        super().__init__(name, slot)
        pattern = compile_pattern(slot.pattern, ignorecase=True)  # RE2: linear in the text
        if pattern.search("") is not None:
            raise ValueError(
                f"slot {name!r}: pattern {slot.pattern!r} matches the empty string; "
                "make at least one character required"
            )
        self._search = pattern.search
        self._group: str | int = "value" if "value" in pattern.groupindex else 0

    def _read(self, text: Prepared, today: datetime.date) -> object:
        found = self._search(text.nfkc)
        if found is None:
            return _FAIL["no_match"]
        value = found.group(self._group)
        value = found.group() if value is None else value  # group 'value' did not take part
        return self._normalize(value) if value else _FAIL["no_match"]


_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+-])(?P<local>[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*)@"
    r"(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,})"
    r"(?![A-Za-z0-9_-]|\.[A-Za-z0-9])"
)


class EmailParser(SlotParser):
    type = "email"
    extractable = True
    __slots__ = ()

    def _read(self, text: Prepared, today: datetime.date) -> object:
        if "@" not in text.nfkc:
            return _FAIL["no_match"]
        found = [f"{m['local']}@{m['domain'].lower()}" for m in _EMAIL_RE.finditer(text.nfkc)]
        return self._norm(_single(found, "no_match"))


_PHONE_START = re.compile(r"[+(\d]").search
_PHONE_RE = re.compile(
    rf"(?=[+(\d])(?<!{WORD}|[+\-/.])"
    r"(?!\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?!\d)|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}(?!\d))"  # dates
    r"\+?\s?(?:\(\d{1,5}\)[ -]?)?\d(?:[ -]?\d|[ -]?\(\d{1,5}\)[ -]?\d)*"
    rf"(?!{WORD}|[-/]\d)"
)
_SHAPED_PHONE = re.compile(r"[+(]|\d[ -]\d").search
"""In free text a phone number must look like one: ``+``, ``(area)`` or separated groups."""
_CN_MOBILE = re.compile(r"1[3-9]\d{9}").fullmatch


class PhoneParser(SlotParser):
    type = "phone"
    extractable = True
    __slots__ = ()

    def _read(self, text: Prepared, today: datetime.date, *, strict: bool = False) -> object:
        found: list[str] = []
        start = _PHONE_START(text.nfkc)
        for m in _PHONE_RE.finditer(text.nfkc, start.start()) if start else ():
            digits = "".join(c for c in m.group() if c.isdigit())
            if 7 <= len(digits) <= 15 and (
                not strict or _SHAPED_PHONE(m.group()) or _CN_MOBILE(digits)
            ):
                found.append("+" + digits if m.group().startswith("+") else digits)
        return self._norm(_single(found, "no_match"))

    def _find(self, text: Prepared, today: datetime.date) -> object:
        return self._read(text, today, strict=True)


class DateParser(SlotParser):
    type = "date"
    extractable = True
    __slots__ = ("_future", "_past")

    def __init__(self, name: str, slot: schema.DateSlot) -> None:
        super().__init__(name, slot)
        self._past, self._future = slot.allow_past, slot.allow_future

    def _read(self, text: Prepared, today: datetime.date) -> object:
        found = _dates.find_dates(text.folded, today)
        none = "invalid_date" if found else "no_match"
        value = _single((d for d in found if d is not None), none)
        return value if isinstance(value, ParseResult) else self._check(value, today)

    def _check(self, value: object, today: datetime.date) -> object:
        if isinstance(value, datetime.datetime):
            value = value.date()
        if not isinstance(value, datetime.date):
            return _FAIL["wrong_type"]
        if value < today and not self._past:
            return _FAIL["in_past"]
        if value > today and not self._future:
            return _FAIL["in_future"]
        return self._normalize(value.isoformat())


class TimeParser(SlotParser):
    type = "time"
    extractable = True
    __slots__ = ()

    def _read(self, text: Prepared, today: datetime.date, *, strict: bool = False) -> object:
        found: list[str | None] = _dates.find_times(text.folded, strict=strict)
        if not found and not strict and (bare := _dates.bare_hour(text.folded)):
            found = [bare]
        none = "invalid_time" if found else "no_match"
        return self._norm(_single((t for t in found if t is not None), none))

    def _find(self, text: Prepared, today: datetime.date) -> object:
        return self._read(text, today, strict=True)

    def _check(self, value: object, today: datetime.date) -> object:
        if isinstance(value, datetime.time):
            return self._normalize(f"{value.hour:02d}:{value.minute:02d}")
        return _FAIL["wrong_type"]


class AnyParser(SlotParser):
    type = "any"
    __slots__ = ()

    def _read(self, text: Prepared, today: datetime.date) -> object:
        return _FAIL["not_from_text"]

    def validate(self, value: object, *, today: datetime.date) -> ParseResult:
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            return _FAIL["not_json"]
        return ParseResult(True, self._norm(value))


_PARSERS: dict[str, type[SlotParser]] = {
    parser.type: parser
    for parser in (
        TextParser, IntegerParser, NumberParser, BooleanParser, EnumParser, PatternParser,
        EmailParser, PhoneParser, DateParser, TimeParser, AnyParser,
    )
}  # fmt: skip


def compile_slot(name: str, slot: schema.Slot, *, language: str) -> SlotParser:
    """The parser of slot ``name``; ``language`` is the flow's (any code).

    English and Chinese words (numbers, dates, times, yes/no) are understood in
    every language; other languages get the language-neutral forms (digits, ISO
    dates, ``HH:MM``), and enum synonyms as the designer wrote them.
    Raises ``ValueError`` for a pattern that matches the empty string.
    """
    del language  # the same parsers for every language (see above)
    return _PARSERS[slot.type](name, slot)
