"""Keeping users' data out of the logs: the ``Redactor`` and the engine's log ``Privacy``.

A ``Redactor`` replaces e-mail addresses, phone numbers, card-like numbers and
any extra patterns the host lists with typed placeholders::

    >>> Redactor([r"\\bORD-\\d+\\b"])("jane@example.com, +44 20 7946 0958, ORD-77")
    '[email], [phone], [redacted]'

What counts (each kind is one compiled regex, applied in this order):

- extra patterns, first, so a host's pattern claims its text before the
  built-in kinds see it: ``[redacted]``;
- ``[email]``: ``local@domain.tld``;
- ``[card]``: 13 to 19 digits, in groups separated by single spaces or dashes,
  that pass the Luhn check;
- ``[phone]``: any other run of 7 to 15 digits, optionally after ``+`` or in
  groups separated by spaces, dashes, dots, slashes or parentheses; ``[number]``
  for a longer run. Luhn decides the label, not whether to redact: a card
  number with a typo fails Luhn yet still gives most of a card away, so it is
  hidden too.

Not redacted: digits glued to letters or following a dash (order ids such as
``AB123456`` or ``ORD-1234567``, UUIDs), numbers with thousands separators
(``1,299.99``), amounts next to a currency (``$1 234 567``, ``1 234 567 EUR``),
decimals (``12345.67``), dates (``2024-05-17``, ``17.05.2024``, ``05/17/2024``),
year ranges and times. A number made of digits only, 7 or more of them, is
hidden even if it is an order number: over-redacting a log line costs little.

Why the engine redacts explicitly where it logs, rather than with a
``logging.Filter`` on the ``dialogue`` logger: a logger is process-wide and an
engine's settings (extra patterns, ``log_user_data``) are per engine, so two
engines would fight over one filter; installing one would be global state that
``Engine(...)`` promises not to touch; and *what* a log line may carry (an
exception's type, never its text) is decided where the line is written, which a
filter cannot know. So each log call passes its arguments through the engine's
``Privacy``, and the records that reach any handler are already clean. Hosts
who want the same redaction on their own loggers (or on ``openai`` and
``httpx`` at ``DEBUG``, which log request bodies) attach a ``RedactingFilter``
to their handlers.
"""

from __future__ import annotations

import functools
import logging
import re
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field

from dialogue.errors import ConfigurationError
from dialogue.regex import HINT, compile_pattern, problem

__all__ = ["Privacy", "RedactingFilter", "Redactor"]

_START = r"(?<![\w+\-])(?<!\d[.,])"  # not inside a word, an id or a number with separators
_END = r"(?!\w)(?![.,]\d)(?!:\d)"  # not followed by more of a word, a decimal or a time
EMAIL = r"(?<![\w.+%-])[\w.+%-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}(?![\w-])"
CARD = _START + r"\d(?:[ -]?\d){12,18}" + _END
PHONE = _START + r"(?:\+|\(\+?)?\d(?:[ \-./()\u00a0]{1,2}\d|\d){6,}" + _END
_KEEP = (
    r"\d{4}([-./])\d{1,2}\1\d{1,2}"  # 2024-05-17
    r"|\d{1,2}([-./])\d{1,2}\2\d{2,4}"  # 17.05.2024, 05/17/24
    r"|(?:19|20)\d\d ?[-/] ?(?:19|20)\d\d"  # 2019-2024
    r"|\d+\.\d+"  # 12345.67
)
_CURRENCY = r"[$€£¥₹元]|USD|EUR|GBP|CHF|JPY|CNY|RMB|INR"


@functools.cache
def _compiled() -> tuple[re.Pattern[str], ...]:
    """The built-in expressions, compiled on first use (not at ``import dialogue``):
    e-mail, card, phone, then what a phone-like match keeps (dates, money)."""
    return (
        re.compile(EMAIL),
        re.compile(CARD),
        re.compile(PHONE),
        re.compile(_KEEP),
        re.compile(rf"(?:{_CURRENCY}) ?$"),
        re.compile(rf" ?(?:{_CURRENCY})(?![A-Za-z])"),
    )


def luhn(digits: str) -> bool:
    """True if the digit string passes the Luhn checksum that card numbers carry."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = ord(char) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _card(match: re.Match[str]) -> str:
    return "[card]" if luhn(_digits(match.group())) else match.group()


def _phone(match: re.Match[str]) -> str:
    text, start, end = match.string, match.start(), match.end()
    found = match.group()
    keep, money_before, money_after = _compiled()[3:]
    if keep.fullmatch(found) or money_before.search(text, max(0, start - 4), start):
        return found
    if money_after.match(text, end):
        return found
    return "[phone]" if len(_digits(found)) <= 15 else "[number]"


class Redactor:
    """Replaces e-mails, phone and card-like numbers and extra patterns with placeholders.

    ``Redactor(patterns=())``: ``patterns`` are regular expressions (Python
    ``re`` syntax) for more text to hide, e.g. ``r"\\bORD-\\d+\\b"``; each match
    becomes ``[redacted]``. Built once, a redactor is immutable and thread-safe;
    one can serve many engines. Calling it on text returns the redacted text.
    """

    __slots__ = ("patterns", "_extra")

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        self.patterns: tuple[str, ...] = tuple(patterns)
        for p in self.patterns:
            _check(p)
        joined = "|".join(f"(?:{p})" for p in self.patterns)
        self._extra = compile_pattern(joined) if joined else None  # RE2: linear in the text

    def __call__(self, text: str) -> str:
        email, card, phone = _compiled()[:3]
        if self._extra is not None:
            text = self._extra.sub("[redacted]", text)
        if "@" in text:
            text = email.sub("[email]", text)
        return phone.sub(_phone, card.sub(_card, text))

    def __repr__(self) -> str:
        return f"Redactor({list(self.patterns)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Redactor) and other.patterns == self.patterns

    def __hash__(self) -> int:
        return hash(self.patterns)


def _check(pattern: str) -> None:
    """A pattern that would not compile, or would match nothing but still "hit" everywhere."""
    if not isinstance(pattern, str):
        raise ConfigurationError(f"redact pattern {pattern!r} is not a str")
    try:
        compiled = re.compile(f"(?:{pattern})")
    except re.error as exc:
        hint = ""
        if "global flags" in str(exc):
            hint = "write flags scoped to the pattern, e.g. (?i:ord-\\d+) instead of (?i)ord-\\d+"
        raise ConfigurationError(f"redact pattern {pattern!r}: {exc}", hint=hint) from None
    if compiled.fullmatch(""):
        raise ConfigurationError(
            f"redact pattern {pattern!r} matches the empty string",
            hint="use + rather than * for the repeated part",
        )
    if why := problem(pattern):
        raise ConfigurationError(f"redact pattern {pattern!r} {why}", hint=HINT)


@dataclass(frozen=True, slots=True)
class Privacy:
    """What an engine's log lines may carry, for the modules that write them."""

    redactor: Redactor = field(default_factory=Redactor)
    log_user_data: bool = False
    """Also log text that may quote the user (exception messages, the model's words)."""

    def __call__(self, value: object) -> str:
        """``str(value)``, redacted."""
        return self.redactor(str(value))

    def ident(self, session_id: str) -> str:
        """A session id as logs show it: quoted, redacted (an id may be a phone number)."""
        return self.redactor(repr(session_id))

    def exception(self, exc: BaseException) -> str:
        """A traceback for the log: with ``log_user_data``, redacted; by default the
        frames and exception types only, since exception messages may carry user data."""
        if self.log_user_data:
            return self.redactor("".join(traceback.format_exception(exc)).rstrip())
        shown = ""
        for e, link in _chain(exc):
            frames = "".join(traceback.format_tb(e.__traceback__))
            kind = f"{type(e).__module__}.{type(e).__qualname__}".removeprefix("builtins.")
            shown += f"{link}Traceback (most recent call last):\n{frames}{kind} (message withheld)"
        return shown


CAUSED = "\n\nThe above exception was the direct cause of the following exception:\n\n"
DURING = "\n\nDuring handling of the above exception, another exception occurred:\n\n"


def _chain(exc: BaseException) -> list[tuple[BaseException, str]]:
    """The exception and those before it, the first first (as Python prints them), each
    with the line that links it to the one printed before it."""
    chain: list[tuple[BaseException, str]] = []
    e: BaseException | None = exc
    while e is not None and all(e is not seen for seen, _ in chain):
        cause, context = e.__cause__, None if e.__suppress_context__ else e.__context__
        chain.append((e, CAUSED if cause is not None else DURING if context is not None else ""))
        e = cause or context
    first, *rest = chain[::-1]
    return [(first[0], ""), *rest]


class RedactingFilter(logging.Filter):
    """A ``logging.Filter`` that redacts every record it sees, for a host's own handlers.

    ``handler.addFilter(RedactingFilter(Redactor([...])))``: the message (arguments
    merged in) and any traceback are redacted; the record keeps no arguments and
    no exception object (a handler that reads ``exc_info`` directly would
    otherwise see the raw exception).
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or Redactor()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.redactor(record.getMessage()), None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(record.exc_info[1])).rstrip()
        record.exc_info = None
        if record.exc_text:
            record.exc_text = self.redactor(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor(record.stack_info)
        return True
