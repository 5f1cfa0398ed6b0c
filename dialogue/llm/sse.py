"""Server-sent events, as a Chat Completions stream sends them, decoded line by line.

The client reads the response body's lines itself and hands them here; each
event's data is decoded with pydantic-core (the SDK's own stream decoding builds
a model object for every chunk, most of the CPU a streamed call cost). Per the
SSE format: ``data:`` lines of one event are joined with newlines, an empty line
ends the event, ``event:`` names it, lines starting with ``:`` are comments,
other fields are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DONE = "[DONE]"
"""The data of the event that ends an OpenAI stream."""


@dataclass
class Event:
    data: str
    event: str | None = None


@dataclass
class Decoder:
    """``feed(line)`` for every line (without its line break); an ``Event`` when one ends."""

    _data: list[str] = field(default_factory=list)
    _event: str | None = None

    def feed(self, line: str) -> Event | None:
        if not line:
            return self._flush()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None

    def end(self) -> Event | None:
        """The last event, if the body ended without its empty line."""
        return self._flush()

    def _flush(self) -> Event | None:
        if not self._data:
            self._event = None
            return None
        event = Event("\n".join(self._data), self._event)
        self._data, self._event = [], None
        return event
