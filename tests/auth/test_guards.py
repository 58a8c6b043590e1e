"""ReaderDep / ActorDep on a router of the test's own: roles, CSRF, API keys, expiry."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import update

from agent.app import create_app
from agent.auth.deps import CSRF_HEADER, ActorDep, ReaderDep
from agent.auth.keys import create_api_key
from agent.settings import Settings
from agent.store.models import WebSession
from tests.auth.helpers import sign_in
from tests.conftest import fixed_clock, http_client

probe = APIRouter(prefix="/test-auth")


def _who(principal: Any) -> dict[str, str]:
    return {"username": principal.username, "role": principal.role, "tenant": principal.tenant}


@probe.get("/read")
async def read(principal: ReaderDep) -> dict[str, str]:
    return _who(principal)


@probe.post("/read")
async def read_post(principal: ReaderDep) -> dict[str, str]:
    return _who(principal)


@probe.post("/act")
async def act(principal: ActorDep) -> dict[str, str]:
    return _who(principal)


@pytest.fixture
async def guarded(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    app.include_router(probe)
    async with http_client(app) as client:
        yield client


async def test_anonymous_gets_401_everywhere(guarded: httpx.AsyncClient) -> None:
    for method, path in [("GET", "/read"), ("POST", "/read"), ("POST", "/act")]:
        response = await guarded.request(method, f"/test-auth{path}")
        assert response.status_code == 401, (method, path)
        assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize("username", ["agent@demo", "supervisor@demo"])
async def test_agents_and_supervisors_may_act(guarded: httpx.AsyncClient, username: str) -> None:
    await sign_in(guarded, username)
    response = await guarded.post("/test-auth/act")
    assert response.status_code == 200
    assert response.json()["username"] == username


async def test_an_auditor_may_read_but_not_act(guarded: httpx.AsyncClient) -> None:
    await sign_in(guarded, "auditor@demo")
    assert (await guarded.get("/test-auth/read")).status_code == 200
    refused = await guarded.post("/test-auth/act")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"


async def test_cookie_posts_need_the_csrf_token(guarded: httpx.AsyncClient) -> None:
    login = await sign_in(guarded, "agent@demo")
    del guarded.headers[CSRF_HEADER]
    assert (await guarded.get("/test-auth/read")).status_code == 200  # reads need none
    for path in ("/test-auth/read", "/test-auth/act"):
        missing = await guarded.post(path)
        assert missing.status_code == 403
        assert missing.json()["error"]["code"] == "csrf_failed"
        wrong = await guarded.post(path, headers={CSRF_HEADER: login["csrf_token"][::-1]})
        assert wrong.status_code == 403
        right = await guarded.post(path, headers={CSRF_HEADER: login["csrf_token"]})
        assert right.status_code == 200


async def test_a_csrf_token_belongs_to_its_own_session(guarded: httpx.AsyncClient) -> None:
    other = await sign_in(guarded, "supervisor@demo")
    guarded.cookies.clear()
    await sign_in(guarded, "agent@demo")
    response = await guarded.post("/test-auth/act", headers={CSRF_HEADER: other["csrf_token"]})
    assert response.status_code == 403


async def test_api_keys_need_no_csrf_token(app: FastAPI, guarded: httpx.AsyncClient) -> None:
    key = await create_api_key(app.state.services.store, "crm", "supervisor", "demo")
    response = await guarded.post("/test-auth/act", headers={"X-API-Key": key})
    assert response.status_code == 200
    assert response.json() == {"username": "key:crm", "role": "supervisor", "tenant": "demo"}


async def test_an_auditor_key_may_not_act(app: FastAPI, guarded: httpx.AsyncClient) -> None:
    key = await create_api_key(app.state.services.store, "reports", "auditor", "demo")
    assert (await guarded.get("/test-auth/read", headers={"X-API-Key": key})).status_code == 200
    assert (await guarded.post("/test-auth/act", headers={"X-API-Key": key})).status_code == 403


@pytest.mark.parametrize(
    "bad_key", ["", "nonsense", "tact_", "tact_0000000000000000_secret", "tact_x_y_z"]
)
async def test_a_wrong_key_is_401_even_beside_a_good_cookie(
    app: FastAPI, guarded: httpx.AsyncClient, bad_key: str
) -> None:
    await sign_in(guarded, "agent@demo")
    response = await guarded.get("/test-auth/read", headers={"X-API-Key": bad_key})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


async def test_a_tampered_key_is_401(app: FastAPI, guarded: httpx.AsyncClient) -> None:
    key = await create_api_key(app.state.services.store, "crm", "agent", "demo")
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert (
        await guarded.get("/test-auth/read", headers={"X-API-Key": tampered})
    ).status_code == 401


async def test_an_expired_session_is_401(app: FastAPI, guarded: httpx.AsyncClient) -> None:
    await sign_in(guarded, "agent@demo")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    async with app.state.services.store.write() as session:
        await session.execute(update(WebSession).values(expires_at=past))
    assert (await guarded.get("/test-auth/read")).status_code == 401


async def test_another_replica_honours_the_cookie(
    settings: Settings, guarded: httpx.AsyncClient
) -> None:
    # Sessions live in the database, not in the process: any replica accepts the cookie,
    # and a logout on one is a logout on all.
    await sign_in(guarded, "agent@demo")
    replica = create_app(settings, clock=fixed_clock)
    replica.include_router(probe)
    async with replica.router.lifespan_context(replica), http_client(replica) as other:
        other.cookies.update(guarded.cookies)
        assert (await other.get("/test-auth/read")).status_code == 200
        assert (await guarded.post("/v1/auth/logout")).status_code == 200
        assert (await other.get("/test-auth/read")).status_code == 401
