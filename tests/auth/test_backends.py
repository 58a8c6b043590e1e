"""Users, sessions and keys on both engines (migration 0003 on SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, update

from agent.auth.keys import create_api_key, principal_for_key, revoke_api_keys
from agent.auth.principal import Principal
from agent.auth.sessions import close_session, open_session, session_for_token
from agent.auth.users import authenticate
from agent.store.database import migrate
from agent.store.models import User, WebSession
from agent.store.seed import seed_demo
from tests.databases import DATABASES, downgrade, open_store


@pytest.mark.parametrize("kind", DATABASES)
async def test_users_sessions_and_keys(kind: str, tmp_path: Path) -> None:
    async with open_store(kind, tmp_path) as store:
        await seed_demo(store)
        await seed_demo(store)  # idempotent
        async with store.read() as session:
            assert await session.scalar(select(func.count()).select_from(User)) == 4

        agent = await authenticate(store, "agent@demo", "demo-agent-pass")
        assert agent == Principal("agent@demo", "agent", "demo")
        assert await authenticate(store, "agent@demo", "nope") is None

        token, signed_in = await open_session(store, agent)
        found = await session_for_token(store, token)
        assert found is not None and found.csrf_token == signed_in.csrf_token
        # An expired row is refused, then swept by the next sign-in.
        async with store.write() as session:
            past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
            await session.execute(update(WebSession).values(expires_at=past))
        assert await session_for_token(store, token) is None
        second, _ = await open_session(store, agent)
        async with store.read() as session:
            assert await session.scalar(select(func.count()).select_from(WebSession)) == 1
        assert await close_session(store, second)
        assert await session_for_token(store, second) is None

        key = await create_api_key(store, "crm", "auditor", "other")
        assert await principal_for_key(store, key) == Principal("key:crm", "auditor", "other")
        assert await revoke_api_keys(store, "crm") == 1
        assert await principal_for_key(store, key) is None


@pytest.mark.parametrize("kind", DATABASES)
async def test_migration_0003_downgrades_and_upgrades_again(kind: str, tmp_path: Path) -> None:
    async with open_store(kind, tmp_path) as store:
        async with store.engine.begin() as conn:
            await conn.run_sync(downgrade, "0002")
            tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert not {"users", "api_keys", "web_sessions"} & tables
        await migrate(store.engine)
        await seed_demo(store)
        assert await authenticate(store, "auditor@demo", "demo-auditor-pass") is not None
