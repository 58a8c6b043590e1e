"""The browser side: the demo lender page, the agent-assist panel and their static files.

Everything is read from package data (agent/web/), so an installed wheel serves the same
bytes as a checkout. The pages carry a strict Content-Security-Policy: no inline script or
style, no third-party origin, so an injected `<script>` or `onerror=` cannot run even if a
bug ever let markup through.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from agent.errors import NotFound

router = APIRouter(tags=["web"], include_in_schema=False)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".html": "text/html; charset=utf-8",
}
# A static name is one plain file name: no separators, no "..", nothing hidden.
STATIC_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\.[a-z0-9]{1,5}")
# What the demo page lets the query string choose for the widget's data attributes.
ACCOUNT_REF = re.compile(r"[A-Za-z0-9_-]{1,64}")
LOCALE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?")
LINK_TOKEN = re.compile(r"[A-Za-z0-9_-]{0,64}")  # a campaign chat link token, or none


@lru_cache(maxsize=32)
def _asset(folder: str, name: str) -> bytes | None:
    path = resources.files("agent").joinpath("web", folder, name)
    return path.read_bytes() if path.is_file() else None


def _page(name: str) -> str:
    body = _asset("pages", name)
    if body is None:  # a broken install, not a client error
        raise RuntimeError(f"agent/web/pages/{name} is missing from the package")
    return body.decode("utf-8")


@router.get("/", response_class=HTMLResponse)
async def demo_page(
    account: str = "DEMO-US-001", locale: str = "en-US", link: str = ""
) -> HTMLResponse:
    # Only well-formed values reach the page, and they are escaped as attribute text anyway.
    if not ACCOUNT_REF.fullmatch(account):
        account = "DEMO-US-001"
    if not LOCALE.fullmatch(locale):
        locale = "en-US"
    if not LINK_TOKEN.fullmatch(link):
        link = ""
    page = _page("index.html")
    page = page.replace("{{account}}", html.escape(account, quote=True))
    page = page.replace("{{locale}}", html.escape(locale, quote=True))
    page = page.replace("{{link}}", html.escape(link, quote=True))
    return HTMLResponse(page, headers=PAGE_HEADERS)


@router.get("/assist", response_class=HTMLResponse)
async def assist_page() -> HTMLResponse:
    return HTMLResponse(_page("assist.html"), headers=PAGE_HEADERS)


@router.get("/analytics", response_class=HTMLResponse)
async def analytics_page() -> HTMLResponse:
    return HTMLResponse(_page("analytics.html"), headers=PAGE_HEADERS)


@router.get("/static/{name}")
async def static_file(name: str) -> Response:
    suffix = name[name.rfind(".") :] if "." in name else ""
    media_type = CONTENT_TYPES.get(suffix)
    body = _asset("static", name) if media_type and STATIC_NAME.fullmatch(name) else None
    if body is None:
        raise NotFound("not_found", "no such static file")
    # Short caching: the files are not fingerprinted, so a deploy must show up soon.
    headers = {"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}
    return Response(body, media_type=media_type, headers=headers)
