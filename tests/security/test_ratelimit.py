"""Rate limits: token buckets in process and in Redis, and where they apply (chat turns
over HTTP and WebSocket, new sessions, sign-ins, webhooks): 429 with Retry-After, the
shared error shape, a log line, and nothing processed."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from agent.app import create_app
from agent.payments.signature import sign
from agent.security.ratelimit import MemoryLimiter, RedisLimiter, Rule
from agent.security.throttle import Rules
from agent.settings import Settings
from agent.store.models import AuditEvent, Conversation, Turn
from tests.conftest import fixed_clock
from tests.redis_marker import REDIS_URL, needs_redis


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the buckets ---------------------------------------------------------------------------


async def test_memory_bucket_allows_the_burst_then_refills_evenly() -> None:
    clock = FakeClock()
    limiter = MemoryLimiter(clock)
    rule = Rule("r", 3)  # 3 at once, one more every 20 s
    assert [await limiter.take(rule, "k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert await limiter.take(rule, "k") == pytest.approx(20.0)
    assert await limiter.take(rule, "other") == 0.0  # keys are independent
    clock.now += 10
    assert await limiter.take(rule, "k") == pytest.approx(10.0)
    clock.now += 10
    assert await limiter.take(rule, "k") == 0.0
    assert await limiter.take(rule, "k") > 0


async def test_a_zero_limit_is_off() -> None:
    limiter = MemoryLimiter(FakeClock())
    assert all([await limiter.take(Rule("r", 0), "k") == 0.0 for _ in range(1000)])


async def test_memory_stays_bounded_under_a_flood_of_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent.security.ratelimit.MAX_KEYS", 100)
    clock = FakeClock()
    limiter = MemoryLimiter(clock)
    for n in range(1000):
        clock.now += 0.001
        await limiter.take(Rule("r", 5), f"addr-{n}")
    assert len(limiter._buckets) <= 100


async def test_idle_buckets_are_forgotten_within_a_minute_without_changing_answers() -> None:
    clock = FakeClock()
    limiter = MemoryLimiter(clock)
    rule = Rule("r", 2)
    for n in range(50):  # 50 sessions, each seen once, then gone
        await limiter.take(rule, f"session-{n}")
    await limiter.take(rule, "live")
    await limiter.take(rule, "live")
    clock.now += 30
    await limiter.take(rule, "live")  # 30 s: one token back, taken
    assert len(limiter._buckets) == 51  # nothing idle for a minute yet
    clock.now += 31
    assert await limiter.take(rule, "live") == 0.0
    assert set(limiter._buckets) == {("r", "live")}  # the 50 idle ones were full anyway
    assert await limiter.take(rule, "session-0") == 0.0  # and start full again


async def test_the_defaults_let_a_load_test_from_one_address_through() -> None:
    # 200 sessions created at once from 127.0.0.1, each sending 10 turns at once, plus
    # the panel signing in: nothing may be refused with the default settings.
    rules, limiter, address = Rules.of(Settings()), MemoryLimiter(FakeClock()), "127.0.0.1"
    waits = [await limiter.take(rules.ip, address) for _ in range(200 * 11 + 1)]
    waits += [await limiter.take(rules.ip_sessions, address) for _ in range(200)]
    for session in range(200):
        waits += [await limiter.take(rules.session_turns, f"s{session}") for _ in range(10)]
    waits.append(await limiter.take(rules.ip_logins, address))
    assert set(waits) == {0.0}


@needs_redis
async def test_redis_buckets_are_shared_between_replicas() -> None:
    one, two = RedisLimiter(REDIS_URL), RedisLimiter(REDIS_URL)
    rule, key = Rule(f"test-{uuid.uuid4().hex}", 4), "10.1.2.3"
    try:
        waits = [await limiter.take(rule, key) for limiter in (one, two, one, two)]
        assert waits == [0.0] * 4
        refused = await two.take(rule, key)
        assert 0 < refused <= 15.0  # 4 a minute: one token every 15 s
        assert await one.take(rule, key) > 0
        assert await one.take(rule, "another-key") == 0.0
    finally:
        await one._client.delete(
            f"tact:ratelimit:{rule.name}:{key}", f"tact:ratelimit:{rule.name}:another-key"
        )
        await one.close()
        await two.close()


async def test_redis_unreachable_falls_back_to_this_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    limiter = RedisLimiter(f"redis://127.0.0.1:{port}/0", clock=FakeClock())
    try:
        rule = Rule("r", 2)
        assert [await limiter.take(rule, "k") for _ in range(2)] == [0.0, 0.0]
        assert await limiter.take(rule, "k") > 0  # still limited, in memory
    finally:
        await limiter.close()
    unavailable = [r for r in caplog.records if r.getMessage() == "rate_limit_redis_unavailable"]
    assert len(unavailable) == 1  # logged once, not per request


# -- where they apply ----------------------------------------------------------------------


def limited(tmp_path: Path, **limits: Any) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url="",
        log_format="console",
        environment="test",
        analyzer="lexicon",
        **limits,
    )


def client_for(app: FastAPI, address: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
async def started(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[FastAPI]:
    app = create_app(limited(tmp_path, **request.param), clock=fixed_clock)
    async with app.router.lifespan_context(app):
        yield app


async def counts(app: FastAPI) -> tuple[int, int, int]:
    async with app.state.services.store.read() as session:
        return (
            await session.scalar(select(func.count()).select_from(Conversation)) or 0,
            await session.scalar(select(func.count()).select_from(Turn)) or 0,
            await session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
        )


def assert_rate_limited(response: httpx.Response) -> None:
    assert response.status_code == 429
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "rate_limited"
    assert body["error"]["message"]
    retry_after = int(response.headers["retry-after"])
    assert retry_after >= 1
    assert body["error"]["retry_after_s"] == retry_after


@pytest.mark.parametrize("started", [{"rate_limit_session_turns_per_minute": 2}], indirect=True)
async def test_turns_per_session_over_http(
    started: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    async with client_for(started) as client:
        created = (
            await client.post("/v1/chat/sessions", json={"account_ref": "DEMO-US-001"})
        ).json()
        say = f"/v1/chat/sessions/{created['session_id']}/messages"
        assert (await client.post(say, json={"text": "April 12th 1985"})).status_code == 200
        assert (await client.post(say, json={"text": "what is this about?"})).status_code == 200
        before = await counts(started)
        refused = await client.post(say, json={"text": "I can pay 200 dollars next Friday"})
        assert_rate_limited(refused)
        assert refused.headers["retry-after"] == "30"  # 2 a minute: one token every 30 s
        assert await counts(started) == before  # the turn was not processed
        transcript = (await client.get(f"/v1/conversations/{created['conversation_id']}")).json()
        assert [t["role"] for t in transcript["turns"]].count("debtor") == 2
        # Another session is not affected.
        other = (await client.post("/v1/chat/sessions", json={"account_ref": "DEMO-UK-001"})).json()
        said = await client.post(
            f"/v1/chat/sessions/{other['session_id']}/messages", json={"text": "30/11/1979"}
        )
        assert said.status_code == 200
    logged = [r for r in caplog.records if r.getMessage() == "rate_limited"]
    assert len(logged) == 1
    assert logged[0].fields["rule"] == "session_turns"  # type: ignore[attr-defined]


@pytest.mark.parametrize("started", [{"rate_limit_ip_sessions_per_minute": 2}], indirect=True)
async def test_new_sessions_per_address(started: FastAPI) -> None:
    async with client_for(started, "203.0.113.7") as client:
        for _ in range(2):
            created = await client.post("/v1/chat/sessions", json={"account_ref": "DEMO-US-001"})
            assert created.status_code == 201
        before = await counts(started)
        refused = await client.post("/v1/chat/sessions", json={"account_ref": "DEMO-US-001"})
        assert_rate_limited(refused)
        assert await counts(started) == before
    async with client_for(started, "203.0.113.8") as client:
        created = await client.post("/v1/chat/sessions", json={"account_ref": "DEMO-US-001"})
        assert created.status_code == 201


@pytest.mark.parametrize("started", [{"rate_limit_ip_per_minute": 3}], indirect=True)
async def test_every_limited_request_counts_against_the_address(started: FastAPI) -> None:
    async with client_for(started) as client:
        created = (
            await client.post("/v1/chat/sessions", json={"account_ref": "DEMO-US-001"})
        ).json()
        say = f"/v1/chat/sessions/{created['session_id']}/messages"
        assert (await client.post(say, json={"text": "April 12th 1985"})).status_code == 200
        assert (await client.post(say, json={"text": "ok"})).status_code == 200
        assert_rate_limited(await client.post(say, json={"text": "yes"}))
        # Unlimited endpoints still answer (reading a transcript is not a turn).
        assert (
            await client.get(f"/v1/conversations/{created['conversation_id']}")
        ).status_code == 200


@pytest.mark.parametrize("started", [{"rate_limit_ip_logins_per_minute": 2}], indirect=True)
async def test_sign_ins_per_address(started: FastAPI) -> None:
    right = {"username": "agent@demo", "password": "demo-agent-pass"}
    async with client_for(started) as client:
        wrong = await client.post("/v1/auth/login", json={**right, "password": "guess"})
        assert wrong.status_code == 401
        assert (await client.post("/v1/auth/login", json=right)).status_code == 200
        refused = await client.post("/v1/auth/login", json=right)  # even the right password
        assert_rate_limited(refused)
        assert "set-cookie" not in refused.headers


@pytest.mark.parametrize(
    "started",
    [{"rate_limit_ip_per_minute": 1, "payments_webhook_secret": "a-test-secret-of-some-length"}],
    indirect=True,
)
async def test_webhooks_per_address(started: FastAPI) -> None:
    raw = json.dumps(
        {
            "payment_ref": "p-1",
            "account_ref": "DEMO-US-001",
            "amount": "10.00",
            "currency": "USD",
            "paid_at": "2026-11-28T10:00:00Z",
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Tact-Signature": sign("a-test-secret-of-some-length", raw),
    }
    async with client_for(started) as client:
        assert (await client.post("/v1/payments", content=raw, headers=headers)).status_code == 201
        second = raw.replace(b"p-1", b"p-2")
        headers["X-Tact-Signature"] = sign("a-test-secret-of-some-length", second)
        before = await counts(started)
        assert_rate_limited(await client.post("/v1/payments", content=second, headers=headers))
        assert await counts(started) == before
        # The Twilio webhooks are limited before their signature is even checked.
        voice = await client.post("/v1/telephony/twilio/voice", data={"CallSid": "CA1"})
        assert_rate_limited(voice)


@pytest.fixture
def socket_app(tmp_path: Path) -> Iterator[tuple[TestClient, FakeClock]]:
    app = create_app(limited(tmp_path, rate_limit_session_turns_per_minute=1), clock=fixed_clock)
    with TestClient(app) as client:
        clock = FakeClock()
        app.state.rate_limiter = MemoryLimiter(clock)  # a clock the test moves
        yield client, clock


def test_socket_messages_per_session(socket_app: tuple[TestClient, FakeClock]) -> None:
    client, clock = socket_app
    created = client.post("/v1/chat/sessions", json={"account_ref": "DEMO-US-001"}).json()
    with client.websocket_connect(f"/v1/chat/sessions/{created['session_id']}/ws") as ws:
        ws.receive_json()
        ws.send_json({"type": "message", "text": "April 12th 1985"})
        assert ws.receive_json() == {"type": "typing"}
        assert ws.receive_json()["state"]["verified"] is True
        ws.send_json({"type": "message", "text": "I can pay 200 dollars next Friday"})
        refused = ws.receive_json()
        assert refused["type"] == "error"
        assert refused["error"]["code"] == "rate_limited"
        assert refused["error"]["retry_after_s"] == 60
        clock.now += 60  # the socket stayed open; a minute later the turn goes through
        ws.send_json({"type": "message", "text": "I can pay 200 dollars next Friday"})
        assert ws.receive_json() == {"type": "typing"}
        assert ws.receive_json()["state"]["promise"]["date"] == "2026-12-04"
    transcript = client.get(f"/v1/conversations/{created['conversation_id']}").json()
    assert [t["role"] for t in transcript["turns"]].count("debtor") == 2


@needs_redis
async def test_two_replicas_share_the_limit_through_redis(tmp_path: Path) -> None:
    settings = limited(tmp_path, rate_limit_ip_sessions_per_minute=2, redis_url=REDIS_URL)
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    one = create_app(settings, clock=fixed_clock)
    two = create_app(settings, clock=fixed_clock)
    async with one.router.lifespan_context(one), two.router.lifespan_context(two):
        try:
            async with client_for(one, address) as a, client_for(two, address) as b:
                first = await a.post("/v1/chat/sessions", json={"account_ref": "DEMO-US-001"})
                second = await b.post("/v1/chat/sessions", json={"account_ref": "DEMO-US-001"})
                assert (first.status_code, second.status_code) == (201, 201)
                assert_rate_limited(
                    await a.post("/v1/chat/sessions", json={"account_ref": "DEMO-US-001"})
                )
        finally:
            limiter = one.state.rate_limiter
            await limiter._client.delete(
                f"tact:ratelimit:ip:{address}", f"tact:ratelimit:ip_sessions:{address}"
            )


@pytest.mark.parametrize("started", [{}], indirect=True)
async def test_failed_sign_in_throttling_also_sends_retry_after(started: FastAPI) -> None:
    wrong = {"username": "agent@demo", "password": "guess"}
    async with client_for(started) as client:
        for _ in range(10):  # the failure brake: 10 a minute per (username, address)
            assert (await client.post("/v1/auth/login", json=wrong)).status_code == 401
        throttled = await client.post("/v1/auth/login", json=wrong)
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "too_many_attempts"
    assert int(throttled.headers["retry-after"]) == throttled.json()["error"]["retry_after_s"]
