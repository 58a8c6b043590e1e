"""PII redaction: what must go (cards, bank accounts, SSNs, CN IDs, phones, EN and ZH) and what
must stay (amounts, dates of birth, years, short and reference numbers).

Every number here is generated: checksums are computed by the helpers below, phone numbers are
libphonenumber's example numbers.
"""

from __future__ import annotations

import itertools
import re

import phonenumbers
import pytest

from agent.compliance.redact import PLACEHOLDERS, Redaction, find_pii, redact

# --- generated test numbers -------------------------------------------------------------------


def luhn(prefix: str) -> str:
    """`prefix` plus the check digit that makes it Luhn-valid."""
    total = 0
    for index, char in enumerate(reversed(prefix)):
        value = int(char) * (1 if index % 2 else 2)
        total += value - 9 if value > 9 else value
    return prefix + str(-total % 10)


def luhn_bad(prefix: str) -> str:
    good = luhn(prefix)
    return good[:-1] + str((int(good[-1]) + 1) % 10)


def cn_id(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return (
        first17 + "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights, strict=True)) % 11]
    )


def cn_id_bad(first17: str) -> str:
    good = cn_id(first17)
    return good[:-1] + ("0" if good[-1] != "0" else "1")


def iban(country: str, bban: str) -> str:
    number = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    return f"{country}{98 - number % 97:02d}{bban}"


def aba(first8: str) -> str:
    total = sum(int(c) * w for c, w in zip(first8, (3, 7, 1, 3, 7, 1, 3, 7), strict=True))
    return first8 + str(-total % 10)


def grouped(digits: str, size: int = 4, sep: str = " ") -> str:
    return sep.join(digits[i : i + size] for i in range(0, len(digits), size))


def example_phone(region: str, kind: int, fmt: int) -> str:
    number = phonenumbers.example_number_for_type(region, kind)
    assert number is not None
    return phonenumbers.format_number(number, fmt)


def digits(text: str) -> str:
    return "".join(re.findall(r"[0-9]", text))


FIXED, MOBILE = phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE
NATIONAL, INTL = (
    phonenumbers.PhoneNumberFormat.NATIONAL,
    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
)

VISA = luhn("411111111111111")
MASTERCARD = luhn("555555555555444")
AMEX = luhn("37828224631000")
UNIONPAY_19 = luhn("622202123456789012")
UNIONPAY_16 = luhn("621700001234567")
ID_18 = cn_id("11010119900307123")
ID_X = next(i for i in (cn_id(f"4403051985041200{n}") for n in range(10)) if i.endswith("X"))
ID_15 = "110101900307123"
GB_IBAN = iban("GB", "WEST12345698765432")
DE_IBAN = iban("DE", "370400440532013000")
ROUTING = aba("02100002")
US_PHONE = example_phone("US", FIXED, NATIONAL)  # (201) 555-0123
US_PHONE_INTL = example_phone("US", FIXED, INTL)
GB_PHONE = example_phone("GB", FIXED, NATIONAL)  # 0121 234 5678
GB_MOBILE_INTL = example_phone("GB", MOBILE, INTL)
CN_MOBILE = digits(example_phone("CN", MOBILE, NATIONAL))  # 13123456789
CN_MOBILE_INTL = example_phone("CN", MOBILE, INTL)
CN_FIXED = example_phone("CN", FIXED, NATIONAL)

# --- positives: (text, [(kind, exact span text), ...]) ------------------------------------------

POSITIVES: list[tuple[str, list[tuple[str, str]]]] = [
    # cards
    (f"my card is {grouped(VISA)} expiring 12/27", [("card", grouped(VISA))]),
    (f"card {grouped(MASTERCARD, sep='-')} thanks", [("card", grouped(MASTERCARD, sep="-"))]),
    (
        f"use {AMEX[:4]} {AMEX[4:10]} {AMEX[10:]}",
        [("card", f"{AMEX[:4]} {AMEX[4:10]} {AMEX[10:]}")],
    ),
    (f"the long number is {VISA}", [("card", VISA)]),
    (f"mastercard {luhn('222100000000000')}", [("card", luhn("222100000000000"))]),
    (f"dots {grouped(VISA, sep='.')} ok", [("card", grouped(VISA, sep="."))]),
    (f"it's {' '.join(VISA)} okay", [("card", " ".join(VISA))]),  # ASR, digit by digit
    (f"我的卡号是{UNIONPAY_19}", [("card", UNIONPAY_19)]),
    (f"用这张卡{grouped(UNIONPAY_16)}还款", [("card", grouped(UNIONPAY_16))]),
    (f"卡号{luhn_bad('622202123456789012')}", [("card", luhn_bad("622202123456789012"))]),
    (
        "我的卡号是６２２２０２１２３４５６７８９０１２８",
        [("card", "６２２２０２１２３４５６７８９０１２８")],
    ),
    # bank accounts
    (f"IBAN {grouped(GB_IBAN)} please", [("bank_account", grouped(GB_IBAN))]),
    (f"iban {DE_IBAN.lower()}", [("bank_account", DE_IBAN.lower())]),
    (f"我的账户是{DE_IBAN}，谢谢", [("bank_account", DE_IBAN)]),
    ("pay into 20-45-77 31926819 today", [("bank_account", "20-45-77 31926819")]),
    ("sort code 204577", [("bank_account", "204577")]),
    (f"routing number {ROUTING}", [("bank_account", ROUTING)]),
    (f"{ROUTING} 4455667788", [("bank_account", f"{ROUTING} 4455667788")]),
    ("account number 31926819", [("bank_account", "31926819")]),
    ("my acct # is 0012-3456-7890", [("bank_account", "0012-3456-7890")]),
    ("a/c 7788990011", [("bank_account", "7788990011")]),
    ("我的账号是9558801234567890", [("bank_account", "9558801234567890")]),
    ("银行账户：1234 5678 9012", [("bank_account", "1234 5678 9012")]),
    # SSN
    ("my ssn is 123-45-6789", [("ssn", "123-45-6789")]),
    ("it's 234-56-7890 I think", [("ssn", "234-56-7890")]),
    ("SSN 123456789", [("ssn", "123456789")]),
    ("social security number is 123 45 6789", [("ssn", "123 45 6789")]),
    ("my social is 1 2 3 4 5 6 7 8 9", [("ssn", "1 2 3 4 5 6 7 8 9")]),
    ("社会安全号123-45-6789", [("ssn", "123-45-6789")]),
    # CN resident ID
    (f"身份证号{ID_18}", [("cn_id", ID_18)]),
    (f"身份证号码是{ID_X}", [("cn_id", ID_X)]),
    (f"身份证号{ID_X.lower()}谢谢", [("cn_id", ID_X.lower())]),
    (
        f"ID {ID_18[:6]} {ID_18[6:14]} {ID_18[14:]}",
        [("cn_id", f"{ID_18[:6]} {ID_18[6:14]} {ID_18[14:]}")],
    ),
    (f"my Chinese ID is {ID_18}.", [("cn_id", ID_18)]),
    (f"老身份证{ID_15}", [("cn_id", ID_15)]),
    # phones
    (f"call me on {US_PHONE} after 5", [("phone", US_PHONE)]),
    (f"my number is {US_PHONE_INTL}", [("phone", US_PHONE_INTL)]),
    ("office 201-555-0123 ext. 12, ask for me", [("phone", "201-555-0123 ext. 12")]),
    ("it's 2 0 1 5 5 5 0 1 2 3 ok", [("phone", "2 0 1 5 5 5 0 1 2 3")]),
    (f"ring {GB_PHONE} tomorrow", [("phone", GB_PHONE)]),
    (f"mobile {GB_MOBILE_INTL}", [("phone", GB_MOBILE_INTL)]),
    (f"我的手机号是{CN_MOBILE}", [("phone", CN_MOBILE)]),
    (f"电话{CN_MOBILE}谢谢", [("phone", CN_MOBILE)]),
    (f"电话{CN_MOBILE_INTL}", [("phone", CN_MOBILE_INTL)]),
    (f"电话+86{CN_MOBILE}", [("phone", f"+86{CN_MOBILE}")]),
    (f"座机{CN_FIXED}", [("phone", CN_FIXED)]),
    (f"手机tel{CN_MOBILE}", [("phone", CN_MOBILE)]),
    ("手机１３１２３４５６７８９", [("phone", "１３１２３４５６７８９")]),
    # several in one
    (
        "sort code 20-45-77 account 31926819",
        [("bank_account", "20-45-77"), ("bank_account", "31926819")],
    ),
    (
        f"routing {ROUTING} account 4455667788",
        [("bank_account", ROUTING), ("bank_account", "4455667788")],
    ),
    (
        f"Card {grouped(VISA)}, SSN 123-45-6789, call {US_PHONE}; DOB 1985-04-12, owe $1,240.50",
        [("card", grouped(VISA)), ("ssn", "123-45-6789"), ("phone", US_PHONE)],
    ),
    (
        f"我的身份证是{ID_18}，手机{CN_MOBILE}，卡号{UNIONPAY_19}，欠款8600元，生日1990年3月7日",
        [("cn_id", ID_18), ("phone", CN_MOBILE), ("card", UNIONPAY_19)],
    ),
    (  # ASR-ish: lower case, no punctuation, digits read out one by one
        f"uh yeah my card number is {' '.join(VISA)} and my phone is 2 0 1 5 5 5 0 1 2 3 okay",
        [("card", " ".join(VISA)), ("phone", "2 0 1 5 5 5 0 1 2 3")],
    ),
    (
        f"我的卡号是 {grouped(UNIONPAY_19)} 手机 {CN_MOBILE[:3]} {CN_MOBILE[3:7]} {CN_MOBILE[7:]}",
        [
            ("card", grouped(UNIONPAY_19)),
            ("phone", f"{CN_MOBILE[:3]} {CN_MOBILE[3:7]} {CN_MOBILE[7:]}"),
        ],
    ),
    (
        f"IBAN {GB_IBAN}, or 4111 1111 1111 1111 or call {GB_PHONE}",
        [("bank_account", GB_IBAN), ("card", grouped(VISA)), ("phone", GB_PHONE)],
    ),
]

NEGATIVES = [
    # money
    "$1,240.50",
    "I can pay $1240.50 on Friday",
    "£12,000 owed, or 1,234,567 in total",
    "8600元",
    "我能先还两千",
    "还款12,000.00元",
    "银行账户余额123456元",
    "account balance 1234567.50",
    # dates and DOBs
    "1985-04-12",
    "12/04/1985",
    "04.12.1985",
    "my date of birth is 12 04 1985",
    "1990年8月8日",
    "my date of birth is 19900808",
    "出生日期19900808",
    "born 1985-04-12, paid on 2024-03-15 10:30",
    "account number 2024-03-15",
    "12-04-85",
    # short numbers, years, words
    "in 2024 I paid 3 times 450",
    "last four digits 6789",
    "PIN 1234, room 1203, extension 5566",
    "我在2024年还了3次，每次450",
    "version 3.14.15",
    "the account is overdue",
    # invalid checksums or fields
    grouped(luhn_bad("411111111111111")),
    luhn_bad("622202123456789012"),
    iban("GB", "WEST12345698765432").replace("GB82", "GB83"),
    f"身份证号{cn_id_bad('11010119900307123')}",
    f"身份证号{cn_id('11010119901332123')}",  # 13th month
    f"number {cn_id('99010119900307123')}",  # no such province
    "ssn 000-12-3456",
    "ssn 666-12-3456",
    "ssn 912-12-3456",
    "ssn 123-00-4567",
    "ssn 123-45-0000",
    f"routing {luhn_bad('02100002')}",
    "12345678",
    "1234567",
    f"timestamp {luhn('2024031510300')}",  # Luhn-valid, but no card network starts with 2024
    f"epoch millis {luhn('171049860000')}",
    # order and reference numbers
    "order 2014031512",
    "order number: 2015550123",
    f"order number: {VISA}",
    "订单号20240315123",
    "invoice #100234567",
    "ticket 2015550123 is closed",
    "发票号1234567890123456",
]


def _ids(cases: list[tuple[str, list[tuple[str, str]]]]) -> list[str]:
    return [f"{i}-{'+'.join(k for k, _ in expected)}" for i, (_, expected) in enumerate(cases)]


@pytest.mark.parametrize(("text", "expected"), POSITIVES, ids=_ids(POSITIVES))
def test_finds_exact_spans(text: str, expected: list[tuple[str, str]]) -> None:
    found = find_pii(text)
    assert [(r.kind, text[r.start : r.end]) for r in found] == expected


@pytest.mark.parametrize(("text", "expected"), POSITIVES, ids=_ids(POSITIVES))
def test_redacted_text_keeps_no_digits_of_the_value(
    text: str, expected: list[tuple[str, str]]
) -> None:
    out = redact(text)
    for kind, value in expected:
        assert value not in out
        assert digits(value.translate(FULLWIDTH)) not in digits(out.translate(FULLWIDTH))
        assert PLACEHOLDERS[kind] in out


FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


@pytest.mark.parametrize("text", NEGATIVES)
def test_leaves_non_pii_alone(text: str) -> None:
    assert find_pii(text) == []
    assert redact(text) == text


def test_mixed_text_keeps_dates_and_amounts() -> None:
    text = f"DOB 1985-04-12, card {grouped(VISA)}, owe $1,240.50, phone {US_PHONE}"
    out = redact(text)
    assert out == "DOB 1985-04-12, card [CARD], owe $1,240.50, phone [PHONE]"


def test_placeholders() -> None:
    text = f"{VISA} / {DE_IBAN} / 123-45-6789 / 身份证{ID_18} / {US_PHONE_INTL}"
    assert redact(text) == "[CARD] / [BANK ACCOUNT] / [SSN] / 身份证[CN ID] / [PHONE]"


def test_spans_are_sorted_and_disjoint() -> None:
    text = " ; ".join(text for text, _ in POSITIVES)
    found = find_pii(text)
    assert found == sorted(found, key=lambda r: r.start)
    assert all(a.end <= b.start for a, b in itertools.pairwise(found))
    assert Redaction("card", 0, 1) == Redaction("card", 0, 1)


def test_default_region_limits_national_numbers() -> None:
    assert redact(f"ring {GB_PHONE}", "GB") == "ring [PHONE]"
    assert redact(f"ring {GB_PHONE}", "gb") == "ring [PHONE]"
    assert redact(f"ring {GB_PHONE}", "US") == f"ring {GB_PHONE}"
    assert redact(f"call {US_PHONE}", "US") == "call [PHONE]"
    # International forms parse under any region; CN mobiles in Chinese text too.
    assert redact(f"ring {GB_MOBILE_INTL}", "US") == "ring [PHONE]"
    assert redact(f"我的手机号是{CN_MOBILE}", "US") == "我的手机号是[PHONE]"


@pytest.mark.parametrize(
    "text", [text for text, _ in POSITIVES] + NEGATIVES, ids=lambda text: text[:20]
)
def test_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once) == once


def test_empty_and_digitless() -> None:
    assert redact("") == ""
    assert find_pii("no numbers here, 没有数字") == []


def test_never_raises_nor_lengthens_digitless_text() -> None:
    pytest.importorskip("hypothesis")
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=300, deadline=None, database=None)
    # No "@" either: an address without digits is redacted (emails).
    @given(st.text(alphabet=st.characters(exclude_categories=["Nd"], exclude_characters="@＠")))
    def check(text: str) -> None:
        out = redact(text)
        assert len(out) <= len(text)
        assert out == text

    check()


def test_never_raises_and_is_idempotent_on_digit_heavy_text() -> None:
    pytest.importorskip("hypothesis")
    from hypothesis import given, settings
    from hypothesis import strategies as st

    words = ["卡号", "账号", "ssn ", "电话", "account number ", "sort code ", "order ", "身份证"]
    alphabet = st.sampled_from([*"0123456789 -.+()/#Xx:]a号", *words])

    @settings(max_examples=300, deadline=None, database=None)
    @given(st.lists(alphabet, max_size=80).map("".join))
    def check(text: str) -> None:
        once = redact(text)
        assert redact(once) == once
        for r in find_pii(text):
            assert 0 <= r.start < r.end <= len(text)
            assert r.kind in PLACEHOLDERS

    check()
