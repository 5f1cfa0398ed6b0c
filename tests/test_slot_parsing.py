"""Times, dates and text answers as people say them (English and Chinese), table-driven.

Each row is what a slot makes of an answer to its question: the value, or the
reason it is refused (``am_or_pm``: the engine asks "morning or evening?").
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from dialogue import schema
from dialogue.runtime.rules import prepare
from dialogue.runtime.slots import REASONS, SlotParser, compile_slot

TODAY = datetime.date(2026, 3, 11)  # a Wednesday
_SLOT: TypeAdapter[Any] = TypeAdapter(schema.Slot)


def parser(type_: str, *, language: str = "en", **fields: Any) -> SlotParser:
    extra = {k: fields.pop(k) for k in ("date_order", "intent_phrases") if k in fields}
    slot = _SLOT.validate_python({"type": type_, **fields})
    return compile_slot("x", slot, language=language, **extra)


def parse(p: SlotParser, text: str) -> object:
    result = p.parse(prepare(text), today=TODAY)
    assert result.reason in REASONS + ("",)
    return result.value if result.ok else result.reason


def extract(p: SlotParser, text: str) -> object:
    return p.extract(prepare(text), today=TODAY)


# --------------------------------------------------------------------------- times

OPEN = {"min": "12:00", "max": "22:00"}
NIGHT = {"min": "18:00", "max": "02:00"}  # spans midnight

TIMES = [
    # text, no opening hours, 12:00-22:00, 18:00-02:00
    ("seven o'clock", "am_or_pm", "19:00", "19:00"),
    ("Seven O'Clock PM", "19:00", "19:00", "19:00"),
    ("7 o'clock", "am_or_pm", "19:00", "19:00"),
    ("half past seven", "am_or_pm", "19:30", "19:30"),
    ("half past 7", "am_or_pm", "19:30", "19:30"),
    ("half seven", "am_or_pm", "19:30", "19:30"),
    ("quarter past eight", "am_or_pm", "20:15", "20:15"),
    ("a quarter to eight", "am_or_pm", "19:45", "19:45"),
    ("ten past 7", "am_or_pm", "19:10", "19:10"),
    ("twenty to nine", "am_or_pm", "20:40", "20:40"),
    ("seven thirty", "am_or_pm", "19:30", "19:30"),
    ("seven thirty pm", "19:30", "19:30", "19:30"),
    ("tonight at 7", "19:00", "19:00", "19:00"),
    ("at 7 tonight", "19:00", "19:00", "19:00"),
    ("7 in the evening", "19:00", "19:00", "19:00"),
    ("tomorrow morning at 9", "09:00", "out_of_range", "out_of_range"),
    ("7", "am_or_pm", "19:00", "19:00"),
    ("at 7", "am_or_pm", "19:00", "19:00"),
    ("seven", "am_or_pm", "19:00", "19:00"),
    ("1", "am_or_pm", "13:00", "01:00"),
    ("12", "12:00", "12:00", "out_of_range"),  # twelve without a period word is noon
    ("19", "19:00", "19:00", "19:00"),
    ("7:30", "am_or_pm", "19:30", "19:30"),
    ("07:30", "07:30", "out_of_range", "out_of_range"),
    ("19:30", "19:30", "19:30", "19:30"),
    ("7pm", "19:00", "19:00", "19:00"),
    ("11am", "11:00", "out_of_range", "out_of_range"),
    ("11pm", "23:00", "out_of_range", "23:00"),
    ("1am", "01:00", "out_of_range", "01:00"),
    ("7 or 8pm", "ambiguous", "ambiguous", "ambiguous"),
    ("7-8pm", "ambiguous", "ambiguous", "ambiguous"),
    ("7 or 8", "ambiguous", "ambiguous", "ambiguous"),
    ("7pm or 8pm", "ambiguous", "ambiguous", "ambiguous"),
    ("noon", "12:00", "12:00", "out_of_range"),
    ("midnight", "00:00", "out_of_range", "00:00"),
    ("25:00", "invalid_time", "invalid_time", "invalid_time"),
    ("whenever", "no_match", "no_match", "no_match"),
    ("七点", "am_or_pm", "19:00", "19:00"),
    ("7点", "am_or_pm", "19:00", "19:00"),
    ("七点半", "am_or_pm", "19:30", "19:30"),
    ("七点一刻", "am_or_pm", "19:15", "19:15"),
    ("今晚七点", "19:00", "19:00", "19:00"),
    ("晚上七点半", "19:30", "19:30", "19:30"),
    ("明天晚上7点", "19:00", "19:00", "19:00"),
    ("早上七点", "07:00", "out_of_range", "out_of_range"),
    ("下午两点", "14:00", "14:00", "out_of_range"),
    ("十九点", "19:00", "19:00", "19:00"),
    ("七八点", "ambiguous", "ambiguous", "ambiguous"),
    ("七点或八点", "ambiguous", "ambiguous", "ambiguous"),
    ("晚上十二点", "00:00", "out_of_range", "00:00"),
]


@pytest.mark.parametrize(("text", "free", "open_", "night"), TIMES)
def test_times(text: str, free: str, open_: str, night: str) -> None:
    assert parse(parser("time"), text) == free
    assert parse(parser("time", **OPEN), text) == open_
    assert parse(parser("time", **NIGHT), text) == night


@pytest.mark.parametrize(
    ("text", "free", "open_"),
    [
        ("a table tonight at 7", "19:00", "19:00"),
        ("a table for 2 tonight at 7", "19:00", "19:00"),
        ("a table for 2 tonight", None, None),  # 2 people, not 2pm
        ("two people at 7", None, None),  # an hour alone is a time only when asked for one
        ("see you at half past seven", None, "19:30"),  # the opening hours tell
        ("晚上七点半到", "19:30", "19:30"),
        ("七点到", None, None),  # 七点 without 晚上 or minutes could be "a bit"
        ("I want seven plates", None, None),
        ("7 or 8pm", None, None),
    ],
)
def test_times_in_other_messages(text: str, free: object, open_: object) -> None:
    assert extract(parser("time"), text) == free
    assert extract(parser("time", **OPEN), text) == open_


def test_a_time_value_from_elsewhere_is_checked_against_the_hours() -> None:
    p = parser("time", **OPEN)
    assert p.validate(datetime.time(9, 0), today=TODAY).reason == "out_of_range"
    assert p.validate(datetime.time(19, 0), today=TODAY).value == "19:00"
    assert p.validate("7", today=TODAY).value == "19:00"


@pytest.mark.parametrize("bad", ["7pm", "24:00", "7:00", "19:60"])
def test_opening_hours_are_hh_mm(bad: str) -> None:
    with pytest.raises(ValidationError, match="is not a time of day as HH:MM"):
        _SLOT.validate_python({"type": "time", "min": bad})


# --------------------------------------------------------------------------- dates

DATES = [
    ("friday", "2026-03-13"),
    ("this friday", "2026-03-13"),
    ("on friday", "2026-03-13"),
    ("coming friday", "2026-03-13"),
    ("next friday", "2026-03-20"),  # the Friday of next week, as 下周五
    ("friday next week", "2026-03-20"),
    ("next week on friday", "2026-03-20"),
    ("next week friday", "2026-03-20"),
    ("next monday", "2026-03-16"),
    ("next wednesday", "2026-03-18"),
    ("next week", "ambiguous"),  # which day?
    ("sometime next week", "ambiguous"),
    ("this weekend", "ambiguous"),
    ("next month", "ambiguous"),
    ("in 3 days", "2026-03-14"),
    ("in three days", "2026-03-14"),
    ("in a day", "2026-03-12"),
    ("in a week", "2026-03-18"),
    ("in 2 weeks", "2026-03-25"),
    ("3 days from now", "2026-03-14"),
    ("4 days later", "2026-03-15"),
    ("周五", "2026-03-13"),
    ("下周五", "2026-03-20"),
    ("下个星期五", "2026-03-20"),
    ("下周", "ambiguous"),
    ("下个星期", "ambiguous"),
    ("这周末", "ambiguous"),
    ("下个月", "ambiguous"),
    ("三天后", "2026-03-14"),
    ("3天后", "2026-03-14"),
    ("三天以后", "2026-03-14"),
    ("两周后", "2026-03-25"),
    ("一个星期后", "2026-03-18"),
    ("3 days", "no_match"),  # a duration, not a day
    ("friday or next week", "ambiguous"),
]


@pytest.mark.parametrize(("text", "expected"), DATES)
def test_dates(text: str, expected: str) -> None:
    assert parse(parser("date"), text) == expected


@pytest.mark.parametrize(
    ("text", "mdy", "dmy", "ymd"),
    [
        ("1/2", "2027-01-02", "2027-02-01", "2027-01-02"),
        ("3/4", "2027-03-04", "2026-04-03", "2027-03-04"),
        ("12/11/2026", "2026-12-11", "2026-11-12", "2026-12-11"),
        ("13/2", "invalid_date", "2027-02-13", "invalid_date"),
        ("2026/5/6", "2026-05-06", "2026-05-06", "2026-05-06"),  # year first is plain
        ("2026-05-06", "2026-05-06", "2026-05-06", "2026-05-06"),
        ("May 6", "2026-05-06", "2026-05-06", "2026-05-06"),
    ],
)
def test_date_order(text: str, mdy: str, dmy: str, ymd: str) -> None:
    for order, expected in (("mdy", mdy), ("dmy", dmy), ("ymd", ymd)):
        assert parse(parser("date", date_order=order), text) == expected, order


def test_the_date_order_defaults_to_the_language() -> None:
    assert parse(parser("date"), "1/2") == "2027-01-02"
    assert parse(parser("date", language="zh"), "1/2") == "2027-01-02"
    with pytest.raises(ValueError, match="unknown date order 'ydm'; use dmy, mdy or ymd"):
        parser("date", date_order="ydm")


# --------------------------------------------------------------------------- text

INTENT_PHRASES = ["track", "where is my order", "return", "I want my money back", "退货"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ann Smith", "Ann Smith"),
        ("hi", "greeting"),
        ("Hello!", "greeting"),
        ("hello there", "greeting"),
        ("good morning", "greeting"),
        ("hi, I'm Ann", "hi, I'm Ann"),
        ("Hi Ann", "Hi Ann"),
        ("你好", "greeting"),
        ("您好！", "greeting"),
        ("王小明", "王小明"),
        ("track", "intent_phrase"),
        ("where is my order?", "intent_phrase"),
        ("I want to return", "intent_phrase"),
        ("hi, I want my money back", "intent_phrase"),
        ("please, return", "intent_phrase"),
        ("我想退货", "intent_phrase"),
        ("Return Road 5", "Return Road 5"),
        ("my parcel was returned to sender", "my parcel was returned to sender"),
        ("please", "please"),  # fillers alone are not refused: nothing was said
    ],
)
def test_text_refuses_greetings_and_intent_phrases(text: str, expected: str) -> None:
    assert parse(parser("text", intent_phrases=INTENT_PHRASES), text) == expected


@pytest.mark.parametrize(
    ("refuse", "text", "expected"),
    [
        ([], "hello", "hello"),
        ([], "track", "track"),
        (["greetings"], "track", "track"),
        (["greetings"], "hello", "greeting"),
        (["intents"], "hello", "hello"),
        ("intents", "track", "intent_phrase"),
    ],
)
def test_a_text_slot_refuses_what_it_is_told(refuse: object, text: str, expected: str) -> None:
    p = parser("text", refuse=refuse, intent_phrases=INTENT_PHRASES)
    assert parse(p, text) == expected
