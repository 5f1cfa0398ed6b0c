"""The turn step that consults the LLM when no rule matched.

It renders the state's prompt, yields an ``LLMCall`` (the engine's sync or
async face makes the request), checks the answer with ``fallback.interpret``
and applies it through the very same paths a rule match takes. Any failure,
rejection or empty answer returns False: the caller then runs the no-match
or reprompt ladder, and nothing of the answer has been applied.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING, Any

from dialogue.llm.openai_client import LLMRequest, LLMResponse
from dialogue.runtime.compiled import CFallback
from dialogue.runtime.llm_contract import (
    Interpretation,
    LLMCall,
    Rejected,
    build_request,
    history_messages,
    interpret,
    prompt_context,
)
from dialogue.runtime.rules import IntentMatch, Prepared
from dialogue.trace import LLMTrace

if TYPE_CHECKING:
    from dialogue.runtime.turn import Effects, Turn

log = logging.getLogger("dialogue")

MAX_REPLY = 2000
"""An LLM reply longer than this is cut."""


def request_for(
    turn: Turn, fb: CFallback, text: Prepared, overrides: Mapping[str, Any]
) -> LLMRequest:
    s, flow, st = turn.session, turn.flow, turn.state
    context = prompt_context(
        flow={"name": flow.name, "description": flow.description},
        state={"name": st.name, "description": st.description},
        language=flow.language,
        mode=fb.mode,
        intents=fb.intent_info,
        slots=[(o, s.slots.get(o.name) is not None) for o in fb.open(s.pending)],
        pending=next((o for o in fb.slots if o.name == s.pending), None),
        knowledge=fb.knowledge,
        today=turn.today.isoformat(),
    )
    cfg = flow.llm_config
    settings = dataclasses.replace(flow.llm, **overrides) if overrides else flow.llm
    return build_request(
        system=fb.prompt.render(context),
        history=history_messages(s.history, turns=cfg.history_turns, chars=cfg.history_chars),
        text=text.raw,
        settings=settings,
        schema=fb.schemas.get(s.pending, fb.schemas[None]),
    )


def consult(turn: Turn, text: Prepared) -> Generator[Effects, Any, bool]:
    """Ask the LLM; True if its answer was applied."""
    fb = turn.state.fallback
    if fb is None:
        return False
    s, cfg = turn.session, turn.flow.llm_config
    trace = LLMTrace(prompt=fb.prompt_name, mode=fb.mode)
    turn.trace.llm = trace
    if not turn.llm_enabled:
        trace.outcome = "offline"
        return False
    if cfg.token_budget is not None and s.tokens >= cfg.token_budget:
        trace.outcome = "budget"
        return False
    request = request_for(turn, fb, text, turn.llm_overrides)
    if turn.trace_prompts:
        trace.messages = [dict(m) for m in request.messages]
    response = yield LLMCall(request, fb.mode, fb.prompt_name)
    assert isinstance(response, LLMResponse)
    _account(turn, trace, response)
    if response.failure is not None:
        trace.outcome, trace.error = (
            "failed",
            f"{response.failure.kind}: {response.failure.message}",
        )
        turn.trace.errors.append(f"llm {trace.error}")
        log.warning(
            "LLM fallback failed in %s.%s: %s", turn.flow.name, turn.state.name, trace.error
        )
        return False
    parsers = {o.name: turn.flow.slots[o.name].parser for o in fb.open(turn.session.pending)}
    try:
        answer = interpret(
            response, mode=fb.mode, intents=fb.intents, parsers=parsers, today=turn.today
        )
    except Rejected as exc:
        trace.outcome, trace.error = "rejected", str(exc)
        turn.trace.errors.append(f"llm answer rejected: {exc}")
        return False
    applied = yield from apply(turn, answer, text)
    trace.outcome = trace.outcome or ("nothing" if not applied else "")
    return applied


def _account(turn: Turn, trace: LLMTrace, response: LLMResponse) -> None:
    trace.model, trace.seconds = response.model, response.seconds
    trace.cached = getattr(response, "cached", False)
    if response.usage is not None:
        trace.prompt_tokens = response.usage.prompt_tokens
        trace.completion_tokens = response.usage.completion_tokens
        trace.estimated = response.usage.estimated
        if not trace.cached:
            turn.session.tokens += response.usage.total_tokens


def apply(turn: Turn, answer: Interpretation, text: Prepared) -> Generator[Effects, Any, bool]:
    """Apply a checked answer exactly as a rule match would be applied."""
    s, trace = turn.session, turn.trace
    assert trace.llm is not None
    if answer.intent is not None:
        trace.rule, trace.intent, trace.matched = "llm", answer.intent, None
        trace.llm.outcome = "intent"
        found = IntentMatch(answer.intent, "llm", "", dict(answer.slots), (0, 0))
        if answer.intent in turn.state.on:
            if (yield from turn.local_intent(found, text)):
                return True
            # every guard of the intent said no: nothing was applied
            trace.llm.outcome, trace.intent, trace.rule = "", None, ""
            return False
        for name, value in answer.slots.items():
            turn.set_slot(name, value)
        yield from turn.global_intent(s.flow, answer.intent, text)
        return True
    if answer.slots:
        trace.rule, trace.llm.outcome = "llm", "slots"
        for name, value in answer.slots.items():
            turn.set_slot(name, value)
        s.no_match = 0
        yield from turn.settle()
        return True
    if answer.reply:
        trace.rule, trace.llm.outcome = "llm", "reply"
        turn.replies.append(answer.reply[:MAX_REPLY])
        s.no_match = 0
        if s.pending is not None:
            turn.ask(s.pending)
        return True
    return False
