"""Shared fixtures: a real app on a real SQLite file (and PostgreSQL where marked)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from agent.app import create_app
from agent.settings import Settings

# Saturday 28 November 2026, 15:00 UTC: the "today" conversation tests resolve dates against.
FIXED_NOW = dt.datetime(2026, 11, 28, 15, 0, tzinfo=dt.UTC)


def fixed_clock() -> dt.datetime:
    return FIXED_NOW


@pytest.fixture(scope="session", autouse=True)
def classifier_model() -> Path:
    """The classifier AGENT_MODEL_DIR holds; built once here if this checkout lacks it
    (scripts/setup builds it in CI, so this is normally a no-op)."""
    settings = Settings()
    if settings.analyzer != "model":
        return settings.model_dir
    from agent.nlp.classifier import ensure_model

    return ensure_model(settings)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url="", log_format="console", environment="test")


def http_client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings, clock=fixed_clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(app) as c:
        yield c
