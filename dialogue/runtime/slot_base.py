"""What every slot parser shares: :class:`ParseResult`, the :class:`SlotParser` base and
the failure reasons (:data:`REASONS`). The parsers are in ``slots`` (text, numbers,
words, self-identifying values) and ``slot_calendar`` (dates, times).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from dialogue import schema
from dialogue.runtime.rules import Prepared, prepare

REASONS = (
    "above_max", "am_or_pm", "ambiguous", "below_min", "greeting", "in_future", "in_past",
    "intent_phrase", "invalid_date", "invalid_time", "no_match", "not_a_number",
    "not_an_integer", "not_from_text", "not_json", "out_of_range", "too_long", "too_short",
    "uncertain", "wrong_type",
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


FAIL = {reason: ParseResult(False, None, reason) for reason in REASONS}

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
        return result(self._read(text, today))

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
        return result(self._check(value, today))

    def _read(self, text: Prepared, today: datetime.date) -> object:
        raise NotImplementedError

    def _find(self, text: Prepared, today: datetime.date) -> object:
        return self._read(text, today)

    def _check(self, value: object, today: datetime.date) -> object:
        return FAIL["wrong_type"]

    def _norm(self, value: object) -> object:
        return self._normalize(value) if isinstance(value, str) else value


def result(read: object) -> ParseResult:
    return read if isinstance(read, ParseResult) else ParseResult(True, read)


def single(values: Iterable[object], none: str) -> object:
    """The one distinct value among ``values``; else a failure: ``ambiguous`` or ``none``."""
    distinct = set(values)
    if len(distinct) == 1:
        return distinct.pop()
    return FAIL["ambiguous" if distinct else none]
