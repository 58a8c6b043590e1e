"""The agent-assist API: live conversations, suggestions, takeover, wrap-up, live events.

Every route is scoped to the caller's tenant: a conversation of another tenant is a
404, exactly like one that does not exist, so its existence is not revealed. Reading
needs any role (`ReaderDep`); changing a conversation needs agent or supervisor
(`ActorDep`, with the CSRF check for cookie sign-ins). Text is only ever returned as
JSON strings; the pages insert it with textContent.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.api.deps import ServicesDep
from agent.assist.alerts import alerts_for, alerts_from, chain_events, contact_refusals
from agent.assist.suggestions import Suggester
from agent.assist.summary import summarize
from agent.auth.deps import ActorDep, Principal, ReaderDep
from agent.channels.chat import clean_text
from agent.compliance.audit import AuditChain
from agent.domain import ConversationState
from agent.errors import Conflict, NotFound
from agent.services import Services
from agent.store import repository
from agent.store.database import utc
from agent.store.models import Account, Conversation, Turn
from agent.telephony.wrong_numbers import (
    WRONG,
    conversation_number,
    number_body,
    set_number_status,
)

router = APIRouter(prefix="/v1/assist", tags=["assist"])
LIVE_LIMIT = 200


class SendBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: StrictStr | None = None
    template_id: StrictStr | None = Field(default=None, max_length=64)


class WrapupBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: Literal[
        "paid", "promise", "plan", "dispute", "callback", "refused", "cease", "wrong_party", "other"
    ]
    summary: StrictStr | None = Field(default=None, max_length=4000)


async def _owned(session: AsyncSession, conversation_id: str, principal: Principal) -> Conversation:
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None or conversation.tenant != principal.tenant:
        raise NotFound("conversation_not_found", f"no conversation {conversation_id!r}")
    return conversation


def _overrides(principal: Principal) -> bool:
    """A supervisor may take a conversation from, or hand it back for, another person."""
    return principal.role == "supervisor"


def _turn_body(turn: Turn) -> dict[str, Any]:
    analysis = turn.analysis or {}
    message = (turn.decision or {}).get("message") or {}
    return {
        "seq": turn.seq,
        "role": turn.role,
        "text": turn.text,
        "emotion": analysis.get("emotion"),
        "emotion_scores": analysis.get("emotion_scores"),
        "intents": analysis.get("intents", []),
        "tone": message.get("tone"),
        "template_id": message.get("template_id"),
        "created_at": utc(turn.created_at).isoformat(),
    }


@router.get("/conversations")
async def live_conversations(principal: ReaderDep, services: ServicesDep) -> dict[str, Any]:
    async with services.store.read() as session:
        rows = (
            await session.execute(
                select(Conversation, Account.account_ref)
                .join(Account, Account.id == Conversation.account_id)
                .where(Conversation.tenant == principal.tenant, Conversation.ended_at.is_(None))
                .order_by(Conversation.updated_at.desc())
                .limit(LIVE_LIMIT)
            )
        ).all()
        ids = [c.id for c, _ in rows]
        emotions: dict[str, str | None] = {}
        debtor_turns = await session.execute(
            select(Turn.conversation_id, Turn.analysis)
            .where(Turn.conversation_id.in_(ids), Turn.role == "debtor")
            .order_by(Turn.seq)
        )
        for conversation_id, analysis in debtor_turns:
            emotions[conversation_id] = (analysis or {}).get("emotion")
        events = await chain_events(session, ids)
        refusals = await contact_refusals(session, {ref for _, ref in rows})
        waiting = await repository.waiting_since(session, ids)
    body = []
    for conversation, account_ref in rows:
        state = ConversationState.model_validate(conversation.state)
        own = [e for e in events if e.conversation_id == conversation.id]
        mine = [r for r in refusals if (r.payload or {}).get("account_ref") == account_ref]
        body.append(
            {
                "conversation_id": conversation.id,
                "session_id": conversation.session_id,
                "channel": conversation.channel,
                "account_ref": account_ref,
                "locale": conversation.locale,
                "step": state.step,
                "emotion": emotions.get(conversation.id),
                "flags": state.flags,
                "alerts": len(alerts_from(state.flags, own, mine)),
                "controlled_by": conversation.controlled_by,
                "waiting_since": _iso(waiting.get(conversation.id)),
                "updated_at": utc(conversation.updated_at).isoformat(),
                "ended": state.ended,
            }
        )
    return {
        "conversations": body,
        "takeover_idle_seconds": _idle_seconds(services),
        # The server's time: the panel counts waits on this clock, not the browser's.
        "now": services.pipeline.clock().isoformat(),
    }


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _idle_seconds(services: Services) -> float | None:
    """How long a person may leave the debtor waiting before the bot takes the chat back
    (None: never); the panel counts down from `waiting_since` with it."""
    idle = services.pipeline.takeover_idle
    return None if idle is None else idle.total_seconds()


@router.get("/conversations/{conversation_id}")
async def conversation_detail(
    conversation_id: str, principal: ReaderDep, services: ServicesDep
) -> dict[str, Any]:
    async with services.store.read() as session:
        conversation = await _owned(session, conversation_id, principal)
        account = await session.get(Account, conversation.account_id)
        turns = await repository.turns_of(session, conversation.id)
        state = ConversationState.model_validate(conversation.state)
        alerts = await alerts_for(session, conversation, state.flags)
        reached = await conversation_number(session, conversation)
        waiting = await repository.waiting_since(session, [conversation.id])
    return {
        "conversation_id": conversation.id,
        "session_id": conversation.session_id,
        "channel": conversation.channel,
        "account_ref": account.account_ref if account else None,
        "locale": conversation.locale,
        "step": state.step,
        "verified": state.verified,
        "ended": state.ended,
        "handoff": state.handoff,
        "flags": state.flags,
        "promise": state.public()["promise"],
        "controlled_by": conversation.controlled_by,
        "waiting_since": _iso(waiting.get(conversation.id)),
        "turns": [_turn_body(t) for t in turns],
        "emotion_trend": [
            {
                "seq": t.seq,
                "emotion": t.analysis.get("emotion"),
                "scores": t.analysis.get("emotion_scores"),
            }
            for t in turns
            if t.role == "debtor" and t.analysis
        ],
        "alerts": alerts,
        "wrapup": conversation.wrapup,
        "number": None if reached is None else number_body(*reached),
    }


def _suggester(request: Request, services: Services) -> Suggester:
    # One per app: the encoder and the purpose embeddings are loaded once.
    suggester: Suggester | None = getattr(request.app.state, "suggester", None)
    if suggester is None:
        suggester = request.app.state.suggester = Suggester(services.dialogue)
    return suggester


@router.get("/conversations/{conversation_id}/suggestions")
async def suggestions(
    conversation_id: str, request: Request, principal: ReaderDep, services: ServicesDep
) -> dict[str, Any]:
    async with services.store.read() as session:
        conversation = await _owned(session, conversation_id, principal)
        turns = await repository.turns_of(session, conversation.id)
    found = await _suggester(request, services).suggest(services.pipeline, conversation, turns)
    return {"suggestions": [s.body() for s in found]}


@router.post("/conversations/{conversation_id}/messages")
async def send_message(
    conversation_id: str, body: SendBody, principal: ActorDep, services: ServicesDep
) -> dict[str, Any]:
    async with services.store.read() as session:
        await _owned(session, conversation_id, principal)
    text = None
    if body.template_id is None:
        text = clean_text(body.text or "", services.settings.max_message_chars)
    message, verdict = await services.pipeline.human_message(
        conversation_id, text, principal.username, body.template_id
    )
    return {"message": message.model_dump(mode="json"), "guard": verdict.model_dump(mode="json")}


@router.post("/conversations/{conversation_id}/takeover")
async def takeover(
    conversation_id: str, principal: ActorDep, services: ServicesDep
) -> dict[str, Any]:
    async with services.store.read() as session:
        await _owned(session, conversation_id, principal)
    await services.pipeline.set_control(
        conversation_id, principal.username, principal.username, _overrides(principal)
    )
    return {"conversation_id": conversation_id, "controlled_by": principal.username}


@router.post("/conversations/{conversation_id}/handback")
async def handback(
    conversation_id: str, principal: ActorDep, services: ServicesDep
) -> dict[str, Any]:
    async with services.store.read() as session:
        await _owned(session, conversation_id, principal)
    await services.pipeline.set_control(
        conversation_id, None, principal.username, _overrides(principal)
    )
    return {"conversation_id": conversation_id, "controlled_by": None}


@router.post("/conversations/{conversation_id}/wrapup")
async def wrapup(
    conversation_id: str, body: WrapupBody, principal: ActorDep, services: ServicesDep
) -> dict[str, Any]:
    async with services.store.read() as session:
        await _owned(session, conversation_id, principal)
    record = await services.pipeline.wrapup(
        conversation_id, body.code, body.summary, principal.username
    )
    return {"conversation_id": conversation_id, "wrapup": record}


@router.post("/conversations/{conversation_id}/wrong-number")
async def wrong_number(
    conversation_id: str, principal: ActorDep, services: ServicesDep
) -> dict[str, Any]:
    """The person on this call (or texted link) is not the debtor and does not know them:
    never use the number that reached them again for this debtor. The number itself is
    not shown to the collector; lifting the mark is `POST /v1/accounts/{ref}/numbers`."""
    async with services.store.write() as session:
        conversation = await _owned(session, conversation_id, principal)
        reached = await conversation_number(session, conversation)
        if reached is None:
            raise Conflict("no_number", "no number of the debtor's reached this conversation")
        chain = await AuditChain.open(session)
        changed = await set_number_status(
            session,
            chain,
            *reached,
            WRONG,
            services.pipeline.clock(),
            "agent",
            conversation.id,
            principal.username,
        )
        await chain.close()
        body = number_body(*reached)
    return {"conversation_id": conversation_id, "number": body, "changed": changed}


@router.get("/conversations/{conversation_id}/summary")
async def summary(
    conversation_id: str, principal: ReaderDep, services: ServicesDep
) -> dict[str, Any]:
    async with services.store.read() as session:
        conversation = await _owned(session, conversation_id, principal)
        turns = await repository.turns_of(session, conversation.id)
    return summarize(conversation, turns)


@router.get("/events")
async def events(principal: ReaderDep, services: ServicesDep) -> StreamingResponse:
    """Server-Sent Events: every event of the caller's tenant as `data: <json>`.

    Subscribed before the response starts, so nothing committed after the first byte
    (the `: connected` comment) is missed. A `: ping` comment every AGENT_ASSIST_PING_S
    keeps proxies from closing an idle stream. When the client goes away Starlette
    cancels the generator and `finally` drops the subscription."""
    subscription = services.events.subscribe(f"tenant:{principal.tenant}")
    ping_s = services.settings.assist_ping_s

    async def stream() -> AsyncIterator[str]:
        try:
            yield ": connected\n\n"
            while True:
                event = await subscription.next_within(ping_s)
                if event is None:
                    yield ": ping\n\n"
                else:
                    yield f"data: {json.dumps(event, ensure_ascii=False, default=str)}\n\n"
        finally:
            subscription.close()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
