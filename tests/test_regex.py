"""Designer patterns run on RE2 (linear time) with Python's Unicode classes."""

from __future__ import annotations

import datetime
import re

import pytest

from dialogue.errors import ConfigurationError
from dialogue.redact import Redactor
from dialogue.regex import compile_pattern, problem, translate
from dialogue.runtime.rules import IntentMatcher, prepare
from dialogue.runtime.slots import PatternParser
from dialogue.schema import Intent, PatternSlot

EVIL = r"^(\w+\s?)+$"


def _engine(compiled: object) -> str:
    return type(compiled._re2).__module__  # type: ignore[attr-defined]


def test_catastrophic_pattern_is_linear_on_re2() -> None:
    # Python's re takes ~35 s at 26 characters and doubles per character; at 60
    # it would not finish this year. RE2 answers at once.
    compiled = compile_pattern(EVIL, ignorecase=True)
    assert _engine(compiled).startswith("re2")
    assert compiled.search("a" * 60 + "!") is None
    assert compiled.search("a" * 60) is not None


def test_every_designer_pattern_meets_user_text_on_re2() -> None:
    matcher = IntentMatcher([("x", Intent.model_validate({"patterns": [EVIL]}))])
    pattern = matcher._patterns[0][0]
    assert _engine(pattern).startswith("re2")
    assert matcher.match(prepare("a" * 60 + "!")) is None
    assert matcher.match(prepare("ab cd")) is not None
    parser = PatternParser("code", PatternSlot(type="pattern", pattern=EVIL))
    assert _engine(parser._search.__self__).startswith("re2")
    assert not parser.parse(prepare("a" * 60 + "!"), today=datetime.date(2026, 1, 1)).ok
    redactor = Redactor([r"(\w+-)+x"])
    assert _engine(redactor._extra).startswith("re2")
    assert redactor("ORD-" * 40 + "!") == "ORD-" * 40 + "!"
    assert redactor("ORD-ORD-x") == "[redacted]"


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r"(?P<name>\w+)", "我叫张伟"),
        (r"order (?P<order_id>[A-Z]{2}\d{6})", "Order ab123456 please"),
        (r"(?:table|booking|book) for (?P<party_size>\d{1,2})\b", "a table for 4 tonight"),
        (r"\b[A-Za-z]{2}\d{6}\b", "it is AB123456."),
        (r"\d+", "总共١٢٣件"),  # Arabic-Indic digits are \d in Python
        (r"[\w-]+@", "zhāng-wěi@example.com"),
        (r"\s+", "a\u3000b"),  # ideographic space
        (r"[^\s]+", "  héllo  "),
        (r"退货|退款", "我要退款"),
        (r"code (?P<coupon>\w+)", "CODE Été2025"),
        (r"\W+", "a——b"),
        (r"x\Z", "box"),
    ],
)
def test_same_matches_as_python_re(pattern: str, text: str) -> None:
    expected = re.search(pattern, text, re.IGNORECASE)
    found = compile_pattern(pattern, ignorecase=True).search(text)
    assert expected is not None and found is not None
    assert found.span() == expected.span()
    assert found.groupdict() == expected.groupdict()


@pytest.mark.parametrize(
    "text",
    [
        "order ab123456 or CD654321",  # ASCII: RE2 is called directly
        "order ab123456 für CD654321",  # not ASCII: through the wrapper
        "ORDER ab123456",
        "no order here",
        "",
    ],
)
def test_ascii_fast_path_gives_the_wrappers_match(text: str) -> None:
    import re2

    source = r"order (?P<id>[a-z]{2}\d{6})(?: or (?P<other>\w+))?|(?P<none>zz)"
    compiled = compile_pattern(source, ignorecase=True)
    options = re2.Options()
    options.case_sensitive = False
    wrapper = re2.compile(translate(source), options)
    for pos, endpos in ((None, None), (1, None), (0, 12)):
        found, expected = compiled.search(text, pos, endpos), wrapper.search(text, pos, endpos)
        assert (found is None) == (expected is None)
        if found is not None and expected is not None:
            assert type(found) is type(expected)
            assert found.span() == expected.span()
            assert found.groupdict() == expected.groupdict()
            assert [found.span(i) for i in range(4)] == [expected.span(i) for i in range(4)]
            assert found.group(0, "id", "other", "none") == expected.group(0, "id", "other", "none")


def test_translate_spells_out_unicode_classes() -> None:
    assert translate(r"\w+") == r"[\p{L}\p{N}_]+"
    assert translate(r"[\w.]+") == r"[\p{L}\p{N}_.]+"
    assert translate(r"[]\d]") == r"[]\p{Nd}]"
    assert translate(r"\\w") == r"\\w"  # an escaped backslash, then a w


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"(\d)\1", "uses a backreference, which the linear-time engine (RE2) cannot run"),
        (
            r"(?P<x>a)(?P=x)",
            "uses a backreference, which the linear-time engine (RE2) cannot run",
        ),
        (r"buy(?! now)", "uses a lookahead, which the linear-time engine (RE2) cannot run"),
        (r"(?<=\$)\d+", "uses a lookbehind, which the linear-time engine (RE2) cannot run"),
        (r"[\W]", "\\W or \\S inside [...]: write [^...] with the classes it excludes"),
        (EVIL, ""),
    ],
)
def test_problem_names_what_re2_cannot_run(pattern: str, why: str) -> None:
    assert problem(pattern) == why


def test_redact_pattern_re2_cannot_run_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Redactor([r"ORD-(?=\d)"])
    assert str(caught.value).splitlines()[0] == (
        "redact pattern 'ORD-(?=\\\\d)' uses a lookahead, which the linear-time engine "
        "(RE2) cannot run"
    )


def test_re2_compile_errors_are_not_printed(capfd: pytest.CaptureFixture[str]) -> None:
    assert problem(r"(a)\1")
    assert capfd.readouterr().err == ""
