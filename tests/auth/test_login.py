"""Sign-in: login, me, logout, hashes, throttling, logging, production seeding."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from agent.auth.deps import CSRF_HEADER
from agent.auth.sessions import SESSION_COOKIE
from agent.store.models import Account, User
from agent.store.seed import seed_demo
from agent.store.store import Store
from tests.auth.helpers import PASSWORDS, sign_in


async def test_login_returns_the_user_and_a_csrf_token(client: httpx.AsyncClient) -> None:
    body = await sign_in(client, "supervisor@demo")
    assert body["username"] == "supervisor@demo"
    assert body["role"] == "supervisor"
    assert body["tenant"] == "demo"
    assert len(body["csrf_token"]) >= 32
    assert client.cookies.get(SESSION_COOKIE)


async def test_the_session_cookie_is_httponly_strict_and_site_wide(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/v1/auth/login", json={"username": "agent@demo", "password": "demo-agent-pass"}
    )
    cookie = response.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "httponly" in attributes
    assert "samesite=strict" in cookie.lower()
    assert "path=/" in cookie.lower().replace("; ", ";").split(";")
    # Plain HTTP outside production: a Secure cookie would never come back.
    assert "secure" not in attributes


@pytest.mark.parametrize(
    ("username", "password"),
    [("agent@demo", "wrong-password"), ("nobody@demo", "demo-agent-pass")],
    ids=["wrong-password", "unknown-user"],
)
async def test_bad_credentials_get_one_and_the_same_401(
    client: httpx.AsyncClient, username: str, password: str
) -> None:
    response = await client.post(
        "/v1/auth/login", json={"username": username, "password": password}
    )
    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "invalid_credentials", "message": "wrong username or password"}
    }
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


async def test_me_needs_a_session(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/auth/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


async def test_me_repeats_the_login_body(client: httpx.AsyncClient) -> None:
    login = await sign_in(client, "auditor@demo")
    response = await client.get("/v1/auth/me")
    assert response.status_code == 200
    assert response.json() == login


async def test_logout_revokes_the_session_server_side(client: httpx.AsyncClient) -> None:
    await sign_in(client, "agent@demo")
    token = client.cookies[SESSION_COOKIE]
    response = await client.post("/v1/auth/logout")
    assert response.status_code == 200
    assert response.json() == {"signed_in": False}
    # Replaying the old cookie (as a thief who copied it would) no longer works.
    client.cookies.set(SESSION_COOKIE, token)
    assert (await client.get("/v1/auth/me")).status_code == 401


async def test_logout_needs_the_csrf_token(client: httpx.AsyncClient) -> None:
    await sign_in(client, "agent@demo")
    csrf = client.headers.pop(CSRF_HEADER)
    response = await client.post("/v1/auth/logout")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"
    assert (await client.get("/v1/auth/me")).status_code == 200
    assert (await client.post("/v1/auth/logout", headers={CSRF_HEADER: csrf})).status_code == 200


async def test_logout_without_a_session_is_harmless(client: httpx.AsyncClient) -> None:
    assert (await client.post("/v1/auth/logout")).status_code == 200


async def test_passwords_are_stored_as_argon2_hashes(app: FastAPI) -> None:
    async with app.state.services.store.read() as session:
        users = {u.username: u for u in (await session.execute(select(User))).scalars()}
    assert set(users) == set(PASSWORDS)
    for username, password in PASSWORDS.items():
        stored = users[username].password_hash
        assert stored.startswith("$argon2id$")
        assert password not in stored
    assert {u.role for u in users.values()} == {"agent", "supervisor", "auditor"}
    assert users["agent@other"].tenant == "other"


async def test_failed_logins_are_throttled_per_username_and_address(
    client: httpx.AsyncClient,
) -> None:
    wrong = {"username": "agent@demo", "password": "guess"}
    for _ in range(10):
        assert (await client.post("/v1/auth/login", json=wrong)).status_code == 401
    throttled = await client.post("/v1/auth/login", json=wrong)
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "too_many_attempts"
    assert 0 < throttled.json()["error"]["retry_after_s"] <= 60
    # Even the right password waits: the limit is on the attempts, not the outcome.
    right = {"username": "agent@demo", "password": "demo-agent-pass"}
    assert (await client.post("/v1/auth/login", json=right)).status_code == 429
    # Another username from the same address is unaffected.
    await sign_in(client, "auditor@demo")


async def test_failures_are_logged_without_the_password(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await client.post("/v1/auth/login", json={"username": "agent@demo", "password": "s3cr3t-guess"})
    await client.get("/v1/auth/me")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    events = {r.getMessage() for r in warnings}
    assert {"login_failed", "authorization_failed"} <= events
    failed = next(r for r in warnings if r.getMessage() == "login_failed")
    assert failed.fields["username"] == "agent@demo"  # type: ignore[attr-defined]
    assert all("s3cr3t-guess" not in repr(r.__dict__) for r in caplog.records)


async def test_production_never_seeds_demo_users(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The service refuses to start in production with demo data on (tests/security);
    # seeding itself is the second lock, e.g. for `agent seed`.
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'prod.db'}")
    try:
        assert await seed_demo(store, "production") == 0
        async with store.read() as session:
            users = (await session.execute(select(User))).scalars().all()
            accounts = (await session.execute(select(Account))).scalars().all()
    finally:
        await store.close()
    assert users == []
    assert accounts == []
    assert any(r.getMessage() == "demo_data_refused" for r in caplog.records)
