"""A taken-over chat left unanswered, end to end in two browsers and the real idle round:
the bot takes it back on its own, apologises in the widget, and the panel says why."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from agent.settings import Settings
from tests.conftest import FIXED_NOW
from tests.telephony.live_server import live_server
from tests.web.conftest import TIMEOUT_MS
from tests.web.test_panel import sign_in
from tests.web.widget import messages, send, verified_chat, wait_for_text

IDLE_SECONDS = 3  # the round then runs every second (agent/assist/idle.py)


@pytest.fixture(scope="module")
def idle_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service with a short takeover limit, on a clock that starts at the fixed test
    date (the same contact rules as the other browser tests) and runs in real time."""
    started = time.monotonic()

    def clock() -> dt.datetime:
        return FIXED_NOW + dt.timedelta(seconds=time.monotonic() - started)

    settings = Settings(
        data_dir=tmp_path_factory.mktemp("idle"),
        database_url="",
        log_format="console",
        environment="test",
        takeover_idle_seconds=IDLE_SECONDS,
    )
    with live_server(settings, clock) as address:
        yield f"http://{address}"


async def test_the_bot_takes_back_a_chat_the_agent_left_waiting(
    browser: Browser, idle_url: str, artifacts: Path
) -> None:
    debtor = await browser.new_context()
    agent = await browser.new_context()
    try:
        widget = await debtor.new_page()
        session_id = await verified_chat(widget, idle_url)
        errors: list[str] = []
        panel = await sign_in(agent, idle_url, errors)
        await panel.locator(f'#conversations button[data-session-id="{session_id}"]').click()
        await panel.get_by_role("button", name="Take over").click()
        await expect(panel.locator("#fact-control")).to_have_text("human (agent@demo)")
        bot_replies = await messages(widget, "agent").count()

        await send(widget, "hello? is anyone there?")
        await expect(panel.locator("#fact-waiting")).to_be_visible(timeout=TIMEOUT_MS)
        # Nobody answers: within the limit plus a round, the bot has the chat again.
        await wait_for_text(widget, "Sorry to keep you waiting.")
        assert await messages(widget, "agent").count() >= bot_replies + 2, "apology + answer"
        await expect(panel.locator("#fact-control")).to_have_text("bot", timeout=TIMEOUT_MS)
        await expect(panel.locator("#control-note")).to_have_text(
            "The bot took this chat back: the debtor's message waited longer than 0:03"
            " without a reply.",
            timeout=TIMEOUT_MS,
        )
        await expect(panel.locator("#fact-waiting")).to_be_hidden(timeout=TIMEOUT_MS)
        await expect(panel.get_by_role("button", name="Take over")).to_be_visible()
        await expect(messages(widget, "debtor").last).to_have_attribute("data-status", "delivered")
        await panel.screenshot(path=artifacts / "panel-idle.png", full_page=True)
        assert errors == []
    finally:
        await agent.close()
        await debtor.close()
