"""Bad input gets a 4xx JSON error, a log line, and changes nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from agent.store.models import AuditEvent, Conversation, Turn


async def _counts(app: FastAPI) -> tuple[int, int, int]:
    async with app.state.services.store.read() as session:
        return (
            await session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
            await session.scalar(select(func.count()).select_from(Turn)) or 0,
            await session.scalar(select(func.count()).select_from(Conversation)) or 0,
        )


async def _session(client: httpx.AsyncClient) -> str:
    response = await client.post("/v1/chat/sessions", json={"account_ref": "DEMO-US-001"})
    assert response.status_code == 201
    return str(response.json()["session_id"])


def _assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, "malformed_json"),
        ('{"text": 12}', 422, "invalid_request"),
        ('{"text": null}', 422, "invalid_request"),
        ('{"words": "hi"}', 422, "invalid_request"),
        ('["hi"]', 422, "invalid_request"),
        ('{"text": ""}', 422, "empty_text"),
        ('{"text": "   \\n  "}', 422, "empty_text"),
        (json.dumps({"text": "x" * 2001}), 422, "text_too_long"),
    ],
)
async def test_bad_message_bodies(
    app: FastAPI,
    client: httpx.AsyncClient,
    body: str,
    status: int,
    code: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session_id = await _session(client)
    before = await _counts(app)
    response = await client.post(
        f"/v1/chat/sessions/{session_id}/messages",
        content=body,
        headers={"content-type": "application/json"},
    )
    _assert_error(response, status, code)
    assert await _counts(app) == before
    assert any(getattr(r, "fields", {}).get("code") == code for r in caplog.records)


async def test_oversized_body_is_refused_before_reading(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    session_id = await _session(client)
    before = await _counts(app)
    response = await client.post(
        f"/v1/chat/sessions/{session_id}/messages",
        content=json.dumps({"text": "a" * 70_000}),
        headers={"content-type": "application/json"},
    )
    _assert_error(response, 413, "body_too_large")
    assert await _counts(app) == before


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"account_ref": "NOPE-000"}, 404, "account_not_found"),
        ({"account_ref": "DEMO-US-001", "locale": "fr-FR"}, 422, "unsupported_locale"),
        ({"account_ref": 42}, 422, "invalid_request"),
        ({}, 422, "invalid_request"),
    ],
)
async def test_bad_session_requests(
    app: FastAPI, client: httpx.AsyncClient, payload: dict[str, Any], status: int, code: str
) -> None:
    before = await _counts(app)
    _assert_error(await client.post("/v1/chat/sessions", json=payload), status, code)
    assert await _counts(app) == before


async def test_unknown_ids(app: FastAPI, client: httpx.AsyncClient) -> None:
    before = await _counts(app)
    _assert_error(
        await client.post("/v1/chat/sessions/nope/messages", json={"text": "hi"}),
        404,
        "session_not_found",
    )
    _assert_error(await client.get("/v1/conversations/nope"), 404, "conversation_not_found")
    _assert_error(await client.get("/v1/no/such/route"), 404, "not_found")
    assert await _counts(app) == before


async def test_message_after_the_end_is_refused(app: FastAPI, client: httpx.AsyncClient) -> None:
    session_id = await _session(client)
    response = await client.post(
        f"/v1/chat/sessions/{session_id}/messages", json={"text": "stop calling me"}
    )
    assert response.json()["state"]["ended"] is True
    before = await _counts(app)
    _assert_error(
        await client.post(f"/v1/chat/sessions/{session_id}/messages", json={"text": "hello"}),
        409,
        "conversation_ended",
    )
    assert await _counts(app) == before
