"""A number reported as not the debtor's (in a call or by text) is never dialled or
texted again for that debtor, until a person marks it reachable again. On SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import inspect, select

from agent.errors import InvalidInput
from agent.store.database import create_engine, migrate
from agent.store.models import AuditEvent, Debtor
from agent.telephony.calls import CallRegistry
from agent.telephony.lookup import debtor_numbers, known_numbers
from tests.assist.helpers import sign_in
from tests.conftest import http_client
from tests.databases import DATABASES, downgrade, fresh_database_url
from tests.telephony.conftest import (
    ACCOUNT_SID,
    OUR_NUMBER,
    US_PHONE,
    call_params,
    post_signed,
    telephony_app,
    twiml,
)

VOICE = "/v1/telephony/twilio/voice"
NUMBERS = "/v1/accounts/DEMO-US-001/numbers"


@pytest.fixture(params=DATABASES)
async def app(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[FastAPI]:
    async with telephony_app(request.param, tmp_path) as application:
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Signed in as an agent, to read and set numbers; the webhooks need no sign-in."""
    async with http_client(app) as signed_in:
        await sign_in(signed_in, "agent@demo")
        yield signed_in


@pytest.mark.parametrize("kind", DATABASES)
async def test_the_migration_adds_the_column_and_takes_it_away(kind: str, tmp_path: Path) -> None:
    async with fresh_database_url(kind, tmp_path) as url:
        engine = create_engine(url)

        async def has_column() -> bool:
            async with engine.connect() as conn:
                columns = await conn.run_sync(
                    lambda sync: {c["name"] for c in inspect(sync).get_columns("debtors")}
                )
            return "wrong_numbers" in columns

        try:
            await migrate(engine, "0006")
            assert not await has_column()
            await migrate(engine)
            assert await has_column()
            async with engine.begin() as conn:
                await conn.run_sync(downgrade, "0006")
            assert not await has_column()
        finally:
            await engine.dispose()


async def _outbound_call_hearing(app: FastAPI, client: httpx.AsyncClient, said: str) -> str:
    """Place a call to the US demo debtor, let a person answer and say `said`; returns
    the conversation id."""
    calls: CallRegistry = app.state.services.calls
    call = await calls.create_outbound("DEMO-US-001")
    sid = "CA" + "7" * 32
    params = call_params(sid=sid, Direction="outbound-api", From=OUR_NUMBER, To=US_PHONE)
    root = twiml(await post_signed(client, f"{VOICE}?call_id={call.id}", params))
    [gather] = [child for child in root if child.tag == "Gather"]
    action = urlsplit(gather.get("action") or "")
    answer = call_params(
        sid=sid, Direction="outbound-api", From=OUR_NUMBER, To=US_PHONE, SpeechResult=said
    )
    twiml(await post_signed(client, f"{action.path}?{action.query}", answer))
    stored = await calls.get(call.id)
    assert stored.conversation_id is not None
    return stored.conversation_id


async def _statuses(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    response = await client.get(NUMBERS)
    assert response.status_code == 200, response.text
    return {entry["number"]: entry for entry in response.json()["numbers"]}


async def _number_events(app: FastAPI) -> list[dict[str, Any]]:
    async with app.state.services.store.read() as session:
        rows = (await session.execute(select(AuditEvent).order_by(AuditEvent.seq))).scalars()
        return [r.payload for r in rows if r.kind == "debtor.number"]


async def test_a_wrong_number_said_in_a_call_retires_the_number(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    assert (await _statuses(client))[US_PHONE]["status"] == "reachable"
    await _outbound_call_hearing(app, client, "you've got the wrong number, there's no Alex here")

    entry = (await _statuses(client))[US_PHONE]
    assert entry["status"] == "wrong" and entry["source"] == "call"
    for spelled in (US_PHONE, "(212) 555-0142"):
        check = await client.post(
            "/v1/compliance/contact-check",
            json={"account_ref": "DEMO-US-001", "channel": "call", "number": spelled},
        )
        assert check.json()["allowed"] is False and "ALL-RPC" in check.json()["rules"]
    with pytest.raises(InvalidInput) as refused:  # the demo debtor has no other number
        await app.state.services.calls.create_outbound("DEMO-US-001")
    assert refused.value.code == "no_phone_number"
    [event] = await _number_events(app)
    assert event == {
        "account_refs": ["DEMO-US-001"],
        "number_ending": US_PHONE[-4:],
        "status": "wrong",
        "source": "call",
    }


async def test_someone_answering_for_the_debtor_does_not_retire_the_number(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await _outbound_call_hearing(app, client, "he's not home right now, I'm his wife")
    assert (await _statuses(client))[US_PHONE]["status"] == "reachable"
    assert await _number_events(app) == []


async def test_a_wrong_number_text_retires_the_number(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    params = {
        "MessageSid": "SM" + "2" * 32,
        "AccountSid": ACCOUNT_SID,
        "From": US_PHONE,
        "To": OUR_NUMBER,
        "Body": "wrong number, I don't know any Alex",
        "NumMedia": "0",
    }
    response = await post_signed(client, "/v1/telephony/twilio/sms", params)
    assert response.status_code == 200 and list(ET.fromstring(response.text)) == []
    entry = (await _statuses(client))[US_PHONE]
    assert entry["status"] == "wrong" and entry["source"] == "sms"


async def test_a_person_marks_a_number_wrong_and_reachable_again(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    marked = await client.post(NUMBERS, json={"number": "(212) 555-0142", "status": "wrong"})
    assert marked.status_code == 200, marked.text
    assert marked.json() == {
        "account_ref": "DEMO-US-001",
        "number": US_PHONE,
        "status": "wrong",
        "changed": True,
    }
    again = await client.post(NUMBERS, json={"number": US_PHONE, "status": "wrong"})
    assert again.json()["changed"] is False
    assert (await _statuses(client))[US_PHONE]["source"] == "api"

    restored = await client.post(NUMBERS, json={"number": US_PHONE, "status": "reachable"})
    assert restored.json()["changed"] is True
    assert (await _statuses(client))[US_PHONE] == {"number": US_PHONE, "status": "reachable"}
    call = await app.state.services.calls.create_outbound("DEMO-US-001")
    assert call.to_number == US_PHONE
    assert [e["status"] for e in await _number_events(app)] == ["wrong", "reachable"]


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        (NUMBERS, {"number": "+12125559999", "status": "wrong"}, 404, "unknown_number"),
        (NUMBERS, {"number": "not a number", "status": "wrong"}, 404, "unknown_number"),
        (NUMBERS, {"number": US_PHONE, "status": "gone"}, 422, "invalid_request"),
        (NUMBERS, {"number": 2125550142, "status": "wrong"}, 422, "invalid_request"),
        ("/v1/accounts/NOPE/numbers", {"number": US_PHONE, "status": "wrong"}, 404, None),
    ],
)
async def test_bad_requests_change_nothing(
    app: FastAPI,
    client: httpx.AsyncClient,
    path: str,
    body: dict[str, Any],
    status: int,
    code: str | None,
) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == status, response.text
    if code is not None:
        assert response.json()["error"]["code"] == code
    assert (await _statuses(client))[US_PHONE]["status"] == "reachable"
    assert await _number_events(app) == []


async def test_only_signed_in_staff_of_the_tenant_see_and_set_numbers(app: FastAPI) -> None:
    mark = {"number": US_PHONE, "status": "wrong"}
    async with http_client(app) as anyone:
        assert (await anyone.get(NUMBERS)).status_code == 401
        assert (await anyone.post(NUMBERS, json=mark)).status_code == 401
        await sign_in(anyone, "auditor@demo")
        assert (await anyone.get(NUMBERS)).status_code == 200
        assert (await anyone.post(NUMBERS, json=mark)).status_code == 403
        await sign_in(anyone, "agent@other")
        assert (await anyone.get(NUMBERS)).status_code == 404
        assert (await anyone.post(NUMBERS, json=mark)).status_code == 404
    assert await _number_events(app) == []


def test_the_next_reachable_number_is_the_one_dialled() -> None:
    debtor = Debtor(
        phones=["+12125550142", "212-555-0199"],
        address={"country": "US"},
        wrong_numbers=[
            {"number": "+12125550142", "reported_at": dt.datetime.now(dt.UTC).isoformat()}
        ],
    )
    assert known_numbers(debtor) == ["+12125550142", "+12125550199"]
    assert debtor_numbers(debtor) == ["+12125550199"]
