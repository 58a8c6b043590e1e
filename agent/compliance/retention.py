"""Retention: delete what each pack's retention period has expired, and nothing else.

Conversations (with their turns and promises) expire `retention_days` after they
ended (or last changed); contact attempts after they started. Their audit events
keep their place in the chain but lose their payload; the purge itself is a
chained `retention.purge` event listing every emptied sequence number, so
`verify_chain` still passes and can tell a purge from tampering.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agent.compliance.audit import PURGE_EVENT, AuditChain
from agent.compliance.packs import PackLibrary
from agent.logs import log_event
from agent.store.database import utc
from agent.store.models import Account, AuditEvent, ContactAttempt, Conversation, PromiseToPay, Turn
from agent.store.store import Store

log = logging.getLogger("agent.retention")
ACCOUNT_EVENTS = ("contact.allowed", "contact.refused", "account.flags")


@dataclass
class PurgeReport:
    cutoffs: dict[str, str] = field(default_factory=dict)
    conversations: int = 0
    turns: int = 0
    promises: int = 0
    contact_attempts: int = 0
    events_emptied: list[int] = field(default_factory=list)
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "cutoffs": self.cutoffs,
            "conversations": self.conversations,
            "turns": self.turns,
            "promises": self.promises,
            "contact_attempts": self.contact_attempts,
            "events_emptied": len(self.events_emptied),
            "dry_run": self.dry_run,
        }


async def purge_expired(
    store: Store, packs: PackLibrary, now: dt.datetime, dry_run: bool = False
) -> PurgeReport:
    report = PurgeReport(dry_run=dry_run)
    async with store.write() as session:
        chain = await AuditChain.open(session)
        accounts = (await session.execute(select(Account))).scalars().all()
        cutoff_of: dict[int, dt.datetime] = {}
        refs: dict[str, int] = {}
        for account in accounts:
            pack = packs.resolve(account.jurisdiction, account.region)
            cutoff = now - dt.timedelta(days=pack.retention_days)
            cutoff_of[account.id] = cutoff
            refs[account.account_ref] = account.id
            report.cutoffs[pack.id] = cutoff.isoformat()
        expired = await _expired_conversations(session, cutoff_of)
        events = await _expired_events(session, expired, refs, cutoff_of)
        report.conversations = len(expired)
        report.events_emptied = events
        if expired:
            report.turns = await _count(session, Turn, Turn.conversation_id.in_(expired))
            report.promises = await _count(
                session, PromiseToPay, PromiseToPay.conversation_id.in_(expired)
            )
        attempt_ids = [
            row.id
            for row in (await session.execute(select(ContactAttempt))).scalars()
            if utc(row.started_at) < cutoff_of[row.account_id]
        ]
        report.contact_attempts = len(attempt_ids)
        if dry_run:
            await session.rollback()
            return report
        if expired:
            await session.execute(delete(Turn).where(Turn.conversation_id.in_(expired)))
            await session.execute(
                delete(PromiseToPay).where(PromiseToPay.conversation_id.in_(expired))
            )
            await session.execute(delete(Conversation).where(Conversation.id.in_(expired)))
        if attempt_ids:
            await session.execute(delete(ContactAttempt).where(ContactAttempt.id.in_(attempt_ids)))
        if events:
            await session.execute(
                update(AuditEvent).where(AuditEvent.seq.in_(events)).values(payload=None)
            )
        chain.append(PURGE_EVENT, None, {**report.as_dict(), "seqs": events, "at": now.isoformat()})
        await chain.close()
    log_event(log, "retention_purge", **report.as_dict())
    return report


async def _expired_conversations(
    session: AsyncSession, cutoff_of: dict[int, dt.datetime]
) -> list[str]:
    rows = (await session.execute(select(Conversation))).scalars()
    return [
        row.id
        for row in rows
        if utc(row.ended_at or row.updated_at)
        < cutoff_of.get(row.account_id, dt.datetime.min.replace(tzinfo=dt.UTC))
    ]


async def _expired_events(
    session: AsyncSession,
    conversations: list[str],
    refs: dict[str, int],
    cutoff_of: dict[int, dt.datetime],
) -> list[int]:
    seqs: list[int] = []
    if conversations:
        seqs += list(
            (
                await session.execute(
                    select(AuditEvent.seq).where(
                        AuditEvent.conversation_id.in_(conversations),
                        AuditEvent.payload.is_not(None),
                    )
                )
            ).scalars()
        )
    rows = await session.execute(
        select(AuditEvent.seq, AuditEvent.created_at, AuditEvent.payload).where(
            AuditEvent.conversation_id.is_(None), AuditEvent.kind.in_(ACCOUNT_EVENTS)
        )
    )
    for seq, created_at, payload in rows:
        account_id = refs.get((payload or {}).get("account_ref", ""))
        if (
            payload
            and account_id is not None
            and dt.datetime.fromisoformat(created_at) < cutoff_of[account_id]
        ):
            seqs.append(seq)
    return sorted(seqs)


async def _count(session: AsyncSession, model: type[Any], condition: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(condition)) or 0)
