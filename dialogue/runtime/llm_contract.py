"""The LLM fallback: what to ask when no rule matched, and holding the answer to the rules.

Three pure steps, used by ``turn.py``:

1. ``prompt_context`` + ``build_request``: the system message is the flow's
   prompt template rendered over the state (descriptions, the intents allowed
   here, the open slots, knowledge text); the conversation so far and the
   user's message follow as ``user``/``assistant`` messages. User text never
   enters the template's context: it only ever travels in the ``user`` role.
2. ``answer_schema``: the JSON Schema of the structured answer for this state:
   an intent from the allowed set (or null), values for the open slots, and
   (mode ``both``) a reply.
3. ``interpret``: checks the answer against that same allowed set and the slot
   types. Anything outside it rejects the whole answer, so nothing is half-applied
   and the LLM can never move the conversation where the flow does not allow.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dialogue.errors import AnswerRejected
from dialogue.llm.protocol import LLMRequest, LLMResponse, LLMSettings
from dialogue.runtime.slots import SlotParser
from dialogue.runtime.templates import Sandbox, make_environment

PROMPT_NAMES = frozenset(
    {"flow", "state", "language", "pending", "mode", "intents", "slots", "knowledge", "today"}
    | {"candidates"}
)
"""The names a prompt template may use."""

LANGUAGES = {
    "en": "English",
    "zh": "Simplified Chinese (简体中文)",
    "es": "Spanish (español)",
    "fr": "French (français)",
    "de": "German (Deutsch)",
    "ja": "Japanese (日本語)",
}
MAX_PROMPT_CHARS = 24_000
"""The rendered system message is cut to this many characters."""

_JSON_TYPES = {"text": "string", "integer": "integer", "number": "number", "boolean": "boolean"}
_FORMATS = {
    "date": "a date as YYYY-MM-DD",
    "time": "a time as HH:MM (24-hour clock)",
    "email": "an email address",
    "phone": "a phone number",
}


def make_prompt_environment() -> Sandbox:
    """Prompts are sandboxed and strict like replies; block tags don't leave blank lines."""
    return make_environment(trim_blocks=True, lstrip_blocks=True)


@dataclass(frozen=True, slots=True)
class OpenSlot:
    """A slot the LLM may fill in this state, as the prompt and the schema see it."""

    name: str
    type: str
    description: str
    values: tuple[str, ...]
    """Enum values (the canonical ones)."""


@dataclass(frozen=True, slots=True)
class LLMCall:
    """A request, from the turn logic to the engine, to ask the LLM."""

    request: LLMRequest
    mode: str
    prompt: str
    """The prompt template's name, for traces."""
    knowledge: str = ""
    """The knowledge text in the prompt (its private sections must not be quoted)."""


@dataclass(frozen=True, slots=True)
class Interpretation:
    """An answer that passed every check, ready to apply as if a rule had matched."""

    intent: str | None = None
    slots: Mapping[str, Any] = field(default_factory=dict)
    reply: str | None = None


def prompt_context(
    *,
    flow: Mapping[str, str],
    state: Mapping[str, str],
    language: str,
    mode: str,
    intents: Sequence[Mapping[str, Any]],
    slots: Sequence[tuple[OpenSlot, bool]],
    pending: OpenSlot | None,
    knowledge: str,
    today: str = "",
    candidates: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The template context. Only designer-written text and the types of slots: no user text
    (``candidates``: the intents the example-trained classifier was unsure between, with
    their confidence)."""
    return {
        "candidates": [dict(c) for c in candidates],
        "today": today,
        "flow": dict(flow),
        "state": dict(state),
        "language": LANGUAGES.get(language, language),
        "mode": mode,
        "intents": [dict(i) for i in intents],
        "slots": [
            {
                "name": s.name,
                "type": _FORMATS.get(s.type, s.type),
                "description": s.description,
                "choices": list(s.values),
                "filled": filled,
            }
            for s, filled in slots
        ],
        "pending": None
        if pending is None
        else {
            "slot": pending.name,
            "type": _FORMATS.get(pending.type, pending.type),
            "description": pending.description,
        },
        "knowledge": knowledge,
    }


def history_messages(history: Sequence[str], *, turns: int, chars: int) -> list[dict[str, str]]:
    """The last ``turns`` turns (user, assistant), oldest first, within ``chars`` characters."""
    pairs = [(history[i], history[i + 1]) for i in range(0, len(history) - 1, 2)]
    out: list[dict[str, str]] = []
    budget = chars
    for user, bot in reversed(pairs[-turns:] if turns else []):
        cost = len(user) + len(bot)
        if cost > budget:
            break
        budget -= cost
        out[:0] = [{"role": "user", "content": user}, {"role": "assistant", "content": bot}]
    return out


def build_request(
    *,
    system: str,
    history: Sequence[Mapping[str, str]],
    text: str,
    settings: LLMSettings,
    schema: Mapping[str, Any] | None,
) -> LLMRequest:
    messages = [{"role": "system", "content": system[:MAX_PROMPT_CHARS]}, *history]
    messages.append({"role": "user", "content": text})
    return LLMRequest(messages=tuple(messages), settings=settings, schema=schema)


def answer_schema(
    intents: Sequence[str], slots: Sequence[OpenSlot], *, mode: str
) -> dict[str, Any] | None:
    """The structured answer for this state (``None`` in respond mode: free text)."""
    if mode == "respond":
        return None
    slot_props: dict[str, Any] = {s.name: _slot_schema(s) for s in slots}
    props: dict[str, Any] = {
        "intent": {"type": ["string", "null"], "enum": [*intents, None]},
        "slots": {
            "type": "object",
            "properties": slot_props,
            "required": list(slot_props),
            "additionalProperties": False,
        },
    }
    if mode == "both":
        props["reply"] = {"type": ["string", "null"]}
    return {
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


def _slot_schema(slot: OpenSlot) -> dict[str, Any]:
    if slot.type == "enum":
        return {"type": ["string", "null"], "enum": [*slot.values, None]}
    schema: dict[str, Any] = {"type": [_JSON_TYPES.get(slot.type, "string"), "null"]}
    if slot.type in _FORMATS:
        schema["description"] = _FORMATS[slot.type]
    return schema


def interpret(
    response: LLMResponse,
    *,
    mode: str,
    intents: Sequence[str],
    parsers: Mapping[str, SlotParser],
    today: Any,
) -> Interpretation:
    """Check an LLM answer against what this state allows; raises ``AnswerRejected``."""
    if mode == "respond":
        text = (response.content or "").strip()
        return Interpretation(reply=text or None)
    data = response.data
    if not isinstance(data, Mapping):
        raise AnswerRejected("the answer is not a JSON object")
    allowed = {"intent", "slots"} | ({"reply"} if mode == "both" else set())
    extra = sorted(set(data) - allowed)
    if extra:
        raise AnswerRejected(f"unexpected field(s) {', '.join(map(repr, extra))}")
    intent = data.get("intent")
    if intent is not None and intent not in intents:
        raise AnswerRejected(f"intent {json.dumps(intent)} is not allowed here")
    slots = _check_slots(data.get("slots"), parsers, today)
    reply = data.get("reply")
    if reply is not None and not isinstance(reply, str):
        raise AnswerRejected("reply is not a string")
    return Interpretation(intent, slots, (reply or "").strip() or None)


def _check_slots(raw: Any, parsers: Mapping[str, SlotParser], today: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise AnswerRejected("slots is not an object")
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in parsers:
            raise AnswerRejected(f"slot {json.dumps(name)} is not open here")
        if value is None:
            continue
        result = parsers[name].validate(value, today=today)
        if not result.ok:
            raise AnswerRejected(f"value {json.dumps(value)} for slot {name!r}: {result.reason}")
        out[name] = result.value
    return out
