"""The session's token budget (``llm.token_budget``): reserved before a call, charged after.

- **Reserve.** Before a request is sent, its cost is bounded: the prompt's
  estimate (``estimate_prompt``) plus ``max_tokens``. If that does not fit in
  what the session has left, ``max_tokens`` is lowered to fit; if not even
  ``MIN_COMPLETION`` tokens fit, nothing is sent (outcome ``budget``). One call
  can therefore overshoot the budget only by the error of the prompt estimate,
  never by a whole answer.
- **Charge.** What the server reports is believed only within bounds: a
  negative count, a prompt count above ``prompt_bound`` (more tokens than the
  request could hold) or a completion count above the call's ``max_tokens`` is
  replaced by the estimate. A call that failed after the request reached the
  model (a cut stream, a timeout, a refusal, ``length``) and reported nothing is
  charged the estimate of the prompt and of the text that arrived; failures
  before the model worked (offline, an HTTP error status such as 401, 429 or
  500, a connection that failed before any text, a cassette miss) are free.
- **Keep.** ``Session.tokens`` is carried into the next conversation of the
  same session id (``turn_setup.begin``): ending a conversation does not reset
  the budget.
"""

from __future__ import annotations

import dataclasses
import json

from dialogue.llm.protocol import FailureKind, LLMFailure, LLMRequest, LLMResponse, Usage

MIN_COMPLETION = 16
"""A call is sent only if at least this many completion tokens fit in the budget."""
FREE_FAILURES: frozenset[FailureKind] = frozenset(
    {"offline", "auth", "bad_request", "rate_limited", "cassette_miss"}
)
"""Failures that happen before the model reads the prompt: not charged."""


def estimate(text: str) -> int:
    """Tokens in ``text``, on the high side: 4 ASCII characters a token, and one token
    for every other character (a CJK character is one or two tokens)."""
    ascii_chars = sum(1 for c in text if c < "\x80")
    return -(-ascii_chars // 4) + (len(text) - ascii_chars)


def estimate_prompt(request: LLMRequest) -> int:
    """The prompt tokens of ``request``: its messages, 4 tokens of framing each, and
    the answer schema."""
    total = sum(estimate(str(m.get("content", ""))) + 4 for m in request.messages)
    if request.schema is not None:
        total += estimate(json.dumps(request.schema))
    return total


def prompt_bound(request: LLMRequest) -> int:
    """More prompt tokens than any tokenizer makes of ``request``: one a character,
    plus framing."""
    chars = sum(len(str(m.get("content", ""))) for m in request.messages)
    schema = len(json.dumps(request.schema)) if request.schema is not None else 0
    return chars + schema + 16 * len(request.messages) + 64


def reserve(request: LLMRequest, *, spent: int, budget: int | None) -> LLMRequest | None:
    """``request`` as it may be sent within the budget (``max_tokens`` lowered to fit),
    or None: not even ``MIN_COMPLETION`` tokens fit."""
    if budget is None:
        return request
    room = budget - max(spent, 0) - estimate_prompt(request)
    if room < MIN_COMPLETION:
        return None
    if room >= request.settings.max_tokens:
        return request
    settings = dataclasses.replace(request.settings, max_tokens=room)
    return dataclasses.replace(request, settings=settings)


def charge(request: LLMRequest, response: LLMResponse) -> Usage | None:
    """What the call costs the session (None: nothing, a failure before the model)."""
    usage = response.usage
    failure = response.failure
    if usage is None and failure is not None and _free(failure, response.content):
        return None
    limit = request.settings.max_tokens
    guessed_prompt = estimate_prompt(request)
    guessed_completion = min(estimate(response.content or ""), limit)
    if usage is None:
        total = guessed_prompt + guessed_completion
        return Usage(guessed_prompt, guessed_completion, total, estimated=True)
    prompt, completion = usage.prompt_tokens, usage.completion_tokens
    clamped = False
    if not 0 <= prompt <= prompt_bound(request):
        prompt, clamped = guessed_prompt, True
    if not 0 <= completion <= limit:
        completion, clamped = guessed_completion, True
    if not clamped:
        return Usage(prompt, completion, prompt + completion, usage.estimated)
    return Usage(prompt, completion, prompt + completion, estimated=True)


def _free(failure: LLMFailure, content: str | None) -> bool:
    """Whether a failed call never reached the model: a kind that fails before it, an
    HTTP error status (the server refused or broke before answering), or a connection
    that failed before any text arrived."""
    if failure.kind in FREE_FAILURES or failure.status is not None:
        return True
    return failure.kind == "connection" and not content
