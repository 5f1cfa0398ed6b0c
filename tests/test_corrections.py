"""Corrections without the LLM: a state's ``correct`` lets a message replace a filled slot."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dialogue import Engine
from dialogue.trace import Asked, Corrected, Reprompted, step_line

FLOWS = Path(__file__).resolve().parent.parent / "flows"
CONFIRM = "Shall I file a return for order {} ({})? Please answer yes or no."
YES_OR_NO = "Please answer yes or no: shall I file the return?"


def tuesday() -> datetime.datetime:
    return datetime.datetime(2026, 11, 24, 10, 0)


@pytest.fixture
def shop() -> Iterator[Engine]:
    returns: list[dict[str, Any]] = []

    def create_return(order_id: str, reason: str) -> dict[str, Any]:
        returns.append({"order_id": order_id, "reason": reason})
        return {"number": "R1"}

    engine = Engine.from_path(
        FLOWS / "customer_service.yaml",
        clock=tuesday,
        llm=None,
        actions={"create_return": create_return, "lookup_order": lambda order_id: None},
    )
    engine.start("s")
    engine.handle("s", "I want to return AB123456, it arrived broken")
    engine.returns = returns  # type: ignore[attr-defined]
    yield engine


def test_a_correction_replaces_the_slot_and_asks_again(shop: Engine) -> None:
    result = shop.handle("s", "actually it's CD654321")
    assert result.replies == [CONFIRM.format("CD654321", "damaged")]
    assert result.trace.events == [
        Corrected("customer_service", "returning", "order_id", "AB123456", "CD654321"),
        Asked("customer_service", "returning", "confirmed"),
    ]
    assert result.trace.rule == "slot"
    assert result.trace.steps == ["correct order_id: 'AB123456' -> 'CD654321'", "ask confirmed"]
    assert result.trace.llm is None


def test_an_enum_is_corrected_and_the_filed_return_has_the_new_values(shop: Engine) -> None:
    shop.handle("s", "the order is CD654321")
    result = shop.handle("s", "no, the reason is wrong item")
    assert result.replies == [CONFIRM.format("CD654321", "wrong item")]
    assert result.trace.events[0] == Corrected(
        "customer_service", "returning", "reason", "damaged", "wrong item"
    )
    shop.handle("s", "yes")
    assert shop.returns == [{"order_id": "CD654321", "reason": "wrong item"}]  # type: ignore[attr-defined]


def test_two_slots_corrected_in_one_message(shop: Engine) -> None:
    result = shop.handle("s", "sorry, it's EF111111 and the wrong size")
    assert result.replies == [CONFIRM.format("EF111111", "wrong item")]
    assert [e.slot for e in result.trace.events if isinstance(e, Corrected)] == [
        "order_id",
        "reason",
    ]


def test_the_same_value_is_no_correction(shop: Engine) -> None:
    result = shop.handle("s", "AB123456")
    assert result.replies == [YES_OR_NO]
    assert not [e for e in result.trace.events if isinstance(e, Corrected)]
    assert result.trace.events[-1] == Reprompted(
        "customer_service", "returning", "confirmed", 1, "no_match"
    )


def test_a_bare_answer_to_the_waiting_question_is_not_a_correction() -> None:
    engine = Engine.from_path(FLOWS / "customer_service.yaml", clock=tuesday, llm=None)
    engine.start("s", language="zh")
    engine.handle("s", "我要退货")
    engine.handle("s", "AB123456")
    engine.handle("s", "坏了")
    result = engine.handle("s", "不需要")  # a synonym of 不想要了 (changed mind), but here a "no"
    assert result.slots["reason"] == "damaged"
    assert result.slots["confirmed"] is False
    assert not [e for e in result.trace.events if isinstance(e, Corrected)]


def test_a_correction_needs_a_waiting_question(shop: Engine) -> None:
    shop.handle("s", "no")  # back in the menu: nothing is waiting
    result = shop.handle("s", "CD654321")
    assert not [e for e in result.trace.events if isinstance(e, Corrected)]


def test_the_step_line_of_a_correction() -> None:
    event = Corrected("f", "s", "time", "19:00", "20:30")
    assert step_line(event) == "correct time: '19:00' -> '20:30'"


@pytest.mark.parametrize("text", ["not CD654321", "no, it's not CD654321", "不是CD654321"])
def test_a_denied_value_is_no_correction(shop: Engine, text: str) -> None:
    result = shop.handle("s", text)
    assert result.slots["order_id"] == "AB123456"
    assert result.replies == [YES_OR_NO]
