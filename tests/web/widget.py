"""Helpers to drive the chat widget from a test (its DOM is in an open shadow root, which
Playwright's CSS locators pierce)."""

from __future__ import annotations

import re

from playwright.async_api import ConsoleMessage, Locator, Page

from tests.web.conftest import TIMEOUT_MS


async def open_widget(page: Page, url: str) -> None:
    await page.goto(url)
    await page.locator(".launcher").click()
    await page.locator("#tact-input").wait_for(timeout=TIMEOUT_MS)


def messages(page: Page, role: str | None = None) -> Locator:
    selector = f'.msg[data-role="{role}"]' if role else ".msg"
    return page.locator(f"#tact-chat-widget {selector}")


async def send(page: Page, text: str) -> None:
    """Type and press Enter, as a person would."""
    box = page.locator("#tact-input")
    await box.fill(text)
    await box.press("Enter")


async def wait_for_text(page: Page, text: str | re.Pattern[str]) -> None:
    await (
        page.locator("#tact-chat-widget .log").get_by_text(text).first.wait_for(timeout=TIMEOUT_MS)
    )


def is_problem(message: ConsoleMessage) -> bool:
    """A console error other than an HTTP status the page expects (401 before sign-in)."""
    return message.type == "error" and not message.text.startswith("Failed to load resource")


async def verified_chat(page: Page, base_url: str) -> str:
    """The demo debtor's chat, past identity verification; its session id."""
    await open_widget(page, base_url + "/")
    await wait_for_text(page, "confirm your date of birth")
    await send(page, "April 12th 1985")
    # The options in the calm or the gentle tone: a vulnerability another test of the
    # module recorded on this account keeps its later chats empathetic.
    await wait_for_text(page, re.compile(r"What would (work best for you|suit you)\?"))
    return str(await page.evaluate("window.__tactWidget.sessionId"))
