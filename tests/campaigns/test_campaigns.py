"""Campaigns end to end on the embedded dialer: selection, pacing, retries with back-off,
refusals counted, blocking flags, one call per debtor at a time, texts with chat links."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from agent.compliance.audit import verify_chain
from agent.store import repository
from agent.store.models import AccountFlag, AuditEvent, ContactAttempt, Conversation
from tests.auth.helpers import sign_in
from tests.campaigns.conftest import PUBLIC, CampaignWorld
from tests.conftest import http_client
from tests.telephony.conftest import ACCOUNT_SID, post_signed
from tests.telephony.fake_twilio import Received

US_ONLY = {"jurisdictions": ["US"]}


async def _end_call(world: CampaignWorld, sent: Received, status: str, **extra: str) -> None:
    """The gateway's final status callback for a call it was asked to place."""
    url = urlsplit(sent.form["StatusCallback"])
    params = {"CallSid": "", "AccountSid": ACCOUNT_SID, "CallStatus": status, **extra}
    response = await post_signed(
        world.client, f"{url.path}?{url.query}", params, signed_base=PUBLIC
    )
    assert response.status_code == 204, response.text


async def _flag(world: CampaignWorld, account_ref: str, flag: str) -> None:
    async with world.app.state.services.store.write() as session:
        account, _ = await repository.require_account(session, account_ref)
        session.add(
            AccountFlag(
                account_id=account.id, flag=flag, set_at=world.clock(), source="test", details={}
            )
        )


async def _audit(world: CampaignWorld, kind: str) -> list[dict[str, Any]]:
    async with world.app.state.services.store.read() as session:
        rows = await session.execute(select(AuditEvent).where(AuditEvent.kind == kind))
        return [event.payload for event in rows.scalars()]


async def test_selection_filters_and_leaves_out_what_cannot_be_contacted(
    world: CampaignWorld,
) -> None:
    created = await world.create(selection={"min_days_past_due": 60, "max_balance": 2000})
    # DEMO-US-001 (64 days, 1240.50), CAMP-US-2 (60 days, 200), CAMP-US-3 (90, 300).
    targets = await world.targets(created["campaign_id"])
    assert set(targets) == {"DEMO-US-001", "CAMP-US-2", "CAMP-US-3"}
    assert created["status"] == "draft" and created["targets"] == 3
    await _flag(world, "CAMP-US-3", "attorney")
    everyone = await world.create()
    # An account that could never be called is left out, and said so.
    assert everyone["left_out"] == {"blocking_flag": 1}
    assert "CAMP-US-3" not in await world.targets(everyone["campaign_id"])
    assert "DEMO-UK-001" in await world.targets(everyone["campaign_id"])
    [event] = [e for e in await _audit(world, "campaign.created") if e["targets"] == 3]
    assert event["created_by"] == "supervisor@demo"


async def test_calls_retry_with_back_off_until_answered(world: CampaignWorld) -> None:
    created = await world.create(
        selection={"account_refs": ["CAMP-US-1"]},
        retries={"max_attempts": 3, "backoff_s": 600, "factor": 2},
    )
    campaign_id = created["campaign_id"]
    await world.start(campaign_id)
    assert await world.tick() == 1
    [first] = world.twilio.calls()
    assert first.form["To"] == "+12125550201"
    assert first.form["Url"].startswith(f"{PUBLIC}/v1/telephony/twilio/voice?call_id=")
    await _end_call(world, first, "no-answer")
    assert await world.tick() == 0  # settled, and due only after the back-off
    target = (await world.targets(campaign_id))["CAMP-US-1"]
    assert target["status"] == "pending" and target["last_outcome"] == "no_answer"
    world.clock.advance(seconds=599)
    assert await world.tick() == 0
    world.clock.advance(seconds=1)
    assert await world.tick() == 1
    second = world.twilio.calls()[1]
    await _end_call(world, second, "busy")
    await world.tick()
    world.clock.advance(seconds=1199)  # the second back-off is doubled
    assert await world.tick() == 0
    world.clock.advance(seconds=1)
    assert await world.tick() == 1
    third = world.twilio.calls()[2]
    await _end_call(world, third, "completed", AnsweredBy="human", CallDuration="95")
    await world.tick()
    view = await world.view(campaign_id)
    assert view["status"] == "completed"
    assert view["by_status"] == {"done": 1} and view["attempts"] == 3
    assert view["last_outcomes"] == {"conversation": 1}


async def test_attempts_run_out(world: CampaignWorld) -> None:
    created = await world.create(
        selection={"account_refs": ["CAMP-US-1"]}, retries={"max_attempts": 2, "backoff_s": 0}
    )
    await world.start(created["campaign_id"])
    for n in range(2):
        await world.tick()
        await _end_call(world, world.twilio.calls()[n], "no-answer")
        world.clock.advance(seconds=1)
    await world.tick()
    view = await world.view(created["campaign_id"])
    assert view["by_status"] == {"exhausted": 1} and view["status"] == "completed"
    assert len(world.twilio.calls()) == 2


async def test_pacing_caps_contacts_in_progress(world: CampaignWorld) -> None:
    created = await world.create(
        selection={"account_refs": ["CAMP-US-1", "CAMP-US-2", "CAMP-US-3"]}, max_concurrent=2
    )
    await world.start(created["campaign_id"])
    assert await world.tick() == 2
    assert await world.tick() == 0  # two calls up: no room
    await _end_call(world, world.twilio.calls()[0], "completed", AnsweredBy="human")
    assert await world.tick() == 1
    assert len(world.twilio.calls()) == 3


async def test_refusals_are_counted_and_deferred_to_when_the_rules_allow(
    world: CampaignWorld,
) -> None:
    # 23:00 in Shanghai at the test's clock: outside the CN calling window.
    created = await world.create(selection={"jurisdictions": ["CN"]})
    campaign_id = created["campaign_id"]
    await world.start(campaign_id)
    assert await world.tick() == 1
    target = (await world.targets(campaign_id))["DEMO-CN-001"]
    assert target["status"] == "pending" and target["refusals"] == 1
    assert target["attempts"] == 0 and target["last_rules"] == ["CN-TIME"]
    assert target["next_at"].startswith("2026-11-29T00:00")  # 08:00 Shanghai
    assert world.twilio.calls() == []
    [refused] = await _audit(world, "contact.refused")
    assert refused["campaign_id"] == campaign_id and refused["rules"] == ["CN-TIME"]
    view = await world.view(campaign_id)
    assert view["refusals"] == 1 and view["status"] == "running"


async def test_a_blocking_flag_stops_the_target(world: CampaignWorld) -> None:
    created = await world.create(selection={"account_refs": ["CAMP-US-1"]})
    await _flag(world, "CAMP-US-1", "cease_contact")  # set after the campaign was made
    await world.start(created["campaign_id"])
    await world.tick()
    target = (await world.targets(created["campaign_id"]))["CAMP-US-1"]
    assert target["status"] == "stopped" and "US-CEASE" in target["last_rules"]
    assert world.twilio.calls() == []
    await world.tick()
    assert (await world.view(created["campaign_id"]))["status"] == "completed"


async def test_one_call_per_debtor_at_a_time_across_campaigns(world: CampaignWorld) -> None:
    one = await world.create(selection={"account_refs": ["CAMP-US-1"]})
    two = await world.create(selection={"account_refs": ["CAMP-US-1"]})
    await world.start(one["campaign_id"])
    await world.start(two["campaign_id"])
    assert await world.tick() == 2
    assert len(world.twilio.calls()) == 1
    targets = [(await world.targets(c["campaign_id"]))["CAMP-US-1"] for c in (one, two)]
    refused = [t for t in targets if t["refusals"]]
    assert len(refused) == 1 and refused[0]["last_rules"] == ["ALL-ONE-CALL"]
    assert refused[0]["status"] == "pending"
    assert refused[0]["next_at"] == (world.clock.now + dt.timedelta(seconds=30)).isoformat()
    await _end_call(world, world.twilio.calls()[0], "completed", AnsweredBy="human")
    world.clock.advance(seconds=30)
    assert await world.tick() == 1
    # After a conversation the US seven-day quiet period refuses the other campaign.
    again = [(await world.targets(c["campaign_id"]))["CAMP-US-1"] for c in (one, two)]
    assert len(world.twilio.calls()) == 1
    assert any(t["last_rules"] == ["US-7IN7"] for t in again)


async def test_texts_carry_a_chat_link_and_no_debt_details(world: CampaignWorld) -> None:
    created = await world.create(channel="sms", selection={"account_refs": ["CAMP-US-2"]})
    campaign_id = created["campaign_id"]
    await world.start(campaign_id)
    await world.tick()
    [text] = world.twilio.texts()
    body = text.form["Body"]
    assert text.form["To"] == "+12125550202" and world.twilio.calls() == []
    for secret in ("200", "Northwind", "debt", "balance", "CAMP-US-2"):
        assert secret not in body
    link = next(word for word in body.split() if word.startswith(PUBLIC))
    view = await world.view(campaign_id)
    assert view["by_status"] == {"done": 1} and view["last_outcomes"] == {"sent": 1}
    async with http_client(world.app) as visitor:
        landing = await visitor.get(urlsplit(link).path)
        assert landing.status_code == 303
        assert landing.headers["location"].startswith("/?account=CAMP-US-2&locale=en-US&link=")
        page = await visitor.get(landing.headers["location"])
        token = urlsplit(link).path.rsplit("/", 1)[1]
        assert f'data-link="{token}"' in page.text
        session = await visitor.post(
            "/v1/chat/sessions", json={"account_ref": "CAMP-US-2", "link": token}
        )
        assert session.status_code == 201, session.text
        assert (await visitor.get("/c/not-a-token")).status_code == 404
    async with world.app.state.services.store.read() as db:
        conversation = (await db.execute(select(Conversation))).scalars().one()
        attempt = (await db.execute(select(ContactAttempt))).scalars().one()
    assert conversation.campaign_id == campaign_id
    assert attempt.channel == "sms" and attempt.outcome == "sent"
    assert attempt.campaign_id == campaign_id


async def test_a_wrong_number_said_in_a_texted_link_s_chat_retires_that_number(
    world: CampaignWorld,
) -> None:
    created = await world.create(channel="sms", selection={"account_refs": ["CAMP-US-2"]})
    await world.start(created["campaign_id"])
    await world.tick()
    [text] = world.twilio.texts()
    token = next(w for w in text.form["Body"].split() if w.startswith(PUBLIC)).rsplit("/", 1)[1]
    async with http_client(world.app) as stranger:
        session = await stranger.post(
            "/v1/chat/sessions", json={"account_ref": "CAMP-US-2", "link": token}
        )
        said = await stranger.post(
            f"/v1/chat/sessions/{session.json()['session_id']}/messages",
            json={"text": "wrong number, I don't know who that is"},
        )
        assert said.status_code == 200, said.text
    numbers = (await world.client.get("/v1/accounts/CAMP-US-2/numbers")).json()["numbers"]
    assert numbers == [
        {
            "number": "+12125550202",
            "status": "wrong",
            "reported_at": numbers[0]["reported_at"],
            "source": "chat",
        }
    ]


@pytest.mark.parametrize("username", ["agent@demo", "auditor@demo"])
async def test_only_supervisors_create_and_steer(world: CampaignWorld, username: str) -> None:
    created = await world.create()
    async with http_client(world.app) as other:
        await sign_in(other, username)
        assert (await other.post("/v1/campaigns", json={"name": "x"})).status_code == 403
        steer = await other.post(f"/v1/campaigns/{created['campaign_id']}/start")
        assert steer.status_code == 403
        assert (await other.get(f"/v1/campaigns/{created['campaign_id']}")).status_code == 200
    assert (await world.view(created["campaign_id"]))["status"] == "draft"


async def test_other_tenants_see_nothing(world: CampaignWorld) -> None:
    created = await world.create()
    async with http_client(world.app) as other:
        await sign_in(other, "agent@other")
        assert (await other.get(f"/v1/campaigns/{created['campaign_id']}")).status_code == 404
        assert (await other.get("/v1/campaigns")).json() == {"campaigns": []}


async def test_bad_requests_change_nothing(world: CampaignWorld) -> None:
    bad = [
        {"name": "x", "channel": "fax"},
        {"name": "x", "max_concurrent": 0},
        {"name": "x", "policy": "no_such_policy"},
        {"name": "x", "selection": {"jurisdictions": ["ZZ"]}},
        {"name": "x", "schedule": {"start_at": "2026-12-01T10:00:00"}},
        {"name": "x", "unknown": 1},
    ]
    for body in bad:
        response = await world.client.post("/v1/campaigns", json=body)
        assert 400 <= response.status_code < 500, body
        assert "error" in response.json(), response.text
    assert (await world.client.get("/v1/campaigns")).json() == {"campaigns": []}
    created = await world.create()
    again = await world.client.post(f"/v1/campaigns/{created['campaign_id']}/resume")
    assert again.status_code == 409
    assert (await world.client.post("/v1/campaigns/9999/start")).status_code == 404


async def test_pause_stop_and_the_log(world: CampaignWorld) -> None:
    created = await world.create(selection=US_ONLY, max_concurrent=1)
    campaign_id = created["campaign_id"]
    await world.start(campaign_id)
    pause = await world.client.post(f"/v1/campaigns/{campaign_id}/pause")
    assert pause.json()["status"] == "paused"
    assert await world.tick() == 0
    await world.client.post(f"/v1/campaigns/{campaign_id}/resume")
    assert await world.tick() == 1
    stop = await world.client.post(f"/v1/campaigns/{campaign_id}/stop")
    body = stop.json()
    assert body["status"] == "stopped" and body["by_status"]["stopped"] == 3
    assert body["by_status"]["in_contact"] == 1  # the call already up is not cut
    kinds = [e["by"] for e in await _audit(world, "campaign.paused")]
    assert kinds == ["supervisor@demo"]
    async with world.app.state.services.store.read() as session:
        assert (await verify_chain(session)).ok


async def test_analytics_per_campaign(world: CampaignWorld) -> None:
    cn = await world.create(selection={"jurisdictions": ["CN"]})
    us = await world.create(selection={"account_refs": ["CAMP-US-1"]})
    for created in (cn, us):
        await world.start(created["campaign_id"])
    await world.tick()
    [sent] = world.twilio.calls()
    voice = urlsplit(sent.form["Url"])
    params = {"CallSid": "", "AccountSid": ACCOUNT_SID, "AnsweredBy": "human"}
    answered = await post_signed(
        world.client, f"{voice.path}?{voice.query}", params, signed_base=PUBLIC
    )
    assert answered.status_code == 200 and "<Gather" in answered.text

    # Audit events carry the wall clock's time, the rest the test's clock: span both.
    span = f"?since=2026-11-01&until={dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)}"

    async def totals(query: str) -> dict[str, Any]:
        response = await world.client.get("/v1/analytics" + span + query.replace("?", "&"))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        totals: dict[str, Any] = body["totals"]
        return totals

    everything = await totals("")
    assert everything["attempts"] == 1
    assert everything["compliance_refusals_by_rule"] == {"CN-TIME": 1}
    of_cn = await totals(f"?campaign={cn['campaign_id']}")
    assert of_cn["attempts"] == 0 and of_cn["compliance_refusals_by_rule"] == {"CN-TIME": 1}
    of_us = await totals(f"?campaign={us['campaign_id']}")
    assert of_us["attempts"] == 1 and of_us["compliance_refusals_by_rule"] == {}
    async with world.app.state.services.store.read() as session:
        conversation = (await session.execute(select(Conversation))).scalars().one()
    assert conversation.campaign_id == us["campaign_id"] and conversation.channel == "voice"
    exported = await world.client.get(f"/v1/analytics.csv?campaign={us['campaign_id']}")
    assert exported.status_code == 200
    assert f"campaign-{us['campaign_id']}" in exported.headers["content-disposition"]
    assert (await world.client.get("/v1/analytics?campaign=999")).status_code == 404
