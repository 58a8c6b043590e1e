"""Collection figures for one tenant over a range of UTC dates, per day and in total.

The queries load the tenant's rows for the period and aggregate in Python: simple and
plenty fast at the volumes one tenant has per year. Move the counting into SQL (GROUP BY
date) if a tenant ever grows past a few hundred thousand rows a year.

With `campaign_id` the figures narrow to one campaign: its contact attempts and
refusals, the conversations its calls and chat links opened, their promises, and the
payments counted toward those promises.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.store.database import utc
from agent.store.models import (
    Account,
    AuditEvent,
    ContactAttempt,
    Conversation,
    Payment,
    PaymentAllocation,
    PromiseToPay,
    Turn,
)

EMOTIONS = ("calm", "positive", "confused", "angry", "distressed")
COUNTS = ("attempts", "right_party_contacts", "handoffs", "cease_requests", "complaints")
MONEY = ("promises", "kept_promises")
BY_KEY = ("emotion_mix", "compliance_refusals_by_rule", "guard_blocks_by_rule")


class _Bucket:
    """The figures of one day (or of the whole range)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.money: dict[str, dict[str, Decimal]] = {m: {} for m in (*MONEY, "recovery")}
        self.by_key: dict[str, Counter[str]] = {k: Counter() for k in BY_KEY}

    def add_money(self, name: str, currency: str, amount: Decimal) -> None:
        self.money[name][currency] = self.money[name].get(currency, Decimal(0)) + amount

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {name: self.counts[name] for name in COUNTS}
        for name in MONEY:
            body[name] = {"count": self.counts[name], "amount": _amounts(self.money[name])}
        body["recovery"] = _amounts(self.money["recovery"])
        for key in BY_KEY:
            body[key] = dict(sorted(self.by_key[key].items()))
        return body


def _amounts(values: dict[str, Decimal]) -> dict[str, str]:
    return {cur: str(amount.quantize(Decimal("0.01"))) for cur, amount in sorted(values.items())}


def _bounds(since: dt.date, until: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC)
    return start, dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


async def collection_figures(
    session: AsyncSession,
    tenant: str,
    since: dt.date,
    until: dt.date,
    campaign_id: int | None = None,
) -> dict[str, Any]:
    """Figures for `tenant` from `since` to `until` (both inclusive, UTC dates), for
    one campaign of that tenant when `campaign_id` is given (the caller checks it)."""
    start, end = _bounds(since, until)
    days: dict[dt.date, _Bucket] = {}
    day = since
    while day <= until:
        days[day] = _Bucket()
        day += dt.timedelta(days=1)
    totals = _Bucket()

    def bucket(at: dt.datetime) -> list[_Bucket]:
        found = days.get(utc(at).astimezone(dt.UTC).date())
        return [found, totals] if found is not None else []

    accounts = {
        row.id: row.account_ref
        for row in (
            await session.execute(select(Account).where(Account.tenant == tenant))
        ).scalars()
    }
    account_ids = list(accounts)

    attempts = select(ContactAttempt.started_at).where(
        ContactAttempt.account_id.in_(account_ids),
        ContactAttempt.started_at >= start,
        ContactAttempt.started_at < end,
    )
    if campaign_id is not None:
        attempts = attempts.where(ContactAttempt.campaign_id == campaign_id)
    for (started_at,) in await session.execute(attempts):
        for b in bucket(started_at):
            b.counts["attempts"] += 1

    conversations = select(Conversation).where(
        Conversation.tenant == tenant,
        Conversation.started_at >= start,
        Conversation.started_at < end,
    )
    if campaign_id is not None:
        conversations = conversations.where(Conversation.campaign_id == campaign_id)
    for conversation in (await session.execute(conversations)).scalars():
        state = conversation.state or {}
        flags = set(state.get("flags") or [])
        for b in bucket(conversation.started_at):
            b.counts["right_party_contacts"] += bool(state.get("verified"))
            b.counts["handoffs"] += bool(state.get("handoff"))
            b.counts["cease_requests"] += "cease_contact" in flags
            b.counts["complaints"] += "dispute" in flags

    turns = (
        select(Turn.created_at, Turn.analysis)
        .join(Conversation, Conversation.id == Turn.conversation_id)
        .where(
            Conversation.tenant == tenant,
            Turn.role == "debtor",
            Turn.created_at >= start,
            Turn.created_at < end,
        )
    )
    if campaign_id is not None:
        turns = turns.where(Conversation.campaign_id == campaign_id)
    for created_at, analysis in await session.execute(turns):
        emotion = (analysis or {}).get("emotion")
        if emotion:
            for b in bucket(created_at):
                b.by_key["emotion_mix"][str(emotion)] += 1

    promises = select(PromiseToPay).where(
        PromiseToPay.account_id.in_(account_ids),
        PromiseToPay.created_at >= start,
        PromiseToPay.created_at < end,
    )
    if campaign_id is not None:
        promises = promises.where(
            PromiseToPay.conversation_id.in_(_campaign_conversations(campaign_id))
        )
    for promise in (await session.execute(promises)).scalars():
        for b in bucket(promise.created_at):
            b.counts["promises"] += 1
            b.add_money("promises", promise.currency, promise.amount)
            if promise.status == "kept":
                b.counts["kept_promises"] += 1
                b.add_money("kept_promises", promise.currency, promise.amount)

    if campaign_id is None:
        payments = select(Payment.paid_at, Payment.currency, Payment.amount).where(
            Payment.account_id.in_(account_ids), Payment.paid_at >= start, Payment.paid_at < end
        )
    else:
        # A campaign recovers what was paid toward the promises its conversations won.
        payments = (
            select(Payment.paid_at, Payment.currency, PaymentAllocation.amount)
            .join(PaymentAllocation, PaymentAllocation.payment_id == Payment.id)
            .join(PromiseToPay, PromiseToPay.id == PaymentAllocation.promise_id)
            .where(
                PromiseToPay.conversation_id.in_(_campaign_conversations(campaign_id)),
                Payment.paid_at >= start,
                Payment.paid_at < end,
            )
        )
    for paid_at, currency, amount in await session.execute(payments):
        for b in bucket(paid_at):
            b.add_money("recovery", currency, amount)

    await _audit_figures(session, tenant, set(accounts.values()), start, end, bucket, campaign_id)
    return {
        "tenant": tenant,
        "campaign_id": campaign_id,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "totals": totals.as_dict(),
        "days": [{"date": d.isoformat(), **b.as_dict()} for d, b in days.items()],
    }


def _campaign_conversations(campaign_id: int) -> Select[str]:
    return select(Conversation.id).where(Conversation.campaign_id == campaign_id)


async def _audit_figures(
    session: AsyncSession,
    tenant: str,
    account_refs: set[str],
    start: dt.datetime,
    end: dt.datetime,
    bucket: Callable[[dt.datetime], list[_Bucket]],
    campaign_id: int | None,
) -> None:
    """Refusals and guard blocks per rule, read from the audit log as the compliance
    report does; an event belongs to the tenant by its conversation or account, and to
    a campaign by the campaign its refusal or conversation names."""
    mine = select(Conversation.id).where(Conversation.tenant == tenant)
    if campaign_id is not None:
        mine = mine.where(Conversation.campaign_id == campaign_id)
    conversation_ids = set((await session.execute(mine)).scalars().all())
    events = (
        select(AuditEvent)
        .where(
            AuditEvent.kind.in_(("contact.refused", "turn.outbound", "guard.blocked")),
            AuditEvent.created_at >= start.isoformat(),
            AuditEvent.created_at < end.isoformat(),
        )
        .order_by(AuditEvent.seq)
    )
    for event in (await session.execute(events)).scalars():
        payload = event.payload
        if payload is None:  # purged by retention
            continue
        at = dt.datetime.fromisoformat(event.created_at)
        if event.kind == "contact.refused":
            if campaign_id is not None and payload.get("campaign_id") != campaign_id:
                continue
            if payload.get("account_ref") in account_refs:
                for b in bucket(at):
                    b.by_key["compliance_refusals_by_rule"].update(payload.get("rules", []))
            continue
        if event.conversation_id not in conversation_ids:
            continue
        if event.kind == "guard.blocked":
            rules = payload.get("rules", [])
        else:
            guard = payload.get("guard") or {}
            rules = [] if guard.get("allowed", True) else guard.get("rule_ids", [])
        for b in bucket(at):
            b.by_key["guard_blocks_by_rule"].update(rules)


CSV_HEADER = [
    "date",
    *COUNTS,
    "promises",
    "promise_amount",
    "kept_promises",
    "kept_amount",
    "recovery",
    *(f"emotion_{e}" for e in EMOTIONS),
    "compliance_refusals_by_rule",
    "guard_blocks_by_rule",
]


def _pairs(values: dict[str, Any]) -> str:
    return ";".join(f"{key}:{value}" for key, value in values.items())


def csv_rows(figures: dict[str, Any]) -> list[list[str]]:
    """The header and one row per day; money and per-rule counts as `key:value;...`."""
    rows = [list(CSV_HEADER)]
    for day in figures["days"]:
        rows.append(
            [
                day["date"],
                *(str(day[name]) for name in COUNTS),
                str(day["promises"]["count"]),
                _pairs(day["promises"]["amount"]),
                str(day["kept_promises"]["count"]),
                _pairs(day["kept_promises"]["amount"]),
                _pairs(day["recovery"]),
                *(str(day["emotion_mix"].get(e, 0)) for e in EMOTIONS),
                _pairs(day["compliance_refusals_by_rule"]),
                _pairs(day["guard_blocks_by_rule"]),
            ]
        )
    return rows
