"""Compliance alerts for the assist panel, read from the audit chain (not from memory).

The chain is the record, so the panel shows what was logged: a template or a person's
text the guard blocked, a step that had to divert because a required disclosure could
not be given, contact attempts refused by the contact caps, and the flags that change
how the conversation must go (vulnerability, cease contact, attorney, bankruptcy).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.store.models import Account, AuditEvent, Conversation

# Flag -> alert kind; other flags (disputes, opt-outs) are shown as flags, not alerts.
FLAG_ALERTS = {
    "vulnerability": "vulnerability",
    "cease_contact": "cease",
    "attorney": "attorney",
    "bankruptcy": "bankruptcy",
}
FLAG_MESSAGES = {
    "vulnerability": "Vulnerability: slow down, offer support and a specialist; no pressure.",
    "cease": "Cease contact requested: confirm and stop; do not discuss payment.",
    "attorney": "Represented by an attorney: take their details; do not discuss the debt.",
    "bankruptcy": "Bankruptcy: stop collection and record the case details.",
}
CHAIN_KINDS = ("turn.inbound", "turn.outbound", "guard.blocked")
# How many recent contact refusals to scan (they carry the account, not a conversation).
REFUSAL_WINDOW = 500


async def chain_events(session: AsyncSession, conversation_ids: list[str]) -> list[AuditEvent]:
    if not conversation_ids:
        return []
    query = (
        select(AuditEvent)
        .where(AuditEvent.conversation_id.in_(conversation_ids))
        .where(AuditEvent.kind.in_(CHAIN_KINDS))
        .order_by(AuditEvent.seq)
    )
    return list((await session.execute(query)).scalars())


async def contact_refusals(session: AsyncSession, account_refs: set[str]) -> list[AuditEvent]:
    query = (
        select(AuditEvent)
        .where(AuditEvent.kind == "contact.refused")
        .order_by(AuditEvent.seq.desc())
        .limit(REFUSAL_WINDOW)
    )
    events = (await session.execute(query)).scalars()
    return [e for e in events if (e.payload or {}).get("account_ref") in account_refs]


def alerts_from(
    flags: Iterable[str], events: Iterable[AuditEvent], refusals: Iterable[AuditEvent]
) -> list[dict[str, Any]]:
    """Alerts in log order; `seq` is the turn they belong to (None: not tied to one)."""
    alerts: list[dict[str, Any]] = []
    flagged: set[str] = set()
    for refusal in sorted(refusals, key=lambda e: e.seq):
        rules = ", ".join((refusal.payload or {}).get("rules", []))
        alerts.append(_alert("contact_cap", f"Contact attempt refused by {rules}.", None))
    for event in events:
        payload = event.payload
        if payload is None:  # purged by retention
            continue
        turn = payload.get("turn")
        if event.kind == "guard.blocked":
            rules = ", ".join(payload.get("rules", []))
            alerts.append(_alert("blocked_phrase", f"Agent message blocked ({rules}).", None))
        elif event.kind == "turn.outbound":
            guard = payload.get("guard") or {}
            if not guard.get("allowed", True):
                rules = ", ".join(guard.get("rule_ids", []))
                alerts.append(
                    _alert("blocked_phrase", f"Template blocked ({rules}); fallback said.", turn)
                )
            for action in (payload.get("decision") or {}).get("actions", []):
                if str(action).startswith("disclosure_missing"):
                    missing = str(action).split(" ", 1)[-1]
                    alerts.append(
                        _alert(
                            "missed_disclosure", f"Required disclosure missing: {missing}.", turn
                        )
                    )
        elif event.kind == "turn.inbound":
            for flag in payload.get("flags_raised", []):
                kind = FLAG_ALERTS.get(flag)
                if kind is not None and kind not in flagged:
                    flagged.add(kind)
                    alerts.append(_alert(kind, FLAG_MESSAGES[kind], turn))
    # Flags the account carried before this conversation began.
    for flag in flags:
        kind = FLAG_ALERTS.get(flag)
        if kind is not None and kind not in flagged:
            flagged.add(kind)
            alerts.append(_alert(kind, FLAG_MESSAGES[kind], None))
    return _dedupe(alerts)


def _alert(kind: str, message: str, seq: int | None) -> dict[str, Any]:
    return {"kind": kind, "message": message, "seq": seq}


def _dedupe(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # A voice turn may log the same disclosure gap in several messages of one decision.
    seen: set[tuple[Any, ...]] = set()
    unique = []
    for alert in alerts:
        key = (alert["kind"], alert["message"], alert["seq"])
        if key not in seen:
            seen.add(key)
            unique.append(alert)
    return unique


async def alerts_for(
    session: AsyncSession, conversation: Conversation, flags: list[str]
) -> list[dict[str, Any]]:
    account = await session.get(Account, conversation.account_id)
    refs = {account.account_ref} if account is not None else set()
    events = await chain_events(session, [conversation.id])
    return alerts_from(flags, events, await contact_refusals(session, refs))
