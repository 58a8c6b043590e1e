"""Queries the service needs, in one place."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from agent.errors import NotFound
from agent.store.database import utc
from agent.store.models import Account, Conversation, Debtor, Turn


async def account_with_debtor(
    session: AsyncSession, account_ref: str
) -> tuple[Account, Debtor] | None:
    row = (
        await session.execute(
            select(Account, Debtor)
            .join(Debtor, Debtor.id == Account.debtor_id)
            .where(Account.account_ref == account_ref)
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def require_account(
    session: AsyncSession, account_ref: str, tenant: str | None = None
) -> tuple[Account, Debtor]:
    """The account and its debtor, or `NotFound` (a 404 for API callers). With `tenant`,
    another tenant's account is not found either, so its existence is not revealed."""
    found = await account_with_debtor(session, account_ref)
    if found is None or (tenant is not None and found[0].tenant != tenant):
        raise NotFound("account_not_found", f"no account {account_ref!r}")
    return found


async def account_by_id(session: AsyncSession, account_id: int) -> tuple[Account, Debtor]:
    row = (
        await session.execute(
            select(Account, Debtor)
            .join(Debtor, Debtor.id == Account.debtor_id)
            .where(Account.id == account_id)
        )
    ).one()
    return row[0], row[1]


async def conversation_by_session(session: AsyncSession, session_id: str) -> Conversation | None:
    return (
        await session.execute(select(Conversation).where(Conversation.session_id == session_id))
    ).scalar_one_or_none()


async def turns_of(session: AsyncSession, conversation_id: str) -> list[Turn]:
    return list(
        (
            await session.execute(
                select(Turn).where(Turn.conversation_id == conversation_id).order_by(Turn.seq)
            )
        ).scalars()
    )


def _unanswered() -> ColumnElement[bool]:
    """A debtor turn after the last agent or human turn of its conversation."""
    answer = aliased(Turn)
    last_answer = (
        select(func.coalesce(func.max(answer.seq), 0))
        .where(answer.conversation_id == Turn.conversation_id, answer.role != "debtor")
        .correlate(Turn)
        .scalar_subquery()
    )
    return and_(Turn.role == "debtor", Turn.seq > last_answer)


async def waiting_since(
    session: AsyncSession, conversation_ids: Sequence[str]
) -> dict[str, dt.datetime]:
    """Per conversation whose debtor is waiting for an answer: when the oldest unanswered
    debtor turn was taken. Conversations with nothing unanswered are absent."""
    if not conversation_ids:
        return {}
    rows = await session.execute(
        select(Turn.conversation_id, func.min(Turn.created_at))
        .where(Turn.conversation_id.in_(conversation_ids), _unanswered())
        .group_by(Turn.conversation_id)
    )
    return {conversation_id: utc(oldest) for conversation_id, oldest in rows}


async def waiting_turns(session: AsyncSession, conversation_id: str) -> list[Turn]:
    """The debtor turns nobody has answered yet, oldest first."""
    return list(
        (
            await session.execute(
                select(Turn)
                .where(Turn.conversation_id == conversation_id, _unanswered())
                .order_by(Turn.seq)
            )
        ).scalars()
    )


async def held_conversations(session: AsyncSession) -> list[str]:
    """Open conversations a person has taken over, every tenant's."""
    return list(
        (
            await session.execute(
                select(Conversation.id).where(
                    Conversation.controlled_by.is_not(None), Conversation.ended_at.is_(None)
                )
            )
        ).scalars()
    )


async def last_turn_seq(session: AsyncSession, conversation_id: str) -> int:
    value = await session.scalar(
        select(func.max(Turn.seq)).where(Turn.conversation_id == conversation_id)
    )
    return int(value or 0)


async def collection_disclosure_given(session: AsyncSession, account_id: int) -> bool:
    """Did any earlier conversation on this account give the collection disclosure?"""
    states = (
        await session.execute(
            select(Conversation.state).where(Conversation.account_id == account_id)
        )
    ).scalars()
    return any(
        {"mini_miranda", "collection_notice"} & set(state.get("disclosures", []))
        for state in states
    )
