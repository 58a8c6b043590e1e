"""Numbers reported as not the debtor's: never dialled or texted again for that debtor.

A person who answers one of the debtor's numbers and says it is the wrong number (in a
call, in a chat opened from a link we texted, or by texting back "wrong number") is not
the debtor and does not know them;
calling again would only reach that stranger again. Collectors mark such a number
"wrong" and stop using it: in the US each further call to a reassigned number risks
TCPA liability, and under every pack repeated contact with a third party breaks the
right-party rule (ALL-RPC, US-3P, UK-3P, CN-WHO).

A mark sticks to the debtor (all their accounts), survives re-imports of the portfolio,
and is lifted only by a person (`POST /v1/accounts/{ref}/numbers` with status
`reachable`, e.g. once the debtor confirms the number is theirs). Every change is one
audit event, `debtor.number`, which names the number by its last four digits only.
Dialling and texting pick from `lookup.debtor_numbers`, which leaves marked numbers
out; the contact rules refuse a marked number outright.

Someone who answers for the debtor ("he's not home", `third_party`) does not mark the
number: it is still the debtor's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.compliance.audit import AuditChain
from agent.store.models import Account, Call, ContactAttempt, Conversation, Debtor
from agent.telephony.lookup import known_numbers, marked_wrong

WRONG = "wrong"
REACHABLE = "reachable"


def number_statuses(debtor: Debtor) -> list[dict[str, Any]]:
    """Each of the debtor's numbers, in stored order, with its status and, for a wrong
    one, when and how it was reported."""
    marks = {entry["number"]: entry for entry in debtor.wrong_numbers or []}
    return [
        {"number": number, "status": WRONG if number in marks else REACHABLE}
        | {k: v for k, v in marks.get(number, {}).items() if k != "number"}
        for number in known_numbers(debtor)
    ]


async def set_number_status(
    session: AsyncSession,
    chain: AuditChain,
    debtor: Debtor,
    number: str,
    status: str,
    at: dt.datetime,
    source: str,
    conversation_id: str | None = None,
    by: str | None = None,
) -> bool:
    """Mark one of the debtor's numbers wrong or reachable again; True if that changed
    anything, and then one audit event (with `by`, the person, when one did it). A number
    that is not the debtor's changes nothing (the caller decides whether that is an
    error)."""
    already = (number in marked_wrong(debtor)) == (status == WRONG)
    if already or number not in known_numbers(debtor):
        return False
    kept = [e for e in debtor.wrong_numbers or [] if e["number"] != number]
    if status == WRONG:
        kept.append({"number": number, "reported_at": at.isoformat(), "source": source})
    debtor.wrong_numbers = kept  # a new list: SQLAlchemy sees JSON changes on assignment
    refs = await session.execute(
        select(Account.account_ref).where(Account.debtor_id == debtor.id).order_by(Account.id)
    )
    chain.append(
        "debtor.number",
        conversation_id,
        {
            "account_refs": list(refs.scalars()),
            "number_ending": number[-4:],  # which of the debtor's numbers, without the number
            "status": status,
            "source": source,
            **({"by": by} if by else {}),
        },
    )
    return True


async def conversation_number(
    session: AsyncSession, conversation: Conversation
) -> tuple[Debtor, str] | None:
    """The debtor behind a conversation and the number that reached it, when that
    number is one of the debtor's; else None (a plain chat, an anonymous caller)."""
    number = await _number_of(session, conversation)
    if number is None:  # most conversations are plain chats: no more queries for them
        return None
    account = await session.get(Account, conversation.account_id)
    debtor = None if account is None else await session.get(Debtor, account.debtor_id)
    if debtor is None or number not in known_numbers(debtor):
        return None
    return debtor, number


def number_body(debtor: Debtor, number: str) -> dict[str, str]:
    """How the panel shows a number: its last four digits and its status."""
    return {"ending": number[-4:], "status": WRONG if number in marked_wrong(debtor) else REACHABLE}


async def _number_of(session: AsyncSession, conversation: Conversation) -> str | None:
    """The number that reached whoever is in this conversation: the debtor's side of its
    call (the number dialled, or the caller's), or, for a chat opened from a campaign's
    texted link, the number the link was last texted to; None for any other chat."""
    call = (
        (await session.execute(select(Call).where(Call.conversation_id == conversation.id)))
        .scalars()
        .first()
    )
    if call is not None:
        return call.to_number if call.direction == "outbound" else call.from_number
    if conversation.campaign_id is None:
        return None
    texted = await session.execute(
        select(ContactAttempt.number)
        .where(
            ContactAttempt.account_id == conversation.account_id,
            ContactAttempt.campaign_id == conversation.campaign_id,
            ContactAttempt.channel == "sms",
            ContactAttempt.started_at <= conversation.started_at,
        )
        .order_by(ContactAttempt.started_at.desc(), ContactAttempt.id.desc())
        .limit(1)
    )
    return texted.scalar()
