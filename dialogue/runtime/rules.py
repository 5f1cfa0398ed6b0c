"""Text preparation and rule-based intent matching.

Every user message is prepared once (:func:`prepare`): NFKC-normalised (full-width
letters and digits become ASCII), whitespace collapsed, and case-folded. Rules then
run on the prepared text:

* **keywords** match the folded text. A keyword containing CJK, kana or Hangul
  matches as a plain substring (those scripts have no spaces); any other keyword
  matches whole words only, with an English plural or verb ending allowed on its
  last word (``refund`` matches ``refunds``, ``status`` matches ``statuses``,
  ``delivery`` matches ``deliveries``). A CJK character next to a keyword counts
  as a word boundary, so ``return`` matches ``我想return这个``.
* **patterns** are regular expressions searched case-insensitively in the NFKC text.

All keywords of a matcher are compiled into one regular expression shaped like a
trie (shared prefixes are factored out), with the word-boundary checks at its
leaves, so a message is scanned once however many keywords there are.
:class:`KeywordIndex` is that machinery on its own; slot parsers reuse it for enum
values and yes/no words.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from dialogue import schema
from dialogue.regex import Pattern, compile_pattern
from dialogue.runtime.hidden import sanitize, unjoined

T = TypeVar("T")

CJK_RANGES = (
    "\u1100-\u11ff\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3031-\u3035\u3038-\u303c"
    "\u3040-\u31ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff"
    "\uff66-\uffdc\U00020000-\U0003ffff"
)
"""Han, kana, Hangul and their marks: scripts written without spaces between words."""

WORD = rf"[^\W{CJK_RANGES}]"
"""One character of a space-separated word: a letter, digit or ``_`` that is not CJK."""

_CJK_RE = re.compile(f"[{CJK_RANGES}]")
_WORD_END = f"(?!{WORD})"


@dataclass(frozen=True, slots=True)
class Prepared:
    """A user message in the three forms rules work on."""

    raw: str
    """The text as received (already sanitised by the engine)."""
    nfkc: str
    """NFKC-normalised, whitespace runs collapsed to one space, stripped; the typographic
    apostrophe (U+2019, as phones type it) made ASCII."""
    folded: str
    """``nfkc.casefold()``: what keywords and word lists match against."""


def prepare(text: str) -> Prepared:
    """Normalise ``text`` once for every rule that will look at it.

    ``text`` is sanitised (:func:`dialogue.runtime.hidden.sanitize`) here too, for
    callers other than the engine; the joiners it keeps in words are left out of
    the forms rules match on.
    """
    text = sanitize(text)
    nfkc = " ".join(unicodedata.normalize("NFKC", unjoined(text)).split()).replace("\u2019", "'")
    return Prepared(text, nfkc, nfkc.casefold())


def fold(phrase: str) -> str:
    """Normalise a keyword or word list entry exactly as :func:`prepare` does a message."""
    phrase = unjoined(sanitize(phrase))
    return " ".join(unicodedata.normalize("NFKC", phrase).split()).replace("\u2019", "'").casefold()


def is_cjk(text: str) -> bool:
    """Whether ``text`` contains a CJK, kana or Hangul character (so matches as a substring)."""
    return _CJK_RE.search(text) is not None


def folded_span_to_nfkc(text: Prepared, span: tuple[int, int]) -> tuple[int, int]:
    """Map a span of ``text.folded`` onto ``text.nfkc`` (they differ only for rare letters)."""
    if len(text.folded) == len(text.nfkc):
        return span
    starts, end = [], 0
    for char in text.nfkc:
        starts.append(end)
        end += len(char.casefold())
    starts.append(end)
    start = max(i for i, s in enumerate(starts) if s <= span[0])
    stop = min(i for i, s in enumerate(starts) if s >= span[1])
    return start, stop


class LazyPattern:
    """A regular expression compiled on first use.

    Patterns with the CJK ranges cost milliseconds each to compile; module-level
    ones (dates, times, yes/no words) wait until a flow actually parses such a
    value, so that ``import dialogue`` stays fast.
    """

    __slots__ = ("_compiled", "_flags", "_source")

    def __init__(self, source: str, flags: int = 0) -> None:
        self._source, self._flags = source, flags
        self._compiled: re.Pattern[str] | None = None

    def compiled(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = re.compile(self._source, self._flags)
        return self._compiled

    def search(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        return self.compiled().search(string, pos, endpos)

    def match(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        return self.compiled().match(string, pos, endpos)

    def fullmatch(
        self, string: str, pos: int = 0, endpos: int = sys.maxsize
    ) -> re.Match[str] | None:
        return self.compiled().fullmatch(string, pos, endpos)

    def finditer(
        self, string: str, pos: int = 0, endpos: int = sys.maxsize
    ) -> Iterator[re.Match[str]]:
        return self.compiled().finditer(string, pos, endpos)


# --------------------------------------------------------------------------- keywords


@dataclass(slots=True)
class KeywordHit(Generic[T]):
    """A keyword found in folded text (not frozen: it is made on every turn, and cheaper so)."""

    start: int
    end: int
    keyword: str
    """The keyword as written by the designer (not its folded or inflected form)."""
    value: T
    rank: tuple[bool, int]
    """``(inflected, entry index)``: lower wins a tie between hits of equal length."""


class _Node:
    __slots__ = ("children", "leaf")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.leaf: bool | None = None
        """``None``: no form ends here; ``True``: a CJK form ends here; ``False``: a word."""


def _variants(keyword: str) -> list[str]:
    """A folded keyword and its English inflections: ``+s``, ``+es``, ``y -> ies``."""
    last = keyword[-1]
    if not last.isalpha() or is_cjk(keyword):
        return [keyword]
    forms = [keyword, keyword + "s"]
    if keyword.endswith(("s", "x", "z", "ch", "sh", "o")):
        forms.append(keyword + "es")
    if last == "y" and len(keyword) > 1 and keyword[-2] not in "aeiouy":
        forms.append(keyword[:-1] + "ies")
    return forms


def phrases_pattern(forms: Iterable[str]) -> str:
    """A regular expression matching any of the folded ``forms``, longest first.

    Shared prefixes are factored out (a trie), so the engine skips quickly to the
    possible first characters. Forms with CJK characters match anywhere; the others
    must stand as whole words, checked once before the word trie (no word character,
    nor a contraction like the ``s`` of ``it's``, just before) and once after it (no
    word character just after: backtracking into the trie then tries the shorter
    forms, longest first). Compile it with ``re.DOTALL``.
    """
    forms = list(forms)
    cjk = [f for f in forms if is_cjk(f)]
    words = [f for f in forms if not is_cjk(f)]
    parts = []
    if cjk:
        parts.append(_emit(_trie(cjk), 0))
    if words:
        parts.append(f"(?<!{WORD})(?<!{WORD}['\u2019])(?:{_emit(_trie(words), 0)}){_WORD_END}")
    return parts[0] if len(parts) == 1 else "|".join(f"(?:{p})" for p in parts)


def _trie(forms: Iterable[str]) -> _Node:
    root = _Node()
    for form in forms:
        node = root
        for char in form:
            node = node.children.setdefault(char, _Node())
        node.leaf = is_cjk(form)
    return root


def _restarts(forms: Iterable[str], root: _Node) -> dict[str, int]:
    """Form -> where, after a hit on it, to look for the next hit (relative to its start).

    After its end, unless another form can start inside it and end after it (``my
    order`` and ``order status`` in ``my order status``). Word forms start only
    after a non-word character, so only CJK forms can start inside a word.
    """
    forms = list(forms)
    anywhere = any(is_cjk(form) for form in forms)
    restarts = {}
    for form in forms:
        restarts[form] = len(form)
        for start in range(1, len(form)):
            if not anywhere and (form[start - 1].isalnum() or form[start - 1] == "_"):
                continue
            node: _Node | None = root
            for char in form[start:]:
                node = node.children.get(char) if node is not None else None
            if node is not None and node.children:
                restarts[form] = start
                break
    return restarts


def _emit(node: _Node, depth: int) -> str:
    prefix = []
    while len(node.children) == 1 and node.leaf is None:  # a chain: no recursion needed
        ((char, node),) = node.children.items()
        prefix.append(re.escape(char))
        depth += 1
    alternatives = [re.escape(c) + _emit(child, depth + 1) for c, child in node.children.items()]
    if node.leaf is not None:  # tried last, so the longest form wins
        alternatives.append("")
    body = alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
    return "".join(prefix) + body


class KeywordIndex(Generic[T]):
    """Finds keywords (each carrying a value) in folded text with one regular expression.

    ``entries`` are ``(keyword, value)`` pairs; their order breaks ties. Raises
    ``ValueError`` for a keyword that is empty once normalised.
    """

    __slots__ = ("_finditer", "_restarts", "_search", "_table")

    def __init__(self, entries: Iterable[tuple[str, T]], *, lazy: bool = False) -> None:
        table: dict[str, tuple[tuple[bool, int], str, T]] = {}
        for index, (keyword, value) in enumerate(entries):
            folded = fold(keyword)
            if not folded:
                raise ValueError(f"keyword {keyword!r} is empty; remove it or write a word")
            for n, form in enumerate(_variants(folded)):
                rank = (n > 0, index)
                if form not in table or rank < table[form][0]:
                    table[form] = (rank, keyword, value)
        self._table = table
        trie = _trie(table)
        pattern: re.Pattern[str] | LazyPattern | None = None
        if table:
            source = phrases_pattern(table)
            pattern = LazyPattern(source, re.DOTALL) if lazy else re.compile(source, re.DOTALL)
        self._search = pattern.search if pattern else None
        self._finditer = pattern.finditer if pattern else None
        self._restarts = _restarts(table, trie)

    def scan(self, folded: str) -> list[KeywordHit[T]]:
        """Keywords in text order, leftmost-longest and not overlapping.

        So ``not sure`` hides the ``sure`` inside it.
        """
        if self._finditer is None:
            return []
        table, hits = self._table, []
        for match in self._finditer(folded):
            rank, keyword, value = table[match.group()]
            hits.append(KeywordHit(match.start(), match.end(), keyword, value, rank))
        return hits

    def best(self, folded: str) -> KeywordHit[T] | None:
        """The longest keyword found; ties go to exact (uninflected) forms, then entry order."""
        search, table = self._search, self._table
        match = search(folded) if search is not None else None
        if match is None or search is None:
            return None
        best, best_length, restarts = match, 0, self._restarts
        rank = table[match.group()][0]
        while match is not None:
            start, end = match.span()
            form = match.group()
            if end - start >= best_length:
                form_rank = table[form][0]
                if end - start > best_length or form_rank < rank:
                    best, best_length, rank = match, end - start, form_rank
            match = search(folded, start + restarts[form])
        _, keyword, value = table[best.group()]
        return KeywordHit(best.start(), best.end(), keyword, value, rank)


# --------------------------------------------------------------------------- intents


@dataclass(frozen=True, slots=True)
class IntentMatch:
    """Which intent a message matched, and by which rule."""

    intent: str
    rule: str
    """``"keyword"`` or ``"pattern"``."""
    matched: str
    """The keyword as written in the flow, or the pattern's source."""
    groups: Mapping[str, str]
    """A pattern's named groups that took part in the match, from the NFKC text; a new
    ``dict`` (empty for a keyword), JSON-ready."""
    span: tuple[int, int]
    """Where the match is in ``Prepared.nfkc``."""


class IntentMatcher:
    """Matches prepared messages against the keywords and patterns of several intents.

    The longest match wins; on equal length a pattern beats a keyword, a keyword as
    written beats an inflected one (``orders`` beats ``order`` + ``s``), then the
    intent given first wins. Raises ``ValueError`` for an empty keyword or a
    pattern that matches the empty string (it would fire on every message).
    """

    __slots__ = ("_keywords", "_patterns", "names")

    def __init__(self, intents: Sequence[tuple[str, schema.Intent]]) -> None:
        self.names: tuple[str, ...] = tuple(name for name, _ in intents)
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"intent names repeat: {self.names}")
        self._keywords = KeywordIndex(
            (keyword, name) for name, intent in intents for keyword in intent.keywords
        )
        self._patterns = tuple(
            (_compile_pattern(name, source), name, source)
            for name, intent in intents
            for source in intent.patterns
        )

    def match(self, text: Prepared) -> IntentMatch | None:
        """The best intent for ``text``, or ``None``. Empty text never matches."""
        if not text.folded:
            return None
        best: IntentMatch | None = None
        for pattern, name, source in self._patterns:
            found = pattern.search(text.nfkc)
            if found is not None and (best is None or found.end() - found.start() > _len(best)):
                groups = {k: v for k, v in found.groupdict().items() if v is not None}
                best = IntentMatch(name, "pattern", source, groups, found.span())
        hit = self._keywords.best(text.folded)
        if hit is not None:
            span = folded_span_to_nfkc(text, (hit.start, hit.end))
            if best is None or span[1] - span[0] > _len(best):
                best = IntentMatch(hit.value, "keyword", hit.keyword, {}, span)
        return best


def _len(match: IntentMatch) -> int:
    return match.span[1] - match.span[0]


def _compile_pattern(intent: str, source: str) -> Pattern:
    pattern = compile_pattern(source, ignorecase=True)  # RE2: linear in the text
    if pattern.search("") is not None:
        raise ValueError(
            f"intent {intent!r}: pattern {source!r} matches the empty string, so it would "
            "match every message; make at least one character required"
        )
    return pattern
