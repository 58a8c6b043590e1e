"""may_contact: windows at the boundaries, DST, time-zone disagreement, caps, flags."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from agent.compliance.contact import Attempt, FlagState, Subject, may_contact
from agent.compliance.packs import PackLibrary

PACKS = PackLibrary()
NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
SH = ZoneInfo("Asia/Shanghai")
LONDON = ZoneInfo("Europe/London")
NY_PHONE = "+12125550142"
LA_PHONE = "+13105550100"
CN_PHONE = "+8613800138000"


def us_subject(**kwargs: object) -> Subject:
    values: dict[str, object] = {
        "account_id": 1,
        "jurisdiction": "US",
        "region": "NY",
        "address_timezone": "America/New_York",
        "phones": (NY_PHONE,),
    }
    values.update(kwargs)
    return Subject(**values)  # type: ignore[arg-type]


def cn_subject() -> Subject:
    return Subject(1, "CN", None, "Asia/Shanghai", (CN_PHONE,))


def local(zone: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=zone).astimezone(dt.UTC)


@pytest.mark.parametrize(
    ("hour", "minute", "allowed"),
    [(7, 59, False), (8, 0, True), (20, 59, True), (21, 0, False)],
)
def test_us_calling_window_boundaries(hour: int, minute: int, allowed: bool) -> None:
    decision = may_contact(
        PACKS.resolve("US", "NY"), us_subject(), [], "call", local(NY, 2026, 12, 2, hour, minute)
    )
    assert decision.allowed is allowed
    if not allowed:
        assert decision.rules == ["US-TIME"]
        assert decision.next_allowed_at is not None
        assert decision.next_allowed_at.astimezone(NY).time() == dt.time(8, 0)


@pytest.mark.parametrize(
    ("hour", "minute", "allowed"),
    [(21, 59, True), (22, 0, False), (7, 59, False), (8, 0, True)],
)
def test_cn_night_window_boundaries(hour: int, minute: int, allowed: bool) -> None:
    decision = may_contact(
        PACKS.resolve("CN", None), cn_subject(), [], "call", local(SH, 2026, 12, 2, hour, minute)
    )
    assert decision.allowed is allowed
    if not allowed:
        assert decision.rules == ["CN-TIME"]


@pytest.mark.parametrize(
    ("day", "hour", "minute", "allowed"),
    [
        # 8 March 2026: clocks go forward at 02:00 in New York.
        (8, 7, 59, False),
        (8, 8, 0, True),
        (8, 20, 59, True),
        (8, 21, 0, False),
        # 1 November 2026: clocks go back at 02:00.
        (1, 7, 59, False),
        (1, 8, 0, True),
        (1, 21, 0, False),
    ],
)
def test_window_on_dst_change_days(day: int, hour: int, minute: int, allowed: bool) -> None:
    month = 3 if day == 8 else 11
    at = local(NY, 2026, month, day, hour, minute)
    decision = may_contact(PACKS.resolve("US", "NY"), us_subject(), [], "call", at)
    assert decision.allowed is allowed


def test_next_allowed_after_the_evening_cut_off_on_a_dst_day() -> None:
    at = local(NY, 2026, 3, 7, 21, 30)  # the evening before clocks go forward
    decision = may_contact(PACKS.resolve("US", "NY"), us_subject(), [], "call", at)
    assert decision.next_allowed_at == local(NY, 2026, 3, 8, 8, 0)


def test_area_code_and_address_in_different_zones_need_both_inside_the_window() -> None:
    # Address in New York, phone with a Los Angeles area code.
    subject = us_subject(phones=(LA_PHONE,))
    pack = PACKS.resolve("US", "NY")
    at_8am_ny = local(NY, 2026, 12, 2, 8, 0)  # 05:00 in Los Angeles
    decision = may_contact(pack, subject, [], "call", at_8am_ny, number=LA_PHONE)
    assert not decision.allowed and decision.rules == ["US-TIME"]
    assert set(decision.timezones) == {"America/New_York", "America/Los_Angeles"}
    assert decision.next_allowed_at == local(LA, 2026, 12, 2, 8, 0)
    at_9pm_ny = local(NY, 2026, 12, 2, 21, 0)  # 18:00 in Los Angeles
    assert not may_contact(pack, subject, [], "call", at_9pm_ny, number=LA_PHONE).allowed
    at_noon_ny = local(NY, 2026, 12, 2, 12, 0)
    assert may_contact(pack, subject, [], "call", at_noon_ny, number=LA_PHONE).allowed


def test_zone_from_the_phone_when_the_address_has_none() -> None:
    subject = us_subject(address_timezone=None, phones=(LA_PHONE,))
    decision = may_contact(
        PACKS.resolve("US", None), subject, [], "call", local(LA, 2026, 12, 2, 7, 30)
    )
    assert decision.timezones == ["America/Los_Angeles"] and not decision.allowed


def attempts(count: int, start: dt.datetime, **kwargs: object) -> list[Attempt]:
    values: dict[str, object] = {
        "account_id": 1,
        "channel": "call",
        "outcome": "no_answer",
        "number": NY_PHONE,
    }
    values.update(kwargs)
    return [Attempt(at=start + dt.timedelta(hours=i), **values) for i in range(count)]  # type: ignore[arg-type]


def test_seven_in_seven_allows_the_seventh_and_blocks_the_eighth() -> None:
    pack = PACKS.resolve("US", "NY")
    monday = local(NY, 2026, 11, 30, 9, 0)
    history = attempts(6, monday)
    at = local(NY, 2026, 12, 1, 12, 0)
    assert may_contact(pack, us_subject(), history, "call", at).allowed
    history = attempts(7, monday)
    refused = may_contact(pack, us_subject(), history, "call", at)
    assert not refused.allowed and refused.rules == ["US-7IN7"]
    # The oldest attempt leaves the rolling window seven days later.
    assert refused.next_allowed_at == monday + dt.timedelta(days=7)


def test_several_numbers_count_for_one_debt_and_other_debts_do_not() -> None:
    pack = PACKS.resolve("US", "NY")
    start = local(NY, 2026, 11, 30, 9, 0)
    history = attempts(4, start, number=NY_PHONE) + attempts(3, start, number=LA_PHONE)
    at = local(NY, 2026, 12, 1, 12, 0)
    assert not may_contact(pack, us_subject(), history, "call", at).allowed
    other_debt = attempts(7, start, account_id=2)
    assert may_contact(pack, us_subject(), other_debt, "call", at).allowed


def test_inbound_calls_are_not_counted() -> None:
    pack = PACKS.resolve("US", "NY")
    history = attempts(
        7, local(NY, 2026, 11, 30, 9, 0), direction="inbound", outcome="conversation"
    )
    assert may_contact(pack, us_subject(), history, "call", local(NY, 2026, 12, 1, 12, 0)).allowed


@pytest.mark.parametrize(("day", "allowed"), [(1, False), (4, False), (7, False), (8, True)])
def test_a_conversation_on_day_one_blocks_days_one_to_seven(day: int, allowed: bool) -> None:
    pack = PACKS.resolve("US", "NY")
    conversation = [
        Attempt(
            at=local(NY, 2026, 12, 1, 10, 0), account_id=1, channel="call", outcome="conversation"
        )
    ]
    at = local(NY, 2026, 12, day, 15, 0)
    decision = may_contact(pack, us_subject(), conversation, "call", at)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.rules == ["US-7IN7"]
        assert decision.next_allowed_at == local(NY, 2026, 12, 8, 8, 0)


def test_massachusetts_allows_two_communications_in_seven_days() -> None:
    pack = PACKS.resolve("US", "MA")
    subject = us_subject(region="MA")
    start = local(NY, 2026, 11, 30, 9, 0)
    at = local(NY, 2026, 12, 1, 12, 0)
    assert may_contact(pack, subject, attempts(1, start), "call", at).allowed
    two = attempts(1, start) + attempts(1, start, channel="sms")
    refused = may_contact(pack, subject, two, "call", at)
    assert refused.rules == ["US-MA"] and pack.id == "us+MA"
    assert may_contact(PACKS.resolve("US", "NY"), us_subject(), two, "call", at).allowed


def test_cn_fourth_effective_conversation_in_a_day_is_blocked() -> None:
    pack = PACKS.resolve("CN", None)
    morning = local(SH, 2026, 12, 2, 9, 0)
    talks = attempts(3, morning, outcome="conversation", number=CN_PHONE)
    decision = may_contact(
        pack, cn_subject(), talks, "call", local(SH, 2026, 12, 2, 15, 0), number=CN_PHONE
    )
    assert not decision.allowed and decision.rules == ["CN-FREQ"]
    assert decision.next_allowed_at == local(SH, 2026, 12, 3, 8, 0)
    assert may_contact(
        pack, cn_subject(), talks[:2], "call", local(SH, 2026, 12, 2, 15, 0), number=CN_PHONE
    ).allowed


def test_cn_seventh_unanswered_attempt_to_a_number_is_blocked() -> None:
    pack = PACKS.resolve("CN", None)
    morning = local(SH, 2026, 12, 2, 8, 0)
    missed = attempts(6, morning, outcome="no_answer", number=CN_PHONE)
    at = local(SH, 2026, 12, 2, 16, 0)
    assert not may_contact(pack, cn_subject(), missed, "call", at, number=CN_PHONE).allowed
    assert may_contact(pack, cn_subject(), missed, "call", at, number="+8613900139000").allowed
    assert may_contact(pack, cn_subject(), missed[:5], "call", at, number=CN_PHONE).allowed


@pytest.mark.parametrize(
    ("flag", "rule"),
    [
        ("cease_contact", "US-CEASE"),
        ("attorney", "US-ATTY"),
        ("bankruptcy", "ALL-CEASE"),
        ("dispute", "US-DISPUTE"),
    ],
)
def test_blocking_flags_stop_collection_calls(flag: str, rule: str) -> None:
    subject = us_subject(flags={flag: FlagState(local(NY, 2026, 11, 1, 9, 0))})
    decision = may_contact(
        PACKS.resolve("US", "NY"), subject, [], "call", local(NY, 2026, 12, 2, 12, 0)
    )
    assert not decision.allowed and rule in decision.rules
    assert decision.next_allowed_at is None


def test_cease_allows_one_final_confirmation_only() -> None:
    set_at = local(NY, 2026, 12, 1, 9, 0)
    subject = us_subject(flags={"cease_contact": FlagState(set_at)})
    pack = PACKS.resolve("US", "NY")
    at = local(NY, 2026, 12, 2, 12, 0)
    assert may_contact(pack, subject, [], "sms", at, purpose="cease_confirmation").allowed
    sent = [
        Attempt(
            at=set_at + dt.timedelta(hours=2),
            account_id=1,
            channel="sms",
            purpose="cease_confirmation",
        )
    ]
    assert not may_contact(pack, subject, sent, "sms", at, purpose="cease_confirmation").allowed


def test_medium_opt_out_blocks_only_that_medium() -> None:
    subject = us_subject(flags={"optout_sms": FlagState(local(NY, 2026, 11, 1, 9, 0))})
    pack = PACKS.resolve("US", "NY")
    at = local(NY, 2026, 12, 2, 12, 0)
    assert may_contact(pack, subject, [], "sms", at).rules == ["US-MEDIUM"]
    assert may_contact(pack, subject, [], "call", at).allowed


def test_no_contact_at_work_hours_when_the_debtor_said_so() -> None:
    subject = us_subject(flags={"no_work_contact": FlagState(local(NY, 2026, 11, 1, 9, 0))})
    pack = PACKS.resolve("US", "NY")
    refused = may_contact(pack, subject, [], "call", local(NY, 2026, 12, 2, 10, 0))  # a Wednesday
    assert refused.rules == ["US-WORK"] and refused.next_allowed_at == local(NY, 2026, 12, 2, 17, 0)
    assert may_contact(pack, subject, [], "call", local(NY, 2026, 12, 5, 10, 0)).allowed  # Saturday


def test_uk_breathing_space_blocks_until_it_ends() -> None:
    ends = local(LONDON, 2027, 1, 30, 0, 0)
    subject = Subject(
        1,
        "UK",
        None,
        "Europe/London",
        (),
        {"breathing_space": FlagState(local(LONDON, 2026, 12, 1, 9, 0), ends)},
    )
    pack = PACKS.resolve("UK", None)
    refused = may_contact(pack, subject, [], "call", local(LONDON, 2026, 12, 2, 12, 0))
    assert refused.rules == ["UK-BS"]
    assert refused.next_allowed_at == local(LONDON, 2027, 1, 30, 8, 0)
    assert may_contact(pack, subject, [], "call", local(LONDON, 2027, 1, 30, 12, 0)).allowed
