"""The tamper-evident compliance log: an append-only, hash-chained table.

Each event's hash covers its sequence number, kind, conversation, timestamp,
payload and the previous event's hash. Changing, deleting or reordering any
stored event breaks the chain at that event, and `verify` names its sequence
number. Appends happen inside the caller's transaction, so an event is durable
exactly when the turn it describes is committed (ALL-LOG-FIRST).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agent.store.models import AuditEvent, AuditHead

GENESIS_HASH = "0" * 64
VERIFY_BATCH = 1000


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def event_hash(
    seq: int,
    kind: str,
    conversation_id: str | None,
    created_at: str,
    payload: dict[str, Any],
    prev_hash: str,
) -> str:
    body = canonical_json(
        {
            "seq": seq,
            "kind": kind,
            "conversation_id": conversation_id,
            "created_at": created_at,
            "payload": payload,
            "prev_hash": prev_hash,
        }
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


class AuditChain:
    """Appends to the chain within one transaction; `open` locks the head row first."""

    def __init__(self, session: AsyncSession, seq: int, head_hash: str) -> None:
        self._session = session
        self._seq = seq
        self._hash = head_hash
        self.appended: list[AuditEvent] = []

    @classmethod
    async def open(cls, session: AsyncSession) -> AuditChain:
        # FOR UPDATE serialises writers on PostgreSQL; SQLite serialises writers itself
        # (and the store's write lock keeps one writer per process).
        head = (
            await session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update())
        ).scalar_one()
        return cls(session, head.seq, head.hash)

    def append(self, kind: str, conversation_id: str | None, payload: dict[str, Any]) -> AuditEvent:
        normalised: dict[str, Any] = json.loads(canonical_json(payload))
        seq = self._seq + 1
        created_at = datetime.now(UTC).isoformat(timespec="microseconds")
        digest = event_hash(seq, kind, conversation_id, created_at, normalised, self._hash)
        event = AuditEvent(
            seq=seq,
            kind=kind,
            conversation_id=conversation_id,
            created_at=created_at,
            payload=normalised,
            prev_hash=self._hash,
            hash=digest,
        )
        self._session.add(event)
        self._seq, self._hash = seq, digest
        self.appended.append(event)
        return event

    async def close(self) -> None:
        """Move the head; call once, after the last append, before commit."""
        if self.appended:
            await self._session.execute(
                update(AuditHead).where(AuditHead.id == 1).values(seq=self._seq, hash=self._hash)
            )


@dataclass
class VerifyReport:
    ok: bool
    events: int
    head: str
    problems: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "head": self.head, "problems": self.problems}


async def verify_chain(session: AsyncSession, max_problems: int = 20) -> VerifyReport:
    """Recompute every hash in order; report the first problems by sequence number."""
    problems: list[dict[str, Any]] = []
    expected_prev, expected_seq, count = GENESIS_HASH, 1, 0
    last_seq = 0
    while True:
        batch = (
            (
                await session.execute(
                    select(AuditEvent)
                    .where(AuditEvent.seq > last_seq)
                    .order_by(AuditEvent.seq)
                    .limit(VERIFY_BATCH)
                )
            )
            .scalars()
            .all()
        )
        if not batch:
            break
        for event in batch:
            count += 1
            if event.seq != expected_seq:
                problems.append({"seq": expected_seq, "problem": "missing event"})
            if event.prev_hash != expected_prev:
                problems.append({"seq": event.seq, "problem": "broken link to previous event"})
            recomputed = event_hash(
                event.seq,
                event.kind,
                event.conversation_id,
                event.created_at,
                event.payload,
                event.prev_hash,
            )
            if recomputed != event.hash:
                problems.append({"seq": event.seq, "problem": "content does not match its hash"})
            expected_prev, expected_seq, last_seq = event.hash, event.seq + 1, event.seq
        session.expunge_all()
    head = (await session.execute(select(AuditHead).where(AuditHead.id == 1))).scalar_one()
    if head.seq != last_seq or head.hash != expected_prev:
        problems.append({"seq": head.seq, "problem": "chain head does not match the last event"})
    return VerifyReport(
        ok=not problems, events=count, head=expected_prev, problems=problems[:max_problems]
    )
