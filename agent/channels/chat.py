"""The chat channel's wire shapes (CONTRACT.md), shared by HTTP and WebSocket."""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from agent.errors import InvalidInput
from agent.pipeline import TurnOutcome


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    account_ref: StrictStr = Field(min_length=1, max_length=64)
    locale: StrictStr | None = Field(default=None, max_length=16)
    # The token of a campaign's texted chat link (/c/{token}): ties the conversation to
    # its campaign for the analytics. Optional; an unknown or foreign token is ignored.
    link: StrictStr | None = Field(default=None, max_length=64)


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: StrictStr


class SocketMessage(BaseModel):
    """What a WebSocket client sends: `{"type": "message", "text": "..."}`."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["message"] = "message"
    text: StrictStr


# C0/C1 control characters: never meant in chat, and PostgreSQL cannot store NUL.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean_text(text: str, max_chars: int) -> str:
    """Normalise whitespace and control characters; refuse text that cannot be stored
    (a lone surrogate), that shows nothing, or that is oversized (nothing is stored)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("invalid_text", "text is not valid Unicode") from None
    cleaned = " ".join(_CONTROL.sub(" ", text).split())
    # Only format characters (zero-width, direction marks) or separators: nothing was said.
    if not any(unicodedata.category(c)[0] not in "CZ" for c in cleaned):
        raise InvalidInput("empty_text", "text is empty")
    if len(cleaned) > max_chars:
        raise InvalidInput("text_too_long", f"text is over {max_chars} characters")
    return cleaned


def session_body(outcome: TurnOutcome) -> dict[str, Any]:
    return {
        "session_id": outcome.session_id,
        "conversation_id": outcome.conversation_id,
        "messages": [m.model_dump(mode="json") for m in outcome.messages],
        "state": outcome.state.public(),
    }


def reply_body(outcome: TurnOutcome) -> dict[str, Any]:
    return {
        "conversation_id": outcome.conversation_id,
        "messages": [m.model_dump(mode="json") for m in outcome.messages],
        "state": outcome.state.public(),
        "analysis": analysis_body(outcome),
    }


def pushed_reply(event: dict[str, Any]) -> dict[str, Any] | None:
    """A message nobody's chat message asked for, from the event bus, as the socket's
    `reply` frame with `pushed`: what a person in the assist panel says, or the bot's
    answer when it takes back a chat the person left waiting. Only such turns carry a
    `message` on the bus (the bot's ordinary replies go back on the asking socket)."""
    if event.get("type") != "turn" or "message" not in event:
        return None
    return {
        "type": "reply",
        "pushed": True,
        "conversation_id": event["conversation_id"],
        "messages": [{**event["message"], "seq": event["seq"]}],
        "state": event["state"],
        "analysis": None,
    }


def analysis_body(outcome: TurnOutcome) -> dict[str, Any] | None:
    if outcome.analysis is None:
        return None
    return outcome.analysis.model_dump(mode="json", include=ANALYSIS_FIELDS)


# The `Analysis` shape of CONTRACT.md (what `agent classify` writes).
ANALYSIS_FIELDS = {"text", "language", "emotion", "emotion_scores", "intents", "entities"}
