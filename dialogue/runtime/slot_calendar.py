"""The ``date`` and ``time`` slot parsers (the words are in ``dates`` and ``times``).

A date follows the flow's ``settings.date_order`` for ``1/2``; a span (``next week``)
is ``ambiguous``. A time said without morning or evening (``7``, ``half past
seven``) takes the one reading inside the slot's ``min``/``max`` (opening hours),
and is otherwise ``am_or_pm``: the engine asks which.
"""

from __future__ import annotations

import datetime

from dialogue import schema
from dialogue.runtime import dates as _dates
from dialogue.runtime import times as _times
from dialogue.runtime.rules import Prepared
from dialogue.runtime.slot_base import FAIL, ParseResult, SlotParser, single


class DateParser(SlotParser):
    type = "date"
    extractable = True
    __slots__ = ("_future", "_order", "_past")

    def __init__(self, name: str, slot: schema.DateSlot, *, order: _dates.DateOrder) -> None:
        super().__init__(name, slot)
        self._past, self._future = slot.allow_past, slot.allow_future
        self._order = order

    def _read(self, text: Prepared, today: datetime.date) -> object:
        found = _dates.find_dates(text.folded, today, order=self._order)
        days = [d for d in found if isinstance(d, datetime.date)]
        if _dates.VAGUE in found:
            return FAIL["ambiguous"]  # "next week": which day?
        none = "invalid_date" if found else "no_match"
        value = single(days, none)
        return value if isinstance(value, ParseResult) else self._check(value, today)

    def _check(self, value: object, today: datetime.date) -> object:
        if isinstance(value, datetime.datetime):
            value = value.date()
        if not isinstance(value, datetime.date):
            return FAIL["wrong_type"]
        if value < today and not self._past:
            return FAIL["in_past"]
        if value > today and not self._future:
            return FAIL["in_future"]
        return self._normalize(value.isoformat())


class TimeParser(SlotParser):
    type = "time"
    extractable = True
    __slots__ = ("_max", "_min")

    def __init__(self, name: str, slot: schema.TimeSlot) -> None:
        super().__init__(name, slot)
        self._min, self._max = slot.min, slot.max

    def _read(self, text: Prepared, today: datetime.date, *, strict: bool = False) -> object:
        mentions = _times.find_times(text.folded, strict=strict)
        if not mentions:
            return FAIL["no_match"]
        values: set[str] = set()
        reasons: list[str] = []
        for readings in mentions:
            read = self._resolve(readings)
            if isinstance(read, ParseResult):
                reasons.append(read.reason)
            else:
                values.add(read)
        if len(values) > 1 or (values and reasons and "invalid_time" not in reasons):
            return FAIL["ambiguous"]
        if values:
            return self._norm(values.pop())
        if len({m for m in mentions if m}) > 1:
            return FAIL["ambiguous"]  # 七点或八点
        for reason in ("ambiguous", "am_or_pm", "out_of_range"):
            if reason in reasons:
                return FAIL[reason]
        return FAIL["invalid_time"]

    def _find(self, text: Prepared, today: datetime.date) -> object:
        return self._read(text, today, strict=True)

    def _resolve(self, readings: _times.Readings) -> str | ParseResult:
        """The one reading of a mention inside the opening hours, or why there is none."""
        if not readings:
            return FAIL["invalid_time"]
        inside = [r for r in dict.fromkeys(readings) if self._open(r)]
        if not inside:
            return FAIL["out_of_range"]
        if len(inside) == 1:
            return inside[0]
        if len(inside) == 2 and _half_a_day_apart(*inside):
            return FAIL["am_or_pm"]
        return FAIL["ambiguous"]

    def _open(self, hhmm: str) -> bool:
        """Within ``min``..``max`` (inclusive; ``min`` after ``max`` spans midnight)."""
        low, high = self._min, self._max
        if low is not None and high is not None and low > high:
            return hhmm >= low or hhmm <= high
        return (low is None or hhmm >= low) and (high is None or hhmm <= high)

    def _check(self, value: object, today: datetime.date) -> object:
        if isinstance(value, datetime.time):
            hhmm = f"{value.hour:02d}:{value.minute:02d}"
            return self._normalize(hhmm) if self._open(hhmm) else FAIL["out_of_range"]
        return FAIL["wrong_type"]


def _half_a_day_apart(first: str, second: str) -> bool:
    return first[2:] == second[2:] and abs(int(first[:2]) - int(second[:2])) == 12
