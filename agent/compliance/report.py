"""`agent compliance report`: refusals, blocks, flags and disclosures per rule, from the log."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.store.models import AuditEvent


async def compliance_report(
    session: AsyncSession, since: dt.datetime, until: dt.datetime | None = None
) -> dict[str, Any]:
    query = select(AuditEvent).where(AuditEvent.created_at >= since.astimezone(dt.UTC).isoformat())
    if until is not None:
        query = query.where(AuditEvent.created_at < until.astimezone(dt.UTC).isoformat())
    refusals: Counter[str] = Counter()
    blocks: Counter[str] = Counter()
    warnings: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    disclosures: Counter[str] = Counter()
    contacts_allowed = conversations = 0
    result = await session.stream_scalars(query.order_by(AuditEvent.seq))
    async for event in result:
        payload = event.payload or {}
        match event.kind:
            case "contact.refused":
                refusals.update(payload.get("rules", []))
            case "contact.allowed":
                contacts_allowed += 1
            case "conversation.started":
                conversations += 1
            case "turn.outbound":
                guard = payload.get("guard", {})
                blocks.update(guard.get("rule_ids", []))
                warnings.update(guard.get("warnings", []))
                disclosures.update(payload.get("message", {}).get("discloses", []))
            case "account.flags":
                flags.update(payload.get("added", []))
    return {
        "since": since.isoformat(),
        "until": until.isoformat() if until else None,
        "conversations": conversations,
        "contacts_allowed": contacts_allowed,
        "contact_refusals_by_rule": dict(refusals.most_common()),
        "guard_blocks_by_rule": dict(blocks.most_common()),
        "guard_warnings_by_rule": dict(warnings.most_common()),
        "flags_set": dict(flags.most_common()),
        "disclosures_given": dict(disclosures.most_common()),
    }


def report_table(report: dict[str, Any]) -> str:
    lines = [
        f"Compliance report {report['since']} .. {report['until'] or 'now'}",
        f"conversations started: {report['conversations']}",
        f"contacts allowed: {report['contacts_allowed']}",
    ]
    for title, key in (
        ("contact refusals", "contact_refusals_by_rule"),
        ("guard blocks", "guard_blocks_by_rule"),
        ("guard warnings", "guard_warnings_by_rule"),
        ("flags set", "flags_set"),
        ("disclosures given", "disclosures_given"),
    ):
        lines.append(f"\n{title}:")
        rows = report[key] or {"(none)": ""}
        lines.extend(f"  {name:<28} {count}" for name, count in rows.items())
    return "\n".join(lines)
