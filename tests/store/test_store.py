"""The store on both engines: migrations, seed, durable turns, restart, concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, inspect, select

from agent.app import create_app
from agent.settings import Settings
from agent.store.models import Account, AuditEvent, PromiseToPay, Turn
from agent.store.seed import seed_demo
from tests.conftest import fixed_clock, http_client
from tests.databases import DATABASES, fresh_database_url


@pytest.fixture(params=DATABASES)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database_url(request.param, tmp_path) as url:
        yield url


def _settings(tmp_path: Path, url: str) -> Settings:
    return Settings(data_dir=tmp_path, database_url=url, log_format="console")


async def _post(client: httpx.AsyncClient, session_id: str, text: str) -> dict[str, object]:
    response = await client.post(f"/v1/chat/sessions/{session_id}/messages", json={"text": text})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_migrations_create_the_schema_and_seed_is_idempotent(
    database_url: str, tmp_path: Path
) -> None:
    app = create_app(_settings(tmp_path, database_url), clock=fixed_clock)
    async with app.router.lifespan_context(app):
        store = app.state.services.store
        async with store.engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            indexes = await conn.run_sync(
                lambda sync: {i["name"] for i in inspect(sync).get_indexes("conversations")}
            )
            promise_columns = await conn.run_sync(
                lambda sync: {c["name"] for c in inspect(sync).get_columns("promises")}
            )
        # The idle round's question (which open conversations does a person hold?) is indexed.
        assert "ix_conversations_controlled_by" in indexes
        assert "every" in promise_columns  # 0009: weekly and fortnightly plans
        assert {
            "accounts",
            "debtors",
            "conversations",
            "turns",
            "promises",
            "audit_events",
        } <= tables
        assert await seed_demo(store) == 0
        async with store.read() as session:
            refs = set((await session.execute(select(Account.account_ref))).scalars())
        assert refs == {"DEMO-US-001", "DEMO-UK-001", "DEMO-CN-001"}


async def test_conversation_survives_a_restart(database_url: str, tmp_path: Path) -> None:
    settings = _settings(tmp_path, database_url)
    first = create_app(settings, clock=fixed_clock)
    async with first.router.lifespan_context(first), http_client(first) as client:
        created = (
            await client.post("/v1/chat/sessions", json={"account_ref": "DEMO-US-001"})
        ).json()
        session_id = created["session_id"]
        await _post(client, session_id, "April 12 1985")
    second = create_app(settings, clock=fixed_clock)
    async with second.router.lifespan_context(second), http_client(second) as client:
        body = await _post(client, session_id, "I can pay 200 dollars next Friday")
        assert body["state"]["step"] == "confirm_promise"  # type: ignore[index]
        await _post(client, session_id, "yes")
        transcript = (await client.get(f"/v1/conversations/{created['conversation_id']}")).json()
        verify = (await client.get("/v1/audit/verify")).json()
        async with second.state.services.store.read() as session:
            promises = (await session.execute(select(PromiseToPay))).scalars().all()
    roles = [t["role"] for t in transcript["turns"]]
    assert roles.count("debtor") == 3
    assert [t["seq"] for t in transcript["turns"]] == list(range(1, len(roles) + 1))
    assert transcript["state"]["ended"] is True
    assert len(promises) == 1 and str(promises[0].amount) == "200.00"
    assert promises[0].due_date.isoformat() == "2026-12-04"
    assert verify["ok"] is True
    # conversation.started + every turn + promise + end
    assert verify["events"] >= len(roles) + 2


async def test_concurrent_messages_to_one_session_are_serialised(
    database_url: str, tmp_path: Path
) -> None:
    app = create_app(_settings(tmp_path, database_url), clock=fixed_clock)
    async with app.router.lifespan_context(app), http_client(app) as client:
        session_id = (
            await client.post("/v1/chat/sessions", json={"account_ref": "DEMO-US-001"})
        ).json()["session_id"]
        replies = await asyncio.gather(*(_post(client, session_id, f"hello {i}") for i in range(5)))
        assert len(replies) == 5
        async with app.state.services.store.read() as session:
            seqs = list((await session.execute(select(Turn.seq).order_by(Turn.seq))).scalars())
            events = await session.scalar(select(func.count()).select_from(AuditEvent))
        assert seqs == list(range(1, len(seqs) + 1))
        assert events == len(seqs) + 1
        assert (await client.get("/v1/audit/verify")).json()["ok"] is True


async def test_many_sessions_in_parallel_keep_one_chain(database_url: str, tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path, database_url), clock=fixed_clock)
    async with app.router.lifespan_context(app), http_client(app) as client:

        async def converse(ref: str) -> None:
            created = (await client.post("/v1/chat/sessions", json={"account_ref": ref})).json()
            await _post(client, created["session_id"], "who is this")
            await _post(client, created["session_id"], "stop calling me")

        await asyncio.gather(
            *(converse(r) for r in ["DEMO-US-001", "DEMO-UK-001", "DEMO-CN-001"] * 3)
        )
        report = (await client.get("/v1/audit/verify")).json()
    assert report["ok"] is True
    assert report["events"] >= 9 * 5
