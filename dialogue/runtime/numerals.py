"""Numbers in folded text (digits, English words, Chinese numerals) and the scanner the
date and time finders share.

English and Chinese, for :mod:`dialogue.runtime.slots`. Patterns are compiled on first
use (``LazyPattern``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from dialogue.runtime.rules import CJK_RANGES, WORD, LazyPattern

# --------------------------------------------------------------------------- Chinese numerals

ZH_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4,
    "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}  # fmt: skip
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
ZH_NUMERAL = "[零〇一二两三四五六七八九十百千万]"


def zh_number(text: str) -> int:
    """``十二`` -> 12, ``一百零五`` -> 105, ``两百五`` -> 250, ``二〇二六`` -> 2026."""
    if not any(c in _ZH_UNITS or c == "万" for c in text):
        return int("".join(str(ZH_DIGITS[c]) for c in text))
    total = section = digit = last_unit = 0
    for char in text:
        if char in ZH_DIGITS:
            digit = ZH_DIGITS[char]
            if char in "零〇":
                last_unit = 0
        elif char == "万":
            total += (section + digit or 1) * 10000
            section = digit = last_unit = 0
        else:
            last_unit = _ZH_UNITS[char]
            section += (digit or 1) * last_unit
            digit = 0
    if digit and last_unit > 10:  # 两百五 is 250: a bare digit after a unit is the next place
        digit *= last_unit // 10
    return total + section + digit


def int_of(text: str) -> int:
    """Digits or a Chinese numeral as an int."""
    return int(text) if text.isdigit() else zh_number(text)


_EN_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_EN_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_EN_NUMBERS = {w: i for i, w in enumerate(_EN_UNITS)}
_EN_NUMBERS |= {w: 20 + 10 * i for i, w in enumerate(_EN_TENS)}
_EN_NUMBERS |= {"dozen": 12, "hundred": 100}
EN_NUMBER_WORDS = (*_EN_UNITS[1:], *_EN_TENS)
"""English number words from one to ninety (not zero, dozen, hundred)."""


def en_number(words: str) -> int:
    """``seven`` -> 7, ``twenty-five`` or ``twenty five`` -> 25 (:data:`EN_NUMBER_WORDS`)."""
    return sum(_EN_NUMBERS[w] for w in re.split(r"[\s-]", words))


_EN_WORDS = (
    rf"(?:{'|'.join(_EN_TENS)})(?:[\s-](?:{'|'.join(_EN_UNITS[1:10])}))?"
    rf"|(?:a\s|one\s)?hundred|a\sdozen|dozen|{'|'.join(sorted(_EN_UNITS, key=len, reverse=True))}"
)
_ZH_NOT_NUMBERS = "一起|一下|一样|一直|一定|一般|一些|一切|一共|一会|一点点|千万|万一"
_NUMBER_RE = LazyPattern(
    rf"(?<!{WORD}|[.,])(?P<num>[+-]?(?:\d{{1,3}}(?:,\d{{3}})+|\d+)(?:\.\d+)?|[+-]?\.\d+)"
    rf"(?!{WORD}|[.,]\d)"
    rf"|(?<!{WORD})(?P<word>{_EN_WORDS})(?!{WORD})"
    rf"|(?<![统唯])(?!{_ZH_NOT_NUMBERS})(?P<zh>{ZH_NUMERAL}+)"
)


def find_numbers(folded: str) -> list[int | float | None]:
    """Numbers in ``folded``: digits, English number words, Chinese numerals.

    ``None`` stands for a vague amount such as ``两三`` (two or three).
    """
    found: list[int | float | None] = []
    for m in _NUMBER_RE.finditer(folded):
        if (digits := m.group("num")) is not None:
            number = float(digits.replace(",", ""))
            found.append(number if "." in digits else int(number))
        elif (words := m.group("word")) is not None:
            parts = re.split(r"[\s-]", words)
            found.append(
                _EN_NUMBERS[parts[-1]] if parts[-1] in ("dozen", "hundred") else en_number(words)
            )
        else:
            zh = m.group("zh")
            vague = len(zh) == 2 and not any(c in "十百千万零〇" for c in zh)
            found.append(None if vague else zh_number(zh))
    return found


# --------------------------------------------------------------------------- scanning
#
# Python's regex engine skips quickly only to a literal or a set of characters that
# starts the whole pattern. So each finder runs three small patterns, each from where
# it can first match: numeric forms from the first digit, Chinese forms from the first
# CJK character, English forms anchored at the words that start them.

_FIRST_DIGIT = LazyPattern("[0-9]").search
_FIRST_CJK = LazyPattern(f"[{CJK_RANGES}]").search
Search = Callable[[str, int], "re.Match[str] | None"]


def scan(folded: str, numeric: LazyPattern, chinese: LazyPattern, back: int,
          anchor: Search, english: LazyPattern | None) -> list[re.Match[str]]:  # fmt: skip
    """Matches of the three patterns, leftmost-longest, not overlapping.

    ``chinese`` starts ``back`` characters before the first CJK character; ``english``
    is tried where ``anchor`` finds a word (without it, that word is the match).
    """
    found: list[re.Match[str]] = []
    if digit := _FIRST_DIGIT(folded):
        found += numeric.finditer(folded, digit.start())
    if not folded.isascii() and (cjk := _FIRST_CJK(folded)):
        found += chinese.finditer(folded, max(0, cjk.start() - back))
    pos = 0
    while (word := anchor(folded, pos)) is not None:
        match = word if english is None else english.match(folded, word.start())
        pos = word.end() if match is None else match.end()
        if match is not None:
            found.append(match)
    if len(found) < 2:
        return found
    found.sort(key=lambda m: (m.start(), -m.end()))
    kept, end = [], 0
    for m in found:
        if m.start() >= end:
            kept.append(m)
            end = m.end()
    return kept
