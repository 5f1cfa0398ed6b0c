"""What of an LLM answer a user may see while it arrives.

``reply_reader(mode)`` gives, per LLM call of a streamed turn, a ``ReplyReader``
whose ``feed(chunk)`` turns the raw chunks of the answer into the reply text
that is certain so far:

- mode ``respond``: the answer is the reply (free text);
- mode ``both``: the answer is a JSON object; its ``reply`` string is read as it
  arrives (``llm.json_stream.FieldScanner``). The fields before it decide
  whether it is shown at all: a non-null ``intent``, a slot value, a slot that
  is not open or an unexpected field means the turn will not say this reply (the move wins, or
  the answer is refused), so nothing is streamed. The answer schema lists
  ``intent`` and ``slots`` before ``reply`` and strict structured output keeps
  that order, so the check normally happens before the first word. When a model
  writes ``reply`` first, its text streams optimistically and the turn's final
  reply replaces it (``Delta(replace=True)``) if it differs;
- mode ``understand``: the answer holds no text for the user (None: no reader).

With a ``StreamGuard`` (``runtime/leak.py``), the text stops before the piece that
would complete a quote of the system prompt or of private knowledge; the turn's
check of the whole reply then replaces the bubble with the failure reply.

The text is trimmed as ``llm_step`` trims the final reply (``strip()``, then
``MAX_REPLY`` characters): leading blanks are dropped and trailing ones held
until more text follows, so a well-formed answer streams exactly its final reply.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from dialogue.llm.json_stream import FieldScanner
from dialogue.runtime.leak import StreamGuard
from dialogue.runtime.llm_step import MAX_REPLY

FIELDS = frozenset({"intent", "slots", "reply"})


class Trim:
    """Releases text as ``text.strip()[:limit]`` will end, as soon as that is certain."""

    __slots__ = ("held", "limit", "sent", "started")

    def __init__(self, limit: int = MAX_REPLY) -> None:
        self.limit = limit
        self.held = ""
        self.sent = 0
        self.started = False

    def feed(self, text: str) -> str:
        if not self.started:
            text = text.lstrip()
            if not text:
                return ""
            self.started = True
        text = self.held + text
        body = text.rstrip()
        self.held = text[len(body) :]
        body = body[: self.limit - self.sent]
        self.sent += len(body)
        return body


def shows_reply(values: Mapping[str, Any], open_slots: Collection[str] | None = None) -> bool:
    """Whether a structured answer with these fields (so far) can end with its reply said.

    ``open_slots``: the slots the answer may name (None: any).
    """
    if not FIELDS.issuperset(values) or values.get("intent") is not None:
        return False
    slots = values.get("slots")
    if slots is None:
        return True
    if not isinstance(slots, dict) or any(v is not None for v in slots.values()):
        return False
    return open_slots is None or all(name in open_slots for name in slots)


class ReplyReader:
    """Raw chunks of one answer in, the reply text certain so far out."""

    __slots__ = ("checked", "guard", "open_slots", "scanner", "stopped", "trim")

    def __init__(
        self,
        scanner: FieldScanner | None,
        open_slots: Collection[str] | None = None,
        guard: StreamGuard | None = None,
    ) -> None:
        self.scanner = scanner
        self.guard = guard
        """Stops the stream before a piece that would complete a leak."""
        """None: the answer is free text."""
        self.open_slots = open_slots
        self.trim = Trim()
        self.stopped = False
        """The answer showed it will not end with this reply: nothing more is sent."""
        self.checked = 0
        """``scanner.completed`` when the fields were last checked."""

    def feed(self, chunk: str) -> str:
        if self.stopped:
            return ""
        shown = self._feed(chunk)
        if shown and self.guard is not None and not self.guard.allows(shown):
            self.stopped = True
            return ""
        return shown

    def _feed(self, chunk: str) -> str:
        scanner = self.scanner
        if scanner is None:
            return self.trim.feed(chunk)
        text = scanner.feed(chunk)
        if self.stopped:
            return ""
        if scanner.broken:
            self.stopped = True
            return ""
        if scanner.completed != self.checked:
            self.checked = scanner.completed
            if not shows_reply(scanner.values, self.open_slots):
                self.stopped = True
                return ""
        return self.trim.feed(text) if text else ""


def reply_reader(
    mode: str, schema: Mapping[str, Any] | None = None, guard: StreamGuard | None = None
) -> ReplyReader | None:
    """The reader for an answer of this fallback mode (None: it has no text to show);
    ``schema``, the request's answer schema, says which slots are open; ``guard``
    stops the text before it completes a leak (``runtime/leak.py``)."""
    if mode == "respond":
        return ReplyReader(None, guard=guard)
    if mode == "both":
        return ReplyReader(FieldScanner("reply"), _open_slots(schema), guard)
    return None


def _open_slots(schema: Mapping[str, Any] | None) -> frozenset[str] | None:
    try:
        return frozenset((schema or {})["properties"]["slots"]["properties"])
    except (KeyError, TypeError):
        return None
