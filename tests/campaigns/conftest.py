"""A campaign-ready app: Twilio configured against a local fake, a clock the test moves,
the embedded dialer ticked by hand, and a supervisor signed in."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from agent.app import create_app
from agent.campaigns.local import LocalDialer
from tests.auth.helpers import sign_in
from tests.conftest import FIXED_NOW, http_client
from tests.telephony.conftest import telephony_settings
from tests.telephony.fake_twilio import FakeTwilio, fake_twilio

PUBLIC = "https://agent.example.com"
# Three more US debtors (New York numbers and addresses: 10:00 local at FIXED_NOW).
EXTRA_ACCOUNTS = [
    {
        "account_ref": f"CAMP-US-{n}",
        "full_name": f"Test Debtor {n}",
        "date_of_birth": "1980-01-0" + str(n),
        "phones": f"+1212555020{n}",
        "line1": f"{n} Main St",
        "city": "New York",
        "state": "NY",
        "postal_code": "10001",
        "country": "US",
        "creditor": "Northwind Bank",
        "balance": str(100 * n),
        "days_past_due": 30 * n,
    }
    for n in (1, 2, 3)
]


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@dataclass
class CampaignWorld:
    app: FastAPI
    client: httpx.AsyncClient
    twilio: FakeTwilio
    clock: Clock

    @property
    def dialer(self) -> LocalDialer:
        dialer: LocalDialer = self.app.state.dialer
        return dialer

    async def tick(self) -> int:
        jobs = await self.dialer.tick()
        await self.dialer.drain()
        return len(jobs)

    async def create(self, **spec: Any) -> dict[str, Any]:
        body = {"name": "test campaign", **spec}
        response = await self.client.post("/v1/campaigns", json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def start(self, campaign_id: int) -> dict[str, Any]:
        response = await self.client.post(f"/v1/campaigns/{campaign_id}/start")
        assert response.status_code == 200, response.text
        started: dict[str, Any] = response.json()
        return started

    async def view(self, campaign_id: int) -> dict[str, Any]:
        response = await self.client.get(f"/v1/campaigns/{campaign_id}")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    async def targets(self, campaign_id: int) -> dict[str, dict[str, Any]]:
        response = await self.client.get(f"/v1/campaigns/{campaign_id}/targets")
        assert response.status_code == 200, response.text
        return {t["account_ref"]: t for t in response.json()["targets"]}


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with fake_twilio() as fake:
        fake.unique_sids = True
        yield fake


@pytest.fixture
async def world(tmp_path: Path, twilio: FakeTwilio) -> AsyncIterator[CampaignWorld]:
    clock = Clock(FIXED_NOW)
    settings = telephony_settings(
        tmp_path,
        twilio_api_base=twilio.base_url,
        public_base_url=PUBLIC,
        dialer_tick_s=3600.0,  # the test ticks by hand
    )
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app), http_client(app) as client:
        await sign_in(client, "supervisor@demo")
        response = await client.post(
            "/v1/portfolio/import",
            content="\n".join(json.dumps(row) for row in EXTRA_ACCOUNTS),
            headers={"Content-Type": "application/x-ndjson"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["imported"] == 3, response.text
        yield CampaignWorld(app, client, twilio, clock)
