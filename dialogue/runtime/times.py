"""Times of day in folded text, English and Chinese, for :mod:`dialogue.runtime.slots`.

:func:`find_times` returns every mention of a time, in text order, as its
*readings*: the ``"HH:MM"`` values it may mean. One reading for ``7pm``, ``19:30``,
``07:30``, ``noon``, ``晚上七点``; two for an hour said without morning or evening
(``7``, ``7:30``, ``seven o'clock``, ``half past seven``, ``七点``), unless a period
word elsewhere in the message settles it (``tonight at 7``, ``tomorrow morning at
half past seven``); several for a choice (``7 or 8pm``, ``七八点``); none for a time
that does not exist (``25:00``). Twelve without a period word is noon. The slot
parser picks the reading inside the slot's opening hours, or asks.
"""

from __future__ import annotations

import re
from typing import Literal

from dialogue.runtime.numerals import EN_NUMBER_WORDS, ZH_DIGITS, en_number, int_of, scan
from dialogue.runtime.rules import WORD, KeywordIndex, LazyPattern, phrases_pattern

Readings = tuple[str, ...]
"""What one mention of a time may mean, as ``"HH:MM"`` values (none: no such time)."""
Period = Literal["am", "pm"] | None

_HOUR_WORDS = "one two three four five six seven eight nine ten eleven twelve".split()
_EN_HOUR = "|".join(sorted(_HOUR_WORDS, key=len, reverse=True))
_EN_MINUTE = (
    "(?:twenty|thirty|forty|fifty)(?:[ -](?:one|two|three|four|five|six|seven|eight|nine))?"
    "|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen"
    "|oh (?:one|two|three|four|five|six|seven|eight|nine)"
)


def _ampm(name: str) -> str:
    """``pm``, ``p.m.``, ``PM`` after an hour (group ``name`` is ``a`` or ``p``)."""
    return rf" ?(?P<{name}>[ap])(?:m|\.m\.?)(?!{WORD})"


_PERIODS: KeywordIndex[str] = KeywordIndex(
    [(w, "") for w in ("good morning", "good afternoon", "good evening", "good night")]
    + [(w, "am") for w in ("morning", "in the morning", "早上", "早晨", "清晨", "上午", "凌晨")]
    + [
        (w, "pm")
        for w in ("afternoon", "evening", "tonight", "at night", "下午", "傍晚", "晚上", "今晚")
        + ("明晚", "夜里", "夜间")
    ],
    lazy=True,
)
_ZH_PM = ("下午", "傍晚", "晚上", "今晚", "明晚", "夜里", "夜间")
_ZH_PERIOD = "早上|早晨|清晨|上午|中午|凌晨|" + "|".join(_ZH_PM)
_ZH_HOUR = "[0-9]{1,2}|[零一二两三四五六七八九十]{1,3}"
_ZH_MIN = "[0-9]{1,2}|[零〇一二三四五六七八九十]{1,3}"

_TIME_NUMERIC = LazyPattern(
    "(?<![0-9a-z:.])(?:"
    "(?:(?P<alt>[0-9]{1,2})(?:[:.](?P<altmi>[0-9]{2}))? ?(?:or|-|–|/) ?)?"
    f"(?P<h>[0-9]{{1,2}})(?:[:.](?P<mi>[0-9]{{2}}))?{_ampm('ap')}"
    "|(?P<h2>[0-9]{1,2}):(?P<mi2>[0-9]{2})(?![0-9:])"
    f"|(?P<h3>[0-9]{{1,2}}) ?o'?clock(?!{WORD})"
    f"|(?P<pmin>[0-9]{{1,2}})(?: minutes?)? (?P<pdir>past|after|to|till|before) "
    f"(?P<ph>[0-9]{{1,2}}|{_EN_HOUR})(?!{WORD}|[:.]?[0-9])"
    "|(?<!for )(?<!of )(?P<bh>[0-9]{1,2})(?= (?:tonight|at night"
    "|in the (?:morning|afternoon|evening)|this (?:morning|afternoon|evening))))"
)
_TIME_ANCHOR = LazyPattern(
    phrases_pattern(["noon", "midday", "midnight", "half", "quarter", *EN_NUMBER_WORDS]),
    re.DOTALL,
).search
_TIME_ENGLISH = LazyPattern(
    "(?:(?P<noon>noon|midday|midnight)"
    f"|(?P<qm>half|quarter|{_EN_MINUTE}|{_EN_HOUR})(?: minutes?)? "
    f"(?P<qdir>past|after|to|till|before) (?P<qh>{_EN_HOUR}|[0-9]{{1,2}})"
    f"|half (?P<hh>{_EN_HOUR})"
    f"|(?P<wh>{_EN_HOUR})(?:(?: ?(?P<wclock>o'?clock)|[ -](?P<wmi>{_EN_MINUTE}))"
    f"(?:{_ampm('wap')})?|{_ampm('wap2')}))(?!{WORD})"
)
_TIME_CHINESE = LazyPattern(
    f"(?P<zp>{_ZH_PERIOD})?(?<![0-9])(?P<zh>{_ZH_HOUR})[点點时時](?!间|候)"
    f"(?:(?P<zhalf>半)|(?P<zq>[一三])刻|(?P<zmi>{_ZH_MIN})分?)?钟?"
)
_ANY_HOUR = f"[0-9]{{1,2}}|{_EN_HOUR}|[零一二两三四五六七八九十]{{1,3}}"
_BARE = LazyPattern(
    rf"(?:(?:at|around|about|by) )?(?P<a>{_ANY_HOUR})"
    rf"(?: ?(?:or|-|–|/|或|或者) ?(?P<b>{_ANY_HOUR}))?"
    r"(?: ?(?:h|o'?clock|点钟?))?"
)
_AT_HOUR = LazyPattern(
    rf"(?<!{WORD})(?:at|around|about) (?P<a>[0-9]{{1,2}}|{_EN_HOUR})(?!{WORD}|[:.]?[0-9])"
)


def clock(hour: int, minute: int, period: Period | Literal["24h"] = None) -> Readings:
    """The readings of ``hour:minute`` said with ``period`` (``24h``: as written)."""
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return ()
    if period == "24h" or hour == 0 or hour > 12:
        return (f"{hour:02d}:{minute:02d}",)
    if period is None and hour == 12:
        period = "pm"  # twelve is noon unless said otherwise
    hours = {"am": (hour % 12,), "pm": (hour % 12 + 12,), None: (hour, hour + 12)}[period]
    return tuple(f"{h:02d}:{minute:02d}" for h in hours)


def _hour(text: str) -> int:
    return _HOUR_WORDS.index(text) + 1 if text in _HOUR_WORDS else int_of(text)


def _past(minutes: str, direction: str, hour: str, period: Period) -> Readings:
    m = {"half": 30, "quarter": 15}.get(minutes)
    m = m if m is not None else int(minutes) if minutes.isdigit() else en_number(minutes)
    h = _hour(hour)
    if not 1 <= h <= 12 or not 0 < m < 60:
        return ()
    if direction in ("to", "till", "before"):
        h, m = (h - 2) % 12 + 1, 60 - m
    return clock(h, m, period)


def _numeric(m: re.Match[str], period: Period) -> Readings:
    g = m.group
    if g("h2"):
        written: Period | Literal["24h"] = "24h" if g("h2").startswith("0") else period
        return clock(int(g("h2")), int(g("mi2")), written)
    if g("h3"):
        return clock(int(g("h3")), 0, period) if int(g("h3")) <= 12 else ()
    if g("pmin"):
        return _past(g("pmin"), g("pdir"), g("ph"), period)
    if g("bh"):
        return clock(int(g("bh")), 0, period)
    ap: Period = "am" if g("ap") == "a" else "pm"
    readings = _twelve_hour(int(g("h")), int(g("mi") or 0), ap)
    if g("alt"):
        readings = _twelve_hour(int(g("alt")), int(g("altmi") or 0), ap) + readings
    return readings


def _twelve_hour(hour: int, minute: int, ap: Period) -> Readings:
    return clock(hour, minute, ap) if 1 <= hour <= 12 else ()


def _english(m: re.Match[str], period: Period) -> Readings:
    g = m.group
    if g("noon"):
        return ("00:00",) if g("noon") == "midnight" else ("12:00",)
    if g("qm"):
        return _past(g("qm"), g("qdir"), g("qh"), period)
    if g("hh"):
        return clock(_hour(g("hh")), 30, period)
    if ap := g("wap") or g("wap2"):
        period = "am" if ap == "a" else "pm"
    minute = en_number(g("wmi").replace("oh ", "")) if g("wmi") else 0
    return clock(_hour(g("wh")), minute, period)


def _chinese(m: re.Match[str], period: Period) -> Readings:
    g = m.group
    hour, zp = g("zh"), g("zp")
    if g("zhalf"):
        minute = 30
    elif g("zq"):
        minute = 15 * ZH_DIGITS[g("zq")]
    else:
        minute = int_of(g("zmi")) if g("zmi") else 0
    hours = [hour] if hour.isdigit() or len(hour) == 1 or "十" in hour else list(hour)  # 七八点
    found: Readings = ()
    for h in (int_of(x) for x in hours):
        if zp in _ZH_PM:
            h = 0 if h == 12 and zp in ("晚上", "夜里", "夜间") else h % 12 + 12
            found += clock(h, minute, "24h")
        elif zp == "中午":
            found += clock(h + 12 if h < 3 else h, minute, "24h")
        elif zp is not None:  # a morning word
            found += clock(h, minute, "am")
        else:
            found += clock(h, minute, period)
    return found


def _zh_is_clear(m: re.Match[str]) -> bool:
    """Chinese ``一点`` is also "a little": without a period word or minutes, trust digits only."""
    return bool(m.group("zp") or m.group("zh").isdigit() or m.end("zh") + 1 < m.end())


def period_of(folded: str) -> Period:
    """The one part of the day the message names (``tonight``, ``上午``), if just one."""
    found = {hit.value for hit in _PERIODS.scan(folded)} - {""}
    if found == {"am"}:
        return "am"
    return "pm" if found == {"pm"} else None


def find_times(folded: str, *, strict: bool) -> list[Readings]:
    """Every time of day in ``folded``, in order, as its readings (see the module).

    ``strict`` (a value picked out of any message) drops Chinese times that could be
    ordinary words (``便宜一点``) and hours without a period word (``at 7``);
    otherwise (the answer to a time question) a message that is only an hour (``7``,
    ``at seven``, ``7 or 8``) or that says ``at 7`` is a time.
    """
    period = period_of(folded)
    found: list[Readings] = []
    for m in scan(folded, _TIME_NUMERIC, _TIME_CHINESE, 2, _TIME_ANCHOR, _TIME_ENGLISH):
        if m.re is _TIME_NUMERIC.compiled():
            found.append(_numeric(m, period))
        elif m.re is _TIME_ENGLISH.compiled():
            found.append(_english(m, period))
        elif not strict or _zh_is_clear(m):
            found.append(_chinese(m, period))
    if found or (strict and period is None):
        return found
    if not strict and (bare := _BARE.fullmatch(folded)):
        hours = [x for x in bare.group("a", "b") if x is not None]
        return [sum((clock(_hour(h), 0, period) for h in hours), ())]
    return [clock(_hour(m.group("a")), 0, period) for m in _AT_HOUR.finditer(folded)]
