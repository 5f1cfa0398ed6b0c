"""The LLM step of a turn: ask the LLM when no rule matched, and check its answer.

``ask`` renders the state's prompt, yields an ``LLMCall`` (the engine's sync or
async face makes the request), accounts the tokens and checks the answer with
``llm_contract.interpret``. With a user budget it also yields a ``TokensHold``
before the call and a ``TokensCharge`` after it (``runtime/user_budget.py``). It
returns the checked ``Interpretation``, or None when there is nothing to apply
(offline, budget spent, a failed call, a rejected answer); it never changes the
conversation. The turn applies an interpretation through the same path as a
rule's match.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dialogue.errors import AnswerRejected
from dialogue.llm.protocol import FailureKind, LLMFailure, LLMRequest, LLMResponse, Usage
from dialogue.redact import Privacy
from dialogue.runtime.compiled import CFallback, CompiledFlow, CState
from dialogue.runtime.leak import find_leak, system_message
from dialogue.runtime.llm_contract import (
    Interpretation,
    LLMCall,
    build_request,
    history_messages,
    interpret,
    prompt_context,
)
from dialogue.runtime.rules import Prepared
from dialogue.runtime.token_budget import MIN_COMPLETION, charge, estimate_prompt, reserve
from dialogue.runtime.user_budget import TokensCharge, TokensHold, UserLimit
from dialogue.session import Session
from dialogue.trace import LLMTrace, Trace

log = logging.getLogger("dialogue")

MAX_REPLY = 2000
"""An LLM reply longer than this is cut."""


@dataclass(frozen=True, slots=True)
class LLMAccess:
    """What a turn may do with the LLM, as the engine configured it."""

    enabled: bool = False
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """``LLMSettings`` fields that replace the flow's, for this engine."""
    trace_prompts: bool = False
    """Keep the rendered messages in the trace."""
    privacy: Privacy = dataclasses.field(default_factory=Privacy)
    """What the log line of a failed call may carry."""
    user: UserLimit | None = None
    """The user's token budget this turn draws from (the host named a ``user`` and a
    user budget is set): ``runtime/user_budget.py``."""


QUOTING: frozenset[FailureKind] = frozenset({"refusal", "cassette_miss"})
"""Failures whose message quotes the conversation (the model's words, the request):
logged by kind only, unless the engine was built with ``log_user_data=True``."""


def logged(failure: LLMFailure, privacy: Privacy) -> str:
    """A failed call as the log shows it: redacted, and without the conversation."""
    if failure.kind in QUOTING and not privacy.log_user_data:
        return f"{failure.kind} (message withheld)"
    return privacy(f"{failure.kind}: {failure.message}")


def request_for(
    fb: CFallback,
    *,
    session: Session,
    flow: CompiledFlow,
    state: CState,
    text: Prepared,
    today: datetime.date,
    overrides: Mapping[str, Any],
    candidates: Sequence[Mapping[str, Any]] = (),
) -> LLMRequest:
    context = prompt_context(
        flow={"name": flow.name, "description": flow.description},
        state={"name": state.name, "description": state.description},
        language=flow.language,
        mode=fb.mode,
        intents=fb.intent_info,
        slots=[(o, session.slots.get(o.name) is not None) for o in fb.open(session.pending)],
        pending=next((o for o in fb.slots if o.name == session.pending), None),
        knowledge=fb.knowledge,
        today=today.isoformat(),
        candidates=candidates,
    )
    cfg = flow.llm_config
    settings = dataclasses.replace(flow.llm, **overrides) if overrides else flow.llm
    return build_request(
        system=fb.prompt.render(context),
        history=history_messages(session.history, turns=cfg.history_turns, chars=cfg.history_chars),
        text=text.raw,
        settings=settings,
        schema=fb.schemas.get(session.pending, fb.schemas[None]),
    )


def ask(
    text: Prepared,
    *,
    session: Session,
    flow: CompiledFlow,
    state: CState,
    today: datetime.date,
    access: LLMAccess,
    trace: Trace,
    candidates: Sequence[Mapping[str, Any]] = (),
) -> Generator[LLMCall | TokensHold | TokensCharge, Any, Interpretation | None]:
    """Ask the LLM about ``text``: its checked answer, or None (the reason is in the trace).

    ``candidates`` (the classifier's best guesses when it abstained) are named in the prompt."""
    fb = state.fallback
    if fb is None:
        return None
    llm = trace.llm = LLMTrace(prompt=fb.prompt_name, mode=fb.mode)
    if not access.enabled:
        llm.outcome = "offline"
        return None
    budget = flow.llm_config.token_budget
    if budget is not None and session.tokens >= budget:
        llm.outcome, llm.budget = "budget", "session"
        return None
    wanted = request_for(
        fb,
        session=session,
        flow=flow,
        state=state,
        text=text,
        today=today,
        overrides=access.overrides,
        candidates=candidates,
    )
    held, request = yield from _within_budgets(wanted, session, budget, access.user, llm)
    if request is None:
        return None
    if access.trace_prompts:
        llm.messages = [dict(m) for m in request.messages]
    response = yield LLMCall(request, fb.mode, fb.prompt_name, fb.knowledge)
    assert isinstance(response, LLMResponse)
    usage = _account(session, llm, request, response)
    yield from _charge(access.user, held, None if llm.cached else usage, trace, access.privacy)
    if response.failure is not None:
        llm.outcome, llm.failure = "failed", response.failure.kind
        llm.error = f"{response.failure.kind}: {response.failure.message}"
        trace.errors.append(f"llm {llm.error}")
        failed = logged(response.failure, access.privacy)
        log.warning("LLM fallback failed in %s.%s: %s", flow.name, state.name, failed)
        return None
    parsers = {o.name: flow.slots[o.name].parser for o in fb.open(session.pending)}
    try:
        answer = interpret(response, mode=fb.mode, intents=fb.intents, parsers=parsers, today=today)
    except AnswerRejected as exc:
        llm.outcome, llm.error = "rejected", str(exc)
        trace.errors.append(f"llm answer rejected: {exc}")
        return None
    if answer.intent is None and not answer.slots and not answer.reply:
        llm.outcome = "nothing"
        return None
    if answer.reply is not None:
        reply = answer.reply[:MAX_REPLY]
        answer = dataclasses.replace(answer, reply=reply)
        leak = find_leak(reply, system=system_message(request), knowledge=fb.knowledge)
        if leak is not None:
            llm.outcome = "leaked"
            llm.error = f"the reply quotes the {_LEAK_WHAT[leak.source]} ({leak.run} units)"
            trace.errors.append(f"llm reply withheld: {llm.error}")
            trace.raw_events.append(("LeakBlocked", flow.name, state.name, leak.source, leak.run))
            log.warning("LLM reply withheld in %s.%s: %s", flow.name, state.name, llm.error)
            return None
    return answer


def _within_budgets(
    wanted: LLMRequest, session: Session, budget: int | None, user: UserLimit | None, llm: LLMTrace
) -> Generator[TokensHold, Any, tuple[int, LLMRequest | None]]:
    """The request as it fits the session's budget and the user's (``max_tokens``
    lowered to fit), and the tokens held in the user's count for it; None when one
    of them is spent (``llm.budget`` says which)."""
    request = reserve(wanted, spent=session.tokens, budget=budget)
    if request is None:
        llm.outcome, llm.budget = "budget", "session"
        return 0, None
    if user is None:
        return 0, request
    prompt = estimate_prompt(request)
    want = prompt + request.settings.max_tokens
    held = yield TokensHold(user, want, prompt + MIN_COMPLETION)
    assert isinstance(held, int)
    if held <= 0:
        llm.outcome, llm.budget = "budget", "user"
        return 0, None
    if held < want:
        settings = dataclasses.replace(request.settings, max_tokens=held - prompt)
        request = dataclasses.replace(request, settings=settings)
    return held, request


def _charge(
    user: UserLimit | None, held: int, usage: Usage | None, trace: Trace, privacy: Privacy
) -> Generator[TokensCharge, Any, None]:
    """Correct the user's count by what the call cost (``usage``; None: nothing) less
    what was held; a count the store could not correct is in the trace and the log."""
    cost = 0 if usage is None else usage.total_tokens
    if user is None or cost == held:
        return
    failed = yield TokensCharge(user, cost - held)
    if failed is not None:
        trace.errors.append(f"user token count not corrected: {failed}")
        log.warning("the user's token count was not corrected: %s", privacy(str(failed)))


_LEAK_WHAT = {
    "prompt": "system prompt",
    "private": "private knowledge",
    "code": "a private code word",
}


def _account(
    session: Session, llm: LLMTrace, request: LLMRequest, response: LLMResponse
) -> Usage | None:
    """Charge the call to the session: what the server reported, within bounds, or an
    estimate (``runtime/token_budget.py``); a cached answer is free. Returns what the
    call cost (None: nothing)."""
    llm.model, llm.seconds = response.model, response.seconds
    llm.response_id, llm.created = response.id, response.created
    llm.cached = getattr(response, "cached", False)
    usage = charge(request, response)
    if usage is not None:
        llm.prompt_tokens = usage.prompt_tokens
        llm.completion_tokens = usage.completion_tokens
        llm.estimated = usage.estimated
        if not llm.cached:
            session.tokens = max(session.tokens, 0) + usage.total_tokens
    return usage
