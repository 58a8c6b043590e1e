"""Signing in the demo users from tests."""

from __future__ import annotations

from typing import Any

import httpx

from agent.auth.deps import CSRF_HEADER

PASSWORDS = {
    "agent@demo": "demo-agent-pass",
    "supervisor@demo": "demo-supervisor-pass",
    "auditor@demo": "demo-auditor-pass",
    "agent@other": "demo-other-pass",
}


async def sign_in(client: httpx.AsyncClient, username: str) -> dict[str, Any]:
    """Sign `client` in (its cookie jar keeps the session); sends the CSRF token from now on."""
    response = await client.post(
        "/v1/auth/login", json={"username": username, "password": PASSWORDS[username]}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    client.headers[CSRF_HEADER] = body["csrf_token"]
    return body
