"""CORS: none unless origins are configured; then only those origins, no credentials."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from agent.app import create_app
from agent.settings import Settings
from tests.conftest import fixed_clock, http_client

LENDER = "https://lender.example"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type",
}


async def started_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(settings, clock=fixed_clock)
    async with app.router.lifespan_context(app), http_client(app) as client:
        yield client


def settings_with(tmp_path: Path, origins: list[str]) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url="",
        log_format="console",
        environment="test",
        analyzer="lexicon",
        cors_origins=origins,
    )


@pytest.fixture
async def open_to_lender(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for client in started_client(settings_with(tmp_path, [LENDER])):
        yield client


@pytest.fixture
async def same_origin_only(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for client in started_client(settings_with(tmp_path, [])):
        yield client


async def test_a_listed_origin_may_call_the_chat_api(open_to_lender: httpx.AsyncClient) -> None:
    preflight = await open_to_lender.options(
        "/v1/chat/sessions", headers={"Origin": LENDER, **PREFLIGHT}
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == LENDER
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in preflight.headers
    created = await open_to_lender.post(
        "/v1/chat/sessions", json={"account_ref": "DEMO-US-001"}, headers={"Origin": LENDER}
    )
    assert created.status_code == 201
    assert created.headers["access-control-allow-origin"] == LENDER
    assert "retry-after" in created.headers["access-control-expose-headers"].lower()


async def test_another_origin_gets_no_cors_headers(open_to_lender: httpx.AsyncClient) -> None:
    evil = "https://evil.example"
    preflight = await open_to_lender.options(
        "/v1/chat/sessions", headers={"Origin": evil, **PREFLIGHT}
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    response = await open_to_lender.get("/healthz", headers={"Origin": evil})
    assert "access-control-allow-origin" not in response.headers


async def test_without_origins_there_is_no_cors_at_all(same_origin_only: httpx.AsyncClient) -> None:
    preflight = await same_origin_only.options(
        "/v1/chat/sessions", headers={"Origin": LENDER, **PREFLIGHT}
    )
    assert preflight.status_code == 405
    assert "access-control-allow-origin" not in preflight.headers
    response = await same_origin_only.get("/healthz", headers={"Origin": LENDER})
    assert "access-control-allow-origin" not in response.headers


def test_origins_come_from_a_json_list_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AGENT_CORS_ORIGINS", f'["{LENDER}", "https://www.lender.example"]')
    assert Settings(data_dir=tmp_path).cors_origins == [LENDER, "https://www.lender.example"]
