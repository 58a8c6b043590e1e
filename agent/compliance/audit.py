"""The tamper-evident compliance log: an append-only, hash-chained table.

Each event's hash covers its sequence number, kind, conversation, timestamp,
the SHA-256 of its payload and the previous event's hash. Changing, deleting or
reordering any stored event breaks the chain at that event, and `verify` names
its sequence number. A retention purge may drop a payload (the hash of the
payload stays, so the chain still verifies) only if a later `retention.purge`
event lists that sequence number; any other missing payload is reported.
Appends happen inside the caller's transaction, so an event is durable exactly
when the turn it describes is committed (ALL-LOG-FIRST).
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
PURGE_EVENT = "retention.purge"
VERIFY_BATCH = 1000


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def payload_digest(payload: dict[str, Any]) -> str:
    return sha256_hex(canonical_json(payload))


def event_hash(
    seq: int,
    kind: str,
    conversation_id: str | None,
    created_at: str,
    payload_hash: str,
    prev_hash: str,
) -> str:
    return sha256_hex(
        canonical_json(
            {
                "seq": seq,
                "kind": kind,
                "conversation_id": conversation_id,
                "created_at": created_at,
                "payload_hash": payload_hash,
                "prev_hash": prev_hash,
            }
        )
    )


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
        content_hash = payload_digest(normalised)
        digest = event_hash(seq, kind, conversation_id, created_at, content_hash, self._hash)
        event = AuditEvent(
            seq=seq,
            kind=kind,
            conversation_id=conversation_id,
            created_at=created_at,
            payload=normalised,
            payload_hash=content_hash,
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
    purged: set[int] = set()  # payload-less events, to be vouched for by a later purge event
    vouched: set[int] = set()
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
                event.payload_hash,
                event.prev_hash,
            )
            if event.payload is None:
                purged.add(event.seq)
            elif payload_digest(event.payload) != event.payload_hash:
                recomputed = ""
            if recomputed != event.hash:
                problems.append({"seq": event.seq, "problem": "content does not match its hash"})
            if event.kind == PURGE_EVENT and event.payload is not None:
                vouched.update(event.payload.get("seqs", []))
            expected_prev, expected_seq, last_seq = event.hash, event.seq + 1, event.seq
        session.expunge_all()
    for seq in sorted(purged - vouched):
        problems.append({"seq": seq, "problem": "payload removed without a purge record"})
    head = (await session.execute(select(AuditHead).where(AuditHead.id == 1))).scalar_one()
    if head.seq != last_seq or head.hash != expected_prev:
        problems.append({"seq": head.seq, "problem": "chain head does not match the last event"})
    return VerifyReport(
        ok=not problems, events=count, head=expected_prev, problems=problems[:max_problems]
    )
