"""Compiling quick replies (``options``) and the host's events (``events:``).

Both are checked here by name resolution like the rest of the flow: an option's
``intent`` must be an intent of the flow, ``options: auto`` becomes an enum's values
or yes/no, an event's slots and targets must exist, and a global event's ``goto``
is a move of the flow (``events.NAME.goto``, from any state).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

from dialogue import schema
from dialogue.compiler.resolve import References
from dialogue.errors import Loc
from dialogue.runtime.compiled import ANY, CEvent, Move
from dialogue.runtime.options import YES_NO, YES_NO_SENT, COption
from dialogue.runtime.templates import Text

TextsOf = Callable[[Sequence[str], Loc, str], tuple[Text, ...]]
"""Compiles reply templates at a place (the builder's ``texts``, which reports problems)."""


def static(text: str) -> Text:
    return Text(text, frozenset(), None)


def compile_options(
    options: Sequence[schema.Option] | Literal["auto"],
    loc: Loc,
    what: str,
    *,
    texts: TextsOf,
    refs: References,
    slot: schema.Slot | None = None,
    language: str = "en",
) -> tuple[COption, ...]:
    if options == "auto":
        if isinstance(slot, schema.EnumSlot):
            return tuple(COption(static(v), None) for v in slot.values)
        base = language.split("-")[0]
        words = YES_NO.get(language) or YES_NO.get(base) or YES_NO["en"]
        if base in ("en", "zh"):  # the labels are words the slot reads
            return tuple(COption(static(label), None) for label in words)
        pairs = zip(words, YES_NO_SENT, strict=True)
        return tuple(COption(static(label), static(sent)) for label, sent in pairs)
    out = []
    for i, option in enumerate(options):
        labels = texts((option.label,), loc + (i, "label"), what)
        if not labels:
            continue
        label = labels[0]
        if option.intent is not None:
            refs.option_intent(option.intent, loc + (i, "intent"), what)
            out.append(COption(label, None, option.intent))
            continue
        text = None
        if option.text is not None:
            text = next(iter(texts((option.text,), loc + (i, "text"), what)), None)
        out.append(COption(label, text))
    return tuple(out)


def compile_events(
    flow: schema.Flow,
    *,
    texts: TextsOf,
    refs: References,
) -> dict[str, CEvent]:
    """Every event of the flow, its references checked."""
    compiled = {}
    for name, event in flow.events.items():
        loc: Loc = ("events", name)
        what = f"event '{name}'"
        for i, slot in enumerate(event.slots):
            refs.slot(slot, loc + ("slots", i), what)
            refs.filled.add(slot)
        for i, slot in enumerate(event.clear):
            refs.slot(slot, loc + ("clear", i), what)
        if event.goto is not None:
            refs.state(event.goto, loc + ("goto",), what)
        if event.flow is not None:
            refs.flow_name(event.flow, loc + ("flow",), what)
        say = texts(event.say, loc + ("say",), what)
        options = compile_options(event.options, loc + ("options",), what, texts=texts, refs=refs)
        compiled[name] = CEvent(
            name,
            event.scope,
            event.slots,
            say,
            options,
            event.goto,
            event.flow,
            event.clear,
        )
    return compiled


def event_moves(events: Mapping[str, CEvent]) -> tuple[Move, ...]:
    """A global event's ``goto``: a move from any state, as a global intent's."""
    return tuple(
        Move(ANY, e.goto, "global", f"events.{name}.goto", name)
        for name, e in events.items()
        if e.scope == "global" and e.goto is not None
    )
