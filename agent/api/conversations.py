from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from agent.api.deps import ServicesDep
from agent.errors import NotFound
from agent.store.models import Conversation
from agent.transcript import transcript_body

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])


@router.get("/{conversation_id}")
async def get_conversation(conversation_id: str, services: ServicesDep) -> dict[str, Any]:
    async with services.store.read() as session:
        conversation = await session.get(Conversation, conversation_id)
        if conversation is None:
            raise NotFound("conversation_not_found", f"no conversation {conversation_id!r}")
        return await transcript_body(session, conversation)
