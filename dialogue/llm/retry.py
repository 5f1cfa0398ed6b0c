"""When to ask the LLM again, within the time a turn has left.

The OpenAI client makes its own attempts (the SDK's retries are off) so that
every wait is ours: ``Retry-After`` (or exponential back-off: 0.5 s, 1 s, 2 s ...
at most 8 s) is honoured only when it ends before the turn's deadline
(``LLMRequest.budget``); otherwise the call stops at once with its failure, and
the turn goes on to its failure reply. Each attempt's timeout is cut to the time
left. Pure decisions: the clock and the sleep are the client's (injectable).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from dataclasses import replace

from dialogue.llm.protocol import LLMFailure

MAX_BACKOFF = 8.0
MIN_ATTEMPT = 0.05
"""An attempt needs at least this many seconds of the budget to be worth starting."""


def backoff(attempt: int) -> float:
    """Seconds to wait after failed attempt ``attempt`` (0-based), without a Retry-After."""
    return min(0.5 * 2.0**attempt, MAX_BACKOFF)


def retry_after(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds a response's ``retry-after-ms`` / ``Retry-After`` header asks for."""
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    millis, value = lowered.get("retry-after-ms"), lowered.get("retry-after")
    for text, scale in ((millis, 0.001), (value, 1.0)):
        try:
            if text is not None:
                return max(0.0, float(text) * scale)
        except ValueError:
            continue
    if value is None:
        return None
    try:  # an HTTP date
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, parsed.timestamp() - (time.time() if now is None else now))


def next_wait(
    failure: LLMFailure, asked: float | None, attempt: int, retries: int, left: float | None
) -> tuple[float | None, LLMFailure]:
    """How long to wait before trying again (None: stop), and the failure to report.

    ``asked``: the server's Retry-After; ``left``: seconds before the deadline (None:
    no deadline). A wait that would pass the deadline stops now, and says so."""
    if not failure.retryable or attempt >= retries:
        return None, failure
    wait = backoff(attempt) if asked is None else asked
    if left is not None and wait + MIN_ATTEMPT > left:
        message = (
            f"{failure.message} (not retried: waiting {wait:g} s would pass the turn's "
            f"deadline, {max(left, 0):.3g} s away)"
        )
        return None, replace(failure, message=message)
    return wait, failure


def deadline_failure(budget: float) -> LLMFailure:
    message = f"the turn's deadline passed before the LLM answered ({budget:g} s)"
    return LLMFailure("timeout", message, retryable=False)
