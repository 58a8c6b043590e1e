"""POST /v1/calls against a local fake of the Twilio REST API, and status callbacks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from agent.app import create_app
from agent.compliance.audit import verify_chain
from agent.store.models import AuditEvent, Call, ContactAttempt
from tests.conftest import fixed_clock, http_client
from tests.telephony.conftest import ACCOUNT_SID, TOKEN, US_PHONE, post_signed, telephony_settings
from tests.telephony.fake_twilio import CALL_SID, FakeTwilio, closed_port_url, fake_twilio

STATUS = "/v1/telephony/twilio/status"


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with fake_twilio() as fake:
        yield fake


def _app(tmp_path: Path, api_base: str, clock: object = fixed_clock) -> FastAPI:
    settings = telephony_settings(
        tmp_path, twilio_api_base=api_base, public_base_url="https://agent.example.com"
    )
    return create_app(settings, clock=clock)  # type: ignore[arg-type]


async def _attempts(app: FastAPI) -> list[ContactAttempt]:
    async with app.state.services.store.read() as session:
        return list((await session.execute(select(ContactAttempt))).scalars())


async def test_an_outbound_call_is_placed_through_the_rest_api(
    tmp_path: Path, twilio: FakeTwilio
) -> None:
    app = _app(tmp_path, twilio.base_url)
    async with app.router.lifespan_context(app), http_client(app) as client:
        response = await client.post("/v1/calls", json={"account_ref": "DEMO-US-001"})
        assert response.status_code == 202, response.text
        body = response.json()
        call = await app.state.services.calls.get(body["call_id"])
        [attempt] = await _attempts(app)
    assert body["status"] == "queued" and body["mode"] == "gather"
    assert body["account_ref"] == "DEMO-US-001" and body["call_sid"] == CALL_SID
    assert call.call_sid == CALL_SID and call.direction == "outbound"
    [sent] = twilio.received
    assert sent.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
    assert (sent.username, sent.password) == (ACCOUNT_SID, TOKEN)
    assert sent.form["To"] == US_PHONE and sent.form["From"] == "+18005550100"
    assert sent.form["MachineDetection"] == "Enable"
    voice, status = urlsplit(sent.form["Url"]), urlsplit(sent.form["StatusCallback"])
    assert f"{voice.scheme}://{voice.netloc}{voice.path}" == (
        "https://agent.example.com/v1/telephony/twilio/voice"
    )
    assert parse_qs(voice.query) == {"call_id": [call.id]}
    assert status.path == STATUS and parse_qs(status.query) == {"call_id": [call.id]}
    assert attempt.outcome == "pending" and attempt.number == US_PHONE


async def test_a_per_call_mode_is_stored(tmp_path: Path, twilio: FakeTwilio) -> None:
    app = _app(tmp_path, twilio.base_url)
    async with app.router.lifespan_context(app), http_client(app) as client:
        response = await client.post(
            "/v1/calls", json={"account_ref": "DEMO-US-001", "mode": "stream"}
        )
        assert response.status_code == 202
        assert (await app.state.services.calls.get(response.json()["call_id"])).mode == "stream"


async def test_status_callbacks_update_the_call_and_its_attempt(
    tmp_path: Path, twilio: FakeTwilio
) -> None:
    app = _app(tmp_path, twilio.base_url)
    public = "https://agent.example.com"
    async with app.router.lifespan_context(app), http_client(app) as client:
        call_id = (await client.post("/v1/calls", json={"account_ref": "DEMO-US-001"})).json()[
            "call_id"
        ]
        path = f"{STATUS}?call_id={call_id}"
        for status, extra in (
            ("ringing", {}),
            ("completed", {"CallDuration": "42", "AnsweredBy": "human"}),
            ("in-progress", {}),  # late and out of order: never moves a final call back
        ):
            params = {"CallSid": CALL_SID, "CallStatus": status, **extra}
            response = await post_signed(client, path, params, signed_base=public)
            assert response.status_code == 204, response.text
        call = await app.state.services.calls.get(call_id)
        bad = await post_signed(
            client, STATUS, {"CallSid": "CA" + "0" * 32, "CallStatus": "busy"}, signed_base=public
        )
        odd = await post_signed(
            client, path, {"CallSid": CALL_SID, "CallStatus": "exploded"}, signed_base=public
        )
        async with app.state.services.store.read() as session:
            ended = (
                await session.execute(select(AuditEvent).where(AuditEvent.kind == "call.ended"))
            ).scalar_one()
            report = await verify_chain(session)
        [attempt] = await _attempts(app)
    assert call.status == "completed" and call.answered_by == "human"
    assert attempt.outcome == "conversation"
    assert ended.payload is not None and ended.payload["duration_s"] == 42
    assert US_PHONE not in str(ended.payload)
    assert report.ok
    assert bad.status_code == 404 and bad.json()["error"]["code"] == "call_not_found"
    assert odd.status_code == 422 and odd.json()["error"]["code"] == "unknown_call_status"


async def test_a_machine_answered_call_counts_as_voicemail(tmp_path: Path) -> None:
    app = _app(tmp_path, closed_port_url())
    async with app.router.lifespan_context(app), http_client(app) as client:
        call = await app.state.services.calls.create_outbound("DEMO-US-001")
        params = {"CallSid": CALL_SID, "CallStatus": "completed", "AnsweredBy": "machine_start"}
        response = await post_signed(
            client,
            f"{STATUS}?call_id={call.id}",
            params,
            signed_base="https://agent.example.com",
        )
        assert response.status_code == 204
        [attempt] = await _attempts(app)
    assert attempt.outcome == "voicemail"


async def test_calls_outside_the_calling_window_are_refused(
    tmp_path: Path, twilio: FakeTwilio
) -> None:
    def late_evening() -> dt.datetime:  # 22:00 in New York
        return dt.datetime(2026, 11, 28, 3, 0, tzinfo=dt.UTC)

    app = _app(tmp_path, twilio.base_url, clock=late_evening)
    async with app.router.lifespan_context(app), http_client(app) as client:
        response = await client.post("/v1/calls", json={"account_ref": "DEMO-US-001"})
        async with app.state.services.store.read() as session:
            calls = await session.scalar(select(func.count()).select_from(Call))
        attempts = await _attempts(app)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "contact_refused" and error["message"]
    assert error["rules"] == ["US-TIME"]
    assert error["next_allowed_at"] == "2026-11-28T13:00:00+00:00"  # 08:00 in New York
    assert calls == 0 and twilio.received == []
    assert attempts == []


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ('{"account_ref": "NO-SUCH-ACCOUNT"}', 404, "account_not_found"),
        ("{not json", 400, "malformed_json"),
        ('{"account_ref": 12}', 422, "invalid_request"),
        ('{"account_ref": "DEMO-US-001", "mode": "carrier-pigeon"}', 422, "invalid_request"),
    ],
)
async def test_bad_requests_get_json_errors(
    tmp_path: Path, twilio: FakeTwilio, body: str, status: int, code: str
) -> None:
    app = _app(tmp_path, twilio.base_url)
    async with app.router.lifespan_context(app), http_client(app) as client:
        response = await client.post(
            "/v1/calls", content=body, headers={"content-type": "application/json"}
        )
        attempts = await _attempts(app)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert twilio.received == [] and attempts == []


async def _failed_dial(app: FastAPI, client: httpx.AsyncClient, status: int, code: str) -> None:
    response = await client.post("/v1/calls", json={"account_ref": "DEMO-US-001"})
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    async with app.state.services.store.read() as session:
        [call] = (await session.execute(select(Call))).scalars().all()
    [attempt] = await _attempts(app)
    # Nothing is left pending: the call and its attempt are both closed as failed.
    assert call.status == "failed" and attempt.outcome == "failed"


async def test_gateway_down_is_a_503_and_nothing_stays_pending(tmp_path: Path) -> None:
    app = _app(tmp_path, closed_port_url())
    async with app.router.lifespan_context(app), http_client(app) as client:
        await _failed_dial(app, client, 503, "gateway_unavailable")


async def test_gateway_refusal_is_a_502(tmp_path: Path, twilio: FakeTwilio) -> None:
    twilio.status = 400
    app = _app(tmp_path, twilio.base_url)
    async with app.router.lifespan_context(app), http_client(app) as client:
        await _failed_dial(app, client, 502, "gateway_error")


async def test_unconfigured_telephony_places_nothing(tmp_path: Path) -> None:
    app = create_app(telephony_settings(tmp_path, twilio_account_sid=""), clock=fixed_clock)
    async with app.router.lifespan_context(app), http_client(app) as client:
        response = await client.post("/v1/calls", json={"account_ref": "DEMO-US-001"})
        attempts = await _attempts(app)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "telephony_not_configured"
    assert attempts == []
