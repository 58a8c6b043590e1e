"""Store work for the call registry: who is calling, storing a new call, and what the
agent last said."""

from __future__ import annotations

import phonenumbers
from sqlalchemy import String, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.compliance.audit import AuditChain
from agent.domain import Message, Tone
from agent.store import repository
from agent.store.models import Account, Call, ContactAttempt, Debtor
from agent.telephony.status import CONTACT_CHANNEL

# The locale an unknown caller is greeted in, from the country of their number.
LOCALE_BY_REGION = {"CN": "zh-CN", "GB": "en-GB"}
DEFAULT_LOCALE = "en-US"


def e164(raw: str | None, region: str | None = None) -> str | None:
    """The number in E.164, or None when it is not a possible number ("anonymous")."""
    if not raw:
        return None
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def locale_for_number(number: str | None) -> str:
    if number is None:
        return DEFAULT_LOCALE
    region = phonenumbers.region_code_for_number(phonenumbers.parse(number, None))
    return LOCALE_BY_REGION.get(region or "", DEFAULT_LOCALE)


def _region(debtor: Debtor) -> str | None:
    # Numbers stored without a country code are read in the debtor's address country.
    return str((debtor.address or {}).get("country") or "") or None


def as_debtor_number(debtor: Debtor, raw: str) -> str | None:
    """`raw` in E.164, read in the debtor's address country when it has no country code."""
    return e164(raw, _region(debtor))


def known_numbers(debtor: Debtor) -> list[str]:
    """Every number stored for the debtor, in E.164 and stored order (callers are
    recognised by any of them)."""
    found = (as_debtor_number(debtor, str(raw)) for raw in debtor.phones or [])
    return [number for number in found if number is not None]


def marked_wrong(debtor: Debtor) -> set[str]:
    """The numbers reported as not the debtor's (agent/telephony/wrong_numbers.py)."""
    return {entry["number"] for entry in debtor.wrong_numbers or []}


def debtor_numbers(debtor: Debtor) -> list[str]:
    """The numbers we may dial or text, in E.164 and stored order, leaving out those
    reported wrong; the first is the one dialled."""
    wrong = marked_wrong(debtor)
    return [number for number in known_numbers(debtor) if number not in wrong]


async def account_for_phone(session: AsyncSession, number: str) -> tuple[Account, Debtor] | None:
    """The account of the one debtor with this number, or None.

    Phones live in a JSON list, so the database narrows by the last four digits (plain
    text on SQLite and PostgreSQL alike) and Python compares normalised numbers. A
    number shared by several debtors identifies nobody: the caller is treated as
    unknown rather than risk opening another person's account."""
    debtors = (
        await session.execute(
            select(Debtor).where(cast(Debtor.phones, String).like(f"%{number[-4:]}%"))
        )
    ).scalars()
    matches = [d for d in debtors if number in known_numbers(d)]
    if len(matches) != 1:
        return None
    account = (
        (
            await session.execute(
                select(Account).where(Account.debtor_id == matches[0].id).order_by(Account.id)
            )
        )
        .scalars()
        .first()
    )
    return None if account is None else (account, matches[0])


async def latest_agent_messages(session: AsyncSession, conversation_id: str) -> list[Message]:
    """What the agent said since the debtor last spoke (the opening, for a new call)."""
    turns = await repository.turns_of(session, conversation_id)
    trailing = []
    for turn in reversed(turns):
        if turn.role == "debtor":
            break
        trailing.append(turn)
    messages = []
    for turn in reversed(trailing):
        stored = (turn.decision or {}).get("message")
        if isinstance(stored, dict):
            messages.append(Message.model_validate(stored))
        else:
            messages.append(Message(text=turn.text, template_id="", tone=Tone.neutral))
    return messages


async def insert_call(
    session: AsyncSession,
    call: Call,
    kind: str,
    account_ref: str | None,
    match: tuple[Account, Debtor] | None,
) -> None:
    """Store a new call and its audit event; a known inbound caller's call also gets a
    contact-history row, for the record (the caps only ever count outbound rows)."""
    chain = await AuditChain.open(session)
    if match is not None:
        attempt = ContactAttempt(
            debtor_id=match[1].id,
            account_id=match[0].id,
            channel=CONTACT_CHANNEL,
            direction="inbound",
            number=call.from_number,
            purpose="collection",
            outcome="pending",
            started_at=call.created_at,
            updated_at=call.created_at,
        )
        session.add(attempt)
        await session.flush()
        call.contact_attempt_id = attempt.id
    session.add(call)
    chain.append(
        kind,
        None,
        {
            "call_id": call.id,
            "call_sid": call.call_sid,
            "account_ref": account_ref,
            "mode": call.mode,
            "locale": call.locale,
            "attempt_id": call.contact_attempt_id,
        },
    )
    await chain.close()
