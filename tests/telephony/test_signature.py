"""X-Twilio-Signature: valid, invalid, missing, behind a proxy, no token; nothing changes
on a refusal."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from starlette.requests import Request
from twilio.request_validator import RequestValidator

from agent.app import create_app
from agent.errors import ServiceError
from agent.settings import Settings
from agent.store.models import AuditEvent, Call
from agent.telephony.twilio_signature import verified_params
from tests.conftest import fixed_clock, http_client
from tests.telephony.conftest import BASE, call_params, post_signed, sign, telephony_settings

VOICE = "/v1/telephony/twilio/voice"
VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}


async def _rows(app: FastAPI) -> tuple[int, int]:
    async with app.state.services.store.read() as session:
        calls = await session.scalar(select(func.count()).select_from(Call)) or 0
        events = await session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    return calls, events


def _request(path: str, query: str, body: bytes, headers: dict[str, str]) -> Request:
    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "server": ("10.0.0.5", 8000),
        "path": path,
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    return Request(scope, receive)


def test_the_protocol_test_vector() -> None:
    signature = RequestValidator("12345").compute_signature(VECTOR_URL, VECTOR_PARAMS)
    assert signature == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


async def test_the_test_vector_passes_our_check_behind_a_proxy(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, twilio_auth_token="12345", public_base_url="https://mycompany.com"
    )
    body = httpx.QueryParams(VECTOR_PARAMS).__str__().encode()
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
    }
    params = await verified_params(_request("/myapp.php", "foo=1&bar=2", body, headers), settings)
    assert params == VECTOR_PARAMS
    headers["X-Twilio-Signature"] = "RSOYDt4T1cUTdK1PDd93/VVr8B9="
    with pytest.raises(ServiceError) as refused:
        await verified_params(_request("/myapp.php", "foo=1&bar=2", body, headers), settings)
    assert refused.value.status == 403


async def test_a_valid_signature_is_served(app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await post_signed(client, VOICE, call_params())
    assert response.status_code == 200
    assert (await _rows(app))[0] == 1


@pytest.mark.parametrize(
    "signature",
    [None, "", "not-a-signature", sign(BASE + VOICE, call_params(), token="another-token")],
)
async def test_bad_or_missing_signatures_get_403_and_change_nothing(
    app: FastAPI,
    client: httpx.AsyncClient,
    signature: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = await _rows(app)
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    response = await client.post(VOICE, data=call_params(), headers=headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_signature"
    assert await _rows(app) == before
    assert any(
        r.getMessage() == "twilio_signature_rejected" and r.levelname == "WARNING"
        for r in caplog.records
    )


async def test_a_tampered_parameter_fails(app: FastAPI, client: httpx.AsyncClient) -> None:
    params = call_params()
    headers = {"X-Twilio-Signature": sign(BASE + VOICE, params)}
    response = await client.post(VOICE, data={**params, "From": "+12125550199"}, headers=headers)
    assert response.status_code == 403


async def test_behind_a_proxy_the_public_url_is_what_counts(tmp_path: Path) -> None:
    public = "https://agent.example.com"
    app = create_app(telephony_settings(tmp_path, public_base_url=public), clock=fixed_clock)
    async with app.router.lifespan_context(app), http_client(app) as client:
        internal = await post_signed(client, VOICE, call_params(), signed_base=BASE)
        assert internal.status_code == 403
        with_port = await post_signed(
            client, VOICE, call_params(), signed_base="https://agent.example.com:443"
        )
        assert with_port.status_code == 200
        outside = await post_signed(
            client, VOICE, call_params(sid="CA" + "2" * 32), signed_base=public
        )
        assert outside.status_code == 200
        # The answer's own URLs are public ones too, so the next request verifies.
        assert f'action="{public}/v1/telephony/twilio/gather?call_id=' in outside.text


async def test_an_empty_auth_token_refuses_everything(tmp_path: Path) -> None:
    settings = telephony_settings(tmp_path, twilio_auth_token="")
    app = create_app(settings, clock=fixed_clock)
    async with app.router.lifespan_context(app), http_client(app) as client:
        response = await post_signed(client, VOICE, call_params(), token="")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "invalid_signature"


async def test_json_bodies_are_signed_through_body_sha256(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    calls = app.state.services.calls
    call = await calls.create_outbound("DEMO-US-001")
    body = json.dumps({"CallSid": "CA" + "3" * 32, "CallStatus": "ringing"})
    digest = hashlib.sha256(body.encode()).hexdigest()
    path = f"/v1/telephony/twilio/status?call_id={call.id}&bodySHA256={digest}"
    headers = {"X-Twilio-Signature": sign(BASE + path, {}), "content-type": "application/json"}
    response = await client.post(path, content=body, headers=headers)
    assert response.status_code == 204, response.text
    assert (await calls.get(call.id)).status == "ringing"
    tampered = await client.post(path, content=body.replace("ringing", "busy"), headers=headers)
    assert tampered.status_code == 403
    unhashed = f"/v1/telephony/twilio/status?call_id={call.id}"
    headers["X-Twilio-Signature"] = sign(BASE + unhashed, {})
    assert (await client.post(unhashed, content=body, headers=headers)).status_code == 403
