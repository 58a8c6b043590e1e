"""Contact checks against the store: `check` reads; `reserve` checks and records an
attempt in one transaction, so two workers racing for one debtor can never both
pass a cap. Every decision, allowed or refused, is appended to the audit chain."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.compliance.audit import AuditChain
from agent.compliance.contact import Attempt, ContactDecision, Subject, may_contact
from agent.compliance.flags import active_flags
from agent.compliance.packs import PackLibrary
from agent.errors import NotFound
from agent.store import repository
from agent.store.database import utc
from agent.store.models import Account, ContactAttempt, Debtor
from agent.store.store import Store
from agent.telephony.lookup import as_debtor_number, marked_wrong

HISTORY_DAYS = 10  # longer than any cap's window


@dataclass(frozen=True)
class Reservation:
    decision: ContactDecision
    attempt_id: int | None


class ContactService:
    def __init__(self, store: Store, packs: PackLibrary) -> None:
        self.store = store
        self.packs = packs

    async def check(
        self,
        account_ref: str,
        channel: str,
        at: dt.datetime,
        number: str | None = None,
        purpose: str = "collection",
    ) -> ContactDecision:
        async with self.store.read() as session:
            account, debtor = await repository.require_account(session, account_ref)
            return await self._decide(session, account, debtor, channel, at, number, purpose)

    async def reserve(
        self,
        account_ref: str,
        channel: str,
        at: dt.datetime,
        number: str | None = None,
        purpose: str = "collection",
        campaign_id: int | None = None,
    ) -> Reservation:
        async with self.store.write() as session:
            chain = await AuditChain.open(session)
            account, debtor = await repository.require_account(session, account_ref)
            # Serialise every contact decision for this debtor (PostgreSQL row lock).
            await session.execute(select(Debtor.id).where(Debtor.id == debtor.id).with_for_update())
            decision = await self._decide(session, account, debtor, channel, at, number, purpose)
            attempt_id = None
            if decision.allowed:
                attempt = ContactAttempt(
                    debtor_id=debtor.id,
                    account_id=account.id,
                    channel=channel,
                    direction="outbound",
                    number=number,
                    purpose=purpose,
                    outcome="pending",
                    started_at=at,
                    updated_at=at,
                    campaign_id=campaign_id,
                )
                session.add(attempt)
                await session.flush()
                attempt_id = attempt.id
            chain.append(
                "contact.allowed" if decision.allowed else "contact.refused",
                None,
                {
                    "account_ref": account.account_ref,
                    "channel": channel,
                    "purpose": purpose,
                    "attempt_id": attempt_id,
                    "campaign_id": campaign_id,
                    "at": at.isoformat(),
                    **decision.as_dict(),
                },
            )
            await chain.close()
        return Reservation(decision, attempt_id)

    async def record_outcome(self, attempt_id: int, outcome: str, at: dt.datetime) -> None:
        async with self.store.write() as session:
            attempt = await session.get(ContactAttempt, attempt_id)
            if attempt is None:
                raise NotFound("attempt_not_found", f"no contact attempt {attempt_id}")
            attempt.outcome, attempt.updated_at = outcome, at
            chain = await AuditChain.open(session)
            chain.append(
                "contact.outcome",
                None,
                {"attempt_id": attempt_id, "channel": attempt.channel, "outcome": outcome},
            )
            await chain.close()

    async def _decide(
        self,
        session: AsyncSession,
        account: Account,
        debtor: Debtor,
        channel: str,
        at: dt.datetime,
        number: str | None,
        purpose: str,
    ) -> ContactDecision:
        rows = (
            await session.execute(
                select(ContactAttempt).where(
                    ContactAttempt.debtor_id == debtor.id,
                    ContactAttempt.started_at > at - dt.timedelta(days=HISTORY_DAYS),
                )
            )
        ).scalars()
        history = [history_entry(row) for row in rows]
        subject = Subject(
            account_id=account.id,
            jurisdiction=account.jurisdiction,
            region=account.region,
            address_timezone=debtor.timezone or None,
            phones=tuple(debtor.phones or ()),
            flags=await active_flags(session, account.id, at),
            wrong_numbers=frozenset(marked_wrong(debtor)),
        )
        pack = self.packs.resolve(account.jurisdiction, account.region)
        # The rules compare numbers in E.164, as the dialer stores them ("(212) 555-0142"
        # from an API caller is the debtor's +12125550142).
        if number is not None:
            number = as_debtor_number(debtor, number) or number
        return may_contact(pack, subject, history, channel, at, number, purpose)


def history_entry(row: ContactAttempt) -> Attempt:
    """A stored attempt as the contact rules read it."""
    return Attempt(
        at=utc(row.started_at),
        account_id=row.account_id,
        channel=row.channel,
        direction=row.direction,
        outcome=row.outcome,
        number=row.number,
        purpose=row.purpose,
    )
