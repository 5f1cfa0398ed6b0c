"""Yes/no answers that do not guess: a table of English and Chinese answers.

Each answer is read by a ``boolean`` slot as the answer to its question: ``yes``,
``no``, or ``unclear`` (not a bare answer: the question is asked again).
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from pydantic import TypeAdapter

from dialogue import schema
from dialogue.runtime.rules import prepare
from dialogue.runtime.slots import ParseResult, compile_slot
from dialogue.runtime.yes_no import yes_no

TODAY = datetime.date(2026, 3, 11)
_SLOT: TypeAdapter[Any] = TypeAdapter(schema.Slot)
PARSER = compile_slot("ok", _SLOT.validate_python({"type": "boolean"}), language="en")

ENGLISH = [
    # bare yes
    ("yes", "yes"),
    ("Yes!", "yes"),
    ("YES.", "yes"),
    ("yeah", "yes"),
    ("yeah sure", "yes"),
    ("yep", "yes"),
    ("yup", "yes"),
    ("y", "yes"),
    ("ok", "yes"),
    ("OK thanks", "yes"),
    ("okay", "yes"),
    ("sure", "yes"),
    ("sure, no problem", "yes"),
    ("of course", "yes"),
    ("correct", "yes"),
    ("that's right", "yes"),
    ("that’s correct", "yes"),
    ("yes please", "yes"),
    ("please", "yes"),  # on its own, "please" answers "shall I?"
    ("please do", "yes"),
    ("go ahead", "yes"),
    ("yes, go ahead", "yes"),
    ("absolutely", "yes"),
    ("definitely", "yes"),
    ("sounds good", "yes"),
    ("yes I do", "yes"),
    ("I do", "yes"),
    ("yes it is", "yes"),
    ("why not", "yes"),
    ("no problem", "yes"),
    ("perfect, thank you", "yes"),
    ("yes yes", "yes"),
    ("\U0001f44d", "yes"),
    # bare no
    ("no", "no"),
    ("No.", "no"),
    ("nope", "no"),
    ("nah", "no"),
    ("n", "no"),
    ("no thanks", "no"),
    ("no thank you", "no"),
    ("not really", "no"),
    ("not at all", "no"),
    ("not yet", "no"),
    ("I don't think so", "no"),
    ("I dont think so", "no"),
    ("don't", "no"),
    ("please don't", "no"),
    ("no, that's fine", "no"),
    ("absolutely not", "no"),
    ("of course not", "no"),
    ("not ok", "no"),
    ("not correct", "no"),
    ("that's wrong", "no"),
    ("no no", "no"),
    ("never", "no"),
    ("\U0001f44e", "no"),
    # hedges, catches and mixed answers
    ("maybe", "unclear"),
    ("I guess so", "unclear"),
    ("I think so", "unclear"),
    ("probably", "unclear"),
    ("not sure", "unclear"),
    ("I don't know", "unclear"),
    ("kind of", "unclear"),
    ("yes but", "unclear"),
    ("yes, but use the other order", "unclear"),
    ("ok wait", "unclear"),
    ("yes, no wait", "unclear"),
    ("yes no", "unclear"),
    ("ok, no", "unclear"),
    ("not exactly", "unclear"),
    # other content: not a bare answer
    ("please use the other order", "unclear"),
    ("use the other order", "unclear"),
    ("yes, AB123456", "unclear"),
    ("no, the reason is wrong item", "unclear"),
    ("sure thing buddy, what about shipping", "unclear"),
    ("cancel", "unclear"),
    ("thanks", "unclear"),
    ("hmm", "unclear"),
    ("not", "unclear"),
    ("", "unclear"),
    ("right now I am busy", "unclear"),
]

CHINESE = [
    ("是", "yes"),
    ("是的", "yes"),
    ("是的，没错", "yes"),
    ("对", "yes"),
    ("对对对", "yes"),
    ("好的", "yes"),
    ("好的，谢谢", "yes"),
    ("好吧", "yes"),
    ("那好吧", "yes"),
    ("可以", "yes"),
    ("行", "yes"),
    ("确认", "yes"),
    ("嗯", "yes"),
    ("嗯嗯，好", "yes"),
    ("没问题", "yes"),
    ("当然可以", "yes"),
    ("不", "no"),
    ("不是", "no"),
    ("不是的", "no"),
    ("不要", "no"),
    ("不用了，谢谢", "no"),
    ("不对", "no"),
    ("算了吧", "no"),
    ("不可以", "no"),
    ("不太好", "no"),
    ("当然不", "no"),
    ("我不这么认为", "no"),
    ("不确定", "unclear"),
    ("不太确定", "unclear"),
    ("不知道", "unclear"),
    ("可能吧", "unclear"),
    ("应该是吧", "unclear"),
    ("好像是", "unclear"),
    ("是不是", "unclear"),
    ("可以吗", "unclear"),
    ("好的，不过换个订单", "unclear"),
    ("是的但是地址错了", "unclear"),
    ("请用另一个订单", "unclear"),
    ("用另一个订单", "unclear"),
    ("不好意思", "unclear"),
    ("银行", "unclear"),  # 行 inside a word
    ("取消", "unclear"),
    ("是，不是", "unclear"),
]


def answer(text: str) -> str:
    result = PARSER.parse(prepare(text), today=TODAY)
    if result.ok:
        return "yes" if result.value else "no"
    assert result.reason in ("uncertain", "ambiguous", "no_match")
    return "unclear"


def test_the_tables_are_large_enough() -> None:
    assert len(ENGLISH) >= 60 and len(CHINESE) >= 30
    assert {e for _, e in ENGLISH} == {e for _, e in CHINESE} == {"yes", "no", "unclear"}


@pytest.mark.parametrize(("text", "expected"), ENGLISH + CHINESE)
def test_answer(text: str, expected: str) -> None:
    assert answer(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("maybe", "uncertain"),
        ("yes but", "uncertain"),
        ("不过", "uncertain"),
        ("yes no", "ambiguous"),
        ("please use the other order", "no_match"),
        ("hmm", "no_match"),
    ],
)
def test_why_an_answer_is_unclear(text: str, reason: str) -> None:
    assert yes_no(prepare(text).folded) == reason
    assert PARSER.parse(prepare(text), today=TODAY) == ParseResult(False, None, reason)
