"""Shared steps of the assist tests: sign in, start a verified chat, read the chain."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from agent.compliance.audit import verify_chain
from agent.services import Services
from agent.store.models import AuditEvent

PASSWORDS = {
    "agent@demo": "demo-agent-pass",
    "supervisor@demo": "demo-supervisor-pass",
    "auditor@demo": "demo-auditor-pass",
    "agent@other": "demo-other-pass",
}
DOB = {"DEMO-US-001": "April 12th 1985", "DEMO-CN-001": "1990年8月8日"}


async def sign_in(client: httpx.AsyncClient, username: str) -> None:
    """Sign in by the login API; the cookie stays in the jar, the CSRF token in a header."""
    response = await client.post(
        "/v1/auth/login", json={"username": username, "password": PASSWORDS[username]}
    )
    assert response.status_code == 200, response.text
    client.headers["X-CSRF-Token"] = response.json()["csrf_token"]


async def verified_chat(client: httpx.AsyncClient, account: str = "DEMO-US-001") -> dict[str, Any]:
    """A chat session past the identity check (at `offer_options`)."""
    created = (await client.post("/v1/chat/sessions", json={"account_ref": account})).json()
    reply = await client.post(
        f"/v1/chat/sessions/{created['session_id']}/messages", json={"text": DOB[account]}
    )
    assert reply.json()["state"]["step"] == "offer_options", reply.text
    return dict(created)


async def taken_over_chat(
    client: httpx.AsyncClient, account: str = "DEMO-US-001"
) -> tuple[dict[str, Any], str]:
    """agent@demo signed in on `client`, holding a verified chat: the chat and its assist
    URL."""
    await sign_in(client, "agent@demo")
    chat = await verified_chat(client, account)
    base = f"/v1/assist/conversations/{chat['conversation_id']}"
    assert (await client.post(base + "/takeover")).status_code == 200
    return chat, base


def services_of(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


async def chain_of(app: FastAPI, conversation_id: str) -> list[AuditEvent]:
    async with services_of(app).store.read() as session:
        query = select(AuditEvent).where(AuditEvent.conversation_id == conversation_id)
        return list((await session.execute(query.order_by(AuditEvent.seq))).scalars())


async def chain_ok(app: FastAPI) -> bool:
    async with services_of(app).store.read() as session:
        return (await verify_chain(session)).ok
