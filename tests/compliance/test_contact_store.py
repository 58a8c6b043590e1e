"""Contact reservations against the real databases, including a race on PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from agent.app import create_app
from agent.compliance.audit import verify_chain
from agent.settings import Settings
from agent.store.models import AuditEvent, ContactAttempt
from tests.assist.helpers import sign_in
from tests.conftest import fixed_clock, http_client
from tests.databases import DATABASES, fresh_database_url

NY = ZoneInfo("America/New_York")
NOON_NY = dt.datetime(2026, 12, 2, 12, 0, tzinfo=NY).astimezone(dt.UTC)
US = "DEMO-US-001"


async def contact_check(client: httpx.AsyncClient) -> dict[str, Any]:
    """May we call the US demo debtor at noon in New York?"""
    response = await client.post(
        "/v1/compliance/contact-check",
        json={"account_ref": US, "channel": "call", "at": NOON_NY.isoformat()},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture(params=DATABASES)
async def app(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[FastAPI]:
    async with fresh_database_url(request.param, tmp_path) as url:
        application = create_app(
            Settings(data_dir=tmp_path, database_url=url, log_format="console"), clock=fixed_clock
        )
        async with application.router.lifespan_context(application):
            yield application


async def test_fifty_concurrent_attempts_allow_exactly_the_remaining_cap(app: FastAPI) -> None:
    contacts = app.state.services.contacts
    # Two attempts already this week: five remain of the US 7-in-7 cap.
    for hours in (1, 2):
        reserved = await contacts.reserve(
            "DEMO-US-001", "call", NOON_NY - dt.timedelta(days=1, hours=hours)
        )
        assert reserved.decision.allowed and reserved.attempt_id is not None
        await contacts.record_outcome(reserved.attempt_id, "no_answer", NOON_NY)
    for round_ in range(6):
        at = NOON_NY + dt.timedelta(minutes=round_)
        results = await asyncio.gather(
            *(contacts.reserve("DEMO-US-001", "call", at) for _ in range(50))
        )
        allowed = [r for r in results if r.decision.allowed]
        refused = [r for r in results if not r.decision.allowed]
        if round_ < 5:
            # One call at a time: the first through makes every other wait...
            assert len(allowed) == 1
            assert all("ALL-ONE-CALL" in r.decision.rules for r in refused)
            assert allowed[0].attempt_id is not None
            await contacts.record_outcome(allowed[0].attempt_id, "no_answer", at)
        else:
            # ...and once the cap is reached nobody gets through.
            assert allowed == []
            assert all(r.decision.rules == ["US-7IN7"] for r in refused)
    async with app.state.services.store.read() as session:
        count = await session.scalar(select(func.count()).select_from(ContactAttempt))
        report = await verify_chain(session)
    assert count == 7
    # Every decision, allowed or refused, and every outcome is logged.
    assert report.ok and report.events == 2 * 2 + 6 * 50 + 5


async def test_outcomes_feed_the_cn_counters(app: FastAPI) -> None:
    contacts = app.state.services.contacts
    morning = dt.datetime(2026, 12, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(dt.UTC)
    for minutes in range(3):
        reserved = await contacts.reserve(
            "DEMO-CN-001", "call", morning + dt.timedelta(minutes=minutes), "+8613800138000"
        )
        assert reserved.attempt_id is not None
        await contacts.record_outcome(reserved.attempt_id, "conversation", morning)
    decision = await contacts.check(
        "DEMO-CN-001", "call", morning + dt.timedelta(hours=3), "+8613800138000"
    )
    assert not decision.allowed and decision.rules == ["CN-FREQ"]


async def test_flags_set_in_chat_are_honoured_by_outbound_contact(app: FastAPI) -> None:
    async with http_client(app) as client:
        await sign_in(client, "agent@demo")
        session = (
            await client.post("/v1/chat/sessions", json={"account_ref": "DEMO-US-001"})
        ).json()
        await client.post(
            f"/v1/chat/sessions/{session['session_id']}/messages",
            json={"text": "talk to my lawyer"},
        )
        flags = (await client.get("/v1/accounts/DEMO-US-001/flags")).json()["flags"]
        assert "attorney" in flags
        check = await client.post(
            "/v1/compliance/contact-check",
            json={"account_ref": "DEMO-US-001", "channel": "call", "at": NOON_NY.isoformat()},
        )
        assert check.json()["allowed"] is False and "US-ATTY" in check.json()["rules"]
        # The flag holds in the next conversation too.
        again = (await client.post("/v1/chat/sessions", json={"account_ref": "DEMO-US-001"})).json()
        assert "attorney" in again["state"]["flags"]


async def test_breathing_space_set_through_the_api(app: FastAPI) -> None:
    async with http_client(app) as client:
        await sign_in(client, "agent@demo")
        response = await client.post(
            "/v1/accounts/DEMO-UK-001/flags",
            json={"flag": "breathing_space", "expires_at": "2027-01-31T00:00:00+00:00"},
        )
        assert response.status_code == 201
        check = (
            await client.post(
                "/v1/compliance/contact-check",
                json={"account_ref": "DEMO-UK-001", "at": "2026-12-02T12:00:00+00:00"},
            )
        ).json()
        assert check["rules"] == ["UK-BS"]
        bad = await client.post("/v1/accounts/DEMO-UK-001/flags", json={"flag": "vip"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "unknown_flag"
        missing = await client.post("/v1/compliance/contact-check", json={"account_ref": "NOPE"})
        assert missing.status_code == 404


async def test_uk_vulnerability_pauses_recovery(app: FastAPI) -> None:
    async with http_client(app) as client:
        await sign_in(client, "agent@demo")
        session = (
            await client.post("/v1/chat/sessions", json={"account_ref": "DEMO-UK-001"})
        ).json()
        for text in ("30/11/1979", "I've been really depressed and I'm in hospital"):
            await client.post(
                f"/v1/chat/sessions/{session['session_id']}/messages", json={"text": text}
            )
        flags = (await client.get("/v1/accounts/DEMO-UK-001/flags")).json()["flags"]
        assert "vulnerability_pause" in flags and flags["vulnerability_pause"]["expires_at"]
        check = (
            await client.post(
                "/v1/compliance/contact-check",
                json={"account_ref": "DEMO-UK-001", "at": "2026-12-02T12:00:00+00:00"},
            )
        ).json()
        assert check["allowed"] is False and "ALL-VULNERABLE" in check["rules"]
        later = (
            await client.post(
                "/v1/compliance/contact-check",
                json={"account_ref": "DEMO-UK-001", "at": "2027-01-05T12:00:00+00:00"},
            )
        ).json()
        assert later["allowed"] is True


async def test_guard_check_for_text_a_human_types(app: FastAPI) -> None:
    async with http_client(app) as client:
        await sign_in(client, "agent@demo")

        async def verdict(**body: object) -> dict[str, Any]:
            response = await client.post("/v1/compliance/guard-check", json=body)
            assert response.status_code == 200, response.text
            return dict(response.json())

        threat = await verdict(
            account_ref="DEMO-US-001", text="Pay today or we will have you arrested."
        )
        assert threat["allowed"] is False and threat["rule_ids"]
        fine = await verdict(
            account_ref="DEMO-US-001", text="We can set up a payment plan that suits you."
        )
        assert fine["allowed"] is True
        unverified = await verdict(
            account_ref="DEMO-US-001", text="You owe Northwind Bank money.", verified=False
        )
        assert unverified["allowed"] is False and "ALL-RPC" in unverified["rule_ids"]
        chinese = await verdict(account_ref="DEMO-CN-001", text="不还钱就爆你通讯录")
        assert chinese["allowed"] is False
        missing = await client.post(
            "/v1/compliance/guard-check", json={"account_ref": "DEMO-US-001"}
        )
        assert missing.status_code == 422


async def test_a_supervisor_lifts_a_dispute_once_verification_has_gone_out(app: FastAPI) -> None:
    """A dispute stops collection (outbound contact, and a chat the debtor opens) until a
    supervisor lifts it with a reason, in the chain; the debtor's own cease request cannot
    be lifted by staff."""
    lift = f"/v1/accounts/{US}/flags/dispute/lift"
    async with http_client(app) as client:
        await sign_in(client, "supervisor@demo")
        assert (await client.post(f"/v1/accounts/{US}/flags", json={"flag": "dispute"})).is_success
        assert (await contact_check(client))["rules"] == ["US-DISPUTE"]
        held = (await client.post("/v1/chat/sessions", json={"account_ref": US})).json()
        on_hold = await client.post(
            f"/v1/chat/sessions/{held['session_id']}/messages", json={"text": "April 12 1985"}
        )
        assert on_hold.json()["state"]["step"] == "account_on_hold"

        await sign_in(client, "agent@demo")
        refused = await client.post(lift, json={"reason": "verification sent"})
        assert refused.status_code == 403
        await sign_in(client, "supervisor@demo")
        for path, body, status, code in (
            (lift, {"reason": ""}, 422, "invalid_request"),
            (lift, {}, 422, "invalid_request"),
            (
                f"/v1/accounts/{US}/flags/cease_contact/lift",
                {"reason": "x"},
                422,
                "flag_not_liftable",
            ),
            (f"/v1/accounts/{US}/flags/bankruptcy/lift", {"reason": "x"}, 409, "flag_not_active"),
            ("/v1/accounts/NOPE-1/flags/dispute/lift", {"reason": "x"}, 404, "account_not_found"),
        ):
            response = await client.post(path, json=body)
            assert (response.status_code, response.json()["error"]["code"]) == (status, code)
        assert "dispute" in (await client.get(f"/v1/accounts/{US}/flags")).json()["flags"]

        lifted = await client.post(lift, json={"reason": "validation notice sent 2026-11-27"})
        assert lifted.json() == {"account_ref": US, "flag": "dispute", "lifted": True}
        assert (await client.get(f"/v1/accounts/{US}/flags")).json()["flags"] == {}
        assert (await contact_check(client))["allowed"] is True
        again = (await client.post("/v1/chat/sessions", json={"account_ref": US})).json()
        resumed = await client.post(
            f"/v1/chat/sessions/{again['session_id']}/messages", json={"text": "April 12 1985"}
        )
        assert resumed.json()["state"]["step"] == "offer_options"
        assert (await client.post(lift, json={"reason": "again"})).status_code == 409

    async with app.state.services.store.read() as session:
        events = (
            await session.execute(select(AuditEvent).where(AuditEvent.kind == "account.flags"))
        ).scalars()
        lifts = [e.payload for e in events if "lifted" in e.payload]
        assert (await verify_chain(session)).ok
    assert lifts == [
        {
            "account_ref": US,
            "lifted": ["dispute"],
            "reason": "validation notice sent 2026-11-27",
            "source": "api",
            "by": "supervisor@demo",
        }
    ]
