from __future__ import annotations

import datetime
from typing import Any

import pytest
from pydantic import TypeAdapter

from dialogue import schema
from dialogue.runtime.rules import prepare
from dialogue.runtime.slots import REASONS, ParseResult, SlotParser, compile_slot

TODAY = datetime.date(2026, 3, 11)  # a Wednesday
_SLOT: TypeAdapter[Any] = TypeAdapter(schema.Slot)


def parser(type_: str, *, language: str = "en", **fields: Any) -> SlotParser:
    return compile_slot("x", _SLOT.validate_python({"type": type_, **fields}), language=language)


def parse(p: SlotParser, text: str) -> object:
    """The value, or the reason it failed."""
    result = p.parse(prepare(text), today=TODAY)
    assert result.reason in REASONS + ("",)
    return result.value if result.ok else result.reason


def extract(p: SlotParser, text: str) -> object:
    return p.extract(prepare(text), today=TODAY)


ORDINARY = [
    "I want to return my order",
    "I want to return my order AB123456",
    "Hello, can you help me please?",
    "我想退货",
    "我的订单号是AB123456",
    "便宜一点",
    "order 12345678",
    "3/4 of the way",  # a fraction
]


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("fields", "text", "expected"),
    [
        ({}, "  Hello World  ", "Hello World"),
        ({"normalize": "upper"}, "ab 12", "AB 12"),
        ({"normalize": "lower"}, "AB 12", "ab 12"),
        ({"normalize": "title"}, "john smith", "John Smith"),
        ({"normalize": "strip_spaces"}, " ab 12 34 ", "ab1234"),
        ({"min_length": 3}, "ab", "too_short"),
        ({"max_length": 5}, "too long", "too_long"),
        ({}, "   ", "too_short"),
        ({"min_length": 0}, "", ""),
        ({}, "ＡＢ", "ＡＢ"),  # text keeps what the user typed
    ],
)
def test_text(fields: dict[str, Any], text: str, expected: object) -> None:
    assert parse(parser("text", **fields), text) == expected


def test_text_is_not_extractable() -> None:
    p = parser("text")
    assert not p.extractable
    assert extract(p, "anything") is None


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4", 4),
        ("4 people", 4),
        ("for 4, please", 4),
        ("+5", 5),
        ("-3", -3),
        ("1,000", 1000),
        ("１２", 12),
        ("3.0", 3),
        ("four", 4),
        ("Twenty five", 25),
        ("twenty-five people", 25),
        ("a dozen", 12),
        ("one hundred", 100),
        ("just one", 1),
        ("zero", 0),
        ("十二", 12),
        ("二十", 20),
        ("两个人", 2),
        ("4位", 4),
        ("四位", 4),
        ("一百零五", 105),
        ("两百五", 250),
        ("我们一共四个人", 4),
        ("一起三个", 3),
        ("3.5", "not_an_integer"),
        ("3-4", "ambiguous"),
        ("2 adults and 3 kids", "ambiguous"),
        ("两三个", "ambiguous"),
        ("4 or 4", 4),
        ("7pm", "not_a_number"),
        ("AB123", "not_a_number"),
        ("someone", "not_a_number"),
        ("1,00", "not_a_number"),
        ("", "not_a_number"),
    ],
)
def test_integer(text: str, expected: object) -> None:
    assert parse(parser("integer"), text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", "below_min"), ("1", 1), ("10", 10), ("11", "above_max"), ("eleven", "above_max")],
)
def test_integer_bounds(text: str, expected: object) -> None:
    assert parse(parser("integer", min=1, max=10), text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3.5", 3.5),
        ("1,234.5", 1234.5),
        ("$12.50", 12.5),
        (".5", 0.5),
        ("about 3 kg", 3),
        ("３.５", 3.5),
        ("0.1", "below_min"),
        ("10,001", "above_max"),
        ("many", "not_a_number"),
    ],
)
def test_number(text: str, expected: object) -> None:
    assert parse(parser("number", min=0.5, max=10000), text) == expected


@pytest.mark.parametrize(
    ("type_", "value", "expected"),
    [
        ("integer", 5, ParseResult(True, 5)),
        ("integer", 5.0, ParseResult(True, 5)),
        ("integer", "5", ParseResult(True, 5)),
        ("integer", 5.5, ParseResult(False, None, "not_an_integer")),
        ("integer", True, ParseResult(False, None, "wrong_type")),
        ("integer", None, ParseResult(False, None, "wrong_type")),
        ("number", 2, ParseResult(True, 2)),
        ("number", 2.5, ParseResult(True, 2.5)),
        ("number", float("nan"), ParseResult(False, None, "wrong_type")),
        ("number", float("inf"), ParseResult(False, None, "wrong_type")),
    ],
)
def test_validate_numbers(type_: str, value: object, expected: ParseResult) -> None:
    assert parser(type_).validate(value, today=TODAY) == expected


# --------------------------------------------------------------------------- boolean
# The table of answers is tests/test_yes_no.py.


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, ParseResult(True, True)),
        (False, ParseResult(True, False)),
        ("yes", ParseResult(True, True)),
        (1, ParseResult(False, None, "wrong_type")),
    ],
)
def test_validate_boolean(value: object, expected: ParseResult) -> None:
    assert parser("boolean").validate(value, today=TODAY) == expected


# --------------------------------------------------------------------------- enum

SIZES = {"small": ["s", "little"], "large": ["big", "l"], "extra large": ["xl"]}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("large", "large"),
        ("Large", "large"),
        ("ＬＡＲＧＥ", "large"),
        ("a big one", "large"),
        ("bigs", "large"),  # keyword-style plural tolerance
        ("extra large please", "extra large"),  # the longest match wins
        ("XL", "extra large"),
        ("size S", "small"),
        ("it's fine", "no_match"),  # the s of it's is not the size
        ("I'm ok", "no_match"),
        ("biggest", "no_match"),
        ("medium", "no_match"),
    ],
)
def test_enum(text: str, expected: object) -> None:
    p = parser("enum", values=SIZES)
    assert parse(p, text) == expected
    assert extract(p, text) == (None if expected == "no_match" else expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("我要红色的", "红色"), ("红", "红色"), ("深蓝", "蓝色"), ("绿色", "no_match")],
)
def test_enum_chinese(text: str, expected: object) -> None:
    p = parser("enum", language="zh", values={"红色": ["红"], "蓝色": ["蓝"]})
    assert parse(p, text) == expected


def test_enum_tie_goes_to_the_first_value() -> None:
    assert parse(parser("enum", values=["red", "tan"]), "tan or red") == "red"
    assert parse(parser("enum", values=["red", "tan"]), "red or tan") == "red"


def test_enum_normalize_applies_to_the_canonical_value() -> None:
    p = parser("enum", values={"gold": ["premium"]}, normalize="upper")
    assert parse(p, "premium") == "GOLD"
    assert extract(p, "premium please") == "GOLD"


@pytest.mark.parametrize(
    ("values", "value", "expected"),
    [
        (SIZES, "LARGE", ParseResult(True, "large")),
        (SIZES, "xl", ParseResult(True, "extra large")),
        (SIZES, "huge", ParseResult(False, None, "no_match")),
        (["1", "2", "3"], 2, ParseResult(True, "2")),
        (["1", "2", "3"], True, ParseResult(False, None, "wrong_type")),
    ],
)
def test_validate_enum(values: object, value: object, expected: ParseResult) -> None:
    assert parser("enum", values=values).validate(value, today=TODAY) == expected


# --------------------------------------------------------------------------- pattern

ORDER = r"(?P<value>[A-Z]{2}\d{6})"


@pytest.mark.parametrize(
    ("pattern", "normalize", "text", "expected"),
    [
        (ORDER, "upper", "my order is ab123456", "AB123456"),
        (ORDER, "upper", "ＡＢ１２３４５６", "AB123456"),
        (ORDER, "none", "ab123456", "ab123456"),
        (r"#\d+", "none", "ticket #42 please", "#42"),  # no group 'value': the whole match
        (r"(?P<value>\d+)|none", "none", "none", "none"),  # group 'value' not taking part
        (r"[a-z] [0-9]", "strip_spaces", "it is b 7", "b7"),
        (ORDER, "upper", "my order is AB12345", "no_match"),
    ],
)
def test_pattern(pattern: str, normalize: str, text: str, expected: object) -> None:
    p = parser("pattern", pattern=pattern, normalize=normalize)
    assert parse(p, text) == expected
    assert extract(p, text) == (None if expected == "no_match" else expected)


def test_pattern_matching_empty_string_is_an_error() -> None:
    slot = schema.PatternSlot.model_construct(type="pattern", pattern=r"\d*", normalize="none")
    with pytest.raises(ValueError) as info:
        compile_slot("x", slot, language="en")
    assert str(info.value) == (
        "slot 'x': pattern '\\\\d*' matches the empty string; make at least one character required"
    )


# --------------------------------------------------------------------------- email


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("john@example.com", "john@example.com"),
        ("mail me at John.Doe@Example.COM.", "John.Doe@example.com"),
        ("我的邮箱是a.b+tag@mail.qq.com谢谢", "a.b+tag@mail.qq.com"),
        ("ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ", "john@example.com"),
        ("a@b", "no_match"),
        ("@example.com", "no_match"),
        ("user@localhost", "no_match"),
        ("a@b.com or c@d.com", "ambiguous"),
    ],
)
def test_email(text: str, expected: object) -> None:
    p = parser("email")
    assert parse(p, text) == expected
    assert extract(p, text) == (expected if "@" in str(expected) else None)


# --------------------------------------------------------------------------- phone


@pytest.mark.parametrize(
    ("text", "parsed", "extracted"),
    [
        ("+1 (555) 123-4567", "+15551234567", "+15551234567"),
        ("+86 138 1234 5678", "+8613812345678", "+8613812345678"),
        ("13812345678", "13812345678", "13812345678"),
        ("我的电话是13812345678", "13812345678", "13812345678"),
        ("手机：138-1234-5678，谢谢", "13812345678", "13812345678"),
        ("call me on 555-1234", "5551234", "5551234"),
        ("010 8888 6666", "01088886666", "01088886666"),
        ("(020) 7946 0958", "02079460958", "02079460958"),
        ("12345678", "12345678", None),  # plain digits: a phone only when asked for one
        ("5551234567", "5551234567", None),
        ("AB123456", "no_match", None),
        ("AB-123-4567", "no_match", None),
        ("2026-12-01", "no_match", None),
        ("12/01/2026", "no_match", None),
        ("01.12.2026", "no_match", None),
        ("19:30", "no_match", None),
        ("3.14159265", "no_match", None),
        ("123456", "no_match", None),
        ("1234567890123456", "no_match", None),
        ("$1,000,000", "no_match", None),
        ("555-1234 or 555-9876", "ambiguous", None),
    ],
)
def test_phone(text: str, parsed: object, extracted: object) -> None:
    p = parser("phone")
    assert parse(p, text) == parsed
    assert extract(p, text) == extracted


# --------------------------------------------------------------------------- date


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01", "2026-12-01"),
        ("2026/12/1", "2026-12-01"),
        ("12/01", "2026-12-01"),
        ("12/01/2026", "2026-12-01"),
        ("12/1/27", "2027-12-01"),
        ("Dec 1", "2026-12-01"),
        ("dec. 1st", "2026-12-01"),
        ("1 December", "2026-12-01"),
        ("the 1st of December", "2026-12-01"),
        ("December 1st", "2026-12-01"),
        ("December 1, 2027", "2027-12-01"),
        ("March 1", "2027-03-01"),  # no year: the next such date
        ("March 11", "2026-03-11"),  # ... on or after today
        ("today", "2026-03-11"),
        ("tomorrow please", "2026-03-12"),
        ("the day after tomorrow", "2026-03-13"),
        ("yesterday", "2026-03-10"),
        ("the day before yesterday", "2026-03-09"),
        ("a day after yesterday", "2026-03-10"),  # not a phrase we know: just "yesterday"
        ("friday", "2026-03-13"),
        ("on Friday", "2026-03-13"),
        ("next friday", "2026-03-20"),  # the Friday of next week
        ("Wednesday", "2026-03-18"),  # today is a Wednesday: the next one
        ("this wednesday", "2026-03-11"),
        ("on Sat", "2026-03-14"),
        ("tues", "2026-03-17"),
        ("今天", "2026-03-11"),
        ("明天", "2026-03-12"),
        ("后天", "2026-03-13"),
        ("大后天", "2026-03-14"),
        ("12月1日", "2026-12-01"),
        ("12月1号", "2026-12-01"),
        ("2026年12月1日", "2026-12-01"),
        ("二〇二六年十二月一日", "2026-12-01"),
        ("三月五号", "2027-03-05"),
        ("周五", "2026-03-13"),
        ("星期五", "2026-03-13"),
        ("礼拜天", "2026-03-15"),
        ("下周五", "2026-03-20"),
        ("下个星期一", "2026-03-16"),
        ("这周一", "2026-03-09"),
        ("明天下午3点", "2026-03-12"),
        ("ＤＥＣ １", "2026-12-01"),
        ("tomorrow, March 12", "2026-03-12"),  # two mentions of one date
        ("Feb 30", "invalid_date"),
        ("2026-13-01", "invalid_date"),
        ("Feb 29", "2028-02-29"),
        ("today or tomorrow", "ambiguous"),
        ("AB123456", "no_match"),
        ("13812345678", "no_match"),
        ("I may go", "no_match"),
        ("sat on the mat", "no_match"),
        ("the sun is out", "no_match"),
        ("a month", "no_match"),
        ("3个月", "no_match"),
    ],
)
def test_date(text: str, expected: object) -> None:
    assert parse(parser("date"), text) == expected


@pytest.mark.parametrize(
    ("fields", "text", "expected"),
    [
        ({"allow_past": False}, "yesterday", "in_past"),
        ({"allow_past": False}, "today", "2026-03-11"),
        ({"allow_past": False}, "2020-01-01", "in_past"),
        ({"allow_future": False}, "tomorrow", "in_future"),
        ({"allow_future": False}, "yesterday", "2026-03-10"),
    ],
)
def test_date_range(fields: dict[str, Any], text: str, expected: str) -> None:
    p = parser("date", **fields)
    assert parse(p, text) == expected
    assert extract(p, text) == (None if expected.startswith("in_") else expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("can I come tomorrow at 7pm", "2026-03-12"),
        ("book it for Dec 1 please", "2026-12-01"),
        ("我想预订明天晚上7点", "2026-03-12"),
        ("today or tomorrow", None),
        *[(text, None) for text in ORDINARY if text != "3/4 of the way"],
    ],
)
def test_date_extract(text: str, expected: object) -> None:
    assert extract(parser("date"), text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime.date(2026, 12, 1), ParseResult(True, "2026-12-01")),
        (datetime.datetime(2026, 12, 1, 10, 0), ParseResult(True, "2026-12-01")),
        ("2026-12-01", ParseResult(True, "2026-12-01")),
        ("tomorrow", ParseResult(True, "2026-03-12")),
        (datetime.date(2020, 1, 1), ParseResult(False, None, "in_past")),
        (20261201, ParseResult(False, None, "wrong_type")),
    ],
)
def test_validate_date(value: object, expected: ParseResult) -> None:
    assert parser("date", allow_past=False).validate(value, today=TODAY) == expected


# --------------------------------------------------------------------------- time


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7pm", "19:00"),
        ("7 PM", "19:00"),
        ("7 p.m.", "19:00"),
        ("7:30 pm", "19:30"),
        ("7.30pm", "19:30"),
        ("12am", "00:00"),
        ("12pm", "12:00"),
        ("9am", "09:00"),
        ("19:30", "19:30"),
        ("7:30", "am_or_pm"),  # morning or evening?
        ("07:30", "07:30"),
        ("１９：３０", "19:30"),
        ("noon", "12:00"),
        ("midnight", "00:00"),
        ("7 o'clock", "am_or_pm"),
        ("at 8oclock", "am_or_pm"),
        ("7", "am_or_pm"),  # a bare hour answers "what time?", but which 7?
        ("at 7", "am_or_pm"),
        ("19", "19:00"),
        ("晚上7点", "19:00"),
        ("晚上十二点", "00:00"),
        ("7点半", "am_or_pm"),
        ("下午3点", "15:00"),
        ("19点30分", "19:30"),
        ("七点一刻", "am_or_pm"),
        ("上午七点一刻", "07:15"),
        ("中午12点", "12:00"),
        ("中午1点", "13:00"),
        ("凌晨2点", "02:00"),
        ("今晚八点", "20:00"),
        ("两点", "am_or_pm"),
        ("凌晨两点", "02:00"),
        ("13pm", "invalid_time"),
        ("25:00", "invalid_time"),
        ("7pm or 8pm", "ambiguous"),
        ("later", "no_match"),
        ("AB123456", "no_match"),
    ],
)
def test_time(text: str, expected: object) -> None:
    assert parse(parser("time"), text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("table for two at 7:30 pm", "19:30"),
        ("明天晚上7点", "19:00"),
        ("一点半到", None),  # 01:30 or 13:30
        ("下午一点半到", "13:30"),
        ("two people at 7", None),  # a bare number is a time only when asked for one
        ("两点", None),  # could be "two points"
        ("时间不够", None),
        ("3小时", None),
        *[(text, None) for text in ORDINARY],
    ],
)
def test_time_extract(text: str, expected: object) -> None:
    assert extract(parser("time"), text) == expected


def test_validate_time() -> None:
    p = parser("time")
    assert p.validate(datetime.time(19, 30), today=TODAY) == ParseResult(True, "19:30")
    assert p.validate("7pm", today=TODAY) == ParseResult(True, "19:00")
    assert p.validate(1930, today=TODAY) == ParseResult(False, None, "wrong_type")


# --------------------------------------------------------------------------- any and extraction


def test_any() -> None:
    p = parser("any")
    assert parse(p, "anything") == "not_from_text"
    assert extract(p, "anything") is None
    assert p.validate({"a": [1, 2.5, None]}, today=TODAY) == ParseResult(
        True, {"a": [1, 2.5, None]}
    )
    assert p.validate("text", today=TODAY) == ParseResult(True, "text")
    assert p.validate(object(), today=TODAY) == ParseResult(False, None, "not_json")
    assert p.validate(float("nan"), today=TODAY) == ParseResult(False, None, "not_json")


@pytest.mark.parametrize("type_", ["email", "phone", "time"])
@pytest.mark.parametrize("text", ORDINARY)
def test_no_false_positives(type_: str, text: str) -> None:
    assert extract(parser(type_), text) is None


def test_extractable_types() -> None:
    fields: dict[str, dict[str, Any]] = {"enum": {"values": ["a"]}, "pattern": {"pattern": "a"}}
    extractable = {t for t in schema.SLOT_TYPES if parser(t, **fields.get(t, {})).extractable}
    assert extractable == {"pattern", "enum", "email", "phone", "date", "time"}


@pytest.mark.parametrize("type_", ["text", "integer", "number", "boolean", "any"])
def test_not_extractable_types_extract_nothing(type_: str) -> None:
    assert extract(parser(type_), "yes 4 people") is None


def test_parser_attributes() -> None:
    p = parser("integer")
    assert (p.name, p.type, p.extractable) == ("x", "integer", False)


@pytest.mark.parametrize("language", ["fr", "de", "es", "ja"])
def test_other_languages_parse_the_language_neutral_forms(language: str) -> None:
    def value(type_: str, text: str) -> Any:
        return parser(type_, language=language).parse(prepare(text), today=TODAY).value

    assert value("integer", "42") == 42
    assert value("date", "2026-07-14") == "2026-07-14"
    assert value("time", "19:30") == "19:30"
