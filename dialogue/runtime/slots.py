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
from collections.abc import Iterable
from typing import ClassVar

from dialogue import schema
from dialogue.regex import compile_pattern
from dialogue.runtime.dates import DateOrder
from dialogue.runtime.numerals import find_numbers
from dialogue.runtime.rules import WORD, KeywordIndex, Prepared, prepare
from dialogue.runtime.slot_base import FAIL, REASONS, ParseResult, SlotParser, single
from dialogue.runtime.slot_calendar import DateParser, TimeParser
from dialogue.runtime.yes_no import yes_no

__all__ = [
    "REASONS", "AnyParser", "BooleanParser", "DateParser", "EmailParser", "EnumParser",
    "IntegerParser", "NumberParser", "ParseResult", "PatternParser", "PhoneParser",
    "SlotParser", "TextParser", "TimeParser", "compile_slot",
]  # fmt: skip

# --------------------------------------------------------------------------- text and numbers


_GREETINGS = (
    "hi|hello|hey|hiya|howdy|yo|hi there|hello there|hey there|good morning|good afternoon|"
    "good evening|good day|greetings|"
    "你好|您好|嗨|哈喽|哈啰|早上好|上午好|下午好|晚上好|早|在吗|在不在"
)
_FILLERS = (
    "please|i want to|i'd like to|i would like to|i want|i need to|i need|can you|could you|"
    "can i|could i|help me|me|my|a|an|the|to|for|there|again|ok|okay|um|uh|well|so|just|"
    "thanks|thank you|我想|我要|想|要|请|请问|帮我|麻烦|一下|可以|吗|呢|吧|啊|呀|的|了"
)
_TEXT_PUNCTUATION = re.compile(r"[^\w\s']+")


class TextParser(SlotParser):
    """Any text; unless the slot says otherwise, not a message made only of greetings,
    the flow's intent keywords and examples, and filler words (``hi``, ``track my
    order please``, ``我想退货``): those are not a name or an address."""

    type = "text"
    __slots__ = ("_max", "_min", "_refuse")

    def __init__(
        self, name: str, slot: schema.TextSlot, *, intent_phrases: Iterable[str] = ()
    ) -> None:
        super().__init__(name, slot)
        self._min, self._max = slot.min_length, slot.max_length
        entries: list[tuple[str, str]] = []
        if "greetings" in slot.refuse:
            entries += [(g, "greeting") for g in _GREETINGS.split("|")]
        if "intents" in slot.refuse:
            entries += [(p, "intent_phrase") for p in intent_phrases if p.strip()]
        if entries:
            entries += [(f, "") for f in _FILLERS.split("|")]
        self._refuse = KeywordIndex(entries) if entries else None

    def _read(self, text: Prepared, today: datetime.date) -> object:
        value = self._normalize(text.raw.strip())
        if len(value) < self._min:
            return FAIL["too_short"]
        if len(value) > self._max:
            return FAIL["too_long"]
        refused = self._refused(text.folded)
        return value if refused is None else FAIL[refused]

    def _refused(self, folded: str) -> str | None:
        """``greeting`` or ``intent_phrase`` when the message is only those and fillers."""
        if self._refuse is None:
            return None
        words = " ".join(_TEXT_PUNCTUATION.sub(" ", folded).split())
        hits = self._refuse.scan(words)
        kinds = {hit.value for hit in hits} - {""}
        rest, end = [], 0
        for hit in hits:
            rest.append(words[end : hit.start])
            end = hit.end
        rest.append(words[end:])
        if not kinds or any(c.isalnum() for c in "".join(rest)):
            return None
        return "intent_phrase" if "intent_phrase" in kinds else "greeting"


class _NumericParser(SlotParser):
    integer: ClassVar[bool]
    __slots__ = ("_max", "_min")

    def __init__(self, name: str, slot: schema.IntegerSlot | schema.NumberSlot) -> None:
        super().__init__(name, slot)
        self._min, self._max = slot.min, slot.max

    def _read(self, text: Prepared, today: datetime.date) -> object:
        value = single(find_numbers(text.folded), "not_a_number")
        if value is None:  # a vague amount: 两三个
            return FAIL["ambiguous"]
        return value if isinstance(value, ParseResult) else self._check(value, today)

    def _check(self, value: object, today: datetime.date) -> object:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return FAIL["wrong_type"]
        if not math.isfinite(value):
            return FAIL["wrong_type"]
        if self.integer:
            if value != int(value):
                return FAIL["not_an_integer"]
            value = int(value)
        if self._min is not None and value < self._min:
            return FAIL["below_min"]
        if self._max is not None and value > self._max:
            return FAIL["above_max"]
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
        answer = yes_no(text.folded)
        return FAIL[answer] if isinstance(answer, str) else answer

    def _check(self, value: object, today: datetime.date) -> object:
        return value if isinstance(value, bool) else FAIL["wrong_type"]


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
        return FAIL["no_match"] if hit is None else self._normalize(hit.value)

    def _check(self, value: object, today: datetime.date) -> object:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return self._read(prepare(str(value)), today)
        return FAIL["wrong_type"]


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
            return FAIL["no_match"]
        value = found.group(self._group)
        value = found.group() if value is None else value  # group 'value' did not take part
        return self._normalize(value) if value else FAIL["no_match"]


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
            return FAIL["no_match"]
        found = [f"{m['local']}@{m['domain'].lower()}" for m in _EMAIL_RE.finditer(text.nfkc)]
        return self._norm(single(found, "no_match"))


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
        return self._norm(single(found, "no_match"))

    def _find(self, text: Prepared, today: datetime.date) -> object:
        return self._read(text, today, strict=True)


class AnyParser(SlotParser):
    type = "any"
    __slots__ = ()

    def _read(self, text: Prepared, today: datetime.date) -> object:
        return FAIL["not_from_text"]

    def validate(self, value: object, *, today: datetime.date) -> ParseResult:
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            return FAIL["not_json"]
        return ParseResult(True, self._norm(value))


_PARSERS: dict[str, type[SlotParser]] = {
    parser.type: parser
    for parser in (
        TextParser, IntegerParser, NumberParser, BooleanParser, EnumParser, PatternParser,
        EmailParser, PhoneParser, DateParser, TimeParser, AnyParser,
    )
}  # fmt: skip


_ORDERS: dict[str, DateOrder] = {"dmy": "dmy", "mdy": "mdy", "ymd": "ymd"}

_DEFAULT_ORDER: dict[str, DateOrder] = {"en": "mdy", "zh": "ymd", "ja": "ymd", "ko": "ymd"}
"""How ``1/2`` reads by default, per language (base code); other languages: ``dmy``."""


def compile_slot(
    name: str,
    slot: schema.Slot,
    *,
    language: str,
    date_order: str | None = None,
    intent_phrases: Iterable[str] = (),
) -> SlotParser:
    """The parser of slot ``name``; ``language`` is the flow's (any code).

    English and Chinese words (numbers, dates, times, yes/no) are understood in
    every language; other languages get the language-neutral forms (digits, ISO
    dates, ``HH:MM``), and enum synonyms as the designer wrote them.
    ``date_order`` (``dmy``, ``mdy`` or ``ymd``; default ``mdy`` in English, ``ymd``
    in Chinese, Japanese and Korean, else ``dmy``) reads dates such as ``1/2``;
    ``intent_phrases`` (the flow's intent keywords and examples) are what a ``text``
    slot refuses as its value.
    Raises ``ValueError`` for a pattern that matches the empty string.
    """
    if isinstance(slot, schema.DateSlot):
        default = _DEFAULT_ORDER.get(language.split("-")[0], "dmy")
        order = _ORDERS.get(date_order or default)
        if order is None:
            raise ValueError(
                f"slot {name!r}: unknown date order {date_order!r}; use dmy, mdy or ymd"
            )
        return DateParser(name, slot, order=order)
    if isinstance(slot, schema.TextSlot):
        return TextParser(name, slot, intent_phrases=intent_phrases)
    return _PARSERS[slot.type](name, slot)
