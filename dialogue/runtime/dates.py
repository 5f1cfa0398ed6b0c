"""The vocabulary of slot values in folded text: numbers, yes/no, dates, times.

English and Chinese, for :mod:`dialogue.runtime.slots`. Finders return every candidate in
text order; a date or time value is ``None`` where the text has the shape of one
but names none (``Feb 30``, ``25:00``). Patterns are compiled on first use (``LazyPattern``).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable

from dialogue.runtime.rules import CJK_RANGES, WORD, KeywordIndex, LazyPattern, phrases_pattern

# --------------------------------------------------------------------------- Chinese numerals

_ZH_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4,
    "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}  # fmt: skip
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
ZH_NUMERAL = "[零〇一二两三四五六七八九十百千万]"


def zh_number(text: str) -> int:
    """``十二`` -> 12, ``一百零五`` -> 105, ``两百五`` -> 250, ``二〇二六`` -> 2026."""
    if not any(c in _ZH_UNITS or c == "万" for c in text):
        return int("".join(str(_ZH_DIGITS[c]) for c in text))
    total = section = digit = last_unit = 0
    for char in text:
        if char in _ZH_DIGITS:
            digit = _ZH_DIGITS[char]
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


def _int(text: str) -> int:
    return int(text) if text.isdigit() else zh_number(text)


_EN_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_EN_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_EN_NUMBERS = {w: i for i, w in enumerate(_EN_UNITS)}
_EN_NUMBERS |= {w: 20 + 10 * i for i, w in enumerate(_EN_TENS)}
_EN_NUMBERS |= {"dozen": 12, "hundred": 100}
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
                _EN_NUMBERS[parts[-1]]
                if parts[-1] in ("dozen", "hundred")
                else sum(_EN_NUMBERS[w] for w in parts)
            )
        else:
            zh = m.group("zh")
            vague = len(zh) == 2 and not any(c in "十百千万零〇" for c in zh)
            found.append(None if vague else zh_number(zh))
    return found


# --------------------------------------------------------------------------- yes and no


def _phrases(text: str, value: bool | None) -> list[tuple[str, bool | None]]:
    """``|``-separated phrases; each ``'`` also stands for ``’`` and for nothing."""
    forms = []
    for phrase in text.split("|"):
        forms.append((phrase, value))
        if "'" in phrase:
            forms += [(phrase.replace("'", "\u2019"), value), (phrase.replace("'", ""), value)]
    return forms


_YES = (
    "yes|yeah|yea|ya|yep|yup|y|sure|ok|okay|k|correct|right|that's right|that's correct|"
    "please|please do|yes please|of course|absolutely|definitely|certainly|indeed|confirm|"
    "confirmed|go ahead|do it|sounds good|fine|that's fine|alright|all right|true|agreed|"
    "no problem|no worries|not a problem|why not|"
    "是|是的|是啊|对|对的|对啊|好|好的|好啊|好吧|可以|可以的|行|行吧|确认|确定|嗯|嗯嗯|"
    "没问题|没有问题|没错|当然|同意|要|需要|不错"
)
_NO = (
    "no|nope|nah|n|not really|don't|do not|no thanks|no thank you|never|negative|"
    "not at all|not now|no way|wrong|incorrect|false|not correct|not right|not ok|not okay|"
    "not fine|that's wrong|"
    "不|不是|不要|不用|不用了|否|不对|算了|不行|不可以|不需要|别|不好|没有|不确认|不了|错|错了|"
    "不同意|不必"
)
_UNSURE = (
    "not sure|unsure|maybe|perhaps|possibly|i don't know|don't know|dunno|idk|no idea|"
    "not certain|"
    "不确定|不知道|不清楚|可能|也许|或许|说不好|不一定|看情况"
)
_YES_NO = KeywordIndex(
    _phrases(_NO, False) + _phrases(_UNSURE, None) + _phrases(_YES, True), lazy=True
)


def yes_no(folded: str) -> bool | str:
    """``True``, ``False``, ``"uncertain"`` or ``"no_match"``; any "no" word wins."""
    polarities = {hit.value for hit in _YES_NO.scan(folded)}  # "not sure" hides "sure"
    if False in polarities:
        return False
    if None in polarities:
        return "uncertain"
    return True if polarities else "no_match"


# --------------------------------------------------------------------------- scanning
#
# Python's regex engine skips quickly only to a literal or a set of characters that
# starts the whole pattern. So each finder runs three small patterns, each from where
# it can first match: numeric forms from the first digit, Chinese forms from the first
# CJK character, English forms anchored at the words that start them.

_FIRST_DIGIT = LazyPattern("[0-9]").search
_FIRST_CJK = LazyPattern(f"[{CJK_RANGES}]").search
Search = Callable[[str, int], "re.Match[str] | None"]


def _scan(folded: str, numeric: LazyPattern, chinese: LazyPattern, back: int,
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


# --------------------------------------------------------------------------- dates

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
_ORD = "(?:st|nd|rd|th)?"
_ZH_DAY = "[0-9]{1,2}|[一二三四五六七八九十]{1,3}"

_DATE_NUMERIC = LazyPattern(
    "(?<![0-9a-z/.-])(?:"
    "(?P<iy>[0-9]{4})(?P<sep>[-/.])(?P<im>[0-9]{1,2})(?P=sep)(?P<id>[0-9]{1,2})(?![-/.]?[0-9])"
    "|(?P<sm>[0-9]{1,2})/(?P<sd>[0-9]{1,2})(?:/(?P<sy>[0-9]{4}|[0-9]{2}))?(?![0-9/]|\\.[0-9])"
    f"|(?P<bd>[0-9]{{1,2}}){_ORD} (?:of )?(?P<bm>{_MONTH})(?:,? (?P<by>[0-9]{{4}}))?(?!{WORD})"
    f"|(?:(?P<zy>[0-9]{{4}})年)?(?P<zm>[0-9]{{1,2}})月(?P<zd>{_ZH_DAY})(?:[日号]|(?![0-9])))"
)
_DATE_WORDS = (
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday "
    "friday saturday sunday mon tue tues wed weds thu thur thurs fri sat sun "
    "today tonight tomorrow tmrw tmr yesterday"
).split()
_DATE_ANCHOR = LazyPattern(phrases_pattern(_DATE_WORDS), re.DOTALL).search
_DATE_ENGLISH = LazyPattern(
    f"(?:(?P<am>{_MONTH}) ?(?P<ad>[0-9]{{1,2}}){_ORD}(?:,? (?P<ay>[0-9]{{4}}))?"
    "|(?P<rel>today|tonight|tomorrow|tmrw|tmr|yesterday)"
    f"|(?P<wd>{_EN_DAY})|(?:(?<=next )|(?<=this )|(?<=coming )|(?<=on ))(?P<wd2>sat|sun))"
    f"(?!{WORD})"
)
_MODIFIERS = ("next ", "this ", "coming ", "on ")
_DATE_CHINESE = LazyPattern(
    "(?P<zrel>大后天|今天|今日|今晚|明天|明日|明晚|明早|后天|昨天|前天)"
    "|(?<!一)(?P<zwm>下下|下|这|本|上)?个?(?:周|星期|礼拜)(?P<zwd>[一二三四五六日天])"
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
    y = _int(year)
    try:
        return datetime.date(y + 2000 if y < 100 else y, month, day)
    except ValueError:
        return None


def _weekday(name: str, mod: str | None, today: datetime.date) -> datetime.date:
    target = _WEEKDAYS[name[:3]]
    if mod in _ZH_WEEKS:  # Chinese: a day of this, next, last week
        return today + datetime.timedelta(days=_ZH_WEEKS[mod] + target - today.weekday())
    if mod == "this":  # this friday: today if today is friday
        return today + datetime.timedelta(days=(target - today.weekday()) % 7)
    return today + datetime.timedelta(days=(target - today.weekday() - 1) % 7 + 1)


def _english_date(m: re.Match[str], today: datetime.date) -> datetime.date | None:
    g, before = m.group, m.string[: m.start()]
    if g("am"):
        return _ymd(g("ay"), _MONTHS[g("am")[:3]], int(g("ad")), today)
    if rel := g("rel"):
        for lead in ("day after ", "day before "):
            if before.endswith(lead) and lead + rel in _RELATIVE:
                rel = lead + rel
        return today + _RELATIVE[rel]
    modifier = next((w for w in _MODIFIERS if before.endswith(w)), " ")
    return _weekday(g("wd") or g("wd2"), modifier[:-1], today)


def _date_of(m: re.Match[str], today: datetime.date) -> datetime.date | None:
    g = m.group
    if m.re is _DATE_ENGLISH.compiled():
        return _english_date(m, today)
    if m.re is _DATE_CHINESE.compiled():
        if g("zrel"):
            return today + _RELATIVE[g("zrel")]
        if g("zwd"):
            return _weekday(g("zwd"), g("zwm"), today)
        return _ymd(g("zy2"), _int(g("zm2")), _int(g("zd2")), today)
    if g("iy"):
        return _ymd(g("iy"), int(g("im")), int(g("id")), today)
    if g("sm"):
        return _ymd(g("sy"), int(g("sm")), int(g("sd")), today)
    if g("bm"):
        return _ymd(g("by"), _MONTHS[g("bm")[:3]], int(g("bd")), today)
    return _ymd(g("zy"), int(g("zm")), _int(g("zd")), today)


def find_dates(folded: str, today: datetime.date) -> list[datetime.date | None]:
    """Every date mentioned in ``folded``, in order; ``None`` for one that does not exist."""
    found = _scan(folded, _DATE_NUMERIC, _DATE_CHINESE, 0, _DATE_ANCHOR, _DATE_ENGLISH)
    return [_date_of(m, today) for m in found]


# --------------------------------------------------------------------------- times

_ZH_PM = ("下午", "傍晚", "晚上", "今晚", "明晚", "夜里", "夜间")
_ZH_PERIOD = "早上|早晨|清晨|上午|中午|凌晨|" + "|".join(_ZH_PM)
_ZH_HOUR = "[0-9]{1,2}|[零一二两三四五六七八九十]{1,3}"
_ZH_MIN = "[0-9]{1,2}|[零〇一二三四五六七八九十]{1,3}"

_TIME_NUMERIC = LazyPattern(
    "(?<![0-9a-z:.])(?:"
    f"(?P<h>[0-9]{{1,2}})(?:[:.](?P<mi>[0-9]{{2}}))? ?(?P<ap>[ap])(?:m|\\.m\\.?)(?!{WORD})"
    "|(?P<h2>[0-9]{1,2}):(?P<mi2>[0-9]{2})(?![0-9:])"
    f"|(?P<h3>[0-9]{{1,2}}) ?o'?clock(?!{WORD}))"
)
_TIME_ENGLISH = LazyPattern(phrases_pattern(["noon", "midday", "midnight"]), re.DOTALL)
_TIME_CHINESE = LazyPattern(
    f"(?P<zp>{_ZH_PERIOD})?(?<![0-9])(?P<zh>{_ZH_HOUR})[点點时時](?!间|候)"
    f"(?:(?P<zhalf>半)|(?P<zq>[一三])刻|(?P<zmi>{_ZH_MIN})分?)?钟?"
)


def _hhmm(hour: int, minute: int) -> str | None:
    return f"{hour:02d}:{minute:02d}" if 0 <= hour <= 23 and 0 <= minute <= 59 else None


def _numeric_time(m: re.Match[str]) -> str | None:
    g = m.group
    if g("h2"):
        return _hhmm(int(g("h2")), int(g("mi2")))
    if g("h3"):
        return _hhmm(int(g("h3")), 0) if int(g("h3")) <= 12 else None
    hour = int(g("h"))
    if not 1 <= hour <= 12:
        return None
    return _hhmm(hour % 12 + (12 if g("ap") == "p" else 0), int(g("mi") or 0))


def _zh_time(m: re.Match[str]) -> str | None:
    g = m.group
    hour, period = _int(g("zh")), g("zp")
    if g("zhalf"):
        minute = 30
    elif g("zq"):
        minute = 15 * _ZH_DIGITS[g("zq")]
    else:
        minute = _int(g("zmi")) if g("zmi") else 0
    if period in _ZH_PM:
        hour = 0 if hour == 12 and period in ("晚上", "夜里", "夜间") else hour % 12 + 12
    elif period == "中午" and hour < 3:
        hour += 12
    elif period == "凌晨" and hour == 12:
        hour = 0
    return _hhmm(hour, minute)


def _zh_is_clear(m: re.Match[str]) -> bool:
    """Chinese ``一点`` is also "a little": without a period word or minutes, trust digits only."""
    return bool(m.group("zp") or m.group("zh").isdigit() or m.end("zh") + 1 < m.end())


def find_times(folded: str, *, strict: bool) -> list[str | None]:
    """Every time of day in ``folded``, in order, as ``"HH:MM"``; ``None`` for ``25:00``.

    ``strict`` drops Chinese times that could be ordinary words (``便宜一点``).
    """
    found: list[str | None] = []
    for m in _scan(folded, _TIME_NUMERIC, _TIME_CHINESE, 2, _TIME_ENGLISH.search, None):
        if m.re is _TIME_NUMERIC.compiled():
            found.append(_numeric_time(m))
        elif m.re is _TIME_ENGLISH.compiled():
            found.append("00:00" if m.group() == "midnight" else "12:00")
        elif not strict or _zh_is_clear(m):
            found.append(_zh_time(m))
    return found


_BARE_HOUR = LazyPattern(
    r"(?:at )?([0-9]{1,2}|[零一二两三四五六七八九十]{1,3})(?: ?(?:h|hrs?|hours?|o'?clock|点钟?))?"
)


def bare_hour(folded: str) -> str | None:
    """A message that is only an hour (``7``, ``at 7``): ``"07:00"``, for a time question."""
    m = _BARE_HOUR.fullmatch(folded)
    return None if m is None else _hhmm(_int(m.group(1)), 0)
