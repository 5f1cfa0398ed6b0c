from __future__ import annotations

from collections.abc import Mapping

import pytest

from dialogue.runtime.rules import IntentMatch, IntentMatcher, KeywordIndex, Prepared, prepare
from dialogue.schema import Intent


def matcher(**intents: Mapping[str, object]) -> IntentMatcher:
    return IntentMatcher([(name, Intent.model_validate(spec)) for name, spec in intents.items()])


def intent_of(m: IntentMatcher, text: str) -> str | None:
    found = m.match(prepare(text))
    return None if found is None else found.intent


# --------------------------------------------------------------------------- prepare


@pytest.mark.parametrize(
    ("raw", "nfkc", "folded"),
    [
        ("Hello", "Hello", "hello"),
        ("  Where   is\tmy\n order?  ", "Where is my order?", "where is my order?"),
        ("ＡＢ１２３", "AB123", "ab123"),
        ("我要退货，谢谢！", "我要退货,谢谢!", "我要退货,谢谢!"),
        ("Straße", "Straße", "strasse"),
        ("\u3000全角\u3000空格\u3000", "全角 空格", "全角 空格"),
        ("", "", ""),
        (" \t\n ", "", ""),
    ],
)
def test_prepare(raw: str, nfkc: str, folded: str) -> None:
    assert prepare(raw) == Prepared(raw, nfkc, folded)


# --------------------------------------------------------------------------- keywords


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("track my order", "track"),
        ("Track!", "track"),
        ("TRACK", "track"),
        ("ｔｒａｃｋ it", "track"),
        ("tracks", "track"),
        ("I love the racetrack", None),
        ("tracking", None),
        ("track2", None),
        ("I want a refund", "refund"),
        ("two refunds please", "refund"),
        ("refunded", None),
        ("order status", "status"),
        ("all my order statuses", "status"),
        ("order   status", "status"),
        ("order\nstatus", "status"),
        ("orderstatus", None),
        ("late deliveries", "delivery"),
        ("the boxes", "box"),
        ("我想return这个", "return"),
        ("return这个", "return"),
        ("我要退货AB123456", "zh_return"),
        ("退货", "zh_return"),
        ("请帮我退款", "zh_return"),
        ("", None),
        ("   ", None),
        ("nothing relevant here", None),
    ],
)
def test_keyword_boundaries(text: str, expected: str | None) -> None:
    m = matcher(
        track={"keywords": ["track"]},
        refund={"keywords": ["Refund"]},
        status={"keywords": ["order status"]},
        delivery={"keywords": ["delivery"]},
        box={"keywords": "box"},
        **{"return": {"keywords": ["return"]}},
        zh_return={"keywords": ["退货", "退款"]},
    )
    assert intent_of(m, text) == expected


@pytest.mark.parametrize(
    ("keyword", "text", "expected"),
    [
        ("ｒｅｆｕｎｄ", "refund", True),  # keywords are normalised like messages
        ("REFUND", "Refund", True),
        ("order  status", "order status", True),
        ("s", "it's", False),  # a contraction is not a word
        ("m", "I'm here", False),
        ("m", "size m please", True),
        ("caf", "café", False),  # accented letters are word characters
        ("niño", "el niño llega", True),
        ("c++", "I code in c++ daily", True),
        ("iphone手机", "我想买iphone手机", True),
        ("iphone", "我想买iphone手机", True),
        ("商品", "这个商品坏了", True),
        ("한국", "한국어", True),  # Hangul matches as a substring too
        ("カード", "クレジットカードを", True),
    ],
)
def test_keyword_forms(keyword: str, text: str, expected: bool) -> None:
    m = matcher(x={"keywords": [keyword]})
    assert (intent_of(m, text) == "x") is expected


def test_keyword_match_reports_keyword_as_written_and_nfkc_span() -> None:
    m = matcher(refund={"keywords": ["get a Refund"]})
    assert m.match(prepare("Please  GET A REFUNDS now")) == IntentMatch(
        "refund", "keyword", "get a Refund", {}, (7, 20)
    )


def test_keyword_span_is_in_nfkc_text_when_casefold_changes_length() -> None:
    text = prepare("Straße return")
    found = matcher(r={"keywords": ["return"]}).match(text)
    assert found is not None
    assert found.span == (7, 13)
    assert text.nfkc[7:13] == "return"


# --------------------------------------------------------------------------- priority


def test_longest_match_wins() -> None:
    m = matcher(
        order={"keywords": ["order"]},
        status={"keywords": ["order status"]},
    )
    assert intent_of(m, "what is my order status") == "status"
    assert intent_of(m, "my order") == "order"


def test_overlapping_keywords_the_longer_wins() -> None:
    m = matcher(mine={"keywords": ["my order"]}, status={"keywords": ["order status"]})
    assert intent_of(m, "my order status") == "status"
    assert intent_of(m, "my order is late") == "mine"


def test_overlapping_chinese_keywords_the_longer_wins() -> None:
    m = matcher(ret={"keywords": ["退货"]}, pay={"keywords": ["货款问题"]})
    assert intent_of(m, "退货款问题") == "pay"
    assert intent_of(m, "退货款") == "ret"


def test_longest_wins_across_positions() -> None:
    m = matcher(short={"keywords": ["help"]}, long={"keywords": ["human agent"]})
    assert intent_of(m, "help, I need a human agent") == "long"


def test_tie_goes_to_the_intent_given_first() -> None:
    a = matcher(first={"keywords": ["cancel"]}, second={"keywords": ["cancel"]})
    b = matcher(second={"keywords": ["cancel"]}, first={"keywords": ["cancel"]})
    assert intent_of(a, "cancel") == "first"
    assert intent_of(b, "cancel") == "second"


def test_tie_of_equal_length_at_different_places_goes_to_the_first_intent() -> None:
    m = matcher(refund={"keywords": ["refund"]}, cancel={"keywords": ["cancel"]})
    assert intent_of(m, "cancel and refund") == "refund"


def test_exact_keyword_beats_an_inflected_one_of_equal_length() -> None:
    m = matcher(order={"keywords": ["order"]}, orders={"keywords": ["orders"]})
    assert intent_of(m, "my orders") == "orders"
    assert intent_of(m, "my order") == "order"


def test_pattern_beats_keyword_of_equal_length() -> None:
    m = matcher(kw={"keywords": ["refund"]}, pat={"patterns": [r"refund"]})
    found = m.match(prepare("refund"))
    assert found is not None
    assert (found.intent, found.rule) == ("pat", "pattern")


def test_longer_keyword_beats_shorter_pattern() -> None:
    m = matcher(pat={"patterns": [r"\d{3}"]}, kw={"keywords": ["refund please"]})
    assert intent_of(m, "refund please 123") == "kw"


def test_longer_pattern_beats_keyword() -> None:
    m = matcher(kw={"keywords": ["order"]}, pat={"patterns": [r"order (?P<id>\d+)"]})
    assert intent_of(m, "order 12345") == "pat"


# --------------------------------------------------------------------------- patterns


def test_pattern_groups_come_from_nfkc_text() -> None:
    m = matcher(track={"patterns": [r"(?P<order_id>[A-Z]{2}\d{6})(?:\s+(?P<note>x))?"]})
    found = m.match(prepare("ｔｒａｃｋ ＡＢ１２３４５６ please"))
    assert found == IntentMatch(
        "track",
        "pattern",
        r"(?P<order_id>[A-Z]{2}\d{6})(?:\s+(?P<note>x))?",
        {"order_id": "AB123456"},
        (6, 14),
    )


def test_pattern_is_case_insensitive() -> None:
    m = matcher(track={"patterns": [r"where is (?P<id>[A-Z]{2}\d{6})"]})
    found = m.match(prepare("WHERE IS ab123456"))
    assert found is not None
    assert found.groups == {"id": "ab123456"}


def test_several_patterns_of_one_intent() -> None:
    m = matcher(time={"patterns": [r"\d{1,2}pm", r"at (?P<h>\d{1,2}) ?pm"]})
    found = m.match(prepare("see you at 7 pm"))
    assert found is not None
    assert (found.matched, found.groups, found.span) == (
        r"at (?P<h>\d{1,2}) ?pm",
        {"h": "7"},
        (8, 15),
    )


@pytest.mark.parametrize("text", ["", " ", "\n\t"])
def test_empty_text_never_matches(text: str) -> None:
    m = matcher(pat={"patterns": [r"\s|x"]}, kw={"keywords": ["x"]})
    assert m.match(prepare(text)) is None


def test_names_in_constructor_order() -> None:
    assert matcher(b={"keywords": "b"}, a={"keywords": "a"}).names == ("b", "a")


def test_no_intents_never_match() -> None:
    assert IntentMatcher([]).match(prepare("anything")) is None


# --------------------------------------------------------------------------- errors


def test_empty_keyword_is_an_error() -> None:
    # the schema rejects it at load time; the matcher still refuses one built around it
    with pytest.raises(ValueError, match=r"^keyword ' ' is empty; remove it or write a word$"):
        IntentMatcher([("x", Intent.model_construct(keywords=("ok", " "), patterns=()))])


def test_pattern_matching_empty_string_is_an_error() -> None:
    message = (
        "intent 'x': pattern '\\\\d*' matches the empty string, so it would match every "
        "message; make at least one character required"
    )
    with pytest.raises(ValueError) as info:
        IntentMatcher([("x", Intent.model_construct(keywords=(), patterns=(r"\d*",)))])
    assert str(info.value) == message


def test_repeated_intent_names_are_an_error() -> None:
    intent = Intent(keywords=("a",))
    with pytest.raises(ValueError, match="intent names repeat"):
        IntentMatcher([("a", intent), ("a", intent)])


# --------------------------------------------------------------------------- KeywordIndex


def test_keyword_index_scan_is_leftmost_longest() -> None:
    index = KeywordIndex([("not sure", "unsure"), ("sure", "yes"), ("no", "no")])
    hits = [(h.start, h.end, h.keyword, h.value) for h in index.scan("no, not sure")]
    assert hits == [(0, 2, "no", "no"), (4, 12, "not sure", "unsure")]


def test_keyword_index_empty() -> None:
    index: KeywordIndex[int] = KeywordIndex([])
    assert index.scan("x") == []
    assert index.best("x") is None
