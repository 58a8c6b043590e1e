import datetime as dt
import json
import re
from decimal import Decimal

import pytest

from agent.domain import Amount, AnalysisContext, Entities
from agent.nlp import entities
from agent.nlp.entities import (
    BIRTH_RULES,
    DATE_RULES,
    extract_amount,
    extract_birth_date,
    extract_date,
    extract_entities,
)
from agent.nlp.language import detect_language
from agent.settings import PROJECT_ROOT

TODAY = dt.date(2026, 11, 28)  # a Saturday
D = dt.date


AMOUNTS: list[tuple[str, str | None, str, str | None]] = [
    # (text, default currency, value, currency)
    ("$200", None, "200", "USD"),
    ("I can send $75 now", "GBP", "75", "USD"),
    ("200 dollars", None, "200", "USD"),
    ("maybe 200 bucks", None, "200", "USD"),
    ("a hundred bucks", None, "100", "USD"),
    ("two hundred and fifty", None, "250", None),
    ("two hundred and fifty", "USD", "250", "USD"),
    ("twenty five hundred dollars", None, "2500", "USD"),
    ("one thousand two hundred forty", "USD", "1240", "USD"),
    ("five grand", "USD", "5000", "USD"),
    ("1,240.50", "USD", "1240.50", "USD"),
    ("I can do 2k", "USD", "2000", "USD"),
    ("1.5k next month", None, "1500", None),
    ("£50", None, "50", "GBP"),
    ("50 quid", None, "50", "GBP"),
    ("im skint mate, can i do a tenner a week", "GBP", "10", "GBP"),
    ("a fiver on friday", None, "5", "GBP"),
    ("two fivers", "USD", "10", "GBP"),
    ("three tenners a month", None, "30", "GBP"),
    ("50 pounds", None, "50", "GBP"),
    ("€30", None, "30", "EUR"),
    ("30 euros", "USD", "30", "EUR"),
    ("¥500", None, "500", "CNY"),
    ("500 rmb", None, "500", "CNY"),
    ("500元", None, "500", "CNY"),
    ("500块", None, "500", "CNY"),
    ("两千", "CNY", "2000", "CNY"),
    ("两千", None, "2000", None),
    ("两千块", None, "2000", "CNY"),
    ("两千五", "CNY", "2500", "CNY"),
    ("一万二", "CNY", "12000", "CNY"),
    ("1.5万", "CNY", "15000", "CNY"),
    ("三百块钱", None, "300", "CNY"),
    ("八千六", "CNY", "8600", "CNY"),
    ("先还五百", "CNY", "500", "CNY"),
    ("我这个月能还三千", "CNY", "3000", "CNY"),
    ("I can pay 200", "USD", "200", "USD"),
    ("i can do fifty tomorrow", "USD", "50", "USD"),
    ("I owe 900 but I can only pay 300 dollars", None, "300", "USD"),
    ("I can pay 50 a month for 6 months", "GBP", "50", "GBP"),
    ("I was born in 1985 and can pay 2000", "USD", "2000", "USD"),
]


@pytest.mark.parametrize(("text", "default", "value", "currency"), AMOUNTS)
def test_extract_amount(text: str, default: str | None, value: str, currency: str | None) -> None:
    amount = extract_amount(text, detect_language(text), default)
    assert amount is not None
    assert amount.value == Decimal(value)
    assert amount.currency == currency


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("I can pay 200 dollars next Friday", "200 dollars"),
        ("a hundred bucks on the 15th", "a hundred bucks"),
        ("ok $1,240.50 then", "$1,240.50"),
        ("下周五还两千", "两千"),
        ("三百块钱吧", "三百块钱"),
        ("下 周 五 还 两 千", "两千"),
    ],
)
def test_amount_text_is_the_matched_span(text: str, span: str) -> None:
    amount = extract_amount(text, detect_language(text), None)
    assert amount is not None
    assert amount.text == span


def test_whole_amounts_have_no_exponent() -> None:
    amount = extract_amount("1.5万", "zh", "CNY")
    assert amount is not None
    assert str(amount.value) == "15000"


@pytest.mark.parametrize(
    "text",
    [
        "April 12th 1985",
        "april twelfth nineteen eighty five",
        "my date of birth is 30 november 1979",
        "12/04/1985",
        "1985-04-12",
        "04121985",
        "on the 15th",
        "the 5th",
        "next Friday the 5th",
        "15号",
        "1990年",
        "1990年8月8日",
        "九零年八月八号",
        "下周五",
        "I filed chapter 7",
        "chapter 13",
        "call me at 5",
        "call me after 6pm",
        "in 3 days",
        "give me two weeks",
        "三天后",
        "3点再打",
        "我先还一点",
        "千万别打了",
        "一次性还清",
        "no one by that name",
        "I was born in 1985",
        "my account number is 12345678",
        "I have 2 kids",
        "",
    ],
)
def test_not_an_amount(text: str) -> None:
    assert extract_amount(text, detect_language(text), "USD") is None


DATES: list[tuple[str, dt.date]] = [
    ("I can pay 200 dollars next Friday", D(2026, 12, 4)),
    ("下周五还两千", D(2026, 12, 4)),
    ("a hundred bucks on the 15th", D(2026, 12, 15)),
    ("15号还五百", D(2026, 12, 15)),
    ("i can do fifty tomorrow", D(2026, 11, 29)),
    ("today", D(2026, 11, 28)),
    ("later tonight", D(2026, 11, 28)),
    ("tomorrow", D(2026, 11, 29)),
    ("the day after tomorrow", D(2026, 11, 30)),
    ("Friday", D(2026, 12, 4)),
    ("on friday", D(2026, 12, 4)),
    ("this Friday", D(2026, 12, 4)),
    ("by Monday", D(2026, 11, 30)),
    ("this saturday", D(2026, 12, 5)),  # strictly after today
    ("next Friday", D(2026, 12, 4)),
    ("next Monday", D(2026, 11, 30)),
    ("friday next week", D(2026, 12, 4)),
    ("next week friday", D(2026, 12, 4)),
    ("friday week", D(2026, 12, 11)),
    ("next week", D(2026, 11, 30)),
    ("end of the month", D(2026, 11, 30)),
    ("by the end of this month", D(2026, 11, 30)),
    ("end of next month", D(2026, 12, 31)),
    ("月底", D(2026, 11, 30)),
    ("下个月底", D(2026, 12, 31)),
    ("in 3 days", D(2026, 12, 1)),
    ("in three days", D(2026, 12, 1)),
    ("in a week", D(2026, 12, 5)),
    ("in two weeks", D(2026, 12, 12)),
    ("in a fortnight", D(2026, 12, 12)),
    ("a week from today", D(2026, 12, 5)),
    ("two weeks from now", D(2026, 12, 12)),
    ("三天后", D(2026, 12, 1)),
    ("3天以后", D(2026, 12, 1)),
    ("过两天", D(2026, 11, 30)),
    ("一周后", D(2026, 12, 5)),
    ("the 15th", D(2026, 12, 15)),
    ("on the 15th", D(2026, 12, 15)),
    ("on the fifteenth", D(2026, 12, 15)),
    ("on the 30th", D(2026, 11, 30)),
    ("the 28th", D(2026, 11, 28)),
    ("the 1st", D(2026, 12, 1)),
    ("15号", D(2026, 12, 15)),
    ("15日", D(2026, 12, 15)),
    ("十五号", D(2026, 12, 15)),
    ("December 3", D(2026, 12, 3)),
    ("3 December", D(2026, 12, 3)),
    ("Dec 3rd", D(2026, 12, 3)),
    ("the 3rd of December", D(2026, 12, 3)),
    ("december third", D(2026, 12, 3)),
    ("November 27", D(2027, 11, 27)),  # already past this year
    ("january 5", D(2027, 1, 5)),
    ("12月3日", D(2026, 12, 3)),
    ("12月3号", D(2026, 12, 3)),
    ("十二月三号", D(2026, 12, 3)),
    ("1月5号", D(2027, 1, 5)),
    ("2026-12-03", D(2026, 12, 3)),
    ("2027年1月5日", D(2027, 1, 5)),
    ("明天", D(2026, 11, 29)),
    ("后天", D(2026, 11, 30)),
    ("大后天", D(2026, 12, 1)),
    ("今天", D(2026, 11, 28)),
    ("下周五", D(2026, 12, 4)),
    ("下星期一", D(2026, 11, 30)),
    ("下个礼拜三", D(2026, 12, 2)),
    ("这周五", D(2026, 11, 27)),  # this week's Friday, even when past
    ("本周五", D(2026, 11, 27)),
    ("周五", D(2026, 12, 4)),
    ("星期五", D(2026, 12, 4)),
    ("礼拜五", D(2026, 12, 4)),
    ("周日", D(2026, 11, 29)),
    ("星期天", D(2026, 11, 29)),
    ("下周", D(2026, 11, 30)),
    ("下个月5号", D(2026, 12, 5)),
    ("下月5号", D(2026, 12, 5)),
    ("下个月", D(2026, 12, 1)),
    ("next month", D(2026, 12, 1)),
    ("the 5th of next month", D(2026, 12, 5)),
    ("next month on the 5th", D(2026, 12, 5)),
    ("tomorrow or the day after", D(2026, 11, 29)),  # the first one said
]


@pytest.mark.parametrize(("text", "expected"), DATES)
def test_extract_date(text: str, expected: dt.date) -> None:
    assert extract_date(text, detect_language(text), TODAY) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a fortnight from now", D(2026, 12, 12)),
        ("within the next two weeks", D(2026, 12, 12)),
        ("i don't get paid for another two weeks", D(2026, 12, 12)),
    ],
)
def test_dateparser_fallback(text: str, expected: dt.date) -> None:
    assert extract_date(text, "en", TODAY) == expected


def test_next_weekday_means_next_calendar_week() -> None:
    wednesday = D(2026, 11, 25)
    assert extract_date("next Friday", "en", wednesday) == D(2026, 12, 4)
    assert extract_date("下周五", "zh", wednesday) == D(2026, 12, 4)
    assert extract_date("Friday", "en", wednesday) == D(2026, 11, 27)
    assert extract_date("这周五", "zh", wednesday) == D(2026, 11, 27)


def test_weekday_said_on_that_day_is_next_week() -> None:
    assert extract_date("Saturday", "en", TODAY) == D(2026, 12, 5)
    assert extract_date("周六", "zh", TODAY) == D(2026, 12, 5)


def test_day_missing_from_this_month_moves_on() -> None:
    assert extract_date("the 31st", "en", TODAY) == D(2026, 12, 31)


@pytest.mark.parametrize(
    "text",
    [
        "I can pay 200",
        "i can do fifty",
        "两千块",
        "April 12th 1985",
        "12/04/1985",
        "1990年8月8日",
        "九零年八月八号",
        "call me at 5",
        "上周五",
        "I may pay later",
        "200 a week",
        "this weekend",
        "first I want to know who you are",
        "",
    ],
)
def test_no_payment_date(text: str) -> None:
    assert extract_date(text, detect_language(text), TODAY) is None


BIRTH_DATES: list[tuple[str, str, dt.date]] = [
    ("April 12th 1985", "en-US", D(1985, 4, 12)),
    ("april 12, 1985", "en-US", D(1985, 4, 12)),
    ("12 April 1985", "en-GB", D(1985, 4, 12)),
    ("the 12th of April, 1985", "en-GB", D(1985, 4, 12)),
    ("1985-04-12", "en-US", D(1985, 4, 12)),
    ("12/04/1985", "en-US", D(1985, 12, 4)),
    ("12/04/1985", "en-GB", D(1985, 4, 12)),
    ("12.04.1985", "en-GB", D(1985, 4, 12)),
    ("12/04/85", "en-GB", D(1985, 4, 12)),
    ("30/11/1979", "en-GB", D(1979, 11, 30)),
    ("11/30/1979", "en-US", D(1979, 11, 30)),
    ("30/11/1979", "en-US", D(1979, 11, 30)),  # only one reading is possible
    ("1990/08/08", "zh-CN", D(1990, 8, 8)),
    ("08/08/1990", "zh-CN", D(1990, 8, 8)),
    ("13/12/1985", "zh-CN", D(1985, 12, 13)),
    ("04121985", "en-US", D(1985, 4, 12)),
    ("04121985", "en-GB", D(1985, 12, 4)),
    ("19850412", "en-US", D(1985, 4, 12)),
    ("april twelfth nineteen eighty five", "en-US", D(1985, 4, 12)),
    ("april twelve nineteen eighty-five", "en-US", D(1985, 4, 12)),
    ("twelfth of april nineteen eighty five", "en-GB", D(1985, 4, 12)),
    ("march third two thousand and five", "en-US", D(2005, 3, 3)),
    ("my date of birth is 30 november 1979", "en-GB", D(1979, 11, 30)),
    ("thirtieth of november nineteen seventy nine", "en-GB", D(1979, 11, 30)),
    ("1990年8月8日", "zh-CN", D(1990, 8, 8)),
    ("1990年8月8号", "zh-CN", D(1990, 8, 8)),
    ("我是1990年08月08日出生的", "zh-CN", D(1990, 8, 8)),
    ("九零年八月八号", "zh-CN", D(1990, 8, 8)),
    ("零五年三月二号", "zh-CN", D(2005, 3, 2)),
    ("一九九零年八月八日", "zh-CN", D(1990, 8, 8)),
    ("九零年十二月二十三号", "zh-CN", D(1990, 12, 23)),
    ("90年8月8日", "zh-CN", D(1990, 8, 8)),
]


@pytest.mark.parametrize(("text", "locale", "expected"), BIRTH_DATES)
def test_extract_birth_date(text: str, locale: str, expected: dt.date) -> None:
    assert extract_birth_date(text, detect_language(text), locale) == expected


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("February 30 1985", "en-US"),
        ("31/04/1985", "en-GB"),
        ("13/13/1985", "en-US"),
        ("12/04/1985", "zh-CN"),  # ambiguous without a locale order
        ("April 12th", "en-US"),
        ("八月八号", "zh-CN"),
        ("I can pay 200", "en-US"),
        ("", "en-US"),
    ],
)
def test_no_birth_date(text: str, locale: str) -> None:
    assert extract_birth_date(text, detect_language(text), locale) is None


def ctx(default_currency: str | None = None, locale: str = "en-US") -> AnalysisContext:
    return AnalysisContext(today=TODAY, locale=locale, default_currency=default_currency)


@pytest.mark.parametrize(
    ("text", "context", "expected"),
    [
        (
            "I can pay 200 dollars next Friday",
            ctx("USD"),
            Entities(amount=Amount(value=Decimal(200), currency="USD"), date=D(2026, 12, 4)),
        ),
        (
            "下周五还两千",
            ctx("CNY", "zh-CN"),
            Entities(amount=Amount(value=Decimal(2000), currency="CNY"), date=D(2026, 12, 4)),
        ),
        (
            "a hundred bucks on the 15th",
            ctx(),
            Entities(amount=Amount(value=Decimal(100), currency="USD"), date=D(2026, 12, 15)),
        ),
        (
            "15号还五百",
            ctx("CNY", "zh-CN"),
            Entities(amount=Amount(value=Decimal(500), currency="CNY"), date=D(2026, 12, 15)),
        ),
        (
            "it's April 12th 1985",
            ctx("USD"),
            Entities(birth_date=D(1985, 4, 12)),
        ),
        (
            "12/04/1985",
            ctx("GBP", "en-GB"),
            Entities(birth_date=D(1985, 4, 12)),
        ),
        (
            "九零年八月八号",
            ctx("CNY", "zh-CN"),
            Entities(birth_date=D(1990, 8, 8)),
        ),
        (
            "I'll pay it all on 2026-12-03",
            ctx("USD"),
            Entities(date=D(2026, 12, 3), full_amount=True),
        ),
        (
            "我下个月全部还清",
            ctx("CNY", "zh-CN"),
            Entities(date=D(2026, 12, 1), full_amount=True),
        ),
        ("I filed chapter 7", ctx("USD"), Entities()),
    ],
)
def test_extract_entities(text: str, context: AnalysisContext, expected: Entities) -> None:
    found = extract_entities(text, detect_language(text), context)
    assert found.model_dump(exclude={"amount": {"text"}}) == expected.model_dump(
        exclude={"amount": {"text"}}
    )


def test_birth_date_is_never_the_payment_date() -> None:
    found = extract_entities("born April 12th 1985, I'll pay Friday", "en", ctx("USD"))
    assert found.birth_date == D(1985, 4, 12)
    assert found.date == D(2026, 12, 4)


def test_recent_full_date_is_a_payment_date_not_a_birth_date() -> None:
    found = extract_entities("2026-12-03", "en", ctx("USD"))
    assert found.date == D(2026, 12, 3)
    assert found.birth_date is None


@pytest.mark.parametrize(
    "text",
    ["i paid it last month", "could i pay it off over a few months?", "this weekend", "200 a week"],
)
def test_dateparser_is_not_asked_when_no_span_is_counted_ahead(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(text: str, today: dt.date) -> dt.date | None:
        raise AssertionError(f"dateparser asked about {text!r}")

    monkeypatch.setattr(entities, "_dateparser_date", never)
    assert extract_date(text, "en", TODAY) is None


def _corpus() -> list[str]:
    texts = [text for text, *_ in AMOUNTS] + [text for text, _ in DATES]
    texts += [text for text, *_ in BIRTH_DATES] + ["pay 5号 ok", "明天 tomorrow", "2026-12-03"]
    for name in ("train.jsonl", "test.jsonl"):
        with (PROJECT_ROOT / "data" / name).open(encoding="utf-8") as lines:
            texts += [json.loads(line)["text"] for line in lines]
    return texts


def test_rules_skipped_by_script_change_no_claim() -> None:
    """Date rules are skipped where the text lacks their script; every claim must stay."""
    corpus = _corpus()
    for rules, by_script in (
        (DATE_RULES, entities._DATE_RULES_BY_SCRIPT),
        (BIRTH_RULES, entities._BIRTH_RULES_BY_SCRIPT),
    ):
        for text in corpus:
            norm = entities._forms(text)[1]
            skipping = entities._claim(entities._readable(by_script, norm), norm)
            assert [(m.span(), how) for m, how in skipping] == [
                (m.span(), how) for m, how in entities._claim(rules, norm)
            ], text


def test_rules_are_skipped_by_script() -> None:
    def readable(text: str) -> list[re.Pattern[str]]:
        return [p for p, _ in entities._readable(entities._DATE_RULES_BY_SCRIPT, text)]

    assert entities.ZH_DATE_PATTERNS.isdisjoint(readable("next friday"))
    assert entities.EN_DATE_PATTERNS.isdisjoint(readable("下周五"))
    assert len(readable("下周五 ok")) == len(DATE_RULES)
    assert len(readable("12/04/1985")) == len(DATE_RULES) - 23


@pytest.mark.parametrize(
    ("text", "every"),
    [
        ("I can pay 20 a week", "week"),
        ("20 quid a week from friday", "week"),  # a rate, then its start
        ("50 per week", "week"),
        ("weekly payments of 50", "week"),
        ("I can do 20 every two weeks", "fortnight"),
        ("I can pay fortnightly", "fortnight"),
        ("could I pay monthly, like 20 dollars a month", "month"),
        ("每周还五百", "week"),
        ("每两周还一千", "fortnight"),
        ("五百一个月", "month"),
        ("月供两千", "month"),
        # Dates and income said with the same words are not how often they will pay.
        ("I'll pay in a week", None),
        ("a week on friday", None),
        ("I can pay 50, a month from now", None),
        ("I get paid weekly", None),
        ("我每个月工资才三千", None),
        ("我500一个月后还", None),
        ("两周以后还", None),
        ("can I set up a payment plan", None),
    ],
)
def test_how_often_a_sum_is_offered(text: str, every: str | None) -> None:
    entities = extract_entities(text, detect_language(text), ctx())
    assert entities.every == every
