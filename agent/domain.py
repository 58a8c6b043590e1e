"""Pydantic models shared by every layer: the turn pipeline speaks in these."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Emotion(StrEnum):
    calm = "calm"
    positive = "positive"
    confused = "confused"
    angry = "angry"
    distressed = "distressed"


class Intent(StrEnum):
    affirm = "affirm"
    deny = "deny"
    promise_to_pay = "promise_to_pay"
    payment_plan = "payment_plan"
    hardship = "hardship"
    dispute = "dispute"
    already_paid = "already_paid"
    refuse_to_pay = "refuse_to_pay"
    cease_contact = "cease_contact"
    attorney = "attorney"
    bankruptcy = "bankruptcy"
    wrong_party = "wrong_party"
    third_party = "third_party"
    callback_later = "callback_later"
    request_human = "request_human"
    vulnerability = "vulnerability"
    ask_if_bot = "ask_if_bot"
    ask_details = "ask_details"


class Tone(StrEnum):
    empathetic = "empathetic"
    neutral = "neutral"
    firm = "firm"
    deescalate = "deescalate"
    clarify = "clarify"


Language = Literal["en", "zh"]
Locale = Literal["en-US", "en-GB", "zh-CN"]
SUPPORTED_LOCALES: tuple[str, ...] = ("en-US", "en-GB", "zh-CN")


# How often a plan's instalments fall due.
Cadence = Literal["week", "fortnight", "month"]


class Amount(BaseModel):
    """A sum the debtor said. `currency` is ISO 4217 when the words name one."""

    value: Decimal
    currency: str | None = None
    text: str = ""


class Entities(BaseModel):
    amount: Amount | None = None
    date: dt.date | None = None
    # A full date that reads as a date of birth (has a year); used for identity checks.
    birth_date: dt.date | None = None
    # The debtor asked to pay the whole balance ("pay it all", "全部还清").
    full_amount: bool = False
    # How often a recurring sum is offered ("20 a week", "fortnightly", "每两周"); None: not said.
    every: Cadence | None = None


class Analysis(BaseModel):
    """What `agent classify` writes for one utterance (CONTRACT.md)."""

    text: str
    language: Language
    emotion: Emotion
    emotion_scores: dict[Emotion, float]
    intents: list[Intent] = Field(default_factory=list)
    entities: Entities = Field(default_factory=Entities)
    # Extra cues the lexicon found that are not contract intents (e.g. "self_harm").
    cues: list[str] = Field(default_factory=list)
    source: str = "lexicon"

    def has(self, intent: Intent) -> bool:
        return intent in self.intents


class AnalysisContext(BaseModel):
    """What the analyzer needs to resolve relative dates and currencies."""

    today: dt.date
    timezone: str = "UTC"
    locale: str = "en-US"
    default_currency: str | None = None


class Promise(BaseModel):
    amount: Decimal
    currency: str
    date: dt.date
    kind: Literal["single", "plan"] = "single"
    installments: int = 1
    every: Cadence = "month"  # a plan's instalments: one each week, fortnight or month
    # False while the agent reads the promise back; True once the debtor says yes.
    confirmed: bool = False


class QuickReply(BaseModel):
    """A choice the step offers (`state.options`); the widget sends `label` as text."""

    id: str
    label: str


class ConversationState(BaseModel):
    """Everything the dialogue needs between turns; persisted as JSON with the conversation."""

    model_config = ConfigDict(validate_assignment=True)

    step: str
    verified: bool = False
    ended: bool = False
    handoff: bool = False
    flags: list[str] = Field(default_factory=list)
    promise: Promise | None = None
    slots: dict[str, str] = Field(default_factory=dict)
    counters: dict[str, int] = Field(default_factory=dict)
    resume_step: str | None = None
    # Disclosures given in this conversation (ai, recording, mini_miranda, ...).
    disclosures: list[str] = Field(default_factory=list)
    # False when an earlier conversation on the account already gave the collection
    # disclosure (US: later communications use the shorter debt-collector notice).
    first_communication: bool = True
    # Quick replies for the current step (agent/dialogue/options.py), in its locale.
    options: list[QuickReply] = Field(default_factory=list)

    def add_flag(self, flag: str) -> None:
        if flag not in self.flags:
            self.flags = [*self.flags, flag]

    def count(self, name: str) -> int:
        return self.counters.get(name, 0)

    def public(self) -> dict[str, object]:
        """The contract's `State` shape (plus extra fields)."""
        return {
            "step": self.step,
            "verified": self.verified,
            "ended": self.ended,
            "handoff": self.handoff,
            "flags": list(self.flags),
            "promise": None if self.promise is None else self.promise.model_dump(mode="json"),
            "options": [o.model_dump() for o in self.options],
        }


class Message(BaseModel):
    role: Literal["agent", "human"] = "agent"
    text: str
    template_id: str
    tone: Tone
    template_version: int | None = None
    template_hash: str | None = None
    # The required disclosures this message gave (ai, recording, mini_miranda, ...).
    discloses: list[str] = Field(default_factory=list)


class GuardMatch(BaseModel):
    rule_id: str
    family: str
    text: str  # the words that matched
    blocking: bool


class GuardResult(BaseModel):
    """The guard's verdict on one utterance. `rule_ids` block; `warnings` only flag."""

    allowed: bool
    rule_ids: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    matches: list[GuardMatch] = Field(default_factory=list)
    original_text: str | None = None
    pack: str | None = None
    pack_version: int | None = None
