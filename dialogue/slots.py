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
``"HH:MM"``. English and Chinese words are understood in flows of either language.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from dialogue import _dates, schema
from dialogue.rules import WORD, KeywordIndex, Prepared, fold, prepare

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
    """Reads one slot's values. Subclasses set ``type`` and ``extractable``."""

    type: ClassVar[str] = ""
    extractable: ClassVar[bool] = False
    __slots__ = ("_normalize", "name")

    def __init__(self, name: str, slot: schema.Slot) -> None:
        self.name = name
        self._normalize = _NORMALIZE[slot.normalize]

    def parse(self, text: Prepared, *, today: datetime.date) -> ParseResult:
        """Interpret the whole of ``text`` as the answer to this slot's question."""
        raise NotImplementedError

    def extract(self, text: Prepared, *, today: datetime.date) -> object | None:
        """A value for this slot found inside ``text``, or ``None``."""
        return None

    def validate(self, value: object, *, today: datetime.date) -> ParseResult:
        """Check and normalise a value: strings are parsed as text, typed values checked."""
        if isinstance(value, str):
            return self.parse(prepare(value), today=today)
        return self._typed(value, today)

    def _typed(self, value: object, today: datetime.date) -> ParseResult:
        return _FAIL["wrong_type"]

    def _ok(self, value: object) -> ParseResult:
        return ParseResult(True, self._normalize(value) if isinstance(value, str) else value)


def _single(values: Iterable[object], none: str) -> ParseResult:
    """The one distinct value among ``values``; ``none`` if there is none."""
    distinct = set(values)
    if len(distinct) == 1:
        return ParseResult(True, distinct.pop())
    return _FAIL["ambiguous" if distinct else none]


# --------------------------------------------------------------------------- text and numbers


class TextParser(SlotParser):
    type = "text"
    __slots__ = ("_max", "_min")

    def __init__(self, name: str, slot: schema.TextSlot) -> None:
        super().__init__(name, slot)
        self._min, self._max = slot.min_length, slot.max_length

    def parse(self, text: Prepared, *, today: datetime.date) -> ParseResult:
        value = self._normalize(text.raw.strip())
        if len(value) < self._min:
            return _FAIL["too_short"]
        return _FAIL["too_long"] if len(value) > self._max else ParseResult(True, value)


class _NumericParser(SlotParser):
    integer: ClassVar[bool]
    __slots__ = ("_max", "_min")

    def __init__(self, name: str, slot: schema.IntegerSlot | schema.NumberSlot) -> None:
        super().__init__(name, slot)
        self._min, self._max = slot.min, slot.max

    def parse(self, text: Prepared, *, today: datetime.date) -> ParseResult:
        result = _single(_dates.find_numbers(text.folded), "not_a_number")
        if not result.ok:
            return result
        if result.value is None:
            return _FAIL["ambiguous"]
        return self._typed(result.value, today)

    def _typed(self, value: object, today: datetime.date) -> ParseResult:
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
        return ParseResult(True, value)


class IntegerParser(_NumericParser):
    type = "integer"
    integer = True
    __slots__ = ()


class NumberParser(_NumericParser):
    type = "number"
    integer = False
    __slots__ = ()


# --------------------------------------------------------------------------- words


def _phrases(text: str, value: bool | None) -> list[tuple[str, bool | None]]:
    """``|``-separated phrases; each ``'`` also stands for ``’`` and for nothing."""
    forms = []
    for phrase in text.split("|"):
        forms.append((phrase, value))
        if "'" in phrase:
            forms += [(phrase.replace("'", "\u2019"), value), (phrase.replace("'", ""), value)]
    return forms


_YES = (
    "yes|yeah|yea|ya|yep|yup|y|sure|ok|okay|k|correct|right|that's right|that's correct|"
    "please|please do|yes please|of course|absolutely|definitely|certainly|indeed|confirm|"
    "confirmed|go ahead|do it|sounds good|fine|that's fine|alright|all right|true|agreed|"
    "no problem|no worries|not a problem|why not|"
    "是|是的|是啊|对|对的|对啊|好|好的|好啊|好吧|可以|可以的|行|行吧|确认|确定|嗯|嗯嗯|"
    "没问题|没有问题|没错|当然|同意|要|需要|不错"
)
_NO = (
    "no|nope|nah|n|not really|don't|do not|no thanks|no thank you|never|negative|"
    "not at all|not now|no way|wrong|incorrect|false|not correct|not right|not ok|not okay|"
    "not fine|that's wrong|"
    "不|不是|不要|不用|不用了|否|不对|算了|不行|不可以|不需要|别|不好|没有|不确认|不了|错|错了|"
    "不同意|不必"
)
_UNSURE = (
    "not sure|unsure|maybe|perhaps|possibly|i don't know|don't know|dunno|idk|no idea|"
    "not certain|"
    "不确定|不知道|不清楚|可能|也许|或许|说不好|不一定|看情况"
)
_YES_NO = KeywordIndex(_phrases(_NO, False) + _phrases(_UNSURE, None) + _phrases(_YES, True))


def yes_no(folded: str) -> bool | None | str:
    """``True``, ``False``, ``"uncertain"`` or ``"no_match"``; any "no" word wins."""
    polarities = {hit.value for hit in _YES_NO.scan(folded)}  # "not sure" hides "sure"
    if False in polarities:
        return False
    if None in polarities:
        return "uncertain"
    return True if polarities else "no_match"


class BooleanParser(SlotParser):
    type = "boolean"
    __slots__ = ()

    def parse(self, text: Prepared, *, today: datetime.date) -> ParseResult:
        answer = yes_no(text.folded)
        return _FAIL[answer] if isinstance(answer, str) else ParseResult(True, answer)

    def _typed(self, value: object, today: datetime.date) -> ParseResult:
        return ParseResult(True, value) if isinstance(value, bool) else _FAIL["wrong_type"]


class EnumParser(SlotParser):
    type = "enum"
    extractable = True
    __slots__ = ("_canonical", "_index")

    def __init__(self, name: str, slot: schema.EnumSlot) -> None:
        super().__init__(name, slot)
        self._canonical = {fold(value): value for value in reversed(slot.values)}
        self._index = KeywordIndex(
            (word, value) for value, synonyms in slot.values.items() for word in (value, *synonyms)
        )

    def parse(self, text: Prepared, *, today: datetime.date) -> ParseResult:
        value = self._canonical.get(text.folded)
        if value is None:
            hit = self._index.best(text.folded)
            if hit is None:
                return _FAIL["no_match"]
            value = hit.value
        return self._ok(value)

    def extract(self, text: Prepared, *, today: datetime.date) -> object | None:
        hit = self._index.best(text.folded)
        return None if hit is None else self._normalize(hit.value)

    def _typed(self, value: object, today: datetime.date) -> ParseResult:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return self.validate(str(value), today=today)
        return _FAIL["wrong_type"]


# --------------------------------------------------------------------------- self-identifying


class PatternParser(SlotParser):
    type = "pattern"
    extractable = True
    __slots__ = ("_group", "_search")

    def __init__(self, name: str, slot: schema.PatternSlot) -> None:
        super().__init__(name, slot)
        pattern = re.compile(slot.pattern, re.IGNORECASE)
        if pattern.search("") is not None:
            raise ValueError(
                f"slot {name!r}: pattern {slot.pattern!r} matches the empty string; "
                "make at least one character required"
            )
        self._search = pattern.search
        self._group: str | int = "value" if "value" in pattern.groupindex else 0

    def parse(self, text: Prepared, *, today: datetime.date) -> ParseResult:
        value = self.extract(text, today=today)
        return _FAIL["no_match"] if value is None else ParseResult(True, value)

    def extract(self, text: Prepared, *, today: datetime.date) -> str | None:
        found = self._search(text.nfkc)
        if found is None:
            return None
        value = found.group(self._group)
        value = found.group() if value is None else value  # group 'value' did not take part
        return self._normalize(value) if value else None


_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+-])(?P<local>[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*)@"
    r"(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,})"
    r"(?![A-Za-z0-9_-]|\.[A-Za-z0-9])"
)


class EmailParser(SlotParser):
    type = "email"
    extractable = True
    __slots__ = ()

    def parse(self, text: Prepared, *, today: datetime.date) -> ParseResult:
        found = [f"{m['local']}@{m['domain'].lower()}" for m in _EMAIL_RE.finditer(text.nfkc)]
        result = _single(found, "no_match")
        return self._ok(result.value) if result.ok else result

    def extract(self, text: Prepared, *, today: datetime.date) -> object | None:
        return self.parse(text, today=today).value


_PHONE_RE = re.compile(
    rf"(?<!{WORD}|[+\-/.])"
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

    def _find(self, text: Prepared, *, strict: bool) -> ParseResult:
        found = []
        for m in _PHONE_RE.finditer(text.nfkc):
            digits = "".join(c for c in m.group() if c.isdigit())
            if 7 <= len(digits) <= 15 and (
                not strict or _SHAPED_PHONE(m.group()) or _CN_MOBILE(digits)
            ):
                found.append("+" + digits if m.group().startswith("+") else digits)
        return _single(found, "no_match")

    def parse(self, text: Prepared, *, today: datetime.date) -> ParseResult:
        return self._find(text, strict=False)

    def extract(self, text: Prepared, *, today: datetime.date) -> object | None:
        return self._find(text, strict=True).value


class DateParser(SlotParser):
    type = "date"
    extractable = True
    __slots__ = ("_future", "_past")

    def __init__(self, name: str, slot: schema.DateSlot) -> None:
        super().__init__(name, slot)
        self._past, self._future = slot.allow_past, slot.allow_future

    def parse(self, text: Prepared, *, today: datetime.date) -> ParseResult:
        found = _dates.find_dates(text.folded, today)
        none = "invalid_date" if found else "no_match"
        result = _single((d for d in found if d is not None), none)
        return self._typed(result.value, today) if result.ok else result

    def extract(self, text: Prepared, *, today: datetime.date) -> object | None:
        return self.parse(text, today=today).value

    def _typed(self, value: object, today: datetime.date) -> ParseResult:
        if isinstance(value, datetime.datetime):
            value = value.date()
        if not isinstance(value, datetime.date):
            return _FAIL["wrong_type"]
        if value < today and not self._past:
            return _FAIL["in_past"]
        if value > today and not self._future:
            return _FAIL["in_future"]
        return self._ok(value.isoformat())


class TimeParser(SlotParser):
    type = "time"
    extractable = True
    __slots__ = ()

    def _find(self, text: Prepared, *, strict: bool) -> ParseResult:
        found: list[str | None] = _dates.find_times(text.folded, strict=strict)
        if not found and not strict:
            found = [_dates.bare_hour(text.folded)] if _dates.bare_hour(text.folded) else []
        none = "invalid_time" if found else "no_match"
        result = _single((t for t in found if t is not None), none)
        return self._ok(result.value) if result.ok else result

    def parse(self, text: Prepared, *, today: datetime.date) -> ParseResult:
        return self._find(text, strict=False)

    def extract(self, text: Prepared, *, today: datetime.date) -> object | None:
        return self._find(text, strict=True).value

    def _typed(self, value: object, today: datetime.date) -> ParseResult:
        if isinstance(value, datetime.time):
            return self._ok(f"{value.hour:02d}:{value.minute:02d}")
        return _FAIL["wrong_type"]


class AnyParser(SlotParser):
    type = "any"
    __slots__ = ()

    def parse(self, text: Prepared, *, today: datetime.date) -> ParseResult:
        return _FAIL["not_from_text"]

    def validate(self, value: object, *, today: datetime.date) -> ParseResult:
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            return _FAIL["not_json"]
        return self._ok(value)


_PARSERS: dict[str, type[SlotParser]] = {
    parser.type: parser
    for parser in (
        TextParser, IntegerParser, NumberParser, BooleanParser, EnumParser, PatternParser,
        EmailParser, PhoneParser, DateParser, TimeParser, AnyParser,
    )
}  # fmt: skip


def compile_slot(name: str, slot: schema.Slot, *, language: str) -> SlotParser:
    """The parser of slot ``name``; ``language`` (``"en"`` or ``"zh"``) is the flow's.

    Raises ``ValueError`` for a pattern that matches the empty string.
    """
    if language not in ("en", "zh"):
        raise ValueError(f"slot {name!r}: unknown language {language!r}; use 'en' or 'zh'")
    return _PARSERS[slot.type](name, slot)
