"""The chat WebSocket: same messages as HTTP, resume after a drop, bad frames survive."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from agent.app import create_app
from agent.settings import Settings
from tests.conftest import fixed_clock


@pytest.fixture
def sync_client(settings: Settings) -> Iterator[TestClient]:
    app: FastAPI = create_app(settings, clock=fixed_clock)
    with TestClient(app) as client:
        yield client


def test_full_conversation_over_the_socket_with_a_reconnect(sync_client: TestClient) -> None:
    created = sync_client.post("/v1/chat/sessions", json={"account_ref": "DEMO-US-001"}).json()
    path = f"/v1/chat/sessions/{created['session_id']}/ws"
    with sync_client.websocket_connect(path) as ws:
        hello = ws.receive_json()
        assert hello["type"] == "session" and len(hello["turns"]) == 1
        ws.send_json({"type": "message", "text": "April 12th 1985"})
        assert ws.receive_json() == {"type": "typing"}
        reply = ws.receive_json()
        assert reply["type"] == "reply" and reply["state"]["verified"] is True
        assert [m["template_id"] for m in reply["messages"]][-1] == "offer_options"
    # The socket dropped; a new one resumes the same conversation with its history.
    with sync_client.websocket_connect(path) as ws:
        resumed = ws.receive_json()
        assert resumed["state"]["step"] == "offer_options"
        assert [t["role"] for t in resumed["turns"]].count("debtor") == 1
        ws.send_json({"type": "message", "text": "I can pay 200 dollars next Friday"})
        ws.receive_json()
        reply = ws.receive_json()
        assert reply["state"]["promise"]["date"] == "2026-12-04"


def test_bad_frames_get_errors_and_the_socket_stays_open(sync_client: TestClient) -> None:
    created = sync_client.post("/v1/chat/sessions", json={"account_ref": "DEMO-CN-001"}).json()
    with sync_client.websocket_connect(f"/v1/chat/sessions/{created['session_id']}/ws") as ws:
        ws.receive_json()
        ws.send_text("{nope")
        assert ws.receive_json()["error"]["code"] == "malformed_json"
        ws.send_json({"type": "message", "text": 5})
        assert ws.receive_json()["error"]["code"] == "invalid_request"
        ws.send_json({"type": "message", "text": "   "})
        assert ws.receive_json()["error"]["code"] == "empty_text"
        ws.send_json({"type": "message", "text": "1990年8月8日"})
        assert ws.receive_json()["type"] == "typing"
        assert ws.receive_json()["state"]["verified"] is True
    transcript = sync_client.get(f"/v1/conversations/{created['conversation_id']}").json()
    assert [t["role"] for t in transcript["turns"]].count("debtor") == 1


def test_unknown_session_is_closed_with_an_error(sync_client: TestClient) -> None:
    with sync_client.websocket_connect("/v1/chat/sessions/nope/ws") as ws:
        message = ws.receive_json()
        assert message["error"]["code"] == "session_not_found"
