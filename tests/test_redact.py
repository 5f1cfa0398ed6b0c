"""The Redactor: what it hides, what it must leave alone, and its filter for host loggers."""

from __future__ import annotations

import logging
import re

import pytest

from dialogue import ConfigurationError, RedactingFilter, Redactor
from dialogue.redact import Privacy, luhn

REDACT = Redactor()

HIDDEN = [
    ("write to jane@example.com please", "write to [email] please"),
    ("jane.doe+shop@mail.example.co.uk!", "[email]!"),
    ("<JANE_99@Example.ORG>", "<[email]>"),
    ("mail: zhang.wei@例子.中国", "mail: [email]"),
    ("call +44 20 7946 0958", "call [phone]"),
    ("call +1 (555) 123-4567.", "call [phone]."),
    ("(555) 123-4567", "[phone]"),
    ("555-1234", "[phone]"),
    ("555.123.4567", "[phone]"),
    ("0612345678", "[phone]"),
    ("030/1234567", "[phone]"),
    ("tel 555 12 34, thanks", "tel [phone], thanks"),
    ("0086 138 0013 8000", "[phone]"),
    ("+8613800138000", "[phone]"),
    ("order 12345678 please", "order [phone] please"),  # digits only: hidden all the same
    ("card 4111 1111 1111 1111 exp 12/27", "card [card] exp 12/27"),
    ("4111-1111-1111-1111", "[card]"),
    ("4111111111111111", "[card]"),
    ("amex 378282246310005", "amex [card]"),
    ("4111-1111-1111-1112", "[number]"),  # a card with a typo fails Luhn, still hidden
    ("ref 1234567890123456789012", "ref [number]"),
    ("a@b.io, 555-1234 and 4111 1111 1111 1111", "[email], [phone] and [card]"),
]

KEPT = [
    "order AB123456",
    "where is AB123456?",
    "ORD-1234567",
    "ticket #4521",
    "zip 94103",
    "123456",
    "on 2024-05-17 at 14:30",
    "17.05.2024",
    "05/17/2024",
    "from 2019-2024",
    "10:30:45",
    "$1,299.99",
    "$1 234 567",
    "1 234 567 EUR",
    "1.234.567,00",
    "12345.67",
    "3.14159265",
    "version 1.2.3",
    "session 123e4567-e89b-12d3-a456-426614174000",
    "user@localhost",
    "@handle and email@",
    "",
]


@pytest.mark.parametrize(("text", "expected"), HIDDEN)
def test_hidden(text: str, expected: str) -> None:
    assert REDACT(text) == expected


@pytest.mark.parametrize("text", KEPT)
def test_kept(text: str) -> None:
    assert REDACT(text) == text


def test_luhn() -> None:
    assert luhn("4111111111111111") and luhn("378282246310005") and luhn("79927398713")
    assert not luhn("4111111111111112") and not luhn("79927398710")


def test_extra_patterns_come_first_and_become_redacted() -> None:
    r = Redactor([r"\bORD-\d+\b", r"(?i:secret-\w+)"])
    assert r("ORD-1234567 for jane@example.com, code SECRET-xy") == (
        "[redacted] for [email], code [redacted]"
    )
    assert r("AB123456") == "AB123456"
    assert Redactor([r"\b[A-Z]{2}\d{6}\b"])("order AB123456") == "order [redacted]"
    assert r.patterns == (r"\bORD-\d+\b", r"(?i:secret-\w+)")
    assert r == Redactor([r"\bORD-\d+\b", r"(?i:secret-\w+)"]) and r != REDACT


def test_a_bad_pattern_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        Redactor([r"ORD-(\d+"])
    assert str(info.value).startswith("redact pattern 'ORD-(\\\\d+': missing ), unterminated")
    with pytest.raises(ConfigurationError) as info:
        Redactor([r"(?i)ord-\d+"])
    assert info.value.hint == (
        "write flags scoped to the pattern, e.g. (?i:ord-\\d+) instead of (?i)ord-\\d+"
    )
    with pytest.raises(ConfigurationError) as info:
        Redactor([r"\d*"])
    assert str(info.value) == (
        "redact pattern '\\\\d*' matches the empty string\n"
        "    hint: use + rather than * for the repeated part"
    )


def test_long_text_stays_fast() -> None:
    """No catastrophic backtracking: a long run of digits and separators is one match."""
    text = "1-" * 20_000 + "x"
    assert REDACT(text) == "[number]-x"
    assert re.fullmatch(r"(?:\[phone\], )+", REDACT("555-1234, " * 1000))


def boom(text: str, who: str = "jane@example.com") -> None:
    try:
        raise ValueError(f"bad value {text!r}")
    except ValueError as exc:
        raise KeyError(f"lookup failed for {who}") from exc


def test_privacy_shows_tracebacks_without_messages_by_default() -> None:
    phone = "+44 20 7946 0958"
    with pytest.raises(KeyError) as info:
        boom(phone)
    shown = Privacy().exception(info.value)
    assert "jane@example.com" not in shown and "7946" not in shown
    assert "ValueError (message withheld)" in shown and "KeyError (message withheld)" in shown
    assert shown.index("ValueError") < shown.index("direct cause") < shown.index("KeyError")
    assert 'raise ValueError(f"bad value {text!r}")' in shown  # the frames are kept
    full = Privacy(log_user_data=True).exception(info.value)
    assert "KeyError: 'lookup failed for [email]'" in full
    assert "ValueError: bad value '[phone]'" in full


def test_privacy_redacts_session_ids() -> None:
    assert Privacy().ident("+15551234567") == "'[phone]'"
    assert Privacy().ident("user-1") == "'user-1'"


def test_redacting_filter_cleans_a_host_logger(caplog: pytest.LogCaptureFixture) -> None:
    host = logging.getLogger("tests.host")
    redacting = RedactingFilter(Redactor([r"\bORD-\d+\b"]))
    caplog.handler.addFilter(redacting)
    try:
        with caplog.at_level(logging.INFO, logger="tests.host"):
            host.info("order %s for %s", "ORD-42", "jane@example.com")
            try:
                boom("555-1234")
            except KeyError:
                host.exception("failed for %s", "+44 20 7946 0958")
    finally:
        caplog.handler.removeFilter(redacting)
    assert [r.getMessage() for r in caplog.records] == [
        "order [redacted] for [email]",
        "failed for [phone]",
    ]
    assert caplog.records[1].exc_info is None
    assert "jane@example.com" not in caplog.text and "555-1234" not in caplog.text
    assert "KeyError: 'lookup failed for [email]'" in caplog.text
