"""Quick replies: the options a reply offers, compiled and rendered, and the payload
an option that means an intent sends (``/NAME``).

A designer writes ``options`` beside a ``say`` (a state's, a transition's, a global
event's) or an ``ask`` (a slot's; ``auto`` for an enum's values or yes/no). The
walker offers them right after the reply they belong to; a ``TurnResult`` carries
the options of its last reply only, rendered (``dialogue.trace.Option``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dialogue.runtime.templates import Text
from dialogue.trace import Option

PAYLOAD = re.compile(r"/([^\W\d]\w*)")
"""What an option meaning an intent sends: ``/`` and the intent's name."""

YES_NO = {
    "en": ("Yes", "No"),
    "zh": ("是", "否"),
    "es": ("Sí", "No"),
    "fr": ("Oui", "Non"),
    "de": ("Ja", "Nein"),
    "ja": ("はい", "いいえ"),
}
"""The labels ``options: auto`` gives a boolean slot, by the flow's language."""

YES_NO_SENT = ("yes", "no")
"""What those options send in a language whose yes/no words the slot does not read
(other than English and Chinese): the English words, read in every language."""


@dataclass(frozen=True, slots=True)
class COption:
    """A compiled option: its label (a template), and the text it sends."""

    label: Text
    text: Text | None
    """The message it sends (a template); ``None``: the rendered label."""
    intent: str | None = None


def payload(intent: str) -> str:
    return f"/{intent}"


def payload_intent(raw: str) -> str | None:
    """The intent a message names as an option's payload (``/track``), if it is one."""
    found = PAYLOAD.fullmatch(raw.strip())
    return None if found is None else found[1]


def render(options: Sequence[COption], context: Mapping[str, Any]) -> tuple[Option, ...]:
    """The options as a client shows them, labels rendered over ``context``."""
    out = []
    for o in options:
        label = o.label.source if o.label.static else o.label.render(context)
        if o.intent is not None:
            out.append(Option(label, payload(o.intent), o.intent))
            continue
        text = label if o.text is None else o.text.render(context)
        out.append(Option(label, text))
    return tuple(out)
