"""When the LLM is asked, and what its failures mean: pure decisions of a turn.

While a slot's question is pending, a message that does not parse as its value
goes to the LLM fallback or straight to the slot's reprompt ladder, by the slot's
``llm`` setting (``LLMWhen``):

* ``always``: the LLM is asked (it may find the value in a sentence, answer a
  question, recognise an intent);
* ``implausible``: only a message that does not look like an attempted value is
  sent. An attempted value is one the slot's parser found but refused (a number
  above ``max``, a date in the past, a text too long), or, for the types whose
  values are made of digits (integer, number, pattern, phone, date, time) and
  for e-mail, a message shaped like one: short, only ASCII letters, digits and
  separators (``- . / ( ) + # _ : ,`` and spaces), and at least as many digits as
  letters (an e-mail: one piece with an ``@``). ``12345`` or ``AB-12345`` for an
  order number gets the reprompt at once; ``it's the one from last week`` goes to
  the LLM;
* ``never``: the reprompt ladder answers every unparsed answer.

A failed LLM call is an outage, not a misunderstanding, unless the model itself
declined (``refusal``, ``content_filter``) or there is no LLM (``offline``): those
stay no-matches, as before.
"""

from __future__ import annotations

from collections.abc import Mapping

from dialogue.runtime.rules import Prepared
from dialogue.runtime.slots import ParseResult
from dialogue.schema import LLMWhen

TYPED = frozenset({"integer", "number", "pattern", "email", "phone", "date", "time"})
"""Slot types whose default is ``implausible`` (the others default to ``always``)."""

SHAPED = frozenset({"integer", "number", "pattern", "phone", "date", "time", "email"})
"""Slot types whose attempted values can be recognised by their shape."""

REFUSED = frozenset(
    {
        "above_max",
        "below_min",
        "not_an_integer",
        "in_past",
        "in_future",
        "invalid_date",
        "invalid_time",
        "too_long",
        "too_short",
    }
)
"""Parser reasons that mean "a value was found, and refused": an attempted value."""

MAX_SHAPED = 40
"""A longer message is not read as an attempted value, whatever its characters."""

_SEPARATORS = frozenset(" -./()+#_:,")

NOT_OUTAGES = frozenset({"refusal", "content_filter", "offline"})
"""Failure kinds that are not the LLM being unavailable: the turn answers them with
the ladders, as an unmatched message."""


def default_when(slot_type: str) -> LLMWhen:
    """A slot's ``llm`` when neither it, its state nor the flow says."""
    return "implausible" if slot_type in TYPED else "always"


def resolve(
    slot_type: str,
    *,
    state: LLMWhen | None,
    slot: LLMWhen | None,
    flow: LLMWhen | None,
) -> LLMWhen:
    """The setting that applies: the state's, else the slot's, else the flow's, else
    the slot type's default."""
    return state or slot or flow or default_when(slot_type)


def shaped_like_a_value(text: str, slot_type: str) -> bool:
    """Whether ``text`` (NFKC, collapsed) looks like an attempt at a value of this type."""
    if not text or len(text) > MAX_SHAPED or slot_type not in SHAPED:
        return False
    letters = digits = 0
    for ch in text:
        if not ch.isascii():
            return False
        if ch.isdigit():
            digits += 1
        elif ch.isalpha():
            letters += 1
        elif ch not in _SEPARATORS and not (ch == "@" and slot_type == "email"):
            return False
    if slot_type == "email":
        return "@" in text and " " not in text
    return digits > 0 and digits >= letters


def attempted_value(slot_type: str, result: ParseResult, text: Prepared) -> str:
    """Why the message reads as an attempted value of the slot ("" if it does not)."""
    if result.reason in REFUSED:
        return f"a value refused: {result.reason}"
    if shaped_like_a_value(text.nfkc, slot_type):
        return "shaped like a value"
    return ""


def decide(when: LLMWhen, slot_type: str, result: ParseResult, text: Prepared) -> tuple[bool, str]:
    """Whether an unparsed answer goes to the LLM, and why."""
    if when == "always":
        return True, "always"
    if when == "never":
        return False, "never"
    why = attempted_value(slot_type, result, text)
    return (False, why) if why else (True, "not shaped like a value")


def is_outage(kind: str) -> bool:
    """Whether a failed call's kind means the LLM is unavailable (see the module)."""
    return kind not in NOT_OUTAGES


def when_for(asks: Mapping[str, LLMWhen], slot: str) -> LLMWhen:
    """A state's setting for a slot it collects (``always`` for one it does not)."""
    return asks.get(slot, "always")
