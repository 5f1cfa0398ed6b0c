"""What a line typed in ``dialogue chat`` sends: a quick reply by its number, an event
(``/event NAME {"slot": "value"}``), or the text itself; and how options are shown."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from dialogue.errors import EventError
from dialogue.trace import Option, TurnResult

if TYPE_CHECKING:
    from dialogue.engine import Engine


@dataclass(frozen=True)
class EventLine:
    """``/event NAME [JSON data]`` typed in the chat."""

    name: str
    data: dict[str, Any]


def option_lines(options: Sequence[Option]) -> list[str]:
    """The quick replies, numbered: ``  [1] Track an order``."""
    return [f"  [{n}] {o.label}" for n, o in enumerate(options, 1)]


def read_line(text: str, options: Sequence[Option]) -> tuple[str, str | EventLine]:
    """What ``text`` sends, and what to echo: a number picks an option (its text is
    sent), ``/event`` makes an event; anything else is sent as typed. Raises
    ``ValueError`` for an ``/event`` line that cannot be read."""
    stripped = text.strip()
    if stripped.isdigit() and 1 <= int(stripped) <= len(options):
        chosen = options[int(stripped) - 1]
        return chosen.label, chosen.text
    if stripped.startswith("/event"):
        _, _, rest = stripped.partition(" ")
        name, _, raw = rest.strip().partition(" ")
        if not name:
            raise ValueError('usage: /event NAME {"slot": "value"}')
        try:
            data = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as exc:
            raise ValueError(f"the event's data is not JSON: {exc.msg}") from None
        if not isinstance(data, dict):
            raise ValueError('the event\'s data is a JSON object: {"slot": "value"}')
        return f"(event {name})", EventLine(name, data)
    return text, text


def send_line(
    engine: Engine, session_id: str, text: str, options: Sequence[Option]
) -> TurnResult | None:
    """Send what a typed line means (echoing a chosen option's label or the event); None
    when nothing was sent (a line that cannot be read, an event no flow declares)."""
    try:
        echo, sent = read_line(text, options)
    except ValueError as exc:
        click.secho(str(exc), fg="yellow")
        return None
    if echo != text:
        click.echo(f"you> {echo}")
    try:
        if isinstance(sent, EventLine):
            return engine.event(session_id, sent.name, data=sent.data)
        return engine.handle(session_id, sent)
    except EventError as exc:
        click.secho(f"{exc} ({exc.hint})" if exc.hint else str(exc), fg="yellow")
        return None
