"""A state's LLM policy, compiled: when an unparsed answer goes to the LLM, and what a
failed call does (``fallback.llm``, ``slots.NAME.llm``, ``failure_reply``,
``max_failures``, ``on_failure``). Pure, like the rest of the compiler."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from dialogue import schema
from dialogue.compiler.resolve import References
from dialogue.errors import Loc
from dialogue.runtime.builtin_replies import builtin
from dialogue.runtime.compiled import CFailure
from dialogue.runtime.llm_gate import resolve
from dialogue.runtime.templates import Text

Texts = Callable[[Sequence[str], Loc, str], tuple[Text, ...]]
"""The builder's template compiler: sources, where they are, what they belong to."""


def flow_failure(flow: schema.Flow, texts: Texts, refs: References) -> CFailure:
    """The flow's failure policy, checked once (states without their own share it)."""
    fb, what = flow.fallback, "the fallback"
    if fb.on_failure is not None:
        refs.state(fb.on_failure, ("fallback", "on_failure"), what)
    say = fb.failure_reply or builtin(flow.language, "llm_trouble")
    return CFailure(texts(say, ("fallback", "failure_reply"), what), fb.max_failures, fb.on_failure)


def state_failure(
    base: CFailure, name: str, own: schema.StateFallback, texts: Texts, refs: References
) -> CFailure:
    """A state's failure policy: its own settings over the flow's."""
    here: Loc = ("states", name, "fallback")
    what = f"state '{name}'"
    say = base.say
    if own.failure_reply:
        say = texts(own.failure_reply, here + ("failure_reply",), what)
    goto = base.goto
    if own.on_failure is not None:
        refs.state(own.on_failure, here + ("on_failure",), what)
        goto = own.on_failure
    return CFailure(say, own.max_failures or base.max, goto)


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
