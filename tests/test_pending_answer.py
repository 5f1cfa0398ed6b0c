"""A turn reads the pending question's answer once, whoever asks for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dialogue import Engine
from dialogue.runtime.slots import ParseResult, PatternParser

SHOP = Path(__file__).resolve().parent.parent / "flows" / "customer_service.yaml"


def test_the_pending_answer_is_parsed_once_per_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine.from_path(SHOP, llm=None)
    engine.handle("s", "I want to return it")  # asks for the order number
    parsed: list[str] = []
    parse = PatternParser.parse

    def counted(self: PatternParser, text: Any, *, today: Any) -> ParseResult:
        parsed.append(text.raw)
        return parse(self, text, today=today)

    monkeypatch.setattr(PatternParser, "parse", counted)
    result = engine.handle("s", "AB123456")
    # no rule fired, so the classifier first asked whether it is an answer; taking
    # the answer then used the same reading
    assert parsed == ["AB123456"]
    assert result.slots["order_id"] == "AB123456"
    assert result.replies == [
        "Why are you sending it back: damaged, wrong item, or changed your mind?"
    ]
    parsed.clear()
    engine.handle("t", "I want to return it")
    assert not engine.handle("t", "XY").slots.get("order_id")
    assert parsed == ["XY"]  # a refused answer, read once too
