"""The hash chain: appends, verification, and tamper detection by sequence number."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, update

from agent.compliance.audit import AuditChain, verify_chain
from agent.store.models import AuditEvent
from agent.store.store import Store
from tests.databases import DATABASES, open_store


@pytest.fixture(params=DATABASES)
async def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Store]:
    async with open_store(request.param, tmp_path_factory.mktemp("db")) as opened:
        yield opened


async def _append(store: Store, count: int) -> None:
    for index in range(count):
        async with store.write() as session:
            chain = await AuditChain.open(session)
            chain.append(
                "test.event", None, {"index": index, "text": "héllo 你好", "amount": "1.50"}
            )
            await chain.close()


async def test_empty_chain_verifies(store: Store) -> None:
    async with store.read() as session:
        report = await verify_chain(session)
    assert report.ok and report.events == 0 and report.head == "0" * 64


async def test_appended_events_verify_and_link(store: Store) -> None:
    await _append(store, 5)
    async with store.read() as session:
        report = await verify_chain(session)
    assert report.ok, report.problems
    assert report.events == 5
    assert report.head != "0" * 64


async def test_edited_payload_is_reported_with_its_seq(store: Store) -> None:
    await _append(store, 5)
    async with store.write() as session:
        await session.execute(
            update(AuditEvent).where(AuditEvent.seq == 3).values(payload={"index": 99})
        )
    async with store.read() as session:
        report = await verify_chain(session)
    assert not report.ok
    assert report.problems[0] == {"seq": 3, "problem": "content does not match its hash"}


async def test_rehashed_edit_breaks_the_next_link(store: Store) -> None:
    await _append(store, 4)
    async with store.write() as session:
        await session.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(hash="f" * 64))
    async with store.read() as session:
        report = await verify_chain(session)
    seqs = {p["seq"] for p in report.problems}
    assert not report.ok and {2, 3} <= seqs


async def test_deleted_event_is_reported(store: Store) -> None:
    await _append(store, 4)
    async with store.write() as session:
        await session.execute(delete(AuditEvent).where(AuditEvent.seq == 2))
    async with store.read() as session:
        report = await verify_chain(session)
    assert not report.ok
    assert {"seq": 2, "problem": "missing event"} in report.problems


async def test_truncated_tail_is_reported(store: Store) -> None:
    await _append(store, 3)
    async with store.write() as session:
        await session.execute(delete(AuditEvent).where(AuditEvent.seq == 3))
    async with store.read() as session:
        report = await verify_chain(session)
    assert not report.ok
    assert report.problems[-1]["problem"] == "chain head does not match the last event"
