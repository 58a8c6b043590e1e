"""Retention purges only expired data, logs the purge, and the chain still verifies."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import func, select, update

from agent.app import create_app
from agent.compliance.audit import verify_chain
from agent.compliance.report import compliance_report, report_table
from agent.compliance.retention import purge_expired
from agent.settings import Settings
from agent.store.models import AuditEvent, Conversation, Turn
from tests.conftest import FIXED_NOW, fixed_clock, http_client


async def _converse(client, ref: str, texts: list[str]) -> None:  # type: ignore[no-untyped-def]
    session = (await client.post("/v1/chat/sessions", json={"account_ref": ref})).json()
    for text in texts:
        await client.post(
            f"/v1/chat/sessions/{session['session_id']}/messages", json={"text": text}
        )


async def test_purge_by_pack_retention(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, log_format="console"), clock=fixed_clock)
    async with app.router.lifespan_context(app), http_client(app) as client:
        services = app.state.services
        assert (await services.contacts.reserve("DEMO-US-001", "call", FIXED_NOW)).attempt_id
        await _converse(client, "DEMO-US-001", ["April 12 1985", "stop calling me"])
        await _converse(client, "DEMO-CN-001", ["1990年8月8日", "下周五还两千", "对"])
        await _converse(client, "DEMO-UK-001", ["30/11/1979"])

        # Two and a half years on: CN (2 years) has expired, US (3) and UK (6) have not.
        later = FIXED_NOW + dt.timedelta(days=365 * 2 + 180)
        dry = await purge_expired(services.store, services.packs, later, dry_run=True)
        assert dry.conversations == 1 and dry.turns > 0
        report = await purge_expired(services.store, services.packs, later)
        assert report.conversations == 1 and report.promises == 1
        async with services.store.read() as session:
            remaining = (
                await session.execute(select(Conversation.tenant, Conversation.account_id))
            ).all()
            assert len(remaining) == 2
            chain = await verify_chain(session)
            assert chain.ok, chain.problems
            purge_events = await session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.kind == "retention.purge")
            )
            assert purge_events == 1

        # Four years on: the US conversation and contact attempt go too; UK stays.
        report = await purge_expired(
            services.store, services.packs, FIXED_NOW + dt.timedelta(days=365 * 4)
        )
        assert report.conversations == 1 and report.contact_attempts == 1
        async with services.store.read() as session:
            assert await session.scalar(select(func.count()).select_from(Conversation)) == 1
            assert (await verify_chain(session)).ok
            # Blanking a payload without a purge record is still caught.
            seq = await session.scalar(select(func.max(Turn.seq)))
            assert seq is not None
        async with services.store.write() as session:
            newest = await session.scalar(
                select(AuditEvent.seq)
                .where(AuditEvent.kind == "turn.inbound")
                .order_by(AuditEvent.seq.desc())
            )
            await session.execute(
                update(AuditEvent).where(AuditEvent.seq == newest).values(payload=None)
            )
        async with services.store.read() as session:
            broken = await verify_chain(session)
        assert not broken.ok
        assert broken.problems == [
            {"seq": newest, "problem": "payload removed without a purge record"}
        ]


async def test_report_counts_refusals_flags_and_disclosures(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, log_format="console"), clock=fixed_clock)
    async with app.router.lifespan_context(app), http_client(app) as client:
        await _converse(client, "DEMO-US-001", ["April 12 1985", "talk to my lawyer"])
        contacts = app.state.services.contacts
        await contacts.reserve("DEMO-US-001", "call", FIXED_NOW)
        async with app.state.services.store.read() as session:
            report = await compliance_report(session, FIXED_NOW - dt.timedelta(days=1))
    assert report["conversations"] == 1
    assert report["contact_refusals_by_rule"] == {"US-ATTY": 1}
    assert report["flags_set"] == {"attorney": 1}
    assert report["disclosures_given"]["mini_miranda"] == 1
    assert report["disclosures_given"]["ai"] >= 1
    table = report_table(report)
    assert "US-ATTY" in table and "mini_miranda" in table
