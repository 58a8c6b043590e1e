"""The events and codes of agent assist, shared by the pipeline, the API and the panel.

A `turn` event is published once per logged turn (debtor, agent or human), after the
transaction that logged it has committed; its shape is the assist contract's.
"""

from __future__ import annotations

import datetime as dt

from agent.domain import Analysis, ConversationState, Message
from agent.events import Event
from agent.store.models import Conversation

WRAPUP_CODES = (
    "paid",
    "promise",
    "plan",
    "dispute",
    "callback",
    "refused",
    "cease",
    "wrong_party",
    "other",
)


def turn_event(
    conversation: Conversation,
    seq: int,
    role: str,
    text: str,
    state: ConversationState,
    at: dt.datetime,
    analysis: Analysis | None = None,
    message: Message | None = None,
) -> Event:
    """The contract's `turn` event; `message` rides along for the chat socket."""
    event: Event = {
        "type": "turn",
        "conversation_id": conversation.id,
        "session_id": conversation.session_id,
        "tenant": conversation.tenant,
        "role": role,
        "text": text,
        "seq": seq,
        "emotion": analysis.emotion.value if analysis else None,
        "intents": [i.value for i in analysis.intents] if analysis else [],
        "state": state.public(),
        "logged_at": at.isoformat(),
    }
    if message is not None:
        event["message"] = message.model_dump(mode="json")
    return event


def ended_event(conversation_id: str) -> Event:
    return {"type": "ended", "conversation_id": conversation_id}


def control_event(
    conversation_id: str, controlled_by: str | None, reason: str | None = None
) -> Event:
    """Who holds the conversation now; `reason` when the service changed it on its own
    (`holder_idle`: the bot took back a chat whose debtor waited too long)."""
    event: Event = {
        "type": "control",
        "conversation_id": conversation_id,
        "controlled_by": controlled_by,
    }
    if reason is not None:
        event["reason"] = reason
    return event
