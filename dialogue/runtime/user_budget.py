"""The user's token budget (``llm.user_budget``): one count per host-given user key and
period, shared by all of the user's sessions through the session store.

The turn stays free of I/O: the LLM step yields a ``TokensHold`` before its call
(the engine answers how many tokens the store granted) and a ``TokensCharge``
after it (the engine answers ``None``, or the ``StoreError`` that kept the count
from being corrected). The semantics are those of ``runtime/token_budget.py``:

- **Hold.** Before the call, the store takes the prompt's estimate plus
  ``max_tokens`` from what the user has left, in one atomic step; when less is
  left, it takes what is left and the call's ``max_tokens`` is lowered to fit; when
  not even the prompt and ``MIN_COMPLETION`` tokens fit, it takes nothing and no
  call is sent (outcome ``budget``, ``LLMTrace.budget == "user"``).
- **Charge.** After the call, the difference between what the call cost (the
  server's usage within bounds, an estimate for a failed stream, nothing for a
  failure before the model or a cached answer) and what was held is added (or
  given back). Many sessions of one user at once therefore overshoot the budget
  only by the error of their prompt estimates, never by an answer.

A count's key is ``{period}:{user}``, the period being ``hour:2026-12-02T13``,
``day:2026-12-02`` or ``month:2026-12`` of the engine's clock: a new period is a new
key, so it starts at 0, and the old one expires in the store (``ttl``).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from dialogue.schema import Period, UserBudget

TTL: dict[Period, float] = {"hour": 2 * 3600.0, "day": 2 * 86400.0, "month": 62 * 86400.0}
"""Seconds a count is kept after its last change: longer than its period."""

_LABEL = {"hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d", "month": "%Y-%m"}


@dataclass(frozen=True, slots=True)
class UserLimit:
    """A turn's user budget: whose count it is (``key``), and its limit."""

    key: str
    tokens: int
    ttl: float


def period(per: Period, now: datetime.datetime) -> str:
    """The calendar period ``now`` falls in: ``day:2026-12-02`` (the clock's own time zone)."""
    return f"{per}:{now.strftime(_LABEL[per])}"


def user_limit(budget: UserBudget, user: str, now: datetime.datetime) -> UserLimit:
    """The count a turn of ``user`` draws from at ``now``, and its limit."""
    return UserLimit(count_key(budget, user, now), budget.tokens, TTL[budget.per])


def count_key(budget: UserBudget, user: str, now: datetime.datetime) -> str:
    """The store's key of ``user``'s count in the period of ``now``."""
    return f"{period(budget.per, now)}:{user}"


@dataclass(frozen=True, slots=True)
class TokensHold:
    """Take up to ``want`` tokens of the user's count (at least ``least``, else none)."""

    limit: UserLimit
    want: int
    least: int


@dataclass(frozen=True, slots=True)
class TokensCharge:
    """Add ``tokens`` (negative: give back) to the user's count."""

    limit: UserLimit
    tokens: int
