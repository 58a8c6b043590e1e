"""Who may call which /v1/assist endpoint: role x endpoint, with tenant isolation.

Expected: anonymous 401 everywhere; an auditor reads (200) but may not act (403); an
agent or a supervisor does both in their own tenant; an agent of another tenant gets
404 for a conversation of the demo tenant (as if it did not exist), and neither the
list nor the live events show it any of the demo tenant's conversations."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from agent.api.main import api_router
from agent.auth.deps import CSRF_HEADER
from agent.auth.sessions import SESSION_COOKIE
from tests.auth.helpers import sign_in
from tests.auth.sse import StreamRead, read_stream
from tests.conftest import http_client


def _registered_paths() -> dict[str, set[str]]:
    # Included routers are resolved lazily, so ask the schema of an app built from them.
    probe = FastAPI()
    probe.include_router(api_router)
    paths: dict[str, dict[str, Any]] = probe.openapi()["paths"]
    return {path: {m.upper() for m in ops} for path, ops in paths.items()}


ASSIST_PATHS = {p: m for p, m in _registered_paths().items() if p.startswith("/v1/assist")}
pytestmark = pytest.mark.skipif(
    not ASSIST_PATHS, reason="the /v1/assist API (agent/api/assist.py) is not registered yet"
)

ROLES = ["agent@demo", "supervisor@demo", "auditor@demo", "anonymous", "agent@other"]
C = "/v1/assist/conversations/{id}"
READS = {
    "list": "/v1/assist/conversations",
    "detail": C,
    "suggestions": C + "/suggestions",
    "summary": C + "/summary",
    "events": "/v1/assist/events",
}
WRITES: dict[str, tuple[str, dict[str, Any] | None]] = {
    "messages": (C + "/messages", {"text": "Thank you for waiting, I am looking into it now."}),
    "takeover": (C + "/takeover", None),
    "handback": (C + "/handback", None),
    "wrapup": (C + "/wrapup", {"code": "callback", "summary": "Asked to be called back."}),
    # The matrix's conversations are chats: past the role checks, no number to retire (409).
    "wrong_number": (C + "/wrong-number", None),
}


def expected(role: str, endpoint: str) -> int:
    if role == "anonymous":
        return 401
    if role == "agent@other":
        return 200 if endpoint in ("list", "events") else 404
    if role == "auditor@demo":
        return 200 if endpoint in READS else 403
    return 409 if endpoint == "wrong_number" else 200


async def _conversation(client: httpx.AsyncClient) -> tuple[str, str]:
    """A fresh demo-tenant chat with one debtor turn: (conversation id, session id)."""
    created = await client.post("/v1/chat/sessions", json={"account_ref": "DEMO-US-001"})
    assert created.status_code == 201, created.text
    body = created.json()
    said = await client.post(
        f"/v1/chat/sessions/{body['session_id']}/messages", json={"text": "Who is calling?"}
    )
    assert said.status_code == 200, said.text
    return body["conversation_id"], body["session_id"]


@contextlib.asynccontextmanager
async def _caller(app: FastAPI, role: str) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(app) as client:
        if role != "anonymous":
            await sign_in(client, role)
        yield client


def _stream_headers(client: httpx.AsyncClient) -> dict[str, str]:
    token = client.cookies.get(SESSION_COOKIE)
    return {"cookie": f"{SESSION_COOKIE}={token}"} if token else {}


@pytest.mark.parametrize("role", ROLES)
async def test_role_by_endpoint(app: FastAPI, client: httpx.AsyncClient, role: str) -> None:
    async with _caller(app, role) as caller, _caller(app, "agent@demo") as helper:
        # `helper` sets the scene where the caller may not.
        actual: dict[str, int] = {}

        shared, session_id = await _conversation(client)
        listed: dict[str, Any] = {}
        for name, template in READS.items():
            if name == "events":
                continue
            response = await caller.get(template.format(id=shared))
            actual[name] = response.status_code
            if name == "list":
                listed = response.json()

        async def debtor_speaks() -> None:
            await client.post(
                f"/v1/chat/sessions/{session_id}/messages", json={"text": "I lost my job."}
            )

        def seen(read: StreamRead) -> bool:
            return any(e.get("conversation_id") == shared for e in read.events)

        stream = await read_stream(
            app,
            READS["events"],
            _stream_headers(caller),
            during=debtor_speaks,
            until=seen,
            timeout_s=1.0 if role == "agent@other" else 5.0,
        )
        actual["events"] = stream.status

        for name, (template, body) in WRITES.items():
            conversation, _ = await _conversation(client)
            path = template.format(id=conversation)
            if name == "handback":
                # Hand back what was taken over: by the caller where it may act.
                setup = caller if expected(role, "takeover") == 200 else helper
                took = await setup.post(C.format(id=conversation) + "/takeover")
                assert took.status_code == 200, took.text
            response = await caller.post(path, json=body)
            actual[name] = response.status_code

    assert actual == {name: expected(role, name) for name in [*READS, *WRITES]}

    if role == "anonymous":
        return
    ids = {c["conversation_id"] for c in listed["conversations"]}
    if role == "agent@other":
        assert shared not in ids
        assert not seen(stream), "another tenant's events reached this stream"
    else:
        assert shared in ids
        assert seen(stream), "the debtor's turn never reached the panel's stream"
        assert stream.headers["content-type"].startswith("text/event-stream")


def test_the_matrix_covers_every_assist_endpoint() -> None:
    covered: dict[str, set[str]] = {}
    for path in READS.values():
        covered.setdefault(path.replace("{id}", "{conversation_id}"), set()).add("GET")
    for path, _ in WRITES.values():
        covered.setdefault(path.replace("{id}", "{conversation_id}"), set()).add("POST")
    assert covered == ASSIST_PATHS


async def test_an_auditor_is_refused_for_the_role_not_the_csrf(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    conversation, _ = await _conversation(client)
    async with _caller(app, "auditor@demo") as auditor:
        assert CSRF_HEADER in auditor.headers
        response = await auditor.post(C.format(id=conversation) + "/takeover")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


async def test_another_tenants_404_matches_a_missing_conversation(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    conversation, _ = await _conversation(client)
    async with _caller(app, "agent@other") as other:
        hidden = await other.get(C.format(id=conversation))
        missing = await other.get(C.format(id="00000000-0000-0000-0000-000000000000"))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"]["code"] == missing.json()["error"]["code"]
