"""Features of a message for the intent classifier: word and character n-grams.

One function, :func:`features`, is the analyzer both when training (scikit-learn's
``TfidfVectorizer(analyzer=features)``) and at run time (the lean scorer of
``dialogue.nlu.model``), so the two can never disagree. It reads text already
prepared as rules see it (NFKC, whitespace collapsed, case-folded).

* word unigrams and bigrams (``w:track``, ``w:my order``); a run of CJK, kana or
  Hangul counts as one word per character, so Chinese needs no tokeniser;
* character n-grams of 2 to 5 characters inside each word padded with spaces
  (``c: tr``, ``c:rack``), so a typo ("trak my ordr") still shares most of its
  n-grams with the example it misspells.
"""

from __future__ import annotations

from dialogue.runtime.rules import CJK_RANGES, LazyPattern

# compiled on first use: patterns over the CJK ranges cost milliseconds to compile
_TOKEN = LazyPattern(rf"[{CJK_RANGES}]+|[^\W{CJK_RANGES}]+(?:'[^\W{CJK_RANGES}]+)?")
_CJK = LazyPattern(f"[{CJK_RANGES}]")

CHAR_MIN, CHAR_MAX = 2, 5


def features(folded: str) -> list[str]:
    """The n-grams of a prepared (case-folded) message, repeats kept (they count)."""
    out: list[str] = []
    words: list[str] = []
    for token in _TOKEN.compiled().findall(folded):
        cjk = _CJK.match(token) is not None
        words.extend(token if cjk else (token,))
        padded = f" {token} "
        size = len(padded)
        for n in range(CHAR_MIN, CHAR_MAX + 1):
            if n > size:
                break
            out.extend("c:" + padded[i : i + n] for i in range(size - n + 1))
    out.extend("w:" + w for w in words)
    out.extend(f"w:{a} {b}" for a, b in zip(words, words[1:], strict=False))
    return out
