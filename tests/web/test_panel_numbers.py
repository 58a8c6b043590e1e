"""In the panel, a collector following a phone call retires the number that reached a
person who is not the debtor."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.async_api import Browser, expect

from agent.settings import Settings
from tests.assist.helpers import sign_in as sign_in_api
from tests.conftest import fixed_clock
from tests.telephony.conftest import TOKEN, call_params, post_signed
from tests.telephony.live_server import live_server
from tests.web.conftest import TIMEOUT_MS
from tests.web.test_panel import sign_in


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A live server that accepts signed Twilio webhooks."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("web-numbers"),
        database_url="",
        log_format="console",
        environment="test",
        twilio_auth_token=TOKEN,
    )
    with live_server(settings, fixed_clock) as address:
        yield f"http://{address}"


async def test_the_panel_retires_the_number_of_a_call(browser: Browser, base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as api:
        # The debtor's number calls in; whoever it is hears the opening.
        answered = await post_signed(
            api, "/v1/telephony/twilio/voice", call_params(), signed_base=base_url
        )
        assert answered.status_code == 200, answered.text
        await sign_in_api(api, "agent@demo")
        [call] = [
            c
            for c in (await api.get("/v1/assist/conversations")).json()["conversations"]
            if c["channel"] == "voice"
        ]

        context = await browser.new_context(viewport={"width": 1440, "height": 1000})
        try:
            errors: list[str] = []
            panel = await sign_in(context, base_url, errors)
            await panel.locator(
                f'#conversations button[data-session-id="{call["session_id"]}"]'
            ).click()
            number = panel.locator("#fact-number")
            await expect(number).to_have_text("…0142 (reachable)", timeout=TIMEOUT_MS)
            await panel.get_by_role("button", name="Wrong number").click()
            await expect(number).to_have_text("…0142 (wrong)", timeout=TIMEOUT_MS)
            await expect(panel.get_by_role("button", name="Wrong number")).to_be_hidden()
            assert errors == []
        finally:
            await context.close()

        numbers = (await api.get("/v1/accounts/DEMO-US-001/numbers")).json()["numbers"]
        assert [(n["status"], n["source"]) for n in numbers] == [("wrong", "agent")]
