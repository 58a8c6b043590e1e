"""One input row of a portfolio file, validated, and what is derived from it.

A row is a flat mapping (a CSV record, or a JSON object whose `address` may be nested).
Jurisdiction, region and time zone are derived from the address (and the phones when
the state alone does not say); nothing derived is taken from the file."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers
from phonenumbers import timezone as phone_timezone
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# Country (ISO 3166-1 alpha-2) -> jurisdiction, default currency, default locale.
COUNTRIES: dict[str, tuple[str, str, str]] = {
    "US": ("US", "USD", "en-US"),
    "GB": ("UK", "GBP", "en-GB"),
    "CN": ("CN", "CNY", "zh-CN"),
}
FIXED_ZONES = {"GB": "Europe/London", "CN": "Asia/Shanghai"}
# The zone where most of each state's people live; states split across zones (TX, FL,
# IN, KY, TN, ...) get their majority zone. A state missing here falls back to the
# zones of the debtor's phone numbers.
US_STATE_ZONES = {
    "AL": "America/Chicago", "AK": "America/Anchorage", "AZ": "America/Phoenix",
    "AR": "America/Chicago", "CA": "America/Los_Angeles", "CO": "America/Denver",
    "CT": "America/New_York", "DE": "America/New_York", "DC": "America/New_York",
    "FL": "America/New_York", "GA": "America/New_York", "HI": "Pacific/Honolulu",
    "ID": "America/Boise", "IL": "America/Chicago", "IN": "America/Indiana/Indianapolis",
    "IA": "America/Chicago", "KS": "America/Chicago", "KY": "America/New_York",
    "LA": "America/Chicago", "ME": "America/New_York", "MD": "America/New_York",
    "MA": "America/New_York", "MI": "America/Detroit", "MN": "America/Chicago",
    "MS": "America/Chicago", "MO": "America/Chicago", "MT": "America/Denver",
    "NE": "America/Chicago", "NV": "America/Los_Angeles", "NH": "America/New_York",
    "NJ": "America/New_York", "NM": "America/Denver", "NY": "America/New_York",
    "NC": "America/New_York", "ND": "America/Chicago", "OH": "America/New_York",
    "OK": "America/Chicago", "OR": "America/Los_Angeles", "PA": "America/New_York",
    "RI": "America/New_York", "SC": "America/New_York", "SD": "America/Chicago",
    "TN": "America/Chicago", "TX": "America/Chicago", "UT": "America/Denver",
    "VT": "America/New_York", "VA": "America/New_York", "WA": "America/Los_Angeles",
    "WV": "America/New_York", "WI": "America/Chicago", "WY": "America/Denver",
}  # fmt: skip
US_STATES = frozenset(US_STATE_ZONES) | {"PR", "GU", "VI", "AS", "MP"}
ADDRESS_KEYS = ("line1", "city", "state", "postal_code", "country")
# Column spellings accepted for the address parts, flat or inside `address`.
ALIASES = {
    "address_line1": "line1",
    "region": "state",
    "zip": "postal_code",
    "postcode": "postal_code",
}
CURRENCY = re.compile(r"^[A-Z]{3}$")
LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def flatten(raw: dict[str, Any]) -> dict[str, Any]:
    """A CSV record or JSON object as one flat mapping; blank cells count as absent."""
    flat: dict[str, Any] = {}
    address = raw.get("address")
    sources = [raw, address] if isinstance(address, dict) else [raw]
    for source in sources:
        for key, value in source.items():
            if not isinstance(key, str) or key == "address" or _blank(value):
                continue
            name = key.strip().lower()
            flat[ALIASES.get(name, name)] = value.strip() if isinstance(value, str) else value
    return flat


class PortfolioRow(BaseModel):
    """One account and its debtor. Construct with `parse_row`."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    account_ref: str = Field(min_length=1, max_length=64)
    tenant: str = Field(min_length=1, max_length=64)
    full_name: str = Field(min_length=1, max_length=200)
    given_name: str = Field(default="", max_length=100)
    date_of_birth: dt.date
    phones: list[str] = Field(default_factory=list)
    line1: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=100)
    state: str | None = Field(default=None, max_length=16)
    postal_code: str | None = Field(default=None, max_length=16)
    country: str = Field(min_length=2, max_length=2)
    creditor: str = Field(min_length=1, max_length=200)
    balance: Decimal
    currency: str = ""
    days_past_due: int = Field(ge=0)
    locale: str = ""
    # Derived in the model validator.
    jurisdiction: str = ""
    region: str | None = None
    timezone: str = ""

    @field_validator("date_of_birth", mode="before")
    @classmethod
    def _iso_date(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                raise ValueError("must be an ISO date (YYYY-MM-DD)") from None
        return value

    @field_validator("date_of_birth")
    @classmethod
    def _plausible_birth(cls, value: dt.date) -> dt.date:
        if not dt.date(1900, 1, 1) <= value <= dt.date.today():
            raise ValueError("must be between 1900-01-01 and today")
        return value

    @field_validator("phones", mode="before")
    @classmethod
    def _split_phones(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [p for p in re.split(r"[;|]", value) if p.strip()]
        return value

    @field_validator("balance", mode="before")
    @classmethod
    def _decimal(cls, value: Any) -> Any:
        if isinstance(value, float):  # JSON numbers: keep what was written, not the binary
            return Decimal(repr(value))
        if isinstance(value, str):
            try:
                return Decimal(value)
            except InvalidOperation:
                raise ValueError("must be a number") from None
        return value

    @field_validator("balance")
    @classmethod
    def _money(cls, value: Decimal) -> Decimal:
        if not value.is_finite() or value < 0:
            raise ValueError("must be zero or more")
        if value != value.quantize(Decimal("0.01")):
            raise ValueError("must have at most 2 decimal places")
        if value >= Decimal("1e12"):
            raise ValueError("is too large")
        return value.quantize(Decimal("0.01"))

    @field_validator("days_past_due", mode="before")
    @classmethod
    def _whole(cls, value: Any) -> Any:
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
            return int(value)
        return value

    @model_validator(mode="after")
    def _derive(self) -> PortfolioRow:
        self.country = self.country.upper()
        if self.country not in COUNTRIES:
            raise ValueError(f"country {self.country!r} is not supported (US, GB or CN)")
        self.jurisdiction, default_currency, default_locale = COUNTRIES[self.country]
        self.currency = (self.currency or default_currency).upper()
        if not CURRENCY.match(self.currency):
            raise ValueError("currency must be an ISO 4217 code such as USD")
        self.locale = self.locale or default_locale
        if not LOCALE.match(self.locale):
            raise ValueError("locale must look like en-US")
        self.given_name = self.given_name or self.full_name.split()[0]
        self.phones = [_e164(p, self.country) for p in self.phones]
        if self.country == "US":
            state = (self.state or "").upper()
            if state not in US_STATES:
                raise ValueError("a US address needs a two-letter state code")
            self.state = self.region = state
            zone = US_STATE_ZONES.get(state) or _phone_zone(self.phones)
            if zone is None:
                raise ValueError(f"no time zone known for state {state}; add a phone number")
            self.timezone = zone
        else:
            self.timezone = FIXED_ZONES[self.country]
        return self

    def address(self) -> dict[str, str]:
        return {k: v for k in ADDRESS_KEYS if (v := getattr(self, k))}


def _e164(raw: str, country: str) -> str:
    try:
        parsed = phonenumbers.parse(raw, country)
    except phonenumbers.NumberParseException:
        raise ValueError("a phone number could not be read") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError("a phone number is not a valid number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _phone_zone(phones: list[str]) -> str | None:
    for phone in phones:
        zones = phone_timezone.time_zones_for_number(phonenumbers.parse(phone, None))
        known = [z for z in zones if "Unknown" not in z]
        if known:
            return known[0]
    return None


def parse_row(raw: Any, tenant: str, trust_row_tenant: bool) -> PortfolioRow:
    """The validated row, or ValueError with a reason fit to show (no input values)."""
    if not isinstance(raw, dict):
        raise ValueError("each record must be an object")
    flat = flatten(raw)
    if not trust_row_tenant or "tenant" not in flat:
        flat["tenant"] = tenant
    for derived in ("jurisdiction", "region", "timezone"):
        flat.pop(derived, None)
    try:
        return PortfolioRow.model_validate(flat)
    except ValidationError as exc:
        raise ValueError(_reason(exc)) from None


def _reason(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)
