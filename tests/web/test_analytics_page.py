"""The analytics dashboard in headless chromium: tiles and SVG charts after a real chat."""

from __future__ import annotations

import shutil
from pathlib import Path

from playwright.async_api import Browser, expect

from tests.web.conftest import TIMEOUT_MS
from tests.web.widget import is_problem

DOCS = Path(__file__).parents[2] / "docs" / "screenshots"


async def test_dashboard_shows_tiles_and_charts(
    browser: Browser, base_url: str, artifacts: Path
) -> None:
    context = await browser.new_context(viewport={"width": 1200, "height": 1100})
    supervisor = await browser.new_context()
    try:
        signed_in = await supervisor.request.post(
            base_url + "/v1/auth/login",
            data={"username": "supervisor@demo", "password": "demo-supervisor-pass"},
        )
        created = await supervisor.request.post(
            base_url + "/v1/campaigns",
            data={"name": "December reminders", "selection": {"jurisdictions": ["US"]}},
            headers={"X-CSRF-Token": (await signed_in.json())["csrf_token"]},
        )
        assert created.status == 201, await created.text()
        campaign_id = (await created.json())["campaign_id"]
        api = context.request
        session = (
            await (
                await api.post(base_url + "/v1/chat/sessions", data={"account_ref": "DEMO-US-001"})
            ).json()
        )["session_id"]
        for text in ("April 12th 1985", "I can pay 200 dollars next Friday", "yes"):
            said = await api.post(
                f"{base_url}/v1/chat/sessions/{session}/messages", data={"text": text}
            )
            assert said.ok
        page = await context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if is_problem(m) else None)
        await page.goto(base_url + "/analytics")
        await expect(page.locator("#signed-out")).to_be_visible(timeout=TIMEOUT_MS)

        login = await api.post(
            base_url + "/v1/auth/login",
            data={"username": "agent@demo", "password": "demo-agent-pass"},
        )
        assert login.ok
        await page.goto(base_url + "/analytics")
        await expect(page.locator("body[data-loaded=true]")).to_have_count(1, timeout=TIMEOUT_MS)
        promises = page.locator('#tiles li[data-key="promises"] .value')
        await expect(promises).to_have_text("1")
        await expect(
            page.locator('#tiles li[data-key="right_party_contacts"] .value')
        ).to_have_text("1")
        await expect(page.locator('#tiles li[data-key="promise_amount"] .value')).to_have_text(
            "USD 200.00"
        )
        assert await page.locator("#daily svg rect.bar").count() >= 2
        assert await page.locator("#emotions svg rect.bar").count() >= 1
        assert await page.locator("#csv").get_attribute("href") is not None
        assert not errors, errors
        shot = artifacts / "analytics.png"
        await page.screenshot(path=str(shot), full_page=True)
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS / "analytics.png")
        assert shot.stat().st_size < 300_000
        # One campaign's figures: the chat above was not one of its contacts.
        await page.select_option("#campaign", str(campaign_id))
        await page.click("#range button[type=submit]")
        await expect(promises).to_have_text("0")
        assert f"campaign={campaign_id}" in (await page.locator("#csv").get_attribute("href") or "")
        assert not errors, errors
    finally:
        await context.close()
        await supervisor.close()
