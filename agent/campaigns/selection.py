"""Which of a tenant's accounts a campaign takes on.

Filters run in SQL where they are plain columns; flags are read per account (they
expire, so "active" is a question of time). Accounts that could never be contacted
are left out and counted by reason, so the person creating the campaign sees why."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.campaigns.spec import Selection
from agent.compliance.flags import as_utc
from agent.compliance.packs import PackLibrary
from agent.store.models import Account, AccountFlag, Debtor
from agent.telephony.lookup import debtor_numbers


@dataclass(frozen=True)
class Chosen:
    account_id: int
    debtor_id: int


@dataclass
class SelectionResult:
    chosen: list[Chosen] = field(default_factory=list)
    left_out: Counter[str] = field(default_factory=Counter)


def _query(tenant: str, selection: Selection) -> Select[Account, Debtor]:
    query = (
        select(Account, Debtor)
        .join(Debtor, Debtor.id == Account.debtor_id)
        .where(Account.tenant == tenant)
        .order_by(Account.id)
    )
    if selection.min_days_past_due is not None:
        query = query.where(Account.days_past_due >= selection.min_days_past_due)
    if selection.max_days_past_due is not None:
        query = query.where(Account.days_past_due <= selection.max_days_past_due)
    if selection.min_balance is not None:
        query = query.where(Account.balance >= selection.min_balance)
    if selection.max_balance is not None:
        query = query.where(Account.balance <= selection.max_balance)
    if selection.jurisdictions:
        query = query.where(Account.jurisdiction.in_([j.upper() for j in selection.jurisdictions]))
    if selection.account_refs:
        query = query.where(Account.account_ref.in_(selection.account_refs))
    return query


async def _flags(session: AsyncSession, at: dt.datetime) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    for row in (await session.execute(select(AccountFlag))).scalars():
        expires = as_utc(row.expires_at)
        if expires is None or at < expires:
            found.setdefault(row.account_id, set()).add(row.flag)
    return found


async def select_targets(
    session: AsyncSession, tenant: str, selection: Selection, packs: PackLibrary, at: dt.datetime
) -> SelectionResult:
    result = SelectionResult()
    flags = await _flags(session, at)
    wanted, unwanted = set(selection.with_flags), set(selection.without_flags)
    for account, debtor in (await session.execute(_query(tenant, selection))).all():
        held = flags.get(account.id, set())
        if not wanted <= held or unwanted & held:
            result.left_out["flag_filter"] += 1
            continue
        blocking = packs.resolve(account.jurisdiction, account.region).blocking_flags
        if held & set(blocking):
            result.left_out["blocking_flag"] += 1
            continue
        if not debtor_numbers(debtor):
            result.left_out["no_phone_number"] += 1
            continue
        result.chosen.append(Chosen(account.id, debtor.id))
    return result
