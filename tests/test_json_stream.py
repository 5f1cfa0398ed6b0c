"""The incremental reader of a structured answer's reply: ``llm/json_stream`` and
``runtime/reply_stream`` (what of an answer is shown while it arrives)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialogue.llm.json_stream import FieldScanner
from dialogue.runtime.llm_step import MAX_REPLY
from dialogue.runtime.reply_stream import ReplyReader, Trim, reply_reader, shows_reply


def feed_all(pieces: Sequence[str], field: str = "reply") -> tuple[list[str], FieldScanner]:
    scanner = FieldScanner(field)
    return [scanner.feed(piece) for piece in pieces], scanner


def cut(text: str, points: Sequence[int]) -> list[str]:
    bounds = [0, *sorted(set(points)), len(text)]
    return [text[a:b] for a, b in pairwise(bounds)]


# -- the scanner, case by case


def test_text_is_given_as_soon_as_it_arrives() -> None:
    scanner = FieldScanner("reply")
    assert scanner.feed('{"intent": null, "slots": {}, "reply": "We o') == "We o"
    assert scanner.values == {"intent": None, "slots": {}}
    assert scanner.streaming and not scanner.done
    assert scanner.feed("pen at 8") == "pen at 8"
    assert scanner.feed('."}') == "."
    assert scanner.done and scanner.values["reply"] == "We open at 8."


def test_key_split_across_pieces_and_key_order() -> None:
    out, scanner = feed_all(['{"re', "pl", 'y"', " ", ":", ' "a', 'b", "int', 'ent": "x"}'])
    assert "".join(out) == "ab" and out[5] == "a"
    assert scanner.values == {"reply": "ab", "intent": "x"} and scanner.done


@pytest.mark.parametrize(
    ("pieces", "expected"),
    [
        (['{"reply": "a\\', 'nb"}'], ["a", "\nb"]),
        (['{"reply": "say \\', '"hi\\', '""}'], ["say ", '"hi', '"']),
        (['{"reply": "back\\', "\\", 'slash"}'], ["back", "\\", "slash"]),
        (['{"reply": "caf\\u00', 'e9!"}'], ["caf", "é!"]),
        (['{"reply": "\\u', "0", "0", "4", '1"}'], ["", "", "", "", "A"]),
        # a surrogate pair: nothing until the low half has arrived
        (['{"reply": "x \\ud83d', '\\ude00 y"}'], ["x ", "😀 y"]),
        (['{"reply": "\\ud8', "3d\\u", "de", '00"}'], ["", "", "", "😀"]),
        # a lone high surrogate is kept, as json.loads keeps it
        (['{"reply": "\\ud83d', 'x"}'], ["", "\ud83dx"]),
        (['{"reply": "\\ud83d', '"}'], ["", "\ud83d"]),
        (['{"reply": "\\ud83d', '\\u0041"}'], ["", "\ud83dA"]),
        (['{"reply": "\\t\\/\\b\\f\\r"}'], ["\t/\b\f\r"]),
    ],
)
def test_escapes_split_anywhere(pieces: list[str], expected: list[str]) -> None:
    out, scanner = feed_all(pieces)
    assert out == expected
    assert scanner.values["reply"] == json.loads("".join(pieces))["reply"]


def test_only_the_top_level_key_is_streamed() -> None:
    text = json.dumps(
        {
            "slots": {"reply": "nested", "list": [{"reply": "deeper"}, ']}\\"']},
            "note": 'a "reply": "fake" inside a string',
            "reply": "the real one",
            "n": [1, 2.5e3, True, None, {}],
        }
    )
    out, scanner = feed_all(cut(text, range(1, len(text), 3)))
    assert "".join(out) == "the real one"
    assert scanner.values == json.loads(text) and scanner.done


def test_a_reply_that_is_not_a_string_gives_no_text() -> None:
    out, scanner = feed_all(['{"intent": "track", "reply": null', ', "slots": {}}'])
    assert out == ["", ""] and scanner.values == {"intent": "track", "reply": None, "slots": {}}


def test_a_repeated_key_streams_once_and_keeps_the_last_value() -> None:
    out, scanner = feed_all(['{"reply": "one", "reply": "two"}'])
    assert out == ["one"] and scanner.values == {"reply": "two"}


@pytest.mark.parametrize(
    "text",
    [
        '```json\n{"reply": "x"}',
        '{"reply": "x"} and more',
        '{"reply": "bad \\q escape"}',
        '{"reply": "bad \\u12G4"}',
        '{"reply": "a\nraw newline"}',
        '{"reply" "no colon"}',
        '{"a": tru}',
        '{,"reply": "x"}',
        "[1, 2]",
    ],
)
def test_text_that_cannot_be_an_object_breaks_the_scan(text: str) -> None:
    for size in (1, 3, len(text)):
        _, scanner = feed_all(cut(text, range(size, len(text), size)))
        assert scanner.broken
    try:  # and the final check refuses it too
        assert not isinstance(json.loads(text), dict)
    except ValueError:
        pass


def test_empty_object_and_whitespace() -> None:
    out, scanner = feed_all([" \n{ ", "} \n"])
    assert out == ["", ""] and scanner.done and scanner.values == {} and not scanner.broken


# -- the scanner, for any object cut anywhere

leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def answers(draw: st.DrawFn) -> tuple[dict[str, Any], str, list[int]]:
    before = draw(st.dictionaries(st.text(max_size=8), values, max_size=3))
    after = draw(st.dictionaries(st.text(max_size=8), values, max_size=3))
    reply = draw(st.text())
    obj = {k: v for k, v in before.items() if k != "reply"}
    obj["reply"] = reply
    obj.update((k, v) for k, v in after.items() if k != "reply")
    text = json.dumps(
        obj,
        ensure_ascii=draw(st.booleans()),
        indent=draw(st.sampled_from([None, 0, 2])),
        separators=draw(st.sampled_from([None, (",", ":")])),
    )
    points = draw(st.lists(st.integers(0, len(text)), max_size=len(text)))
    return obj, text, points


@settings(max_examples=300, deadline=None)
@given(answers())
def test_any_object_cut_anywhere_yields_exactly_the_reply(
    case: tuple[dict[str, Any], str, list[int]],
) -> None:
    obj, text, points = case
    out, scanner = feed_all(cut(text, points))
    assert "".join(out) == obj["reply"]
    assert scanner.done and not scanner.broken
    assert scanner.values == json.loads(text)


@settings(max_examples=200, deadline=None)
@given(answers(), st.integers(0, 50))
def test_any_prefix_gives_a_prefix_of_the_reply(
    case: tuple[dict[str, Any], str, list[int]], keep: int
) -> None:
    """Text is only given once it is certain: never more than the reply's beginning."""
    obj, text, points = case
    end = len(text) * keep // 50
    out, scanner = feed_all(cut(text[:end], points))
    assert obj["reply"].startswith("".join(out))
    assert not scanner.broken


# -- what is shown: the trim and the fields before the reply


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(["a", "b", " ", "\n", "\u3000", "é"])),
    st.lists(st.integers(0, 60)),
    st.integers(1, 30),
)
def test_trim_gives_the_stripped_and_cut_text(text: str, points: list[int], limit: int) -> None:
    trim = Trim(limit)
    pieces = [trim.feed(piece) for piece in cut(text, [p for p in points if p <= len(text)])]
    assert "".join(pieces) == text.strip()[:limit]


def test_free_text_reader_trims_like_the_final_reply() -> None:
    reader = reply_reader("respond")
    assert reader is not None
    assert [reader.feed(p) for p in ["  \n", "Hello ", " world", " \n"]] == [
        "",
        "Hello",
        "  world",
        "",
    ]
    long = ReplyReader(None)
    assert len("".join(long.feed("x" * 700) for _ in range(5))) == MAX_REPLY


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        ({}, True),
        ({"intent": None}, True),
        ({"intent": None, "slots": {}}, True),
        ({"intent": None, "slots": {"order_id": None}}, True),
        ({"intent": "track"}, False),  # the move wins: the reply is not said
        ({"intent": None, "slots": {"order_id": "AB123456"}}, False),
        ({"intent": None, "slots": []}, False),  # refused: slots is not an object
        ({"intent": None, "mood": "happy"}, False),  # refused: an unexpected field
        ({"intent": None, "slots": {"pin": None}}, False),  # refused: the slot is not open
    ],
)
def test_fields_before_the_reply_decide_whether_it_is_shown(
    fields: dict[str, Any], shown: bool
) -> None:
    assert shows_reply(fields, {"order_id"}) is shown
    schema = {"properties": {"slots": {"properties": {"order_id": {}}}}}
    reader = reply_reader("both", schema)
    assert reader is not None
    text = json.dumps(fields)[:-1] + (", " if fields else "") + '"reply": "Hi there"}'
    assert "".join(reader.feed(c) for c in cut(text, range(2, len(text), 5))) == (
        "Hi there" if shown else ""
    )


def test_a_move_after_the_reply_stops_the_text() -> None:
    reader = reply_reader("both")
    assert reader is not None
    assert reader.feed('{"reply": "Sure, I') == "Sure, I"
    assert reader.feed(' can", "intent": "human"') == ""
    assert reader.feed(', "slots": {}}') == "" and reader.stopped


def test_a_repeated_field_is_checked_again() -> None:
    reader = reply_reader("both")
    assert reader is not None
    assert reader.feed('{"intent": null, "slots": {}, "reply": "Hi') == "Hi"
    assert reader.feed('", "intent": "human"}') == "" and reader.stopped


def test_understand_mode_has_no_text() -> None:
    assert reply_reader("understand") is None and reply_reader("off") is None
