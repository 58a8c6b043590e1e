"""Chat over HTTP and WebSocket: the same pipeline, the same shapes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from agent.api.deps import ServicesDep, get_services
from agent.channels.chat import (
    MessageCreate,
    SessionCreate,
    SocketMessage,
    clean_text,
    pushed_reply,
    reply_body,
    session_body,
)
from agent.errors import NotFound, ServiceError
from agent.events import Subscription
from agent.logs import log_event
from agent.security.throttle import check_new_session, check_turn
from agent.store import repository
from agent.transcript import transcript_body

router = APIRouter(prefix="/v1/chat", tags=["chat"])
log = logging.getLogger("agent.api.chat")


@router.post("/sessions", status_code=201)
async def create_session(
    body: SessionCreate, request: Request, services: ServicesDep
) -> dict[str, Any]:
    await check_new_session(request)
    campaign_id = await services.campaigns.link_campaign(body.link, body.account_ref)
    outcome = await services.pipeline.start(
        body.account_ref, body.locale, "chat", campaign_id=campaign_id
    )
    return session_body(outcome)


@router.post("/sessions/{session_id}/messages")
async def post_message(
    session_id: str, body: MessageCreate, request: Request, services: ServicesDep
) -> dict[str, Any]:
    await check_turn(request, session_id)  # before anything is read or written
    text = clean_text(body.text, services.settings.max_message_chars)
    outcome = await services.pipeline.handle(session_id, text)
    return reply_body(outcome)


@router.websocket("/sessions/{session_id}/ws")
async def chat_socket(websocket: WebSocket, session_id: str) -> None:
    services = get_services(websocket)
    await websocket.accept()
    async with services.store.read() as session:
        conversation = await repository.conversation_by_session(session, session_id)
        if conversation is not None:
            history = await transcript_body(session, conversation)
    if conversation is None:
        await _send_error(
            websocket, NotFound("session_not_found", f"no chat session {session_id!r}")
        )
        await websocket.close(code=4404)
        return
    # Subscribed before the history is sent, so a human agent's message logged in
    # between is either in the history or pushed (the widget drops duplicates by seq).
    subscription = services.events.subscribe(f"session:{session_id}")
    pusher = asyncio.create_task(_push(websocket, subscription), name=f"chat-push-{session_id}")
    # On (re)connect the client gets the whole conversation so far: a dropped socket
    # resumes the same session with nothing lost.
    try:
        await websocket.send_json({"type": "session", "session_id": session_id, **history})
        while True:
            raw = await websocket.receive_text()
            try:
                incoming = SocketMessage.model_validate(json.loads(raw))
                text = clean_text(incoming.text, services.settings.max_message_chars)
                await check_turn(websocket, session_id)  # refused: an error frame, open socket
                await websocket.send_json({"type": "typing"})
                outcome = await services.pipeline.handle(session_id, text)
            except (json.JSONDecodeError, ValidationError) as exc:
                code = (
                    "malformed_json" if isinstance(exc, json.JSONDecodeError) else "invalid_request"
                )
                await _send_error(
                    websocket, ServiceError(code, 'expected {"type": "message", "text": "..."}')
                )
                continue
            except ServiceError as exc:
                await _send_error(websocket, exc)
                continue
            await websocket.send_json({"type": "reply", **reply_body(outcome)})
    except WebSocketDisconnect:
        log_event(log, "chat_socket_closed", session_id=session_id)
    finally:
        pusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pusher
        subscription.close()


async def _push(websocket: WebSocket, subscription: Subscription) -> None:
    """Forward what a person in the assist panel says (committed, then published)."""
    async for event in subscription:
        body = pushed_reply(event)
        if body is None:
            continue
        try:
            await websocket.send_json(body)
        except (WebSocketDisconnect, RuntimeError, OSError):
            return  # the socket is gone; the receive loop ends the handler


async def _send_error(websocket: WebSocket, error: ServiceError) -> None:
    log_event(log, "socket_message_rejected", logging.WARNING, code=error.code)
    await websocket.send_json({"type": "error", **error.body()})
