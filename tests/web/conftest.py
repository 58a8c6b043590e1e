"""Browser fixtures: the service on a loopback port and Debian's chromium driven by Playwright.

No browser is downloaded: Playwright launches /usr/bin/chromium. Where it (or the Python
package) is missing, the browser tests skip rather than fail.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from agent.settings import Settings
from tests.conftest import fixed_clock
from tests.telephony.live_server import live_server

if TYPE_CHECKING:
    from playwright.async_api import Browser

playwright_api = pytest.importorskip("playwright.async_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Generous: a cold classifier or a busy CI box must not fail a test; nothing here asserts speed.
TIMEOUT_MS = 30_000

if not Path(CHROMIUM).exists():
    pytest.skip("chromium is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One live server per test module (starting the app is the slow part)."""
    data_dir = tmp_path_factory.mktemp("web")
    settings = Settings(
        data_dir=data_dir, database_url="", log_format="console", environment="test"
    )
    with live_server(settings, fixed_clock) as address:
        yield f"http://{address}"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless chromium with a fresh, empty profile (Playwright's temporary one); closed
    after the test so no process outlives it."""
    async with playwright_api.async_playwright() as pw:
        instance = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield instance
        finally:
            await instance.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
