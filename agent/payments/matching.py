"""Matching payments to promises.

A payment counts toward the account's open promises, oldest due date first, but only
toward promises whose deadline (due date + grace days) it was made on or before. A
promise is `kept` once what counted toward it reaches its amount; once its deadline has
passed it is `partly_kept` if something counted, `broken` if nothing did. Promises are
settled on every payment and by `agent payments settle` for the ones nobody paid.
Dates are compared in UTC. Every change is a chained audit event (ids and amounts only).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.compliance.audit import AuditChain
from agent.store.models import Account, Payment, PaymentAllocation, PromiseToPay

ZERO = Decimal("0")


@dataclass(frozen=True)
class OpenPromise:
    id: int
    amount: Decimal
    due_date: dt.date
    paid: Decimal  # already counted toward it


def deadline(due_date: dt.date, grace_days: int) -> dt.date:
    return due_date + dt.timedelta(days=grace_days)


def allocate(
    promises: Sequence[OpenPromise], amount: Decimal, paid_on: dt.date, grace_days: int
) -> list[tuple[int, Decimal]]:
    """How much of a payment counts toward each promise: (promise id, amount) pairs."""
    left = amount
    shares: list[tuple[int, Decimal]] = []
    for promise in sorted(promises, key=lambda p: (p.due_date, p.id)):
        if left <= ZERO:
            break
        if paid_on > deadline(promise.due_date, grace_days):
            continue
        share = min(left, max(promise.amount - promise.paid, ZERO))
        if share > ZERO:
            shares.append((promise.id, share))
            left -= share
    return shares


def outcome(promise: OpenPromise, today: dt.date, grace_days: int) -> str | None:
    """`kept`, `partly_kept`, `broken`, or None while the promise is still open."""
    if promise.paid >= promise.amount:
        return "kept"
    if today > deadline(promise.due_date, grace_days):
        return "partly_kept" if promise.paid > ZERO else "broken"
    return None


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


async def _open_promises(
    session: AsyncSession, account_id: int | None = None
) -> list[tuple[PromiseToPay, Decimal]]:
    paid = (
        select(PaymentAllocation.promise_id, func.sum(PaymentAllocation.amount).label("paid"))
        .group_by(PaymentAllocation.promise_id)
        .subquery()
    )
    query = (
        select(PromiseToPay, paid.c.paid)
        .outerjoin(paid, paid.c.promise_id == PromiseToPay.id)
        .where(PromiseToPay.status == "open")
        .order_by(PromiseToPay.due_date, PromiseToPay.id)
    )
    if account_id is not None:
        query = query.where(PromiseToPay.account_id == account_id)
    rows = (await session.execute(query)).all()
    return [(row[0], Decimal(row[1] or ZERO)) for row in rows]


def _view(promise: PromiseToPay, paid: Decimal) -> OpenPromise:
    return OpenPromise(promise.id, Decimal(promise.amount), promise.due_date, paid)


async def settle(
    session: AsyncSession,
    chain: AuditChain,
    now: dt.datetime,
    grace_days: int,
    account_id: int | None = None,
) -> list[dict[str, Any]]:
    """Close every open promise whose outcome is known at `now`; one event each."""
    today = now.astimezone(dt.UTC).date()
    settled: list[dict[str, Any]] = []
    for promise, paid in await _open_promises(session, account_id):
        status = outcome(_view(promise, paid), today, grace_days)
        if status is None:
            continue
        promise.status = status
        record = {
            "promise_id": promise.id,
            "account_id": promise.account_id,
            "status": status,
            "amount": _money(Decimal(promise.amount)),
            "paid": _money(paid),
            "currency": promise.currency,
            "due_date": promise.due_date.isoformat(),
            "deadline": deadline(promise.due_date, grace_days).isoformat(),
        }
        chain.append(f"promise.{status}", promise.conversation_id, record)
        settled.append(record)
    return settled


async def record_payment(
    session: AsyncSession,
    chain: AuditChain,
    account: Account,
    payment_ref: str,
    amount: Decimal,
    currency: str,
    paid_at: dt.datetime,
    now: dt.datetime,
    grace_days: int,
) -> Payment:
    """Store a new payment, count it toward promises, reduce the balance (never below
    zero) and settle the account's promises. The caller has checked `payment_ref` is new."""
    open_promises = await _open_promises(session, account.id)
    shares = allocate(
        [_view(p, paid) for p, paid in open_promises],
        amount,
        paid_at.astimezone(dt.UTC).date(),
        grace_days,
    )
    payment = Payment(
        payment_ref=payment_ref,
        account_id=account.id,
        amount=amount,
        currency=currency,
        paid_at=paid_at,
        received_at=now,
        promise_id=shares[0][0] if shares else None,
        result={},
    )
    session.add(payment)
    await session.flush()
    for promise_id, share in shares:
        session.add(PaymentAllocation(payment_id=payment.id, promise_id=promise_id, amount=share))
    await session.flush()
    account.balance = max(Decimal(account.balance) - amount, ZERO)
    applied = [{"promise_id": pid, "amount": _money(share)} for pid, share in shares]
    chain.append(
        "payment.received",
        None,
        {
            "payment_id": payment.id,
            "payment_ref": payment_ref,
            "account_id": account.id,
            "amount": _money(amount),
            "currency": currency,
            "paid_at": paid_at.isoformat(),
            "applied": applied,
        },
    )
    settled = await settle(session, chain, now, grace_days, account.id)
    payment.result = {
        "payment_ref": payment_ref,
        "account_ref": account.account_ref,
        "amount": _money(amount),
        "currency": currency,
        "paid_at": paid_at.isoformat(),
        "applied": applied,
        "promises": [{"promise_id": s["promise_id"], "status": s["status"]} for s in settled],
        "balance": _money(Decimal(account.balance)),
    }
    return payment
