"""The chat widget in a real browser: a conversation in English and Chinese, a dropped
socket, hostile text, a phone-sized screen."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Browser, expect

from tests.web.conftest import TIMEOUT_MS
from tests.web.widget import (
    is_problem,
    messages,
    open_widget,
    send,
    verified_chat,
    wait_for_text,
)

XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


async def test_english_conversation_to_a_promise(
    browser: Browser, base_url: str, artifacts: Path
) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = await context.new_page()
        # A CSP violation (an inline style or script slipping in) shows up as a console error.
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if is_problem(m) else None)
        await open_widget(page, base_url + "/")
        await wait_for_text(page, "confirm your date of birth")
        log = page.locator("#tact-chat-widget [role=log]")
        await expect(log).to_have_attribute("aria-live", "polite")

        await send(page, "April 12th 1985")
        # The full mini-Miranda the first time, the short notice on later contacts.
        disclosure = re.compile("attempt to collect a debt|from a debt collector")
        await wait_for_text(page, disclosure)
        await wait_for_text(page, "$1,240.50")
        await wait_for_text(page, "What would work best for you?")
        mine = messages(page, "debtor").first
        await expect(mine).to_have_attribute("data-status", "delivered", timeout=TIMEOUT_MS)
        # Quick replies: state.options at the offer step, as buttons.
        quick = page.locator("#tact-chat-widget .options button")
        await expect(quick.first).to_be_visible()
        await page.screenshot(path=artifacts / "widget-en.png")

        await send(page, "I can pay 200 dollars next Friday")
        await wait_for_text(page, "Let me confirm: you'll pay $200.00 on Friday, December 4, 2026")
        await expect(messages(page, "debtor")).to_have_count(2)
        assert errors == []
    finally:
        await context.close()


async def test_chinese_conversation(browser: Browser, base_url: str, artifacts: Path) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    try:
        page = await context.new_page()
        await open_widget(page, base_url + "/?account=DEMO-CN-001&locale=zh-CN")
        await expect(page.locator("#tact-chat-widget .send")).to_have_text("发送")
        await wait_for_text(page, "请先确认您的出生日期")
        await send(page, "1990年8月8日")
        await wait_for_text(page, "8,600元")
        await wait_for_text(page, "哪种方式更适合您")
        await expect(messages(page, "debtor").first).to_have_attribute(
            "data-status", "delivered", timeout=TIMEOUT_MS
        )
        await page.screenshot(path=artifacts / "widget-zh.png")
        # A quick reply sends its label as the debtor's message.
        quick = page.locator("#tact-chat-widget .options button").first
        label = (await quick.text_content() or "").strip()
        await quick.click()
        await expect(messages(page, "debtor").last.locator(".text")).to_have_text(label)
        await expect(messages(page, "debtor").last).to_have_attribute(
            "data-status", "delivered", timeout=TIMEOUT_MS
        )
    finally:
        await context.close()


async def test_reconnects_and_resumes_without_duplicates(browser: Browser, base_url: str) -> None:
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await verified_chat(page, base_url)
        before = await messages(page).count()

        old_socket = await page.evaluate_handle("window.__tactWidget.socket")
        await page.evaluate("window.__tactWidget.socket.close()")
        # A new socket is opened, and the history it brings replaces (not repeats) the log.
        await page.wait_for_function(
            "old => { const s = window.__tactWidget.socket;"
            " return s && s !== old && s.readyState === WebSocket.OPEN; }",
            arg=old_socket,
            timeout=TIMEOUT_MS,
        )
        await expect(page.locator("#tact-chat-widget .conn")).to_have_text("Online")
        await expect(messages(page)).to_have_count(before)
        await expect(
            page.locator("#tact-chat-widget").get_by_text("April 12th 1985")
        ).to_have_count(1)

        await send(page, "I can pay 200 dollars next Friday")
        await wait_for_text(page, "Let me confirm")
        await expect(messages(page, "debtor")).to_have_count(2)
        await expect(messages(page)).to_have_count(before + 2)
    finally:
        await context.close()


async def test_hostile_text_is_shown_as_text(browser: Browser, base_url: str) -> None:
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await open_widget(page, base_url + "/")
        await wait_for_text(page, "confirm your date of birth")
        await send(page, XSS)
        mine = messages(page, "debtor").first
        await expect(mine.locator(".text")).to_have_text(XSS)
        await expect(mine).not_to_have_attribute("data-status", "sending", timeout=TIMEOUT_MS)
        assert (
            await page.locator("#tact-chat-widget img, #tact-chat-widget .log script").count() == 0
        )
        assert await page.evaluate("window.__xss") is None
    finally:
        await context.close()


async def test_phone_width_is_full_screen_and_keyboard_operable(
    browser: Browser, base_url: str, artifacts: Path
) -> None:
    context = await browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    try:
        page = await context.new_page()
        await page.goto(base_url + "/")
        # Keyboard only: Tab to the launcher, Enter opens it and focuses the message box.
        launcher = page.locator("#tact-chat-widget .launcher")
        await launcher.focus()
        await page.keyboard.press("Enter")
        box = page.locator("#tact-input")
        await expect(box).to_be_focused()
        await wait_for_text(page, "confirm your date of birth")
        panel = page.locator("#tact-chat-widget .panel")
        size = await panel.bounding_box()
        assert size is not None and size["width"] == 390 and size["height"] == 844
        await send(page, "April 12th 1985")
        await wait_for_text(page, "What would work best for you?")
        await page.screenshot(path=artifacts / "widget-phone.png")
        await page.keyboard.press("Escape")
        await expect(launcher).to_be_focused()
    finally:
        await context.close()
