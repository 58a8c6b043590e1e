"""The transcript of a conversation: turns with analysis, decisions and guard results."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agent.domain import ConversationState
from agent.store import repository
from agent.store.models import Conversation


async def transcript_body(session: AsyncSession, conversation: Conversation) -> dict[str, Any]:
    turns = await repository.turns_of(session, conversation.id)
    state = ConversationState.model_validate(conversation.state)
    return {
        "conversation_id": conversation.id,
        "channel": conversation.channel,
        "locale": conversation.locale,
        "policy": {"id": conversation.policy_id, "version": conversation.policy_version},
        "started_at": conversation.started_at.isoformat(),
        "ended_at": conversation.ended_at.isoformat() if conversation.ended_at else None,
        "state": state.public(),
        "turns": [
            {
                "seq": t.seq,
                "role": t.role,
                "text": t.text,
                "created_at": t.created_at.isoformat(),
                "analysis": t.analysis,
                "decision": t.decision,
                "guard": t.guard,
            }
            for t in turns
        ],
    }
