"""Texts a debtor sends back: STOP / START keywords and cease-like replies set or lift
account flags on every account of the debtor, signed like every Twilio webhook."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from agent.store.models import AuditEvent
from agent.telephony.inbound_sms import keyword
from tests.assist.helpers import sign_in
from tests.conftest import http_client
from tests.telephony.conftest import ACCOUNT_SID, CN_PHONE, OUR_NUMBER, US_PHONE, post_signed

SMS = "/v1/telephony/twilio/sms"


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Signed in as an agent, to read and set flags; the webhooks need no sign-in."""
    async with http_client(app) as signed_in:
        await sign_in(signed_in, "agent@demo")
        yield signed_in


@pytest.mark.parametrize(
    ("body", "opt_out_type", "expected"),
    [
        ("STOP", "", "stop"),
        ("  stop. ", "", "stop"),
        ("Unsubscribe", "", "stop"),
        ("opt out", "", "stop"),
        ("退订", "", "stop"),
        ("TD", "", "stop"),
        ("START", "", "start"),
        ("unstop", "", "start"),
        ("Help", "", "help"),
        ("stop sending me these", "", None),
        ("I'll pay at the end of the month", "", None),
        ("yes", "", None),
        ("yes", "START", "start"),  # Twilio's Advanced Opt-Out already read it as opt-in
    ],
)
def test_keywords_are_whole_texts(body: str, opt_out_type: str, expected: str | None) -> None:
    assert keyword(body, opt_out_type) == expected


def _params(body: str, sender: str = US_PHONE, **extra: str) -> dict[str, str]:
    return {
        "MessageSid": "SM" + "1" * 32,
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "To": OUR_NUMBER,
        "Body": body,
        "NumMedia": "0",
        **extra,
    }


async def _text(client: httpx.AsyncClient, body: str, **kwargs: Any) -> httpx.Response:
    response = await post_signed(client, SMS, _params(body, **kwargs))
    assert response.status_code == 200, response.text
    root = ET.fromstring(response.text)
    assert root.tag == "Response" and list(root) == []  # nothing is texted back
    return response


async def _flags(client: httpx.AsyncClient, account_ref: str) -> dict[str, Any]:
    response = await client.get(f"/v1/accounts/{account_ref}/flags")
    flags: dict[str, Any] = response.json()["flags"]
    return flags


async def _sms_events(app: FastAPI) -> list[dict[str, Any]]:
    async with app.state.services.store.sessions() as session:
        rows = (await session.execute(select(AuditEvent).order_by(AuditEvent.seq))).scalars()
        return [
            r.payload
            for r in rows
            if r.kind == "account.flags" and r.payload.get("source") == "sms"
        ]


async def test_stop_opts_the_debtor_out_of_texts_and_start_lets_them_back(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await _text(client, "STOP")
    assert "optout_sms" in await _flags(client, "DEMO-US-001")
    check = await client.post(
        "/v1/compliance/contact-check", json={"account_ref": "DEMO-US-001", "channel": "sms"}
    )
    assert check.json()["allowed"] is False
    assert "debtor opted out of sms" in check.json()["reasons"]
    await _text(client, "start")
    assert "optout_sms" not in await _flags(client, "DEMO-US-001")
    [stopped, started] = await _sms_events(app)
    assert stopped["keyword"] == "stop" and stopped["added"] == ["optout_sms"]
    assert started["keyword"] == "start" and started["lifted"] == ["optout_sms"]
    assert stopped["account_refs"] == ["DEMO-US-001"]


async def test_start_does_not_lift_an_opt_out_set_another_way(client: httpx.AsyncClient) -> None:
    added = await client.post("/v1/accounts/DEMO-US-001/flags", json={"flag": "optout_sms"})
    assert added.status_code == 201
    await _text(client, "START")
    assert "optout_sms" in await _flags(client, "DEMO-US-001")


@pytest.mark.parametrize("again", ["api", "reply"])
async def test_a_stop_repeated_another_way_is_no_longer_lifted_by_start(
    client: httpx.AsyncClient, again: str
) -> None:
    await _text(client, "STOP")
    if again == "api":
        response = await client.post("/v1/accounts/DEMO-US-001/flags", json={"flag": "optout_sms"})
        assert response.status_code in (200, 201), response.text
    else:
        await _text(client, "and stop texting me")
    await _text(client, "START")
    assert "optout_sms" in await _flags(client, "DEMO-US-001")


async def test_a_take_over_with_an_end_date_never_shortens_a_texted_stop(
    client: httpx.AsyncClient,
) -> None:
    await _text(client, "STOP")
    body = {"flag": "optout_sms", "expires_at": "2026-12-05T00:00:00+00:00"}
    assert (await client.post("/v1/accounts/DEMO-US-001/flags", json=body)).status_code == 201
    assert (await _flags(client, "DEMO-US-001"))["optout_sms"]["expires_at"] is None


async def test_a_cease_reply_about_texts_is_an_sms_opt_out(client: httpx.AsyncClient) -> None:
    await _text(client, "please stop texting me")
    flags = await _flags(client, "DEMO-US-001")
    assert "optout_sms" in flags and "cease_contact" not in flags


async def test_a_cease_reply_about_all_contact_is_a_cease(client: httpx.AsyncClient) -> None:
    await _text(client, "别再联系我了", sender=CN_PHONE)
    assert "cease_contact" in await _flags(client, "DEMO-CN-001")


async def test_a_reply_naming_a_lawyer_raises_the_attorney_flag(client: httpx.AsyncClient) -> None:
    await _text(client, "I have a lawyer now, talk to my attorney")
    assert "attorney" in await _flags(client, "DEMO-US-001")


@pytest.mark.parametrize(
    ("body", "sender", "account_ref"),
    [
        ("I dispute this debt, it isn't mine", US_PHONE, "DEMO-US-001"),
        ("这笔钱我不认，我要提出异议", CN_PHONE, "DEMO-CN-001"),
    ],
)
async def test_a_disputing_reply_raises_the_dispute_flag(
    client: httpx.AsyncClient, body: str, sender: str, account_ref: str
) -> None:
    await _text(client, body, sender=sender)
    assert "dispute" in await _flags(client, account_ref)


async def test_an_ordinary_reply_changes_nothing(app: FastAPI, client: httpx.AsyncClient) -> None:
    await _text(client, "ok thanks, I'll pay on Friday")
    await _text(client, "HELP")
    assert await _flags(client, "DEMO-US-001") == {}
    assert await _sms_events(app) == []


async def test_a_text_from_an_unknown_number_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await _text(client, "STOP", sender="+12125550199")
    await _text(client, "STOP", sender="anonymous")
    assert await _sms_events(app) == []


async def test_unsigned_and_oversized_texts_are_refused_and_change_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    unsigned = await client.post(SMS, data=_params("STOP"))
    assert unsigned.status_code == 403
    assert unsigned.json()["error"]
    oversized = await post_signed(client, SMS, _params("STOP " + "x" * 5000))
    assert 400 <= oversized.status_code < 500
    assert oversized.json()["error"]["code"] == "text_too_long"
    assert await _flags(client, "DEMO-US-001") == {}
    assert await _sms_events(app) == []
