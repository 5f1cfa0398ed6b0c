"""A state's LLM policy, compiled: when an unparsed answer goes to the LLM, and what a
failed call does (``fallback.llm``, ``slots.NAME.llm``, ``failure_reply``,
``max_failures``, ``on_failure``). Pure, like the rest of the compiler."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from dialogue import schema
from dialogue.compiler.escalations import Builder, escalation
from dialogue.errors import Loc
from dialogue.runtime.builtin_replies import builtin
from dialogue.runtime.compiled import CFailure
from dialogue.runtime.llm_gate import resolve


def flow_failure(builder: Builder, flow: schema.Flow) -> CFailure:
    """The flow's failure policy, checked once (states without their own share it)."""
    fb, what = flow.fallback, "the fallback"
    goto, then = escalation(builder, fb.on_failure, ("fallback", "on_failure"), what)
    say = fb.failure_reply or builtin(flow.language, "llm_trouble")
    texts = builder.texts(say, ("fallback", "failure_reply"), what)
    return CFailure(texts, fb.max_failures, goto, then)


def state_failure(
    builder: Builder, base: CFailure, name: str, own: schema.StateFallback
) -> CFailure:
    """A state's failure policy: its own settings over the flow's."""
    here: Loc = ("states", name, "fallback")
    what = f"state '{name}'"
    say = base.say
    if own.failure_reply:
        say = builder.texts(own.failure_reply, here + ("failure_reply",), what)
    goto, then = base.goto, base.escalation
    if own.on_failure is not None:
        goto, then = escalation(builder, own.on_failure, here + ("on_failure",), what)
    return CFailure(say, own.max_failures or base.max, goto, then)


def slot_asks(
    flow: schema.Flow, own: schema.StateFallback, collect: Sequence[str]
) -> Mapping[str, schema.LLMWhen]:
    """For each slot the state collects, when an unparsed answer goes to the LLM."""
    asks: dict[str, schema.LLMWhen] = {}
    for name in collect:
        spec = flow.slots.get(name)
        if spec is not None:
            asks[name] = resolve(spec.type, state=own.llm, slot=spec.llm, flow=flow.fallback.llm)
    return MappingProxyType(asks)
