"""The call registry on SQLite and PostgreSQL: the migration, inbound matching, status
updates, and one conversation per call however often it is asked for."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import func, inspect, select

from agent.store.database import create_engine, migrate
from agent.store.models import Call, ContactAttempt, Conversation
from tests.databases import DATABASES, downgrade, fresh_database_url
from tests.telephony.conftest import CN_PHONE, OUR_NUMBER, US_PHONE, telephony_app


@pytest.fixture(params=DATABASES)
async def app(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[FastAPI]:
    async with telephony_app(request.param, tmp_path) as application:
        yield application


@pytest.mark.parametrize("kind", DATABASES)
async def test_the_calls_migration_goes_up_and_down(kind: str, tmp_path: Path) -> None:
    async with fresh_database_url(kind, tmp_path) as url:
        engine = create_engine(url)
        try:
            await migrate(engine, "0001")
            await migrate(engine)
            async with engine.connect() as conn:
                columns = await conn.run_sync(
                    lambda sync: {c["name"] for c in inspect(sync).get_columns("calls")}
                )
            assert {"call_sid", "account_id", "session_id", "answered_by", "duration_s"} <= columns
            async with engine.begin() as conn:
                await conn.run_sync(downgrade, "0001")
            async with engine.connect() as conn:
                tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            assert "calls" not in tables and "accounts" in tables
            await migrate(engine)
        finally:
            await engine.dispose()


async def test_inbound_callers_are_matched_by_number(app: FastAPI) -> None:
    calls = app.state.services.calls
    known = await calls.inbound("CA" + "1" * 32, "+1 (212) 555-0142", OUR_NUMBER)
    chinese = await calls.inbound("CA" + "2" * 32, CN_PHONE, OUR_NUMBER)
    stranger = await calls.inbound("CA" + "3" * 32, "+12125550143", OUR_NUMBER)
    anonymous = await calls.inbound("CA" + "4" * 32, "anonymous", OUR_NUMBER)
    assert (known.account_ref, known.locale, known.direction) == ("DEMO-US-001", "en-US", "inbound")
    assert (chinese.account_ref, chinese.locale) == ("DEMO-CN-001", "zh-CN")
    assert stranger.account_ref is None and anonymous.account_ref is None
    assert await calls.inbound("CA" + "1" * 32, US_PHONE, OUR_NUMBER) == known
    assert await calls.by_sid("CA" + "1" * 32) == known and await calls.by_sid("CA-none") is None
    async with app.state.services.store.read() as session:
        attempts = (await session.execute(select(ContactAttempt))).scalars().all()
    # Inbound calls are recorded, never counted: two known callers, two inbound rows.
    assert sorted(a.direction for a in attempts) == ["inbound", "inbound"]


async def test_one_conversation_per_call(app: FastAPI) -> None:
    calls = app.state.services.calls
    call = await calls.inbound("CA" + "5" * 32, US_PHONE, OUR_NUMBER)
    outcomes = await asyncio.gather(*(calls.start_conversation(call.id) for _ in range(5)))
    assert len({o.session_id for o in outcomes}) == 1
    assert [m.template_id for m in outcomes[0].messages] == [
        m.template_id for m in outcomes[-1].messages
    ]
    stored = await calls.get(call.id)
    assert stored.session_id == outcomes[0].session_id
    assert stored.conversation_id == outcomes[0].conversation_id
    async with app.state.services.store.read() as session:
        conversations = (await session.execute(select(Conversation))).scalars().all()
    assert [c.channel for c in conversations] == ["voice"]


async def test_status_updates_settle_the_attempt_once(app: FastAPI) -> None:
    calls = app.state.services.calls
    # 15:00 in London (23:00 in Shanghai would be refused: CN-TIME).
    call = await calls.create_outbound("DEMO-UK-001", "stream")
    assert call.to_number == "+447700900123" and call.locale == "en-GB" and call.mode == "stream"
    await calls.dialled(call.id, "CA" + "6" * 32, "queued")
    busy = await calls.update_status("CA" + "6" * 32, "busy", duration=0)
    again = await calls.update_status("CA" + "6" * 32, "completed", duration=5)
    assert busy.status == again.status == "busy"
    async with app.state.services.store.read() as session:
        [attempt] = (await session.execute(select(ContactAttempt))).scalars().all()
        count = await session.scalar(select(func.count()).select_from(Call))
    assert attempt.outcome == "busy" and attempt.direction == "outbound" and count == 1
