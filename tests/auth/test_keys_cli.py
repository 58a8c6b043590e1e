"""`agent keys create/revoke`, then the key against the running service."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from typer.testing import CliRunner, Result

from agent.cli import app as cli
from agent.settings import Settings
from agent.store.models import ApiKey


@pytest.fixture
def same_database(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the CLI's own Settings() at the test app's database."""
    monkeypatch.setenv("AGENT_DATABASE_URL", settings.database_url)


async def _agent(*args: str) -> Result:
    # The CLI runs its own event loop (asyncio.run), so it goes to a thread here.
    return await asyncio.to_thread(CliRunner().invoke, cli, list(args))


@pytest.mark.usefixtures("same_database")
async def test_a_created_key_authenticates_and_only_its_hash_is_stored(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    result = await _agent("keys", "create", "--name", "crm", "--role", "agent", "--tenant", "demo")
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert key.startswith("tact_")

    me = await client.get("/v1/auth/me", headers={"X-API-Key": key})
    assert me.status_code == 200
    assert me.json() == {"username": "key:crm", "role": "agent", "tenant": "demo", "csrf_token": ""}
    wrong = await client.get("/v1/auth/me", headers={"X-API-Key": key + "x"})
    assert wrong.status_code == 401

    async with app.state.services.store.read() as session:
        rows = (await session.execute(select(ApiKey))).scalars().all()
    assert len(rows) == 1
    assert rows[0].key_hash not in key and key.split("_")[-1] not in rows[0].key_hash

    revoked = await _agent("keys", "revoke", "--name", "crm")
    assert revoked.exit_code == 0, revoked.output
    assert (await client.get("/v1/auth/me", headers={"X-API-Key": key})).status_code == 401


@pytest.mark.usefixtures("same_database")
async def test_an_unknown_role_is_refused(app: FastAPI) -> None:
    result = await _agent("keys", "create", "--name", "x", "--role", "admin", "--tenant", "demo")
    assert result.exit_code == 2
    assert "role must be one of agent, supervisor, auditor" in result.stderr
