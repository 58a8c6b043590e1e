"""compliance.redact: find and mask personal data (cards, bank accounts, SSNs, CN IDs, phones,
emails).

The analyzer reads the raw text; what is stored or logged goes through `redact`. Each rule
checks a checksum, a structure, or a keyword just before the number, so amounts, dates, years
and short numbers stay: a masked date of birth would break identity verification.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import phonenumbers

KINDS = ("card", "bank_account", "ssn", "cn_id", "phone", "email")
# [CARD], [BANK ACCOUNT], [SSN], [CN ID], [PHONE], [EMAIL]: no digits and no "@", so redacting
# twice changes nothing.
PLACEHOLDERS = {kind: "[" + kind.replace("_", " ").upper() + "]" for kind in KINDS}
DEFAULT_REGIONS = ("US", "GB", "CN")


@dataclass(frozen=True)
class Redaction:
    kind: str  # a key of PLACEHOLDERS
    start: int
    end: int


# One character for one, so offsets in the normalised text are offsets in the original.
_FULLWIDTH = str.maketrans("０１２３４５６７８９＋－（）Ｘｘ\u3000＠", "0123456789+-()Xx @")
_F = re.ASCII | re.IGNORECASE
_L = r"(?<![0-9A-Za-z])"  # no digit or Latin letter on either side (CJK is fine)
_R = r"(?![0-9A-Za-z])"
_RUN = r"[0-9]++(?:[ .\-][0-9]++)*+"  # digit groups joined by one space, dash or dot
# Words between a keyword and its number: never a digit, a placeholder bracket or a sentence end.
_FILL = r"[^0-9\[\]\n。！？!?]{0,16}?"

_ANY_DIGIT = re.compile(r"[0-9]")
# An address as people type it (ASCII; CJK around it is fine): local@host.tld.
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9\-])",
    re.ASCII,
)
_GROUP = re.compile(r"[0-9]+")
_CJK = re.compile(r"[\u3400-\u9fff]")
_CARD_RUN = re.compile(r"(?<![0-9A-Za-z+])" + _RUN + _R)
_PHONEISH = re.compile(
    r"[+(]?[0-9](?:[ ().\-]{1,2}[0-9]|[0-9])*+(?: ?(?:x|ext\.?) ?[0-9]{1,6})?", _F
)
_IIN = re.compile(r"2(?:22[1-9]|2[3-9]|[3-6]|7[01]|720)|[3-6]")  # a card network's prefix
_CN_MOBILE = re.compile(r"(?<![0-9])(?:\+?86[ \-]?)?1[3-9][0-9](?:[ \-]?[0-9]){8}(?![0-9])")
_SSN = re.compile(_L + r"(?<!-)[0-9]{3}-[0-9]{2}-[0-9]{4}" + _R + r"(?!-[0-9])")
_CN_ID = re.compile(_L + r"(?<![0-9][ \-])[1-8][0-9](?:[ \-]?[0-9]){15}[ \-]?[0-9X]" + _R, _F)
_IBAN = re.compile(_L + r"[A-Z]{2}[0-9]{2}[A-Z0-9]*+(?: [A-Z0-9]++){0,9}", _F)
_UK_PAIR = re.compile(_L + r"[0-9]{2}-[0-9]{2}-[0-9]{2}[ ,/]{1,2}[0-9]{8}" + _R)


def _code_then_account(keyword: str, code: str, account: str) -> re.Pattern[str]:
    then = _FILL + r"\b(?:account|acct|a/c)\b" + _FILL
    return re.compile(f"{keyword}{_FILL}({code})(?![0-9])(?:{then}({account})(?![0-9]))?", _F)


_SORT_CODE = _code_then_account(r"\bsort\s*code", "[0-9]{2}[ -]?[0-9]{2}[ -]?[0-9]{2}", "[0-9]{8}")
_ROUTING = _code_then_account(r"\b(?:routing|aba|rtn)\b", "[0-9]{9}", "[0-9](?:[ -]?[0-9]){3,16}")
_ROUTING_PAIR = re.compile(_L + r"([0-9]{9})[ \-/]([0-9]{6,17})" + _R)
_ACCOUNT_WORDS = r"\ba(?:ccount\s*(?:number|no|#)|cct\b|/c\b)|[账帐]户?号|银行[账帐]户"
# kind, keyword, fewest and most digits of the number that follows.
_CONTEXTS = [
    (kind, re.compile("(?:" + words + ")" + _FILL + "(" + _RUN + ")" + _R, _F), low, high)
    for kind, words, low, high in (
        ("ssn", r"\bssn\b|\bsocial(?:\s+security)?\b|社会安全号|社安号", 9, 9),
        ("cn_id", r"身份证|\bid\s*card\b|\bidentity\s+card\b|\bid\s+number\b", 15, 15),
        ("card", r"\bcard\s*(?:number|no|#)|卡号|银行卡", 12, 19),
        ("bank_account", _ACCOUNT_WORDS, 6, 20),
    )
]
_UNIT_AFTER = re.compile(
    r"\s*(?:元|块|圆|角|万|千|百|美元|英镑|dollars?\b|pounds?\b|bucks\b|usd\b|gbp\b|rmb\b|cny\b|yuan\b|%)",
    _F,
)
# Dates and decimal amounts: never account numbers, whatever keyword comes first.
_DATE_OR_AMOUNT = re.compile(
    r"(?<![0-9])(?:[0-9]{4}([-./])[0-9]{1,2}\1[0-9]{1,2}|[0-9]{1,2}([-./])[0-9]{1,2}\2[0-9]{2,4}"
    r"|[0-9]+\.[0-9]{1,2})(?![0-9]|[-./][0-9])"
)
# An order, invoice or ticket number is not a phone or a card even when it looks like one.
_REFERENCE_BEFORE = re.compile(
    r"(?:\b(?:order|invoice|ref|reference|case|ticket|tracking|confirmation)"
    r"(?:\s*(?:number|no\.?|num|id|#))?|订单号?|单号|编号|发票号?|快递单?号?)[\s:：#是为]{0,4}$",
    _F,
)
_PROVINCE = re.compile(r"1[1-5]|2[1-3]|3[1-7]|4[1-6]|5[0-4]|6[1-5]|71|8[1-3]")
_IBAN_COUNTRIES = re.compile(
    "A[DELTZ]|B[AEGHIRY]|C[HRYZ]|D[EJKO]|E[EGS]|F[IKOR]|G[BEILRT]|H[RU]|I[ELQST]|JO|K[WZ]|L[BCITUVY]"
    "|M[CDEKNRTU]|N[ILO]|OM|P[KLST]|QA|R[OSU]|S[ACDEIKMOTV]|T[LNR]|UA|V[AG]|XK|YE"
)
_VALID = phonenumbers.Leniency.VALID
_CN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def luhn_ok(digits: str) -> bool:
    doubled = "".join(str(int(c) * 2) for c in digits[-2::-2])
    return sum(map(int, digits[-1::-2] + doubled)) % 10 == 0


def iban_ok(iban: str) -> bool:
    iban = iban.upper()
    if not 15 <= len(iban) <= 34 or not _IBAN_COUNTRIES.fullmatch(iban[:2]) or not iban.isalnum():
        return False
    return int("".join(str(int(c, 36)) for c in iban[4:] + iban[:4])) % 97 == 1


def aba_ok(digits: str) -> bool:
    prefix = int(digits[:2])  # a Federal Reserve district, thrift or electronic range
    known = prefix <= 12 or 21 <= prefix <= 32 or 61 <= prefix <= 72 or prefix == 80
    return known and sum(int(c) * w for c, w in zip(digits, (3, 7, 1) * 3, strict=True)) % 10 == 0


def ssn_ok(digits: str) -> bool:
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def cn_id_ok(value: str) -> bool:
    """18 characters with the GB 11643 check, or 15 legacy digits; a province, a real birth date."""
    value, legacy = value.upper(), len(value) == 15
    if not _PROVINCE.fullmatch(value[:2]) or not (value if legacy else value[:-1]).isdigit():
        return False
    birth = "19" + value[6:12] if legacy else value[6:14]
    try:
        born = date(int(birth[:4]), int(birth[4:6]), int(birth[6:]))
    except ValueError:
        return False
    total = sum(int(c) * w for c, w in zip(value, _CN_WEIGHTS, strict=False))
    checked = legacy or (len(value) == 18 and "10X98765432"[total % 11] == value[17])
    return checked and date(1900, 1, 1) <= born <= date.today()


def _cn_mobile_ok(digits: str) -> bool:
    return phonenumbers.is_valid_number(phonenumbers.parse(digits.removeprefix("86"), "CN"))


def _digits(text: str) -> str:
    return "".join(_GROUP.findall(text))


def _is_reference(text: str, start: int) -> bool:
    return _REFERENCE_BEFORE.search(text, max(0, start - 30), start) is not None


def _checksummed(text: str) -> Iterator[tuple[str, int, int]]:
    for m in _IBAN.finditer(text):
        tokens = m.group().split(" ")
        for count in range(len(tokens), 0, -1):  # drop trailing words until the checksum holds
            if iban_ok("".join(tokens[:count])):
                yield "bank_account", m.start(), m.start() + len(" ".join(tokens[:count]))
                break
    for m in _CN_ID.finditer(text):
        if cn_id_ok(m.group().replace(" ", "").replace("-", "")):
            yield "cn_id", m.start(), m.end()
    for m in _SSN.finditer(text):
        if ssn_ok(_digits(m.group())):
            yield "ssn", m.start(), m.end()
    for m in _UK_PAIR.finditer(text):
        yield "bank_account", m.start(), m.end()
    for pattern in (_SORT_CODE, _ROUTING):  # the code, and the account number if one follows
        for m in pattern.finditer(text):
            if pattern is _SORT_CODE or aba_ok(m.group(1)):
                yield from (("bank_account", *m.span(g)) for g in (1, 2) if m.group(g))
    for m in _ROUTING_PAIR.finditer(text):
        if aba_ok(m.group(1)) and not _is_reference(text, m.start()):
            yield "bank_account", m.start(), m.end()


def _cards(text: str) -> Iterator[tuple[str, int, int]]:
    """Luhn-valid 13-19 digit windows of digit runs, on group boundaries, with a card's shape."""
    for run in _CARD_RUN.finditer(text):
        groups = list(_GROUP.finditer(text, run.start(), run.end()))
        first = 0
        while first < len(groups):
            taken = first
            for last in range(min(len(groups), first + 19) - 1, first - 1, -1):
                window = groups[first : last + 1]
                sizes = [len(g.group()) for g in window]
                digits = "".join(g.group() for g in window)
                shaped = all(s == 1 for s in sizes) or all(s >= 3 for s in sizes[:-1])
                if 13 <= len(digits) <= 19 and shaped and _IIN.match(digits) and luhn_ok(digits):
                    if not _is_reference(text, window[0].start()):
                        yield "card", window[0].start(), window[-1].end()
                    taken = last
                    break
            first = taken + 1


def _contexts(text: str) -> Iterator[tuple[str, int, int]]:
    for kind, pattern, low, high in _CONTEXTS:
        for m in pattern.finditer(text):
            number = m.group(1)
            digits = _digits(number)
            if not low <= len(digits) <= high or _DATE_OR_AMOUNT.fullmatch(number):
                continue
            if (kind == "ssn" and not ssn_ok(digits)) or (kind == "cn_id" and not cn_id_ok(digits)):
                continue
            if kind in ("card", "bank_account") and _UNIT_AFTER.match(text, m.end(1)):
                continue
            yield kind, m.start(1), m.end(1)


def _phones(text: str, regions: tuple[str, ...], cjk: bool) -> Iterator[tuple[str, int, int]]:
    """`text` has the spans found so far masked, so the matcher sees what a second pass sees."""
    for m in _PHONEISH.finditer(text):
        if len(_digits(m.group())) < 7 or _is_reference(text, m.start()):
            continue
        lo, hi = max(0, m.start() - 1), min(len(text), m.end() + 1)
        order = regions
        if len(regions) > 1 and (cjk or m.group().lstrip("+(")[0] == "0"):
            order = ("CN", "GB", "US") if cjk else ("GB", "CN", "US")
        hits: list[tuple[int, int]] = []
        for region in order:
            matcher = phonenumbers.PhoneNumberMatcher(text[lo:hi], region, leniency=_VALID)
            hits = [(lo + hit.start, lo + hit.end) for hit in matcher]
            if hits:
                break
        if not hits and cjk:  # CN mobiles glued to Latin letters, or under another region
            mobiles = _CN_MOBILE.finditer(text, lo, hi)
            hits = [c.span() for c in mobiles if _cn_mobile_ok(_digits(c.group()))]
        yield from (("phone", s, e) for s, e in hits if not _is_reference(text, s))


def find_pii(text: str, default_region: str | None = None) -> list[Redaction]:
    """Non-overlapping PII spans of `text`, sorted; a stronger rule wins an overlap."""
    text = text.translate(_FULLWIDTH)
    # Emails first: digits inside one (alex1985@...) are part of the address, not a number.
    found = [Redaction("email", *m.span()) for m in _EMAIL.finditer(text)] if "@" in text else []
    if not _ANY_DIGIT.search(text):
        return found

    def add(spans: Iterator[tuple[str, int, int]]) -> None:
        for kind, start, end in spans:
            if all(end <= r.start or start >= r.end for r in found):
                found.append(Redaction(kind, start, end))

    add(_checksummed(text))
    add(_cards(text))
    add(_contexts(text))
    masked = list(text)  # hide from the phone matcher what was found, dates and amounts
    hidden = [(r.start, r.end) for r in found] + [m.span() for m in _DATE_OR_AMOUNT.finditer(text)]
    for start, end in hidden:
        masked[start:end] = "]" * (end - start)
    regions = (default_region.upper(),) if default_region else DEFAULT_REGIONS
    add(_phones("".join(masked), regions, _CJK.search(text) is not None))
    return sorted(found, key=lambda r: r.start)


def redact(text: str, default_region: str | None = None) -> str:
    """`text` with each PII span replaced by its placeholder, e.g. "[CARD]" or "[PHONE]"."""
    parts: list[str] = []
    position = 0
    for r in find_pii(text, default_region):
        parts += (text[position : r.start], PLACEHOLDERS[r.kind])
        position = r.end
    parts.append(text[position:])
    return "".join(parts)
