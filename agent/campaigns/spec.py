"""What a campaign is, as the API and the CLI accept it (validated once, stored as JSON)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

# Outcomes a retry is for: nobody picked up, the line was busy, or the gateway failed.
RETRY_OUTCOMES = frozenset({"no_answer", "busy", "failed"})


class Selection(BaseModel):
    """Which of the tenant's accounts join the campaign. Accounts carrying a blocking
    flag are left out whatever the selection says (they could not be contacted)."""

    model_config = ConfigDict(extra="forbid")

    min_days_past_due: int | None = Field(default=None, ge=0)
    max_days_past_due: int | None = Field(default=None, ge=0)
    min_balance: Decimal | None = Field(default=None, ge=0)
    max_balance: Decimal | None = Field(default=None, ge=0)
    jurisdictions: list[StrictStr] = Field(default_factory=list, max_length=20)
    # Only accounts with every one of these flags / with none of these flags.
    with_flags: list[StrictStr] = Field(default_factory=list, max_length=20)
    without_flags: list[StrictStr] = Field(default_factory=list, max_length=20)
    account_refs: list[StrictStr] = Field(default_factory=list, max_length=100_000)


class Schedule(BaseModel):
    """When the campaign may contact anyone (the debtor's calling window still applies:
    a refusal for the window defers the target to the time the rules give)."""

    model_config = ConfigDict(extra="forbid")

    start_at: dt.datetime | None = None
    end_at: dt.datetime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Schedule:
        for value in (self.start_at, self.end_at):
            if value is not None and value.tzinfo is None:
                raise ValueError("start_at and end_at need a time zone (e.g. ...Z)")
        if self.start_at and self.end_at and self.end_at <= self.start_at:
            raise ValueError("end_at must be after start_at")
        return self


class Retries(BaseModel):
    """No-answer, busy and failed calls are tried again after `backoff_s`, multiplied
    by `factor` after each further try, until `max_attempts` have been made."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(default=3, ge=1, le=20)
    backoff_s: float = Field(default=3600.0, ge=0.0, le=7 * 86400)
    factor: float = Field(default=2.0, ge=1.0, le=10.0)

    def delay(self, attempts_made: int) -> dt.timedelta:
        return dt.timedelta(seconds=self.backoff_s * self.factor ** max(0, attempts_made - 1))


class CampaignSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(min_length=1, max_length=200)
    channel: Literal["call", "sms"] = "call"
    # The dialogue policy the conversations run (dialogue_policies/); empty = the default.
    policy: StrictStr = Field(default="", max_length=64)
    call_mode: Literal["gather", "stream"] | None = None
    selection: Selection = Field(default_factory=Selection)
    schedule: Schedule = Field(default_factory=Schedule)
    # Pacing: at most this many contacts of the campaign in progress at once.
    max_concurrent: int = Field(default=10, ge=1, le=1000)
    retries: Retries = Field(default_factory=Retries)
