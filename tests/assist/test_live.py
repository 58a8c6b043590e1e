"""Live events over SSE on a real server, the chat's quick replies, and text as data."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from agent.settings import Settings
from tests.assist.helpers import DOB, services_of, sign_in, verified_chat
from tests.auth.sse import read_stream
from tests.conftest import fixed_clock
from tests.telephony.live_server import live_server


async def _events(response: httpx.Response, out: asyncio.Queue[str]) -> None:
    async for line in response.aiter_lines():
        await out.put(line)


async def _next_turn(lines: asyncio.Queue[str], role: str, text: str = "") -> dict[str, Any]:
    async with asyncio.timeout(10):  # pings keep arriving, so bound the whole search
        while True:
            line = await lines.get()
            if line.startswith("data: "):
                event: dict[str, Any] = json.loads(line[len("data: ") :])
                if event["type"] == "turn" and event["role"] == role and text in event["text"]:
                    return event


async def test_sse_streams_committed_turns_and_pings(settings: Settings) -> None:
    settings.assist_ping_s = 0.3
    with live_server(settings, fixed_clock) as address:
        async with (
            httpx.AsyncClient(base_url=f"http://{address}", timeout=20) as panel,
            httpx.AsyncClient(base_url=f"http://{address}", timeout=20) as debtor,
        ):
            await sign_in(panel, "agent@demo")
            async with panel.stream("GET", "/v1/assist/events") as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                lines: asyncio.Queue[str] = asyncio.Queue()
                reader = asyncio.create_task(_events(response, lines))
                try:
                    assert await asyncio.wait_for(lines.get(), 10) == ": connected"
                    chat = await verified_chat(debtor)
                    reply = await debtor.post(
                        f"/v1/chat/sessions/{chat['session_id']}/messages",
                        json={"text": "I lost my job, I'm really struggling"},
                    )
                    turn = await _next_turn(lines, "debtor", "lost my job")
                    assert turn["conversation_id"] == chat["conversation_id"]
                    assert turn["tenant"] == "demo" and turn["emotion"] == "distressed"
                    assert "hardship" in turn["intents"]
                    assert turn["state"]["step"] == reply.json()["state"]["step"]
                    agent_turn = await _next_turn(lines, "agent")
                    assert agent_turn["seq"] == turn["seq"] + 1
                    seen = [await asyncio.wait_for(lines.get(), 5) for _ in range(4)]
                    assert ": ping" in seen
                finally:
                    reader.cancel()


async def test_sse_ends_cleanly_when_the_client_goes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_in(client, "auditor@demo")
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    bus = services_of(app).events
    read = await read_stream(app, "/v1/assist/events", {"cookie": cookie}, timeout_s=0.2)
    assert read.status == 200 and read.body.startswith(": connected")
    assert bus.subscriber_count("tenant:demo") == 0, "the subscription went with the client"


@pytest.mark.parametrize(("account", "labels"), [("DEMO-US-001", "en"), ("DEMO-CN-001", "zh")])
async def test_quick_replies_are_offered_and_understood(
    client: httpx.AsyncClient, account: str, labels: str
) -> None:
    expected = {
        "pay_full": "promise_details",
        "plan": "plan_offer",
        "hardship": "hardship_offer",
        "human": "handoff",
    }
    for option_id, step in expected.items():
        created = (await client.post("/v1/chat/sessions", json={"account_ref": account})).json()
        assert created["state"]["options"] == []
        say = f"/v1/chat/sessions/{created['session_id']}/messages"
        options = (await client.post(say, json={"text": DOB[account]})).json()["state"]["options"]
        assert [o["id"] for o in options] == list(expected)
        label = next(o["label"] for o in options if o["id"] == option_id)
        assert label.isascii() == (labels == "en")
        reply = (await client.post(say, json={"text": label})).json()
        assert reply["state"]["step"] == step, (option_id, label, reply["analysis"])


async def test_debtor_text_comes_back_as_plain_json_text(client: httpx.AsyncClient) -> None:
    await sign_in(client, "agent@demo")
    chat = await verified_chat(client)
    hostile = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    await client.post(f"/v1/chat/sessions/{chat['session_id']}/messages", json={"text": hostile})
    response = await client.get(f"/v1/assist/conversations/{chat['conversation_id']}")
    assert response.headers["content-type"] == "application/json"
    assert response.json()["turns"][-2]["text"] == hostile  # stored and returned verbatim
