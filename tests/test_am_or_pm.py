"""A time said without morning or evening, in a conversation: the slot's opening hours
pick the reading, or the bot asks (the slot's ``am_or_pm``, or a built-in question)."""

from __future__ import annotations

import datetime
from pathlib import Path

from dialogue import Engine
from dialogue.trace import LLMDecided, Reprompted


def tuesday() -> datetime.datetime:
    return datetime.datetime(2026, 11, 24, 10, 0)


PIZZA = """\
flow: pizza
start: asking
slots:
  time:
    type: time
    ask: "When shall we deliver?"
    invalid: "Please give a time such as 7pm."
  late:
    type: time
    min: "18:00"
    max: "02:00"
    ask: "And the late snack?"
    am_or_pm: "Evening or night?"
states:
  asking:
    collect: [time]
    next: late
  late:
    collect: [late]
    final: true
"""


def test_a_time_that_could_be_morning_or_evening_is_asked_about(tmp_path: Path) -> None:
    (tmp_path / "pizza.yaml").write_text(PIZZA, encoding="utf-8")
    engine = Engine.from_path(tmp_path / "pizza.yaml", clock=tuesday, llm=None)
    engine.start("s")
    asked = engine.handle("s", "7")
    assert asked.replies == [
        "In the morning or in the evening? Please say it with am or pm, like 7pm."
    ]
    # a time is a typed slot: "7" is shaped like a value, so no LLM call (llm: implausible)
    assert asked.trace.events == [
        LLMDecided("pizza", "asking", "time", "implausible", False, "shaped like a value"),
        Reprompted("pizza", "asking", "time", 1, "am_or_pm"),
    ]
    assert engine.handle("s", "7 or 8pm").replies == ["Please give a time such as 7pm."]
    assert engine.handle("s", "7pm").replies == ["And the late snack?"]
    assert engine.handle("s", "half past one").slots["late"] == "01:30"  # spans midnight
    assert engine.handle("s", "hi").state == "asking"  # the conversation had ended


def test_the_flows_own_am_or_pm_question(tmp_path: Path) -> None:
    flow = PIZZA.replace('min: "18:00"', 'min: "00:00"').replace('max: "02:00"', "")
    (tmp_path / "pizza.yaml").write_text(flow, encoding="utf-8")
    engine = Engine.from_path(tmp_path / "pizza.yaml", clock=tuesday, llm=None)
    engine.start("s")
    engine.handle("s", "19:00")
    assert engine.handle("s", "ten past eleven").replies == ["Evening or night?"]
