"""Property-based fuzzing of the entity extractor (agent/nlp/entities.py), EN and ZH.

Whatever a debtor types, extraction returns values or None and never raises; an amount is
never negative and is read from the text itself; a payment date is never long past; and
amounts and dates written in the common valid forms come back exactly."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import cn2an
from hypothesis import given
from hypothesis import strategies as st

from agent.domain import AnalysisContext
from agent.nlp.entities import (
    extract_amount,
    extract_birth_date,
    extract_date,
    extract_entities,
)
from tests.conftest import FIXED_NOW
from tests.fuzz.profile import FUZZ

TODAY = FIXED_NOW.date()
WORDS = [
    "pay", "$", "£", "€", "¥", "元", "块", "万", "千", "百", "k", "grand", "dollars", "quid",
    "next", "friday", "week", "month", "the", "15th", "号", "下周五", "月底", "两千", "一万二",
    "on", "by", "in", "days", "年", "月", "日", "/", "-", ".", ",", "1990", "twenty", "hundred",
    "and", "a", "chapter", "7", "500", "1,240.50", "九零", "后天", "tomorrow", "2026-12-03",
]  # fmt: skip
# Text built from the extractor's own vocabulary reaches far more rules than random text.
debtor_text = st.text(max_size=120) | st.lists(
    st.sampled_from(WORDS) | st.integers(0, 10**7).map(str) | st.text(max_size=4),
    max_size=14,
).map(" ".join)
languages = st.sampled_from(["en", "zh"])
locales = st.sampled_from(["en-US", "en-GB", "zh-CN"])


def _compact(text: str) -> str:
    return "".join(text.split())


@FUZZ
@given(debtor_text, languages, st.sampled_from([None, "USD", "CNY"]))
def test_amounts_are_non_negative_and_come_from_the_text(
    text: str, language: str, default: str | None
) -> None:
    amount = extract_amount(text, language, default)  # type: ignore[arg-type]
    if amount is None:
        return
    assert amount.value >= 0
    assert amount.value.is_finite()
    assert amount.text and _compact(amount.text) in _compact(text)
    assert amount.currency in (None, default, "USD", "GBP", "EUR", "CNY")


@FUZZ
@given(debtor_text, languages)
def test_payment_dates_are_never_long_past(text: str, language: str) -> None:
    date = extract_date(text, language, TODAY)  # type: ignore[arg-type]
    assert date is None or date >= TODAY - dt.timedelta(days=365)


@FUZZ
@given(debtor_text, languages, locales)
def test_entities_never_raise(text: str, language: str, locale: str) -> None:
    ctx = AnalysisContext(locale=locale, today=TODAY, default_currency="USD")
    entities = extract_entities(text, language, ctx)  # type: ignore[arg-type]
    if entities.birth_date is not None:
        # Only a full date more than a year old is a date of birth.
        assert entities.birth_date < TODAY - dt.timedelta(days=365)
    assert entities.date is None or entities.date != entities.birth_date


@FUZZ
@given(
    st.integers(10, 999_999),
    st.sampled_from(
        [("$", "", "USD"), ("£", "", "GBP"), ("", " dollars", "USD"), ("", "元", "CNY")]
    ),
    st.sampled_from(["I can pay ", "", "maybe ", "我可以还"]),
)
def test_marked_amounts_are_read_exactly(
    value: int, marks: tuple[str, str, str], lead: str
) -> None:
    prefix, suffix, currency = marks
    amount = extract_amount(f"{lead}{prefix}{value}{suffix}", "en")
    assert amount is not None
    assert (amount.value, amount.currency) == (Decimal(value), currency)


@FUZZ
@given(st.integers(1, 99_999))
def test_chinese_numerals_with_a_currency_are_read_exactly(value: int) -> None:
    numeral = cn2an.an2cn(value)
    amount = extract_amount(f"下周还{numeral}块", "zh")
    assert amount is not None
    assert (amount.value, amount.currency) == (Decimal(value), "CNY")


@FUZZ
@given(st.dates(min_value=dt.date(1920, 1, 1), max_value=dt.date(2024, 12, 31)), locales)
def test_full_birth_dates_round_trip(birth: dt.date, locale: str) -> None:
    for written in (
        birth.isoformat(),
        f"{birth.year}年{birth.month}月{birth.day}日",
        birth.strftime("%B ") + f"{birth.day}, {birth.year}",
    ):
        assert extract_birth_date(written, "en", locale) == birth, written


@FUZZ
@given(st.integers(1, 28), st.integers(0, 6))
def test_days_of_month_and_weekdays_resolve_ahead(day: int, weekday: int) -> None:
    date = extract_date(f"{day}号", "zh", TODAY)
    assert date is not None and date.day == day and TODAY <= date <= TODAY + dt.timedelta(days=62)
    name = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"][weekday]
    upcoming = extract_date(f"on {name}", "en", TODAY)
    assert upcoming is not None and upcoming.weekday() == weekday
    assert TODAY < upcoming <= TODAY + dt.timedelta(days=7)
