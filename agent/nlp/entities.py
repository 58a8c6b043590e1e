"""Amounts, payment dates and birth dates in what the debtor said, in English and Chinese.

Amounts: digits with a symbol, multiplier or currency word ("$1,240.50", "2k", "50 quid",
"1.5万", "500块"), English number words ("two hundred and fifty", "a hundred bucks"), the
British notes ("a tenner", "two fivers": pounds) and
Chinese numerals ("两千五", "一万二", via cn2an). Date-like spans (dates, years, ordinals,
times) are masked first, and a number with no currency is an amount only when it is at
least 10 and is not followed by a unit ("3 days", "15号") or preceded by a word such as
"chapter" or "at".

Payment dates resolve against `today`; weeks start on Monday:
- "next Friday" / 下周五: Friday of next calendar week; "next week" / 下周: its Monday.
- "Friday", "on Friday", "this Friday", 周五: the first Friday strictly after today.
- 这周五 / 本周五: Friday of the current week, even when it has passed.
- "the 15th" / 15号: this month unless already past, else next month.
- "December 3" / 12月3日: this year unless already past, else next year.
- "end of the month" / 月底: the month's last day; "next month" / 下个月: the 1st of next
  month; 下个月5号: the 5th of next month.
A full date with a year more than a year in the past is a birth date, never a payment date.
English phrases the rules miss fall back to dateparser, only when the text counts weeks or
months ahead ("another two weeks", "a fortnight from now").
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import NamedTuple, TypeVar

import cn2an

from agent.domain import Amount, AnalysisContext, Cadence, Entities, Language
from agent.nlp.lexicon import mentions_pay_in_full

# -- number words --
UNITS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9,
}  # fmt: skip
TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
SCALES = {"thousand": 1000, "grand": 1000, "million": 1_000_000}
ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
    "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}  # fmt: skip


def _day_words() -> tuple[dict[str, int], dict[str, int]]:
    """Ordinal ("twenty first") and cardinal ("twenty one") spellings of days 1-31."""
    ordinals = dict(ORDINALS)
    cardinals = {**UNITS, **TEENS, "twenty": 20, "thirty": 30}
    for unit_word, unit in UNITS.items():
        ordinal = next(word for word, value in ORDINALS.items() if value == unit)
        ordinals[f"twenty {ordinal}"] = 20 + unit
        cardinals[f"twenty {unit_word}"] = 20 + unit
    ordinals["thirty first"] = 31
    cardinals["thirty one"] = 31
    return ordinals, cardinals


ORDINAL_DAYS, CARDINAL_DAYS = _day_words()
MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
    "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
WEEKDAYS = {
    "mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6,
    "一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6,
}  # fmt: skip
CURRENCIES = {
    "$": "USD", "dollar": "USD", "buck": "USD", "usd": "USD", "美元": "USD", "美金": "USD",
    "£": "GBP", "pound": "GBP", "quid": "GBP", "gbp": "GBP", "英镑": "GBP",
    "€": "EUR", "euro": "EUR", "eur": "EUR", "欧元": "EUR",
    "¥": "CNY", "￥": "CNY", "元": "CNY", "块": "CNY", "块钱": "CNY", "人民币": "CNY",
    "rmb": "CNY", "cny": "CNY", "yuan": "CNY", "kuai": "CNY",
}  # fmt: skip
MULTIPLIERS = {"k": 1000, "grand": 1000, "thousand": 1000, "hundred": 100, "w": 10000}
MULTIPLIERS |= {"万": 10000, "千": 1000, "百": 100}


def _alternation(words: Iterable[str]) -> str:
    """Longest first, so "twenty first" wins over "twenty"; spaces may be hyphens."""
    ordered = sorted(words, key=len, reverse=True)
    return "|".join(re.escape(word).replace(r"\ ", r"[\s-]+") for word in ordered)


SEP = r"[\s-]+"
UNIT_W = _alternation(UNITS)
TEEN_W = _alternation(TEENS)
TENS_W = _alternation(TENS)
MONTH = (
    r"(?P<month>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b\.?"
)
ORD_DAY = rf"(?<![\d.,])\d{{1,2}}(?:st|nd|rd|th)|{_alternation(ORDINAL_DAYS)}"
DAY = rf"(?P<day>{ORD_DAY}|(?<![\d.,])\d{{1,2}}|{_alternation(CARDINAL_DAYS)})\b"


def _numeric_day(name: str) -> str:
    """A day as digits or an ordinal word ("15", "15th", "fifteenth"), not "fifteen"."""
    return rf"(?P<{name}>{ORD_DAY}|(?<![\d.,])\d{{1,2}})\b"


SPOKEN_YEAR = (
    rf"(?:eighteen|nineteen|twenty){SEP}(?:hundred|oh{SEP}(?:{UNIT_W})|(?:{TENS_W})"
    rf"(?:{SEP}(?:{UNIT_W}))?|{TEEN_W})|two{SEP}thousand(?:{SEP}(?:and{SEP})?(?:(?:{TENS_W})"
    rf"(?:{SEP}(?:{UNIT_W}))?|{TEEN_W}|{UNIT_W}))?"
)
YEAR = rf"(?P<year>(?<!\d)\d{{4}}(?!\d)|{SPOKEN_YEAR})\b"
WEEKDAY_FULL = r"(?P<wd>monday|tuesday|tues|wednesday|weds|thursday|thurs|friday|saturday|sunday)s?"


def _count_group(name: str) -> str:
    return rf"(?P<{name}>\d{{1,3}}|a couple of|a couple|an?|{UNIT_W}|{TEEN_W}|{TENS_W})"


CN_DAY = r"\d{1,2}|[一二三四五六七八九十廿]{1,3}"
CN_MONTH = r"\d{1,2}|十[一二]?|[一二三四五六七八九]"
CN_YEAR = r"\d{4}|\d{2}|[零〇一二三四五六七八九]{2,4}"
CN_COUNT = r"\d{1,3}|[一二两三四五六七八九十]{1,3}|半"

# Full dates: payment dates when recent, birth dates when older.
ISO_DATE = re.compile(
    r"(?<![\d/.-])(?P<year>\d{4})[/.-](?P<month>\d{1,2})[/.-](?P<day>\d{1,2})(?![\d/.-])"
)
ZH_FULL_DATE = re.compile(
    rf"(?P<year>{CN_YEAR})年(?P<month>{CN_MONTH})月(?P<day>{CN_DAY})(?:日|号)?"
)
EN_MDY = re.compile(rf"\b{MONTH}\s+(?:the\s+)?{DAY},?\s+(?:of\s+)?{YEAR}")
EN_DMY = re.compile(rf"\b(?:the\s+)?{DAY}\s+(?:of\s+)?{MONTH},?\s+{YEAR}")
SLASH_DATE = re.compile(
    r"(?<![\d/.-])(?P<a>\d{1,2})[/.-](?P<b>\d{1,2})[/.-](?P<year>\d{4}|\d{2})(?![\d/.-])"
)
COMPACT_DATE = re.compile(r"(?<!\d)(?P<digits>\d{8})(?!\d)")

# Payment dates without a year.
EN_DAY_OF_NEXT_MONTH = re.compile(
    rf"\b(?:the\s+)?{_numeric_day('day')}\s+of\s+next\s+month\b|"
    rf"\bnext\s+month\s+on\s+the\s+{_numeric_day('day2')}"
)
EN_MONTH_DAY = re.compile(rf"\b{MONTH}\s+(?:the\s+)?{DAY}")
EN_DAY_MONTH = re.compile(rf"\b(?:the\s+)?{_numeric_day('day')}\s+(?:of\s+)?{MONTH}")
ZH_MONTH_DAY = re.compile(rf"(?<![\d年])(?P<month>{CN_MONTH})月(?P<day>{CN_DAY})(?:日|号)")
ZH_NEXT_MONTH_DAY = re.compile(rf"下个?月的?(?P<day>{CN_DAY})(?:号|日)")
ZH_THIS_MONTH_DAY = re.compile(rf"(?:这个?|本)月的?(?P<day>{CN_DAY})(?:号|日)")
ZH_MONTH_EDGE = re.compile(r"(?P<next>下个?)?月(?P<edge>底|末|初|中)|(?P<month_only>下个?月)")
ZH_RELATIVE_DAY = re.compile(r"大后天|后天|明天|明日|明儿|今天|今日|今晚|今儿")
ZH_WEEKDAY = re.compile(
    r"(?P<pre>下下个?|下个?|这个?|本|上个?)?(?:周|星期|礼拜)(?P<wd>[一二三四五六日天1-7])"
)
ZH_NEXT_WEEK = re.compile(r"(?P<twice>下)?下个?(?:周|星期|礼拜)")
ZH_AFTER_N = re.compile(
    rf"过(?P<n>{CN_COUNT})个?(?P<unit>天|周|星期|礼拜|月)|"
    rf"(?P<n2>{CN_COUNT})个?(?P<unit2>天|周|星期|礼拜|月)(?:之后|以后|后)"
)
ZH_DAY_OF_MONTH = re.compile(rf"(?<![\d月一二三四五六七八九十廿])(?P<day>{CN_DAY})(?:号|日)")
EN_RELATIVE_DAY = re.compile(
    r"\b(?:(?:the\s+)?day\s+after\s+(?:tomorrow|tmrw?)|today|tonight|tomorrow|tmrw?|tomorow)\b"
)
EN_NEXT_WEEK_DAY = re.compile(rf"\bnext\s+week\s+(?:on\s+)?{WEEKDAY_FULL}\b")
EN_WEEKDAY = re.compile(
    rf"\b(?:(?P<pre>next|this\s+coming|this|coming|on|by|until|before)\s+)?{WEEKDAY_FULL}\b"
    r"(?:\s+(?P<post>next\s+week|week)\b)?"
)
EN_NEXT_WEEK = re.compile(r"\bnext\s+week\b")
EN_END_OF_MONTH = re.compile(
    r"\b(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?(?P<next>next\s+)?month\b|\bmonth\s?end\b"
)
EN_NEXT_MONTH = re.compile(r"\b(?:(?:the\s+)?(?:beginning|start)\s+of\s+|early\s+)?next\s+month\b")
EN_IN_N = re.compile(
    rf"\bin\s+{_count_group('n')}\s+(?P<unit>days?|weeks?|fortnights?|months?)\b|"
    rf"\b{_count_group('n2')}\s+(?P<unit2>days?|weeks?|months?)\s+"
    r"(?:from\s+(?:now|today)|today)\b"
)
EN_ORDINAL_DAY = re.compile(
    rf"\b(?:(?:on|by|before|until|till)\s+)?(?:the\s+)?(?P<day>(?<![\d.,])\d{{1,2}})"
    r"(?:st|nd|rd|th)\b|"
    r"\b(?:on|by|before|until|till)\s+the\s+(?P<day2>\d{1,2})\b"
    r"(?!\s*(?:%|[$£€]|dollars?|bucks|pounds?|quid|euros?))|"
    rf"\b(?:(?:on|by|before|until|till)\s+)?the\s+(?P<day3>{_alternation(ORDINAL_DAYS)})\b"
    r"(?=\s*(?:$|[,.!?;]|of\s+(?:this|the)\s+month|(?:and|or|then|please|if|ok|okay|i)\b))"
)
TIME = re.compile(
    r"(?<![\d.])\d{1,2}(?::\d{2})?\s?(?:am|pm|a\.m\.|p\.m\.|o'?clock)\b|(?<!\d)\d{1,2}:\d{2}\b|"
    r"[\d一二两三四五六七八九十]{1,3}点(?:半|[\d一二三四五六七八九十]{1,3}分?)?"
)


# -- small helpers --
def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _last_day(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def _first_of_next_month(today: dt.date) -> dt.date:
    return _last_day(today.year, today.month) + dt.timedelta(days=1)


def _add_months(today: dt.date, months: int) -> dt.date:
    index = today.year * 12 + today.month - 1 + months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, min(today.day, calendar.monthrange(year, month + 1)[1]))


def _monday(today: dt.date, weeks_ahead: int = 0) -> dt.date:
    return today - dt.timedelta(days=today.weekday()) + dt.timedelta(weeks=weeks_ahead)


def _upcoming_weekday(today: dt.date, weekday: int) -> dt.date:
    return today + dt.timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def _upcoming_day_of_month(today: dt.date, day: int) -> dt.date | None:
    """This month unless `day` has passed; a month without that day is skipped."""
    first = today.replace(day=1)
    for offset in range(3):
        month_start = _add_months(first, offset)
        candidate = _safe_date(month_start.year, month_start.month, day)
        if candidate is not None and candidate >= today:
            return candidate
    return None


def _upcoming_month_day(today: dt.date, month: int, day: int) -> dt.date | None:
    for year in (today.year, today.year + 1):
        candidate = _safe_date(year, month, day)
        if candidate is not None and candidate >= today:
            return candidate
    return None


def _cn_int(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    try:
        value = cn2an.cn2an(text.replace("廿", "二十"), "smart")
    except ValueError:
        return None
    return int(value) if float(value).is_integer() else None


def _day_number(text: str) -> int | None:
    words = re.sub(r"[\s-]+", " ", text)
    if words in ORDINAL_DAYS:
        return ORDINAL_DAYS[words]
    if words in CARDINAL_DAYS:
        return CARDINAL_DAYS[words]
    return _cn_int(re.sub(r"(?:st|nd|rd|th)$", "", words))


def _month_number(text: str) -> int | None:
    return MONTHS.get(text[:3]) or _cn_int(text.rstrip("."))


def _two_digit_year(value: int) -> int:
    """Birth years said with two digits: 九零 -> 1990, 零五 -> 2005 (pivot at 30)."""
    return 2000 + value if value < 30 else 1900 + value


def _small_words(words: list[str]) -> int:
    return sum(UNITS.get(word, 0) + TEENS.get(word, 0) + TENS.get(word, 0) for word in words)


def _year_number(text: str) -> int:
    words = re.sub(r"[\s-]+", " ", text).split()
    if words[0].isdigit():
        year = int(words[0])
        return _two_digit_year(year) if len(words[0]) == 2 else year
    if words[:2] == ["two", "thousand"]:
        return 2000 + _small_words(words[2:])
    century = (UNITS | TEENS | TENS)[words[0]] * 100
    return century if words[1] == "hundred" else century + _small_words(words[1:])


_CN_DIGITS = str.maketrans("零〇一二三四五六七八九", "00123456789")


def _zh_year(text: str) -> int:
    """Years read digit by digit: 一九九零 -> 1990, 九零 -> 1990, 90 -> 1990."""
    digits = text.translate(_CN_DIGITS)
    return _two_digit_year(int(digits)) if len(digits) == 2 else int(digits)


# -- payment-date resolvers: (match, today) -> date --
Resolver = Callable[[re.Match[str], dt.date], dt.date | None]
_CN_YEAR = re.compile(CN_YEAR)


def _full_date(match: re.Match[str], today: dt.date | None = None) -> dt.date | None:
    year_text = match["year"]
    year = _zh_year(year_text) if _CN_YEAR.fullmatch(year_text) else _year_number(year_text)
    month, day = _month_number(match["month"]), _day_number(match["day"])
    return None if month is None or day is None else _safe_date(year, month, day)


def _month_day(match: re.Match[str], today: dt.date) -> dt.date | None:
    month, day = _month_number(match["month"]), _day_number(match["day"])
    return None if month is None or day is None else _upcoming_month_day(today, month, day)


def _day_of_month(match: re.Match[str], today: dt.date) -> dt.date | None:
    text = next(group for group in match.groupdict().values() if group is not None)
    day = _day_number(text)
    return None if day is None else _upcoming_day_of_month(today, day)


def _day_of_next_month(match: re.Match[str], today: dt.date) -> dt.date | None:
    day = _day_number(match["day"] or match["day2"])
    start = _first_of_next_month(today)
    return None if day is None else _safe_date(start.year, start.month, day)


def _zh_month_edge(match: re.Match[str], today: dt.date) -> dt.date:
    start = _first_of_next_month(today)
    if match["month_only"] or match["edge"] == "初":
        return start
    month = start if match["next"] else today
    if match["edge"] == "中":
        return month.replace(day=15)
    return _last_day(month.year, month.month)


def _en_end_of_month(match: re.Match[str], today: dt.date) -> dt.date:
    month = _first_of_next_month(today) if match["next"] else today
    return _last_day(month.year, month.month)


RELATIVE_DAYS = {
    "today": 0, "tonight": 0, "tomorrow": 1, "tomorow": 1, "tmr": 1, "tmrw": 1,
    "今天": 0, "今日": 0, "今晚": 0, "今儿": 0, "明天": 1, "明日": 1, "明儿": 1, "后天": 2,
    "大后天": 3,
}  # fmt: skip


def _relative_day(match: re.Match[str], today: dt.date) -> dt.date:
    days = 2 if "after" in match[0] else RELATIVE_DAYS[match[0]]
    return today + dt.timedelta(days=days)


def _zh_weekday(match: re.Match[str], today: dt.date) -> dt.date | None:
    char = match["wd"]
    weekday = int(char) - 1 if char.isdigit() else WEEKDAYS[char]
    prefix = (match["pre"] or "").replace("个", "")
    if prefix.startswith("上"):
        return None
    if prefix == "下下":
        return _monday(today, 2) + dt.timedelta(days=weekday)
    if prefix == "下":
        return _monday(today, 1) + dt.timedelta(days=weekday)
    if prefix in ("这", "本"):
        return _monday(today) + dt.timedelta(days=weekday)
    return _upcoming_weekday(today, weekday)


def _zh_next_week(match: re.Match[str], today: dt.date) -> dt.date:
    return _monday(today, 2 if match["twice"] else 1)


def _en_weekday(match: re.Match[str], today: dt.date) -> dt.date:
    weekday = WEEKDAYS[match["wd"][:3]]
    pre = match.groupdict().get("pre")
    post = match.groupdict().get("post") or ""
    if pre == "next" or post.startswith("next") or match[0].startswith("next week"):
        return _monday(today, 1) + dt.timedelta(days=weekday)
    upcoming = _upcoming_weekday(today, weekday)
    return upcoming + dt.timedelta(weeks=1) if post == "week" else upcoming


def _next_monday(match: re.Match[str], today: dt.date) -> dt.date:
    return _monday(today, 1)


def _next_month(match: re.Match[str], today: dt.date) -> dt.date:
    return _first_of_next_month(today)


def _count(text: str) -> float | None:
    words = re.sub(r"[\s-]+", " ", text)
    if words in ("a", "an"):
        return 1
    if words.startswith("a couple"):
        return 2
    if words == "半":
        return 0.5
    return _small_words([words]) or _cn_int(words)


def _after_n(match: re.Match[str], today: dt.date) -> dt.date | None:
    count = _count(match["n"] or match["n2"])
    unit = match["unit"] or match["unit2"]
    if not count:
        return None
    if unit.startswith("month") or unit == "月":
        return today + dt.timedelta(days=15) if count == 0.5 else _add_months(today, int(count))
    days = {"d": 1, "天": 1, "f": 14}.get(unit[0], 7)
    return today + dt.timedelta(days=int(count * days))


# Most specific first; a later rule never reuses text an earlier one took. A rule without a
# resolver only claims its span (so it is masked from amounts) and gives no payment date.
DATE_RULES: tuple[tuple[re.Pattern[str], Resolver | None], ...] = (
    (ISO_DATE, _full_date),
    (ZH_FULL_DATE, _full_date),
    (EN_MDY, _full_date),
    (EN_DMY, _full_date),
    (SLASH_DATE, None),  # day/month order needs the locale: birth dates only
    (COMPACT_DATE, None),
    (EN_DAY_OF_NEXT_MONTH, _day_of_next_month),
    (EN_MONTH_DAY, _month_day),
    (EN_DAY_MONTH, _month_day),
    (ZH_MONTH_DAY, _month_day),
    (ZH_NEXT_MONTH_DAY, _day_of_next_month),
    (ZH_THIS_MONTH_DAY, _day_of_month),
    (ZH_AFTER_N, _after_n),
    (ZH_MONTH_EDGE, _zh_month_edge),
    (ZH_RELATIVE_DAY, _relative_day),
    (ZH_WEEKDAY, _zh_weekday),
    (ZH_NEXT_WEEK, _zh_next_week),
    (ZH_DAY_OF_MONTH, _day_of_month),
    (EN_IN_N, _after_n),
    (EN_RELATIVE_DAY, _relative_day),
    (EN_NEXT_WEEK_DAY, _en_weekday),
    (EN_WEEKDAY, _en_weekday),
    (EN_NEXT_WEEK, _next_monday),
    (EN_END_OF_MONTH, _en_end_of_month),
    (EN_NEXT_MONTH, _next_month),
    (EN_ORDINAL_DAY, _day_of_month),
    (TIME, None),
)
# Every alternative of these needs an ideograph, resp. a Latin letter; the other rules
# (ISO, slashes, eight digits, times) match in either script.
ZH_DATE_PATTERNS = frozenset(
    {
        ZH_FULL_DATE,
        ZH_MONTH_DAY,
        ZH_NEXT_MONTH_DAY,
        ZH_THIS_MONTH_DAY,
        ZH_AFTER_N,
        ZH_MONTH_EDGE,
        ZH_RELATIVE_DAY,
        ZH_WEEKDAY,
        ZH_NEXT_WEEK,
        ZH_DAY_OF_MONTH,
    }
)
EN_DATE_PATTERNS = frozenset(
    {
        EN_MDY,
        EN_DMY,
        EN_DAY_OF_NEXT_MONTH,
        EN_MONTH_DAY,
        EN_DAY_MONTH,
        EN_IN_N,
        EN_RELATIVE_DAY,
        EN_NEXT_WEEK_DAY,
        EN_WEEKDAY,
        EN_NEXT_WEEK,
        EN_END_OF_MONTH,
        EN_NEXT_MONTH,
        EN_ORDINAL_DAY,
    }
)


# -- birth-date resolvers: (match, locale) -> date --
def _month_day_order(first: int, second: int, locale: str) -> list[tuple[int, int]]:
    """(month, day) readings of "first/second" to try, in order.

    en-US reads month first, other English locales day first; the other reading is tried
    only when the locale's one is impossible (30/11/1979 in en-US). zh-CN accepts only an
    unambiguous order.
    """
    month_first, day_first = (first, second), (second, first)
    if locale.startswith("zh"):
        return [] if first <= 12 and second <= 12 and first != second else [day_first, month_first]
    return [month_first, day_first] if locale == "en-US" else [day_first, month_first]


def _ordered_date(first: int, second: int, year: int, locale: str) -> dt.date | None:
    for month, day in _month_day_order(first, second, locale):
        date = _safe_date(year, month, day)
        if date is not None:
            return date
    return None


def _slash_birth(match: re.Match[str], locale: str) -> dt.date | None:
    year = _year_number(match["year"])
    return _ordered_date(int(match["a"]), int(match["b"]), year, locale)


def _compact_birth(match: re.Match[str], locale: str) -> dt.date | None:
    digits = match["digits"]
    if digits[:2] in ("19", "20"):
        date = _safe_date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
        if date is not None:
            return date
    if digits[4:6] not in ("19", "20"):
        return None
    return _ordered_date(int(digits[:2]), int(digits[2:4]), int(digits[4:]), locale)


def _full_birth(match: re.Match[str], locale: str) -> dt.date | None:
    return _full_date(match)


BirthResolver = Callable[[re.Match[str], str], dt.date | None]
BIRTH_RULES: tuple[tuple[re.Pattern[str], BirthResolver], ...] = (
    (ISO_DATE, _full_birth),
    (ZH_FULL_DATE, _full_birth),
    (EN_MDY, _full_birth),
    (EN_DMY, _full_birth),
    (SLASH_DATE, _slash_birth),
    (COMPACT_DATE, _compact_birth),
)

# -- text preparation --
_CJK_GAP = re.compile(r"(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])")
_HAS_CJK = re.compile(r"[\u3400-\u9fff]")
_HAS_LATIN = re.compile(r"[a-z]")
_Payload = TypeVar("_Payload")


def _forms(text: str) -> tuple[str, str]:
    """(text with spaces between Chinese characters dropped, its lower case, same length)."""
    compact = _CJK_GAP.sub("", text)
    lower = compact.lower()
    if len(lower) != len(compact):  # a few characters lower-case to two
        lower = "".join(c.lower() if len(c.lower()) == 1 else c for c in compact)
    return compact, lower


_Rules = tuple[tuple[re.Pattern[str], _Payload], ...]


def _by_script(rules: _Rules[_Payload]) -> dict[tuple[bool, bool], _Rules[_Payload]]:
    """`rules` in order, less those a text's scripts rule out, keyed by (has an ideograph,
    has a Latin letter): ZH_DATE_PATTERNS need the first, EN_DATE_PATTERNS the second. A
    rule left out could not have matched, so what the others claim is unchanged; a
    one-language text is scanned about half as much."""
    return {
        (cjk, latin): tuple(
            (pattern, payload)
            for pattern, payload in rules
            if (cjk or pattern not in ZH_DATE_PATTERNS)
            and (latin or pattern not in EN_DATE_PATTERNS)
        )
        for cjk in (False, True)
        for latin in (False, True)
    }


_DATE_RULES_BY_SCRIPT = _by_script(DATE_RULES)
_BIRTH_RULES_BY_SCRIPT = _by_script(BIRTH_RULES)


def _readable(rules: dict[tuple[bool, bool], _Rules[_Payload]], norm: str) -> _Rules[_Payload]:
    return rules[bool(_HAS_CJK.search(norm)), bool(_HAS_LATIN.search(norm))]


def _claim(
    rules: Iterable[tuple[re.Pattern[str], _Payload]], text: str
) -> Iterator[tuple[re.Match[str], _Payload]]:
    """Matches of each rule in turn, skipping any that overlap text already claimed."""
    taken: list[tuple[int, int]] = []
    for pattern, payload in rules:
        for match in pattern.finditer(text):
            start, end = match.span()
            if start < end and not any(start < e and s < end for s, e in taken):
                taken.append((start, end))
                yield match, payload


class _Prepared(NamedTuple):
    compact: str
    norm: str
    dates: list[tuple[re.Match[str], Resolver | None]]  # DATE_RULES' claims in `norm`


def _prepare(text: str) -> _Prepared:
    """The text's two forms and its date spans, found once: the payment date reads them
    and the amount must not read their numbers."""
    compact, norm = _forms(text)
    return _Prepared(compact, norm, list(_claim(_readable(_DATE_RULES_BY_SCRIPT, norm), norm)))


# -- payment dates --
# A span of weeks or months counted ahead ("a fortnight from now", "another two weeks",
# "within the next 2 months"). Not "a month" or "per week" (how often), "last month",
# "over a few months", "this weekend": dateparser (~7 ms a call) finds no date in those.
_FALLBACK_TRIGGER = re.compile(
    r"\bfortnights?\b|"
    r"\b(?:\d+|one|two|three|four|five|six|couple(?:\s+of)?|next|another|coming)\s+"
    r"(?:weeks?|months?)\b"
)
_DIGIT = re.compile(r"\d")
_BIRTH_AGE = dt.timedelta(days=365)


def _dateparser_date(text: str, today: dt.date) -> dt.date | None:
    """dateparser's reading, kept only when it is a near-future date said without digits."""
    settings = {
        "PREFER_DATES_FROM": "future",
        "RELATIVE_BASE": dt.datetime.combine(today, dt.time()),
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    with warnings.catch_warnings():  # its deprecation warnings are not ours to fail on
        warnings.simplefilter("ignore")
        from dateparser.search import search_dates  # slow to import; rarely needed

        found = search_dates(text, languages=["en"], settings=settings)
    for phrase, when in found or []:
        if not _DIGIT.search(phrase) and today <= when.date() <= today + dt.timedelta(days=366):
            return when.date()
    return None


def extract_date(text: str, language: Language, today: dt.date) -> dt.date | None:
    """The earliest payment date said, resolved against `today` (rules in the module doc)."""
    return _payment_date(_prepare(text), language, today)


def _payment_date(text: _Prepared, language: Language, today: dt.date) -> dt.date | None:
    dates = [
        (match.start(), date)
        for match, resolve in text.dates
        if resolve is not None and (date := resolve(match, today)) is not None
    ]
    recent = [(start, date) for start, date in dates if date >= today - _BIRTH_AGE]
    if recent:
        return min(recent)[1]
    if language == "en" and _FALLBACK_TRIGGER.search(text.norm):
        return _dateparser_date(text.norm, today)
    return None


def extract_birth_date(text: str, language: Language, locale: str) -> dt.date | None:
    """A full date with a year, read per locale for numeric forms; None when invalid."""
    return _birth_date(_forms(text)[1], locale)


def _birth_date(norm: str, locale: str) -> dt.date | None:
    found = [
        (match.start(), date)
        for match, resolve in _claim(_readable(_BIRTH_RULES_BY_SCRIPT, norm), norm)
        if (date := resolve(match, locale)) is not None
    ]
    return min(found)[1] if found else None


# -- amounts --
_CURRENCY_WORD = (
    r"dollars?|bucks?|usd|pounds?|quid|gbp|euros?|eur|yuan|rmb|cny|kuai|块钱|块|元|人民币|美元|"
    r"美金|英镑|欧元"
)
_DIGITS = re.compile(
    r"(?<![a-z0-9.,/:\-])(?P<sym>[$£€¥￥]|(?:usd|gbp|eur|rmb|cny)\s?)?\s?"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:\s?(?P<mult>k|grand|thousand|hundred|w|万|千|百)(?![a-z]))?"
    rf"(?:\s?(?P<cur>{_CURRENCY_WORD})(?![a-z]))?"
)
_NUMBER_WORD = "|".join([UNIT_W, TEEN_W, TENS_W, "hundred", *SCALES])
_WORD_RUN = re.compile(
    rf"\b(?P<run>(?:an?{SEP})?(?:{_NUMBER_WORD})(?:{SEP}(?:and{SEP})?(?:{_NUMBER_WORD}))*)\b"
    rf"(?:\s?(?P<cur>{_CURRENCY_WORD})\b)?"
)
_ZH_NUMERAL = re.compile(
    r"(?<![零〇一二两三四五六七八九十百千万亿])(?P<num>[零〇一二两三四五六七八九十百千万亿]+)"
    rf"(?:\s?(?P<cur>{_CURRENCY_WORD}))?"
)
_WORD = re.compile(r"[a-z]+")
# A bare number right after these words is not a sum ("chapter 7", "at 5", "room 12").
_NOT_AFTER_WORDS = frozenset(
    {
        "chapter", "at", "number", "no", "page", "option", "press", "step", "room", "flat",
        "unit", "apt", "apartment", "extension", "ext", "line", "age", "aged", "digits", "code",
        "pin", "id", "zip", "postcode", "account", "ref", "reference", "ending", "floor", "level",
        "version", "route",
    }
)  # fmt: skip
_YEAR_AFTER_WORDS = frozenset(
    {"in", "since", "year", "born", "from", "until", "till", "of", "around", "by", "before"}
)
_UNIT_AFTER = re.compile(
    r"\s?(?:%|(?:days?|weeks?|months?|years?|yrs?|hours?|hrs?|minutes?|mins?|seconds?|am|pm|"
    r"o'?clock|percent|kids|children|people|times|digits|cents|pence|calls|th|st|nd|rd)\b|"
    r"[号日月年天周个次期点时分岁位下起些遍倍成折楼层条张几])"
)
# British slang for the notes ("a tenner a week", "two fivers"): always pounds.
_NOTES = re.compile(rf"\b(?:(?P<count>an?|{UNIT_W}|{TEEN_W}){SEP})?(?P<note>fiver|tenner)s?\b")
_NOTE_VALUES = {"fiver": 5, "tenner": 10}
_ZH_NOT_AFTER = "周期拜第初"
_ZH_SCALE = re.compile(r"[十百千万亿]")


class _Sum(NamedTuple):
    start: int
    end: int
    value: Decimal
    currency: str | None


def _currency(word: str | None) -> str | None:
    if not word:
        return None
    word = word.strip()
    return CURRENCIES.get(word) or CURRENCIES.get(word.rstrip("s"))


def _bare_ok(text: str, start: int, end: int, value: Decimal, digits: str = "") -> bool:
    """Whether a number with no currency marker reads as a sum of money."""
    if value < 10 or value >= 1_000_000 or _UNIT_AFTER.match(text, end):
        return False
    before = _WORD.findall(text[max(0, start - 20) : start])
    previous = before[-1] if before else ""
    if previous in _NOT_AFTER_WORDS:
        return False
    year_like = len(digits) == 4 and digits[:2] in ("19", "20")
    return not (year_like and previous in _YEAR_AFTER_WORDS)


def _digit_sums(text: str) -> Iterator[_Sum]:
    for match in _DIGITS.finditer(text):
        start, end = match.start("sym" if match["sym"] else "num"), match.end()
        if re.match(r"[a-z]", text[end : end + 1]):
            continue  # "15th", "5pm"
        value = Decimal(match["num"].replace(",", "")) * MULTIPLIERS.get(match["mult"] or "", 1)
        currency = _currency(match["sym"]) or _currency(match["cur"])
        marked = currency is not None or match["mult"] is not None
        if marked or _bare_ok(text, start, end, value, match["num"]):
            yield _Sum(start, end, value, currency)


def _words_to_numbers(words: list[str]) -> Iterator[tuple[int, int, int]]:
    """Split a run of number words into (value, first word, last word) numbers."""
    index = 0
    while index < len(words):
        value, stop = _one_number(words, index)
        if stop > index:
            yield value, index, stop - 1
            index = stop
        else:
            index += 1


def _one_number(words: list[str], index: int) -> tuple[int, int]:
    """Read one number from words[index:]: (value, index after its last word)."""
    total = current = 0
    previous = ""
    stop = index
    for position in range(index, len(words)):
        word = words[position]
        if word in ("a", "an") and not previous:
            current, previous = 1, "a"
        elif word == "and" and previous in ("hundred", "scale"):
            previous = "and"
        elif word in UNITS and previous in ("", "tens", "hundred", "scale", "and"):
            current, previous = current + UNITS[word], "unit"
        elif (word in TEENS or word in TENS) and previous in ("", "hundred", "scale", "and"):
            current += TEENS.get(word, 0) + TENS.get(word, 0)
            previous = "teen" if word in TEENS else "tens"
        elif word == "hundred" and previous in ("unit", "teen", "a"):
            current, previous = current * 100, "hundred"
        elif word in SCALES and previous in ("unit", "teen", "tens", "hundred", "a"):
            total, current, previous = total + current * SCALES[word], 0, "scale"
        else:
            break
        if previous not in ("a", "and"):
            stop = position + 1
    return total + current, stop


def _word_sums(text: str) -> Iterator[_Sum]:
    for match in _WORD_RUN.finditer(text):
        offset = match.start("run")
        tokens = list(_WORD.finditer(match["run"]))
        numbers = list(_words_to_numbers([token[0] for token in tokens]))
        for position, (value, first, last) in enumerate(numbers):
            start, end = offset + tokens[first].start(), offset + tokens[last].end()
            is_last = position == len(numbers) - 1
            currency = _currency(match["cur"]) if is_last else None
            if currency is not None:
                end = match.end()
            if currency is not None or _bare_ok(text, start, end, Decimal(value)):
                yield _Sum(start, end, Decimal(value), currency)


def _note_sums(text: str) -> Iterator[_Sum]:
    for match in _NOTES.finditer(text):
        count = (UNITS | TEENS).get(match["count"] or "", 1)
        yield _Sum(match.start(), match.end(), Decimal(count * _NOTE_VALUES[match["note"]]), "GBP")


def _zh_sums(text: str) -> Iterator[_Sum]:
    for match in _ZH_NUMERAL.finditer(text):
        numeral, currency = match["num"], _currency(match["cur"])
        start, end = match.start(), match.end()
        if numeral[0] in "百千万亿零〇" or (start > 0 and text[start - 1] in _ZH_NOT_AFTER):
            continue
        if currency is None and (not _ZH_SCALE.search(numeral) or _UNIT_AFTER.match(text, end)):
            continue  # digit readings ("九零"), single digits, "三天", "十五号"
        value = _cn_int(numeral)
        if value:
            yield _Sum(start, end, Decimal(value), currency)


def _mask_dates(text: _Prepared) -> str:
    """Blank out dates, years, ordinals and times so their numbers are not read as sums."""
    chars = list(text.norm)
    for match, _ in text.dates:
        start, end = match.span()
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _tidy(value: Decimal) -> Decimal:
    """Whole sums without a trailing exponent or ".0" (1.5万 -> 15000)."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value


def extract_amount(
    text: str, language: Language, default_currency: str | None = None
) -> Amount | None:
    """The sum said, preferring one with a currency; `default_currency` fills the gap."""
    return _amount(_prepare(text), default_currency)


def _amount(text: _Prepared, default_currency: str | None) -> Amount | None:
    masked = _mask_dates(text)
    sums = [*_digit_sums(masked), *_word_sums(masked), *_note_sums(masked), *_zh_sums(masked)]
    if not sums:
        return None
    best = min(sums, key=lambda found: (found.currency is None, found.start))
    return Amount(
        value=_tidy(best.value),
        currency=best.currency or default_currency,
        text=text.compact[best.start : best.end].strip(),
    )


# -- how often --
# How often a recurring sum is offered, only where the words tie it to paying: a rate after
# a sum ("20 quid a week", "五百一个月"), a way of paying ("pay fortnightly", "weekly
# payments", 每两周还). Not income ("I get paid weekly", 每个月工资才三千) and not a date said
# with the same words ("in a week", "a month from now").
_SUM_BEFORE = (
    r"(?:\d|\b(?:quid|pounds?|dollars?|bucks|tenners?|fivers?|euros?|hundred|thousand|grand))"
    r"\s+"
)
_PAYING = r"\b(?:pay|paying|payments?|instal?ments?|plan)\s+"
_ZH_SUM = r"[\d零一二两三四五六七八九十百千万]+(?:块钱?|元)?"
_ZH_PAY = r"(?:可以|能|就|先|再|都)?(?:还|付|交|打|转)"
_CADENCES: tuple[tuple[Cadence, re.Pattern[str]], ...] = (
    (
        "fortnight",
        re.compile(
            rf"{_SUM_BEFORE}(?:a|per|each|every)\s+(?:fortnight|two\s+weeks|2\s+weeks|other\s+week)\b"
            rf"|{_PAYING}(?:fortnightly|bi-?weekly|every\s+(?:fortnight|two\s+weeks|other\s+week))\b"
            r"|\b(?:fortnightly|bi-?weekly)\s+(?:payments?|instal?ments?|plan)\b"
            rf"|(?:每两周|每两个(?:星期|礼拜)|每隔一周|双周){_ZH_PAY}|{_ZH_SUM}(?:两周|两个星期)(?![后内以之])"
        ),
    ),
    (
        "week",
        re.compile(
            rf"{_SUM_BEFORE}(?:a|per|each|every)\s+(?:week|wk)\b"
            rf"|{_PAYING}(?:weekly|every\s+week)\b"
            r"|\bweekly\s+(?:payments?|instal?ments?|plan)\b"
            rf"|(?:每周|每个?星期|每个?礼拜){_ZH_PAY}|{_ZH_SUM}(?:一周|一个?星期|一个?礼拜)(?![后内以之])"
        ),
    ),
    (
        "month",
        re.compile(
            rf"{_SUM_BEFORE}(?:a|per|each|every)\s+month\b|{_SUM_BEFORE}pcm\b"
            rf"|{_PAYING}(?:monthly|every\s+month)\b"
            r"|\bmonthly\s+(?:payments?|instal?ments?|plan)\b"
            rf"|(?:每个?月){_ZH_PAY}|月供|{_ZH_SUM}一个?月(?![后内以之])"
        ),
    ),
)


def extract_cadence(text: str) -> Cadence | None:
    """How often the text offers to pay, by the earliest phrase that says it."""
    found = [
        (match.start(), cadence)
        for cadence, pattern in _CADENCES
        if (match := pattern.search(text)) is not None
    ]
    return min(found)[1] if found else None


def extract_entities(text: str, language: Language, ctx: AnalysisContext) -> Entities:
    prepared = _prepare(text)
    birth_date = _birth_date(prepared.norm, ctx.locale)
    if birth_date is not None and birth_date >= ctx.today - _BIRTH_AGE:
        birth_date = None  # a recent or future full date is a payment date
    date = _payment_date(prepared, language, ctx.today)
    if date is not None and date == birth_date:
        date = None
    return Entities(
        amount=_amount(prepared, ctx.default_currency),
        date=date,
        birth_date=birth_date,
        full_amount=mentions_pay_in_full(text, language),
        every=extract_cadence(prepared.norm),
    )
