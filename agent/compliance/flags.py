"""Account flags: set from any channel, honoured by every channel and by outbound contact."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.compliance.contact import FlagState
from agent.store.database import utc
from agent.store.models import AccountFlag

# Flags a compliance officer or an integration may set through the API, besides the
# ones the conversation raises (see compliance/observe.py).
SETTABLE_FLAGS = frozenset(
    {
        "cease_contact",
        "attorney",
        "bankruptcy",
        "dispute",
        "vulnerability",
        "vulnerability_pause",
        "breathing_space",
        "capacity_concern",
        "advice_pause",
        "no_work_contact",
        "optout_call",
        "optout_sms",
        "optout_email",
        "litigation_authorized",
        "time_barred",
    }
)

# The debtor's own requests to stop contact, or a medium (1692c(c), 1006.14(h)): only the
# debtor withdraws them (a texted START lifts a texted STOP). Staff may lift the others,
# with a reason: a dispute once verification is sent, a bankruptcy dismissed, a
# representative withdrawn, a pause ended early, a flag set by mistake.
DEBTORS_OWN_FLAGS = frozenset({"cease_contact", "optout_call", "optout_sms", "optout_email"})
LIFTABLE_FLAGS = SETTABLE_FLAGS - DEBTORS_OWN_FLAGS


# Sources whose flags a later message from the same source may lift again (a texted
# START lifts a texted STOP). When any other source sets such a flag while it is active,
# it takes the flag over, so the firmer request decides: after "don't text me" in a
# conversation, a START no longer reopens texts.
SMS_KEYWORD_SOURCE = "sms_keyword"
REVOCABLE_SOURCES = frozenset({SMS_KEYWORD_SOURCE})


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else utc(value)


async def active_flags(
    session: AsyncSession, account_id: int, at: dt.datetime
) -> dict[str, FlagState]:
    rows = (
        await session.execute(select(AccountFlag).where(AccountFlag.account_id == account_id))
    ).scalars()
    states = {row.flag: FlagState(as_utc(row.set_at) or at, as_utc(row.expires_at)) for row in rows}
    return {name: state for name, state in states.items() if state.active(at)}


async def set_flags(
    session: AsyncSession,
    account_id: int,
    flags: Iterable[str],
    at: dt.datetime,
    source: str,
    conversation_id: str | None = None,
    expires_at: dt.datetime | None = None,
    details: dict[str, Any] | None = None,
) -> list[str]:
    """Set (or renew) flags; returns those that were not already active. An active flag
    from a revocable source (`REVOCABLE_SOURCES`) is taken over by any other source."""
    existing = {
        row.flag: row
        for row in (
            await session.execute(select(AccountFlag).where(AccountFlag.account_id == account_id))
        ).scalars()
    }
    added = []
    for flag in dict.fromkeys(flags):
        row = existing.get(flag)
        if row is None:
            session.add(
                AccountFlag(
                    account_id=account_id,
                    flag=flag,
                    set_at=at,
                    expires_at=expires_at,
                    source=source,
                    conversation_id=conversation_id,
                    details=details or {},
                )
            )
            added.append(flag)
        elif not FlagState(as_utc(row.set_at) or at, as_utc(row.expires_at)).active(at):
            row.set_at, row.expires_at, row.source = at, expires_at, source
            row.conversation_id, row.details = conversation_id, details or {}
            added.append(flag)
        elif row.source in REVOCABLE_SOURCES and source != row.source:
            end = as_utc(row.expires_at)  # the later end of the two holds
            row.expires_at = None if end is None or expires_at is None else max(end, expires_at)
            row.source = source
            row.conversation_id, row.details = conversation_id, details or {}
    return added


async def lift_flag(
    session: AsyncSession, account_id: int, flag: str, at: dt.datetime, source: str | None
) -> bool:
    """End `flag` at `at` if it is active and `source` set it (None: whoever set it);
    True if it was lifted. A flag from any other source is left as it is."""
    row = (
        await session.execute(
            select(AccountFlag).where(
                AccountFlag.account_id == account_id, AccountFlag.flag == flag
            )
        )
    ).scalar_one_or_none()
    if row is None or (source is not None and row.source != source):
        return False
    if not FlagState(as_utc(row.set_at) or at, as_utc(row.expires_at)).active(at):
        return False
    row.expires_at = at
    return True
