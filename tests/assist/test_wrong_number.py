"""A collector watching a call retires the number when the person reached is not the
debtor: shown by its last four digits, audited with who did it, refused for chats."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from agent.store.models import AuditEvent
from tests.assist.helpers import services_of, sign_in, verified_chat


async def _call_conversation(app: FastAPI) -> str:
    """An outbound call to the US demo debtor that a person answered."""
    calls = services_of(app).calls
    call = await calls.create_outbound("DEMO-US-001")
    await calls.answered(call.id, "CA" + "5" * 32, None)
    outcome = await calls.start_conversation(call.id)
    return outcome.conversation_id


async def test_an_agent_retires_the_number_of_a_call(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_in(client, "agent@demo")
    base = f"/v1/assist/conversations/{await _call_conversation(app)}"
    assert (await client.get(base)).json()["number"] == {"ending": "0142", "status": "reachable"}

    marked = await client.post(base + "/wrong-number")
    assert marked.status_code == 200, marked.text
    assert marked.json()["number"] == {"ending": "0142", "status": "wrong"}
    assert marked.json()["changed"] is True
    assert (await client.get(base)).json()["number"]["status"] == "wrong"
    assert (await client.post(base + "/wrong-number")).json()["changed"] is False
    numbers = (await client.get("/v1/accounts/DEMO-US-001/numbers")).json()["numbers"]
    assert [(n["status"], n["source"]) for n in numbers] == [("wrong", "agent")]
    async with services_of(app).store.read() as session:
        [event] = (
            await session.execute(select(AuditEvent).where(AuditEvent.kind == "debtor.number"))
        ).scalars()
    assert event.payload is not None
    assert event.payload["by"] == "agent@demo" and "+1212" not in str(event.payload)


async def test_a_chat_has_no_number_to_retire(client: httpx.AsyncClient) -> None:
    await sign_in(client, "agent@demo")
    chat = await verified_chat(client)
    base = f"/v1/assist/conversations/{chat['conversation_id']}"
    assert (await client.get(base)).json()["number"] is None
    refused = await client.post(base + "/wrong-number")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "no_number"


async def test_auditors_and_other_tenants_cannot(app: FastAPI, client: httpx.AsyncClient) -> None:
    base = f"/v1/assist/conversations/{await _call_conversation(app)}"
    await sign_in(client, "auditor@demo")
    assert (await client.post(base + "/wrong-number")).status_code == 403
    await sign_in(client, "agent@other")
    assert (await client.post(base + "/wrong-number")).status_code == 404
    await sign_in(client, "agent@demo")
    numbers = (await client.get("/v1/accounts/DEMO-US-001/numbers")).json()["numbers"]
    assert [n["status"] for n in numbers] == ["reachable"]
