"""The drill's fake Twilio delivers a callback again when the connection fails, as
Twilio does; only a delivery that never succeeds is reported as a failed callback."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bench.fake_gateway import FakeGateway

URL = "https://tact.drill.invalid/v1/telephony/twilio/status?call_id=c1"


def gateway_answering(replies: list[httpx.Response | Exception]) -> tuple[FakeGateway, list[str]]:
    gateway = FakeGateway("AC" + "d" * 32, "token", ["http://replica"])
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["X-Twilio-Signature"])
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    gateway._http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return gateway, seen


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    async def instant(_: float) -> None:
        return None

    monkeypatch.setattr("bench.fake_gateway.asyncio.sleep", instant)


def test_a_connection_error_is_retried_and_not_reported_once_delivered() -> None:
    gateway, seen = gateway_answering([httpx.ReadError(""), httpx.Response(204)])
    asyncio.run(gateway._post(URL, {"CallSid": "CA1", "CallStatus": "completed"}))
    assert gateway.log.callback_errors == []
    assert gateway.log.connection_errors == 1
    assert len(seen) == 2 and seen[0] == seen[1]  # the same signed callback again


def test_a_delivery_that_never_succeeds_is_reported() -> None:
    gateway, seen = gateway_answering([httpx.ConnectError("refused")] * 3)
    asyncio.run(gateway._post(URL, {"CallSid": "CA1", "CallStatus": "completed"}))
    assert len(seen) == 3
    assert gateway.log.callback_errors == ["ConnectError: refused /v1/telephony/twilio/status"]


def test_a_client_error_is_reported_without_a_retry() -> None:
    gateway, seen = gateway_answering([httpx.Response(403)])
    asyncio.run(gateway._post(URL, {"CallSid": "CA1"}))
    assert len(seen) == 1
    assert gateway.log.callback_errors == ["403 /v1/telephony/twilio/status"]
