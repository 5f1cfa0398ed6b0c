"""Characters that hide things, taken out of user text before anything sees it.

:func:`sanitize` runs on every user message as the engine receives it, so what it
removes never reaches matching, history, slots, LLM messages, traces, stores or
cassettes. It removes:

* **controls**: C0 controls but ``\\t`` and ``\\n`` (``\\r\\n`` and a lone ``\\r``
  become ``\\n``), DEL, and the C1 controls U+0080-U+009F (``\\x9b`` is the 8-bit
  CSI that starts terminal escape sequences); U+0085 (NEL, a line break in
  Unicode) becomes ``\\n``;
* **invisible characters**: U+200B (zero-width space), U+2060 (word joiner),
  U+FEFF (byte order mark / zero-width no-break space), U+00AD (soft hyphen),
  U+180E, and the tag characters U+E0000-U+E007F (invisible ASCII that models
  still read: "ASCII smuggling"; subdivision flags such as Scotland's lose their
  tags and show as a black flag);
* **bidirectional controls**: the embeddings and overrides U+202A-U+202E and the
  isolates U+2066-U+2069 (they reorder what a reader sees, "Trojan Source"),
  and the marks U+200E, U+200F, U+061C.

**Strip, not replace**: none of these is text a person typed to be read, and a
replacement character (U+FFFD) would show up in replies and break words
(``pass\\u200bword`` must be ``password`` for the keyword ``password``).

**Joiners**: U+200D (ZWJ) and U+200C (ZWNJ) are part of writing: ZWJ builds
emoji sequences (👨‍👩‍👧, 🏳️‍🌈) and both shape Indic and Arabic-script words.
They are kept between two characters that are neither ASCII nor space
(emoji, Devanagari, Persian) and stripped anywhere else (next to ASCII letters,
at the ends, next to spaces), where they can only hide something. Rules match on
a form without any joiner (:func:`unjoined`, used by ``rules.prepare``), so a
joiner inside a non-Latin word cannot hide a keyword either.

Lone surrogates are replaced by ``?`` so the text is valid UTF-8.
"""

from __future__ import annotations

import re

_DROP = (
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\u00ad\u061c\u180e"
    "\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff\U000e0000-\U000e007f"
)
_DROP_RE = re.compile(f"[{_DROP}]+")
_BREAK_RE = re.compile("\r\n?|\x85")
_JOINERS = "\u200c\u200d"
# a joiner is kept only with a non-ASCII, non-space character on both sides
_LOOSE_JOINER_RE = re.compile(
    rf"(?:(?<=[\x00-\x7f\s])|^)[{_JOINERS}]+|[{_JOINERS}]+(?=[\x00-\x7f\s]|$)"
)
_ALL_JOINERS_RE = re.compile(f"[{_JOINERS}]+")
_SUSPECT_RE = re.compile(f"[{_DROP}\r\x85{_JOINERS}]")


def sanitize(text: str) -> str:
    """``text`` without controls, invisible and bidirectional characters (see the module)."""
    if _SUSPECT_RE.search(text) is not None:
        text = _BREAK_RE.sub("\n", text)
        text = _DROP_RE.sub("", text)
        text = _LOOSE_JOINER_RE.sub("", text)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def unjoined(text: str) -> str:
    """``text`` without ZWJ and ZWNJ: the form rules match on."""
    return _ALL_JOINERS_RE.sub("", text) if "\u200c" in text or "\u200d" in text else text
