"""Calls whose final status callback was lost are settled by asking the REST API."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from agent.app import create_app
from agent.campaigns.local import LocalDialer
from agent.campaigns.worker import RECONCILE_TASK, build_app
from agent.compliance.audit import verify_chain
from agent.compliance.contact import ONE_CALL_RULE
from agent.settings import Settings
from agent.store.models import AuditEvent, ContactAttempt
from agent.telephony.calls import CallRegistry
from agent.telephony.reconcile import RECHECK_AFTER, reconcile_calls
from agent.telephony.status import CallInfo
from tests.campaigns.conftest import Clock
from tests.conftest import FIXED_NOW
from tests.telephony.conftest import ACCOUNT_SID, TOKEN, telephony_settings
from tests.telephony.fake_twilio import CALL_SID, FakeTwilio, closed_port_url, fake_twilio


@dataclass
class World:
    app: FastAPI
    settings: Settings
    twilio: FakeTwilio
    clock: Clock

    @property
    def calls(self) -> CallRegistry:
        registry: CallRegistry = self.app.state.services.calls
        return registry

    async def dial(self) -> CallInfo:
        """An outbound call the gateway took (sid CALL_SID) and then never reported on."""
        call = await self.calls.create_outbound("DEMO-US-001")
        return await self.calls.dialled(call.id, CALL_SID)

    async def reconcile(self, settings: Settings | None = None) -> list[CallInfo]:
        return await reconcile_calls(self.calls, settings or self.settings)

    async def attempt(self) -> ContactAttempt:
        async with self.app.state.services.store.read() as session:
            attempt: ContactAttempt = (await session.execute(select(ContactAttempt))).scalar_one()
            return attempt

    async def ended_events(self) -> list[AuditEvent]:
        async with self.app.state.services.store.read() as session:
            query = select(AuditEvent).where(AuditEvent.kind == "call.ended")
            return list((await session.execute(query)).scalars())


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with fake_twilio() as fake:
        yield fake


@pytest.fixture
async def world(tmp_path: Path, twilio: FakeTwilio) -> AsyncIterator[World]:
    # Campaign dialing off: the test runs each round itself (the service's own round comes
    # only once a minute).
    settings = telephony_settings(tmp_path, twilio_api_base=twilio.base_url, dialer="off")
    clock = Clock(FIXED_NOW)
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        yield World(app, settings, twilio, clock)


async def test_a_lost_final_callback_is_recovered_and_the_debtor_is_free_again(
    world: World,
) -> None:
    call = await world.dial()
    world.twilio.call_states[CALL_SID] = {
        "status": "busy",
        "answered_by": None,
        "duration": "0",
    }
    blocked = await world.app.state.services.contacts.check("DEMO-US-001", "call", world.clock())
    world.clock.advance(seconds=RECHECK_AFTER.total_seconds() + 1)

    closed = await world.reconcile()

    assert ONE_CALL_RULE in blocked.rules
    assert [c.id for c in closed] == [call.id]
    assert (await world.calls.get(call.id)).status == "busy"
    assert (await world.attempt()).outcome == "busy"
    [ended] = await world.ended_events()
    assert ended.payload is not None and ended.payload["reason"] == "reconciled"
    [lookup] = world.twilio.lookups
    assert lookup.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{CALL_SID}.json"
    assert (lookup.username, lookup.password) == (ACCOUNT_SID, TOKEN)
    after = await world.app.state.services.contacts.check("DEMO-US-001", "call", world.clock())
    assert ONE_CALL_RULE not in after.rules
    async with world.app.state.services.store.read() as session:
        assert (await verify_chain(session)).ok


async def test_a_completed_call_keeps_who_answered_and_how_long(world: World) -> None:
    call = await world.dial()
    world.twilio.call_states[CALL_SID] = {
        "status": "completed",
        "answered_by": "human",
        "duration": "42",
    }
    world.clock.advance(minutes=10)

    await world.reconcile()

    updated = await world.calls.get(call.id)
    assert (updated.status, updated.answered_by) == ("completed", "human")
    assert (await world.attempt()).outcome == "conversation"
    [ended] = await world.ended_events()
    assert ended.payload is not None and ended.payload["duration_s"] == 42


async def test_a_call_still_live_is_left_running_and_asked_again_only_later(
    world: World,
) -> None:
    call = await world.dial()
    world.twilio.call_states[CALL_SID] = {"status": "in-progress", "answered_by": "human"}
    world.clock.advance(minutes=6)

    assert await world.reconcile() == []
    assert await world.reconcile() == []  # just heard of: not asked about again yet
    world.clock.advance(minutes=6)
    assert await world.reconcile() == []

    assert len(world.twilio.lookups) == 2
    assert (await world.calls.get(call.id)).status == "in-progress"
    assert (await world.attempt()).outcome == "pending"
    assert await world.ended_events() == []


async def test_a_recently_heard_call_is_not_looked_up(world: World) -> None:
    await world.dial()
    world.twilio.call_states[CALL_SID] = {"status": "completed"}
    world.clock.advance(seconds=RECHECK_AFTER.total_seconds() - 1)

    assert await world.reconcile() == []
    assert world.twilio.lookups == []


async def test_a_sid_the_gateway_does_not_know_closes_the_call_as_failed(world: World) -> None:
    call = await world.dial()  # no state in the fake: it answers 404
    world.clock.advance(minutes=6)

    [closed] = await world.reconcile()

    assert closed.id == call.id and closed.status == "failed"
    assert (await world.attempt()).outcome == "failed"
    [ended] = await world.ended_events()
    assert ended.payload is not None and ended.payload["reason"] == "unknown_to_gateway"


@pytest.mark.parametrize("gateway", ["down", "refusing"])
async def test_an_unreachable_gateway_changes_nothing(
    world: World, gateway: str, caplog: pytest.LogCaptureFixture
) -> None:
    call = await world.dial()
    world.clock.advance(minutes=6)
    settings = world.settings
    if gateway == "down":
        settings = settings.model_copy(update={"twilio_api_base": closed_port_url()})
    else:
        world.twilio.status = 401

    with caplog.at_level(logging.WARNING, logger="agent.telephony.reconcile"):
        assert await world.reconcile(settings) == []

    assert (await world.calls.get(call.id)).status == "queued"
    assert (await world.attempt()).outcome == "pending"
    assert any(r.getMessage() == "call_reconcile_failed" for r in caplog.records)


async def test_nothing_is_asked_without_twilio_credentials(world: World) -> None:
    await world.dial()
    world.clock.advance(minutes=6)
    unconfigured = world.settings.model_copy(update={"twilio_auth_token": ""})

    assert await world.reconcile(unconfigured) == []
    assert world.twilio.lookups == []


async def test_final_calls_and_calls_without_a_twilio_sid_are_never_looked_up(
    world: World,
) -> None:
    ended = await world.dial()
    await world.calls.update_status(CALL_SID, "completed")
    await world.calls.create_outbound("DEMO-UK-001")  # never dialled: no sid
    world.clock.advance(hours=2)

    assert await world.reconcile() == []
    assert world.twilio.lookups == []
    assert (await world.calls.get(ended.id)).status == "completed"


async def test_with_campaign_dialing_off_the_service_still_reconciles(world: World) -> None:
    embedded = world.app.state.dialer
    assert embedded is not None and embedded.campaigns is False
    call = await world.dial()
    world.twilio.call_states[CALL_SID] = {"status": "busy", "answered_by": None, "duration": "0"}
    world.clock.advance(seconds=RECHECK_AFTER.total_seconds() + 1)
    # The same dialer, with a short round, so the test need not wait a minute.
    dialer = LocalDialer(
        world.app.state.services.dialing, 1.0, campaigns=False, reconcile_every_s=0.05
    )
    dialer.start()
    try:
        for _ in range(200):
            if (await world.calls.get(call.id)).status == "busy":
                break
            await asyncio.sleep(0.05)
    finally:
        await dialer.close()
    assert (await world.calls.get(call.id)).status == "busy"
    assert (await world.attempt()).outcome == "busy"


def test_the_worker_runs_a_reconcile_round_every_minute(tmp_path: Path) -> None:
    settings = telephony_settings(tmp_path, database_url="postgresql://127.0.0.1/test")
    app, _ = build_app(settings)
    periodic = list(app.periodic_registry.periodic_tasks.values())
    assert RECONCILE_TASK in app.tasks
    assert any(p.task.name == RECONCILE_TASK and p.cron == "* * * * *" for p in periodic), periodic


async def test_a_refusing_gateway_is_asked_once_per_round_not_once_per_call(
    world: World,
) -> None:
    await world.dial()
    other = await world.calls.create_outbound("DEMO-UK-001")
    await world.calls.dialled(other.id, "CA" + "6" * 32)
    world.clock.advance(minutes=6)
    world.twilio.status = 401

    assert await world.reconcile() == []
    assert len(world.twilio.lookups) == 1
