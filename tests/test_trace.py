"""The typed trace: every step of a turn is an event that says where it happened."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from dialogue import Engine
from dialogue.trace import (
    Asked,
    Ended,
    Entered,
    Escalated,
    FlowCalled,
    IntentMatched,
    LLMDecided,
    Moved,
    NoMatched,
    Reprompted,
    SlotRejected,
    step_line,
)

FLOWS = Path(__file__).resolve().parent.parent / "flows"


def tuesday() -> datetime.datetime:
    return datetime.datetime(2026, 11, 24, 10, 0)


@pytest.fixture
def restaurant() -> Engine:
    return Engine.from_path(FLOWS / "restaurant.yaml", clock=tuesday, llm=None)


def test_moves_intents_and_states_are_events(restaurant: Engine) -> None:
    first = restaurant.handle("s", "hi").trace
    assert first.events == [
        Entered("restaurant", "welcome"),
        Moved("restaurant", "welcome", "next", "welcome.next[0]", "menu"),
        Entered("restaurant", "menu"),
        IntentMatched("restaurant", "menu", "greet", "restaurant", "rule"),
        Moved("restaurant", "menu", "on", "menu.on.greet[0]", None),
    ]
    # the older views are read off the events
    assert first.steps == ["enter welcome", "enter menu"]
    assert first.entered == [("restaurant", "welcome"), ("restaurant", "menu")]
    assert first.transitions == ["restaurant:welcome.next[0]", "restaurant:menu.on.greet[0]"]
    assert first.transition == "menu.on.greet[0]"


def test_a_refused_value_and_the_ladders_are_events(restaurant: Engine) -> None:
    restaurant.handle("s", "hi")
    big = restaurant.handle("s", "a table for 13").trace
    assert SlotRejected("restaurant", "menu", "party_size", "13") in big.events
    assert big.events[-2:] == [
        Asked("restaurant", "booking", "date"),
        Reprompted("restaurant", "booking", "party_size", 1, "above_max"),
    ]
    assert restaurant.handle("s", "20").trace.events == [
        LLMDecided("restaurant", "booking", "date", "implausible", False, "shaped like a value"),
        Reprompted("restaurant", "booking", "date", 1, "no_match"),
    ]
    restaurant.handle("s", "cancel")
    assert [restaurant.handle("s", "blah").trace.events for _ in range(2)] == [
        [NoMatched("restaurant", "menu", 1)],
        [NoMatched("restaurant", "menu", 2)],
    ]
    last = restaurant.handle("s", "blah").trace
    assert last.events == [
        Escalated("restaurant", "menu"),
        Moved("restaurant", "menu", "no_match", "menu.no_match.goto", "call_us"),
        Entered("restaurant", "call_us"),
        Ended("restaurant", "call_us"),
    ]
    assert last.steps == ["no-match escalation", "enter call_us", "end"]


def test_a_calling_flows_global_intent_names_its_owner(restaurant: Engine) -> None:
    for text in ["hi", "a table for 4", "tomorrow"]:
        restaurant.handle("s", text)
    sub = restaurant.handle("s", "7pm").trace
    assert FlowCalled("restaurant", "contact", "contact_details") in sub.events
    assert Entered("contact_details", "asking", nested=True) in sub.events
    assert restaurant.handle("s", "cancel").trace.events[:2] == [
        IntentMatched("contact_details", "asking", "cancel", "restaurant", "rule"),
        Moved("restaurant", "contact", "global", "intents.cancel.goto", "menu"),
    ]


def test_every_event_kind_has_its_line_or_none() -> None:
    assert step_line(Entered("f", "s", nested=True)) == "enter f.s"
    assert step_line(Reprompted("f", "s", "x", 2)) == "reprompt x 2"
    assert step_line(Moved("f", "s", "on", "s.on.i[0]", "t")) is None
    assert step_line(IntentMatched("f", "s", "i", "f", "llm")) is None
