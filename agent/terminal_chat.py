"""`agent chat`: a terminal client of the chat HTTP API, in-process or against a URL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from agent.settings import Settings


@contextlib.asynccontextmanager
async def _client(settings: Settings, url: str | None) -> AsyncIterator[httpx.AsyncClient]:
    if url is not None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            yield client
        return
    from agent.app import create_app

    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://agent", timeout=60
        ) as client,
    ):
        yield client


def _show(body: dict[str, Any]) -> None:
    for message in body.get("messages", []):
        print(f"agent [{message['tone']}]> {message['text']}")
    state = body.get("state", {})
    notes = [f"step={state.get('step')}"]
    if state.get("flags"):
        notes.append("flags=" + ",".join(state["flags"]))
    if state.get("promise"):
        p = state["promise"]
        notes.append(f"promise={p['amount']} {p['currency']} on {p['date']}")
    print("        (" + " ".join(notes) + ")")


async def run_chat(settings: Settings, account: str, locale: str | None, url: str | None) -> int:
    async with _client(settings, url) as client:
        payload: dict[str, Any] = {"account_ref": account}
        if locale:
            payload["locale"] = locale
        response = await client.post("/v1/chat/sessions", json=payload)
        if response.status_code != 201:
            print(f"error: {response.json()['error']['message']}")
            return 1
        body = response.json()
        session_id, conversation_id = body["session_id"], body["conversation_id"]
        print(f"conversation {conversation_id} (Ctrl-D to leave)")
        _show(body)
        while not body["state"]["ended"]:
            try:
                text = await asyncio.to_thread(input, "you> ")
            except (EOFError, KeyboardInterrupt):
                print()
                break
            if not text.strip():
                continue
            response = await client.post(
                f"/v1/chat/sessions/{session_id}/messages", json={"text": text}
            )
            if response.status_code != 200:
                print(f"error: {response.json()['error']['message']}")
                continue
            body = response.json()
            _show(body)
        print(f"transcript: GET /v1/conversations/{conversation_id}")
    return 0
