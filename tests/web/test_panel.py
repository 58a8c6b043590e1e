"""The agent-assist panel in one browser context watching, and acting on, a conversation a
debtor is having in the chat widget in another."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, BrowserContext, Page, Route, expect

from agent.api.main import api_router
from tests.web.conftest import TIMEOUT_MS
from tests.web.test_widget import XSS
from tests.web.widget import (
    is_problem,
    messages,
    open_widget,
    send,
    verified_chat,
    wait_for_text,
)


def _api_paths() -> set[str]:
    # The schema lists every route the service serves (the router keeps included routers opaque).
    app = FastAPI()
    app.include_router(api_router)
    return set(app.openapi()["paths"])


ROUTES = _api_paths()
NEEDED = {"/v1/auth/login", "/v1/assist/conversations", "/v1/assist/events"}
pytestmark = pytest.mark.skipif(
    not NEEDED <= ROUTES, reason="the auth or assist API is not in this build"
)

DISTRESS = "I lost my job and I can't feed my kids"
HUMAN_REPLY = "Hello, I'm a member of the team and I'm here to help you today."


async def sign_in(context: BrowserContext, base_url: str, errors: list[str]) -> Page:
    panel = await context.new_page()
    panel.on("console", lambda m: errors.append(m.text) if is_problem(m) else None)
    await panel.goto(base_url + "/assist")
    await panel.get_by_label("Username").fill("agent@demo")
    await panel.get_by_label("Password").fill("demo-agent-pass")
    await panel.get_by_role("button", name="Sign in").click()
    await expect(panel.locator("#who")).to_contain_text("agent@demo", timeout=TIMEOUT_MS)
    return panel


async def test_panel_follows_and_acts_on_a_live_chat(
    browser: Browser, base_url: str, artifacts: Path
) -> None:
    wide = {"width": 1440, "height": 1000}
    async with chat_in_panel(browser, base_url, viewport=wide) as (widget, panel):
        transcript = panel.locator("#transcript")
        await expect(transcript.get_by_text("April 12th 1985")).to_be_visible(timeout=TIMEOUT_MS)

        # A new debtor turn shows up live, and its emotion is read as distress.
        await send(widget, DISTRESS)
        await expect(transcript.get_by_text(DISTRESS)).to_be_visible(timeout=TIMEOUT_MS)
        await expect(panel.locator("#fact-emotion")).to_have_text("distressed", timeout=TIMEOUT_MS)
        await expect(panel.locator("#trend svg")).to_have_attribute(
            "data-latest", "distressed", timeout=TIMEOUT_MS
        )

        # A suggestion's Send puts its text in the debtor's chat.
        suggestion = panel.locator("#suggestions li[data-template-id]").first
        await suggestion.wait_for(timeout=TIMEOUT_MS)
        suggested = (await suggestion.locator(".text").text_content() or "").strip()
        await suggestion.get_by_role("button").click()
        await expect(messages(widget, "human").last.locator(".text")).to_have_text(
            suggested, timeout=TIMEOUT_MS
        )

        # Take over: the debtor's next message gets no bot reply, the agent's typed one arrives.
        await panel.get_by_role("button", name="Take over").click()
        await expect(panel.get_by_role("button", name="Hand back")).to_be_visible(
            timeout=TIMEOUT_MS
        )
        bot_replies = await messages(widget, "agent").count()
        await send(widget, "Are you a real person?")
        await expect(transcript.get_by_text("Are you a real person?")).to_be_visible(
            timeout=TIMEOUT_MS
        )
        await expect(messages(widget, "debtor").last).to_have_attribute(
            "data-status", "delivered", timeout=TIMEOUT_MS
        )
        compose = panel.get_by_label("Your reply to the debtor")
        await compose.fill(HUMAN_REPLY)
        await compose.press("Enter")
        await wait_for_text(widget, HUMAN_REPLY)
        await expect(messages(widget, "agent")).to_have_count(bot_replies)

        await panel.get_by_role("button", name="Hand back").click()
        await expect(panel.get_by_role("button", name="Take over")).to_be_visible(
            timeout=TIMEOUT_MS
        )

        # Hostile text is text in the panel too.
        await send(widget, XSS)
        debtor_turn = transcript.locator('.turn[data-role="debtor"] .text').get_by_text(
            XSS, exact=True
        )
        await expect(debtor_turn).to_be_visible(timeout=TIMEOUT_MS)
        assert await panel.locator("#transcript img, #transcript script").count() == 0
        assert await panel.evaluate("window.__xss") is None
        assert await widget.evaluate("window.__xss") is None
        # Let the refresh after the last turn land (the chart counts the debtor's turns).
        await expect(panel.locator("#trend svg")).to_have_attribute(
            "aria-label", re.compile("over 4 debtor turns"), timeout=TIMEOUT_MS
        )
        await panel.screenshot(path=artifacts / "panel.png", full_page=True)


CONVERSATION_READ = re.compile(r".*/v1/assist/conversations/[^/?]+$")


@asynccontextmanager
async def chat_in_panel(
    browser: Browser, base_url: str, **panel_options: Any
) -> AsyncIterator[tuple[Page, Page]]:
    """The demo debtor's verified chat in the widget, selected in the panel of a signed-in
    agent (browser context options in `panel_options`). The panel must log no console
    errors."""
    debtor_context = await browser.new_context()
    agent_context = await browser.new_context(**panel_options)
    try:
        widget = await debtor_context.new_page()
        session_id = await verified_chat(widget, base_url)
        console_errors: list[str] = []
        panel = await sign_in(agent_context, base_url, console_errors)
        await panel.locator(f'#conversations button[data-session-id="{session_id}"]').click()
        yield widget, panel
        await panel.unroute_all(behavior="ignoreErrors")
        assert console_errors == []
    finally:
        await agent_context.close()
        await debtor_context.close()


@asynccontextmanager
async def taken_over_chat(browser: Browser, base_url: str) -> AsyncIterator[tuple[Page, Page]]:
    """`chat_in_panel`, taken over by the agent: after that, each debtor message is one
    turn and one re-read of the conversation."""
    async with chat_in_panel(browser, base_url) as (widget, panel):
        await panel.get_by_role("button", name="Take over").click()
        await expect(panel.get_by_role("button", name="Hand back")).to_be_visible(
            timeout=TIMEOUT_MS
        )
        yield widget, panel


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(TIMEOUT_MS // 50):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the panel did not read as expected in time")


def _reads_done(kind: str) -> str:
    return f"Number(document.body.dataset.{kind} || 0)"


async def reads_done(panel: Page, kind: str) -> int:
    """How many reads of the selected conversation (`reads`) or of the list (`listReads`)
    the panel has dealt with, applied or dropped."""
    return int(await panel.evaluate(_reads_done(kind)))


async def until_reads_done(panel: Page, kind: str, count: int) -> None:
    """Wait until the panel has dealt with `count` reads of that kind (see `reads_done`)."""
    await panel.wait_for_function(f"n => {_reads_done(kind)} >= n", arg=count)


async def test_a_read_answered_before_a_hand_back_does_not_undo_it(
    browser: Browser, base_url: str
) -> None:
    """The panel re-reads a conversation after each turn. A read the server answered
    before a hand-back, arriving after it, must not put "Hand back" back on screen (a CI
    run once failed on exactly this)."""
    async with taken_over_chat(browser, base_url) as (widget, panel):
        # The next read is answered now and delivered only later, marked so the test can
        # see when the panel has applied it.
        release = asyncio.Event()
        held: list[str] = []

        async def hold(route: Route) -> None:
            response = await route.fetch()  # the server answers now, while taken over
            body = await response.json()
            held.append(body["controlled_by"])
            await release.wait()
            await route.fulfill(response=response, json={**body, "step": "held_read"})

        await panel.route(CONVERSATION_READ, hold)
        await send(widget, "Are you a real person?")
        await until(lambda: bool(held))
        assert held == ["agent@demo"]

        await panel.get_by_role("button", name="Hand back").click()
        await expect(panel.locator("#fact-control")).to_have_text("bot", timeout=TIMEOUT_MS)
        release.set()
        await expect(panel.locator("#fact-step")).to_have_text("held_read", timeout=TIMEOUT_MS)
        await expect(panel.locator("#fact-control")).to_have_text("bot")
        await expect(panel.get_by_role("button", name="Take over")).to_be_visible()
        await expect(panel.get_by_role("button", name="Hand back")).to_be_hidden()


async def test_an_older_read_arriving_after_a_newer_one_is_not_applied(
    browser: Browser, base_url: str
) -> None:
    async with taken_over_chat(browser, base_url) as (widget, panel):
        release = asyncio.Event()
        answered: list[str] = []

        async def hold_the_first(route: Route) -> None:
            response = await route.fetch()
            first = not answered
            answered.append(route.request.url)
            if first:
                await release.wait()
            step = "older_read" if first else "newer_read"
            await route.fulfill(response=response, json={**await response.json(), "step": step})

        await panel.route(CONVERSATION_READ, hold_the_first)
        await send(widget, "Are you a real person?")
        await until(lambda: len(answered) == 1)
        await send(widget, "Hello?")
        await expect(panel.locator("#fact-step")).to_have_text("newer_read", timeout=TIMEOUT_MS)

        done = await reads_done(panel, "reads")
        release.set()
        await until_reads_done(panel, "reads", done + 1)
        await expect(panel.locator("#fact-step")).to_have_text("newer_read")
        await expect(panel.locator("#transcript").get_by_text("Hello?")).to_be_visible()


LIST_READ = re.compile(r".*/v1/assist/conversations$")


async def test_a_list_read_answered_before_a_hand_back_does_not_undo_it(
    browser: Browser, base_url: str
) -> None:
    """The list is read again when a new conversation starts. Such a read answered while
    the selected chat was taken over, arriving after the hand-back, must not put the
    "human" badge back on it."""
    async with taken_over_chat(browser, base_url) as (_, panel):
        chosen = panel.locator('#conversations button[aria-current="true"]')
        selected = await chosen.get_attribute("data-conversation-id")
        badge = chosen.locator(".badge.human")
        await expect(badge).to_have_text("human: agent@demo")
        release = asyncio.Event()
        held: list[str | None] = []  # the selected chat's owner in each read held

        async def hold(route: Route) -> None:
            response = await route.fetch()  # the server answers now, while taken over
            listed = (await response.json())["conversations"]
            held.extend(c["controlled_by"] for c in listed if c["conversation_id"] == selected)
            await release.wait()
            await route.fulfill(response=response)

        await panel.route(LIST_READ, hold)
        done = await reads_done(panel, "listReads")
        listed = await panel.locator("#conversations button").count()
        debtor = await browser.new_context()
        try:
            # Another debtor opens the chat: a conversation the panel does not know yet.
            await open_widget(await debtor.new_page(), base_url + "/")
            await until(lambda: bool(held))
            assert set(held) == {"agent@demo"}

            await panel.get_by_role("button", name="Hand back").click()
            await expect(panel.locator("#fact-control")).to_have_text("bot", timeout=TIMEOUT_MS)
            await expect(badge).to_be_hidden()
            release.set()
            await until_reads_done(panel, "listReads", done + len(held))
            # The held reads were applied: they list the new conversation.
            assert await panel.locator("#conversations button").count() > listed
            await expect(badge).to_be_hidden()
        finally:
            await debtor.close()


async def test_a_panel_that_missed_a_barge_in_learns_it_from_the_refusal(
    browser: Browser, base_url: str
) -> None:
    """A supervisor takes the chat over while the agent's panel gets no live events (its
    event stream is cut): the agent's Take over is refused with 409, and the panel then
    shows who holds the conversation and stops offering Take over and the reply box."""
    debtor = await browser.new_context()
    agent = await browser.new_context()
    supervisor = await browser.new_context()
    try:
        session_id = await verified_chat(await debtor.new_page(), base_url)
        await agent.route(re.compile(r".*/v1/assist/events$"), lambda route: route.abort())
        panel = await sign_in(agent, base_url, [])
        chosen = panel.locator(f'#conversations button[data-session-id="{session_id}"]')
        await chosen.click()
        conversation_id = await chosen.get_attribute("data-conversation-id")
        await expect(panel.get_by_role("button", name="Take over")).to_be_visible(
            timeout=TIMEOUT_MS
        )
        signed_in = await supervisor.request.post(
            base_url + "/v1/auth/login",
            data={"username": "supervisor@demo", "password": "demo-supervisor-pass"},
        )
        taken = await supervisor.request.post(
            f"{base_url}/v1/assist/conversations/{conversation_id}/takeover",
            headers={"X-CSRF-Token": (await signed_in.json())["csrf_token"]},
        )
        assert taken.ok, await taken.text()
        await expect(panel.locator("#fact-control")).to_have_text("bot")  # it missed that

        await panel.get_by_role("button", name="Take over").click()
        await expect(panel.locator("#fact-control")).to_have_text(
            "human (supervisor@demo)", timeout=TIMEOUT_MS
        )
        await expect(panel.locator("#compose-error")).to_contain_text("supervisor@demo has taken")
        await expect(panel.locator("#compose-error")).to_be_visible()
        await expect(panel.get_by_role("button", name="Take over")).to_be_hidden()
        await expect(panel.get_by_role("button", name="Hand back")).to_be_hidden()
        await expect(panel.get_by_label("Your reply to the debtor")).to_be_hidden()
        await expect(chosen.locator(".badge.human")).to_have_text("human: supervisor@demo")
    finally:
        for context in (supervisor, agent, debtor):
            await context.close()


async def test_a_debtor_waiting_on_the_agent_shows_how_long_and_when_the_bot_takes_over(
    browser: Browser, base_url: str, artifacts: Path
) -> None:
    """While the agent holds the chat, an unanswered debtor message shows a running wait in
    the list and in the conversation, with the time left before the bot takes the chat back
    (AGENT_TAKEOVER_IDLE_SECONDS, 300 here); the agent's answer clears both."""
    async with taken_over_chat(browser, base_url) as (widget, panel):
        waiting = panel.locator("#fact-waiting")
        badge = panel.locator('#conversations button[aria-current="true"] .badge.waiting')
        await expect(waiting).to_be_hidden()
        await send(widget, "hello? is anyone there?")
        await expect(waiting).to_be_visible(timeout=TIMEOUT_MS)
        await expect(waiting).to_have_text(
            re.compile(r"^waiting 0:\d\d · back to the bot in 4:\d\d$"), timeout=TIMEOUT_MS
        )
        await expect(badge).to_have_text(re.compile(r"^waiting 0:\d\d$"))
        first = await waiting.text_content()
        await expect(waiting).not_to_have_text(first or "", timeout=TIMEOUT_MS)  # it runs
        await panel.screenshot(path=artifacts / "panel-waiting.png", full_page=True)

        compose = panel.get_by_label("Your reply to the debtor")
        await compose.fill(HUMAN_REPLY)
        await compose.press("Enter")
        await wait_for_text(widget, HUMAN_REPLY)
        await expect(waiting).to_be_hidden(timeout=TIMEOUT_MS)
        await expect(badge).to_have_count(0)
