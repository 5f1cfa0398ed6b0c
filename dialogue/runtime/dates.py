"""Dates in folded text, English and Chinese, for :mod:`dialogue.runtime.slots`.

:func:`find_dates` returns every date mentioned, in text order: a ``date``, ``None``
where the text has the shape of a date but names none (``Feb 30``), or
:data:`VAGUE` where it names a span rather than a day (``next week``, ``下周``).
Numbers, yes/no words and times have their own modules (``numerals``, ``yes_no``,
``times``). Patterns are compiled on first use (``LazyPattern``).

Words for days: ``today``, ``tomorrow``, ``friday`` (the next Friday after today),
``this friday`` (today if it is Friday), ``next friday`` and ``friday next week``
(the Friday of next week, Monday to Sunday, as ``下周五``), ``in 3 days``,
``三天后``. Numeric dates follow the flow's ``date_order`` (``1/2`` is 2 January
with ``mdy`` and ``ymd``, 1 February with ``dmy``).
"""

from __future__ import annotations

import datetime
import re
from typing import Final, Literal

from dialogue.runtime.numerals import EN_NUMBER_WORDS, en_number, int_of, scan
from dialogue.runtime.rules import WORD, LazyPattern, phrases_pattern

DateOrder = Literal["dmy", "mdy", "ymd"]
VAGUE: Final = "vague"
"""A mention of a span of days (``next week``): a date, but not one day."""
Mention = datetime.date | None | Literal["vague"]

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_RELATIVE_DAYS = {
    "today": 0, "tonight": 0, "tomorrow": 1, "tmrw": 1, "tmr": 1, "yesterday": -1,
    "day after tomorrow": 2, "day before yesterday": -2,
    "今天": 0, "今日": 0, "今晚": 0, "明天": 1, "明日": 1, "明晚": 1, "明早": 1,
    "后天": 2, "大后天": 3, "昨天": -1, "前天": -2,
}  # fmt: skip
_RELATIVE = {word: datetime.timedelta(days=n) for word, n in _RELATIVE_DAYS.items()}
_WEEKDAYS = {
    "mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6,
    "一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6,
}  # fmt: skip
_ZH_WEEKS = {"下下": 14, "下": 7, "这": 0, "本": 0, "上": -7}
_EN_DAY = "monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tues?|weds?|thu(?:rs?)?|fri"
_EN_DAYS = f"{_EN_DAY}|sat(?:urday)?|sun(?:day)?"
_ORD = "(?:st|nd|rd|th)?"
_ZH_DAY = "[0-9]{1,2}|[一二三四五六七八九十]{1,3}"
_ZH_COUNT = "[0-9]{1,3}|[一二两三四五六七八九十]{1,3}"
_UNITS = {"day": 1, "week": 7, "天": 1, "日": 1, "周": 7, "星期": 7, "礼拜": 7}

_DATE_NUMERIC = LazyPattern(
    "(?<![0-9a-z/.-])(?:"
    "(?P<iy>[0-9]{4})(?P<sep>[-/.])(?P<im>[0-9]{1,2})(?P=sep)(?P<id>[0-9]{1,2})(?![-/.]?[0-9])"
    "|(?P<sm>[0-9]{1,2})/(?P<sd>[0-9]{1,2})(?:/(?P<sy>[0-9]{4}|[0-9]{2}))?(?![0-9/]|\\.[0-9])"
    f"|(?P<bd>[0-9]{{1,2}}){_ORD} (?:of )?(?P<bm>{_MONTH})(?:,? (?P<by>[0-9]{{4}}))?(?!{WORD})"
    f"|(?:(?P<zy>[0-9]{{4}})年)?(?P<zm>[0-9]{{1,2}})月(?P<zd>{_ZH_DAY})(?:[日号]|(?![0-9]))"
    f"|(?<=in )(?P<dn>[0-9]{{1,3}}) (?P<du>day|week)s?(?!{WORD})"
    "|(?P<dn2>[0-9]{1,3}) ?(?:(?P<du2>day|week)s? (?:from (?:now|today)|later)"
    f"|个?(?P<zu2>天|日|周|星期|礼拜)(?:以后|之后|后))(?!{WORD}))"
)
_DATE_WORDS = (
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday "
    "friday saturday sunday mon tue tues wed weds thu thur thurs fri sat sun "
    "today tonight tomorrow tmrw tmr yesterday next this coming in"
).split()
_DATE_ANCHOR = LazyPattern(phrases_pattern(_DATE_WORDS), re.DOTALL).search
_EN_COUNT = "|".join(("an", "a", *sorted(EN_NUMBER_WORDS, key=len, reverse=True)))
_DATE_ENGLISH = LazyPattern(
    f"(?:(?P<am>{_MONTH}) ?(?P<ad>[0-9]{{1,2}}){_ORD}(?:,? (?P<ay>[0-9]{{4}}))?"
    "|(?P<rel>today|tonight|tomorrow|tmrw|tmr|yesterday)"
    f"|next (?P<nwd>{_EN_DAYS})"
    f"|(?P<vague>(?:next|this|coming) (?:week|weekend|month))(?:,? (?:on )?(?P<vwd>{_EN_DAYS}))?"
    f"|in (?P<rn>{_EN_COUNT}) (?P<ru>day|week)s?"
    f"|(?P<wd>{_EN_DAY})(?P<wnext> next week)?"
    f"|(?:(?<=this )|(?<=coming )|(?<=on ))(?P<wd2>sat|sun)(?P<wnext2> next week)?)"
    f"(?!{WORD})"
)
_MODIFIERS = ("this ", "coming ", "on ")
_DATE_CHINESE = LazyPattern(
    f"(?P<zn>{_ZH_COUNT})个?(?P<zu>天|周|星期|礼拜)(?:以后|之后|后)"
    "|(?P<zrel>大后天|今天|今日|今晚|明天|明日|明晚|明早|后天|昨天|前天)"
    "|(?<!一)(?P<zwm>下下|下|这|本|上)?个?(?:周|星期|礼拜)(?P<zwd>[一二三四五六日天])"
    "|(?P<zvague>(?:下|这|本)?个?周末|(?:下下|下|这|本)个?(?:周|星期|礼拜)|下个?月|这个月|本月)"
    "|(?:(?P<zy2>[〇零一二三四五六七八九]{4})年)?(?P<zm2>[一二三四五六七八九十]{1,3})月"
    f"(?P<zd2>{_ZH_DAY})[日号]?"
)


def _on_or_after(today: datetime.date, month: int, day: int) -> datetime.date | None:
    """The first ``month``/``day`` on or after ``today`` (``None`` if there is none)."""
    for year in range(today.year, today.year + 9):  # 8 years covers a Feb 29
        try:
            candidate = datetime.date(year, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    return None


def _ymd(year: str | None, month: int, day: int, today: datetime.date) -> datetime.date | None:
    if year is None:
        return _on_or_after(today, month, day)
    y = int_of(year)
    try:
        return datetime.date(y + 2000 if y < 100 else y, month, day)
    except ValueError:
        return None


def _weekday(name: str, mod: str | None, today: datetime.date) -> datetime.date:
    """``mod``: a Chinese week word (下, 这 ...), ``this``, ``next`` (next week), or none."""
    target = _WEEKDAYS[name[:3]]
    if mod == "next":
        mod = "下"
    if mod in _ZH_WEEKS:  # a day of this, next, last week (weeks start on Monday)
        return today + datetime.timedelta(days=_ZH_WEEKS[mod] + target - today.weekday())
    if mod == "this":  # this friday: today if today is friday
        return today + datetime.timedelta(days=(target - today.weekday()) % 7)
    return today + datetime.timedelta(days=(target - today.weekday() - 1) % 7 + 1)


def _later(count: str, unit: str, today: datetime.date) -> datetime.date:
    if count in ("a", "an"):
        n = 1
    elif count.isascii() and count.isalpha():
        n = en_number(count)
    else:
        n = int_of(count)
    return today + datetime.timedelta(days=n * _UNITS[unit])


def _english_date(m: re.Match[str], today: datetime.date) -> Mention:
    g, before = m.group, m.string[: m.start()]
    if g("am"):
        return _ymd(g("ay"), _MONTHS[g("am")[:3]], int(g("ad")), today)
    if rel := g("rel"):
        for lead in ("day after ", "day before "):
            if before.endswith(lead) and lead + rel in _RELATIVE:
                rel = lead + rel
        return today + _RELATIVE[rel]
    if g("nwd"):
        return _weekday(g("nwd"), "next", today)
    if g("vague"):
        if g("vwd") and g("vague").endswith(" week"):
            return _weekday(g("vwd"), "next" if g("vague").startswith("next") else "this", today)
        return VAGUE
    if g("rn"):
        return _later(g("rn"), g("ru"), today)
    if g("wnext") or g("wnext2"):
        return _weekday(g("wd") or g("wd2"), "next", today)
    modifier = next((w for w in _MODIFIERS if before.endswith(w)), " ")
    return _weekday(g("wd") or g("wd2"), modifier[:-1], today)


def _chinese_date(m: re.Match[str], today: datetime.date) -> Mention:
    g = m.group
    if g("zn"):
        return _later(g("zn"), g("zu"), today)
    if g("zrel"):
        return today + _RELATIVE[g("zrel")]
    if g("zwd"):
        return _weekday(g("zwd"), g("zwm"), today)
    if g("zvague"):
        return VAGUE
    return _ymd(g("zy2"), int_of(g("zm2")), int_of(g("zd2")), today)


def _date_of(m: re.Match[str], today: datetime.date, order: DateOrder) -> Mention:
    g = m.group
    if m.re is _DATE_ENGLISH.compiled():
        return _english_date(m, today)
    if m.re is _DATE_CHINESE.compiled():
        return _chinese_date(m, today)
    if g("iy"):
        return _ymd(g("iy"), int(g("im")), int(g("id")), today)
    if g("sm"):
        first, second = int(g("sm")), int(g("sd"))
        month, day = (second, first) if order == "dmy" else (first, second)
        return _ymd(g("sy"), month, day, today)
    if g("bm"):
        return _ymd(g("by"), _MONTHS[g("bm")[:3]], int(g("bd")), today)
    if g("dn"):
        return _later(g("dn"), g("du"), today)
    if g("dn2"):
        return _later(g("dn2"), g("du2") or g("zu2"), today)
    return _ymd(g("zy"), int(g("zm")), int_of(g("zd")), today)


def find_dates(folded: str, today: datetime.date, *, order: DateOrder = "mdy") -> list[Mention]:
    """Every date mentioned in ``folded``, in order (see the module); ``order`` reads
    ``1/2``."""
    found = scan(folded, _DATE_NUMERIC, _DATE_CHINESE, 0, _DATE_ANCHOR, _DATE_ENGLISH)
    return [_date_of(m, today, order) for m in found]
