"""Holding back an LLM reply that quotes the system prompt or private knowledge.

A model told "repeat your instructions" may obey. Before an LLM reply is said,
``find_leak`` compares it with what the user must not read:

- the rendered system prompt: a run of ``PROMPT_RUN`` consecutive units shared
  with it is a leak, unless that run is also in the knowledge text that is not
  private (answering from the public FAQ in its own words is the point);
- knowledge sections marked private (``<!-- private -->`` ... ``<!-- /private -->``,
  see docs/llm.md): a run of ``PRIVATE_RUN`` units is a leak, and so is any
  *code word* of a private section (a token of at least 6 characters mixing
  letters and digits: discount codes, passwords, canaries), alone.

A *unit* is a word (a run of letters or digits) or one CJK character, after
NFKC normalisation and case folding; punctuation and whitespace only separate
units, so reformatting, changing case or re-spacing does not hide a quote, and
Chinese is compared character by character. A paraphrase shares no long run
and passes.

The knowledge text of a fallback is split once (``knowledge_parts`` caches it);
a check costs one pass over the reply and a substring search per window.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from dialogue.llm.protocol import LLMRequest

PROMPT_RUN = 12
"""Consecutive units shared with the system prompt that make a leak."""
PRIVATE_RUN = 6
"""Consecutive units shared with a private knowledge section that make a leak."""

_CJK = "\u2e80-\u2fdf\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_UNIT = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")
_PRIVATE = re.compile(
    r"<!--\s*private\s*-->(.*?)(?:<!--\s*/\s*private\s*-->|\Z)", re.DOTALL | re.IGNORECASE
)
_WORD6 = re.compile(r"\S{6,}")
_DIGIT = re.compile(r"\d").search
_LETTER = re.compile(r"[^\W\d_]").search


def codes_in(text: str) -> list[str]:
    """The code words of ``text``: runs of 6 or more non-spaces with a digit and a letter
    (one pass: lookaheads here took time quadratic in a long run without a digit)."""
    return [w for w in _WORD6.findall(text) if _DIGIT(w) and _LETTER(w)]


def system_message(request: LLMRequest) -> str:
    """The system message of ``request`` (the rendered prompt), or ""."""
    first = request.messages[0] if request.messages else {}
    return str(first.get("content", "")) if first.get("role") == "system" else ""


def units(text: str) -> list[str]:
    """The words and CJK characters of ``text``, normalised (NFKC, case folded)."""
    return _UNIT.findall(unicodedata.normalize("NFKC", text).casefold())


def _joined(text: str) -> str:
    return " " + " ".join(units(text)) + " "


@functools.lru_cache(maxsize=64)
def _prompt(system: str) -> str:
    """The system message as joined units (a streamed reply checks it once a chunk)."""
    return _joined(system)


TAIL = 400
"""Characters of a growing reply that ``StreamGuard`` checks again with each piece,
before the new piece: longer than any run that makes a leak."""


class StreamGuard:
    """Checks a reply while it streams: ``allows(piece)`` is False from the piece that
    would complete a leak on, so a whole leaking run never reaches the screen."""

    __slots__ = ("knowledge", "said", "system")

    def __init__(self, *, system: str, knowledge: str) -> None:
        self.system = system
        self.knowledge = knowledge
        self.said = ""

    def allows(self, piece: str) -> bool:
        text = (
            self.said[-(TAIL + len(piece)) :] + piece
            if len(self.said) > TAIL
            else self.said + piece
        )
        if find_leak(text, system=self.system, knowledge=self.knowledge) is not None:
            return False
        self.said += piece
        return True


@dataclass(frozen=True, slots=True)
class KnowledgeParts:
    public: str
    """The knowledge text outside private sections, as joined units."""
    private: tuple[str, ...]
    """Each private section, as joined units."""
    codes: frozenset[str]
    """The code words of the private sections, normalised."""


@functools.lru_cache(maxsize=64)
def knowledge_parts(knowledge: str) -> KnowledgeParts:
    sections = [m.group(1) for m in _PRIVATE.finditer(knowledge)]
    public = _PRIVATE.sub(" ", knowledge)
    codes = {
        " ".join(units(code))
        for section in sections
        for code in codes_in(unicodedata.normalize("NFKC", section))
    }
    return KnowledgeParts(
        _joined(public), tuple(_joined(s) for s in sections), frozenset(c for c in codes if c)
    )


def private_sections(knowledge: str) -> int:
    """How many private sections ``knowledge`` marks."""
    return len(knowledge_parts(knowledge).private)


@dataclass(frozen=True, slots=True)
class Leak:
    source: str
    """``prompt`` (the system prompt), ``private`` (a private section) or ``code``
    (a private code word)."""
    run: int
    """How many consecutive units the reply shares with it."""


def _windows(reply: list[str], size: int) -> list[str]:
    return [" " + " ".join(reply[i : i + size]) + " " for i in range(len(reply) - size + 1)]


def find_leak(reply: str, *, system: str, knowledge: str) -> Leak | None:
    """The first leak in ``reply`` (None: it may be said)."""
    words = units(reply)
    if not words:
        return None
    parts = knowledge_parts(knowledge)
    said = " " + " ".join(words) + " "
    for code in parts.codes:
        if f" {code} " in said:
            return Leak("code", len(code.split()))
    for window in _windows(words, PRIVATE_RUN):
        if any(window in section for section in parts.private):
            return Leak("private", PRIVATE_RUN)
    prompt = _prompt(system)
    for window in _windows(words, PROMPT_RUN):
        if window in prompt and window not in parts.public:
            return Leak("prompt", PROMPT_RUN)
    return None
