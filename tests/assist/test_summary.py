"""Summary and wrap-up: derived from logged facts; the wrap-up is a chained event."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.assist.helpers import chain_of, chain_ok, sign_in, verified_chat


async def test_summary_then_wrapup_is_logged_and_closes_the_conversation(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_in(client, "agent@demo")
    chat = await verified_chat(client)
    say = f"/v1/chat/sessions/{chat['session_id']}/messages"
    await client.post(say, json={"text": "I'm really worried, I can pay 200 dollars next Friday"})
    await client.post(say, json={"text": "yes that's right"})
    base = f"/v1/assist/conversations/{chat['conversation_id']}"

    summary = (await client.get(base + "/summary")).json()
    assert summary["outcome"] == "promise" and summary["suggested_code"] == "promise"
    assert float(summary["promise"]["amount"]) == 200 and summary["promise"]["confirmed"]
    assert summary["emotion_arc"][0] == "calm" and len(summary["emotion_arc"]) == 3
    assert "$200.00" in summary["text"]

    bad = await client.post(base + "/wrapup", json={"code": "nope"})
    assert bad.status_code == 422
    saved = await client.post(
        base + "/wrapup", json={"code": "promise", "summary": "Will pay $200 on Dec 4."}
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["wrapup"]["by"] == "agent@demo"
    events = await chain_of(app, chat["conversation_id"])
    wrapups = [e for e in events if e.kind == "conversation.wrapup"]
    assert wrapups and wrapups[0].payload is not None
    assert wrapups[0].payload["code"] == "promise"
    assert await chain_ok(app)
    detail = (await client.get(base)).json()
    assert detail["ended"] and detail["wrapup"]["summary"] == "Will pay $200 on Dec 4."
    live = (await client.get("/v1/assist/conversations")).json()["conversations"]
    assert chat["conversation_id"] not in [c["conversation_id"] for c in live]


async def test_flags_become_alerts(client: httpx.AsyncClient) -> None:
    await sign_in(client, "agent@demo")
    chat = await verified_chat(client)
    await client.post(
        f"/v1/chat/sessions/{chat['session_id']}/messages",
        json={"text": "My attorney handles this now, talk to my lawyer"},
    )
    detail = (await client.get(f"/v1/assist/conversations/{chat['conversation_id']}")).json()
    assert "attorney" in [a["kind"] for a in detail["alerts"]]
    listed = (await client.get("/v1/assist/conversations")).json()["conversations"]
    mine = next(c for c in listed if c["conversation_id"] == chat["conversation_id"])
    assert mine["alerts"] >= 1


async def test_other_tenant_sees_nothing(client: httpx.AsyncClient) -> None:
    await sign_in(client, "agent@demo")
    chat = await verified_chat(client)
    await sign_in(client, "agent@other")
    base = f"/v1/assist/conversations/{chat['conversation_id']}"
    assert (await client.get(base)).status_code == 404
    assert (await client.post(base + "/takeover")).status_code == 404
    assert (await client.get("/v1/assist/conversations")).json()["conversations"] == []
