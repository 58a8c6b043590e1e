"""The pages and static files: package data, content types, CSP, no path traversal."""

from __future__ import annotations

import httpx
import pytest


async def test_demo_page_embeds_the_widget_with_a_strict_policy(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "connect-src 'self' ws: wss:" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert '<script src="/static/widget.js" data-account="DEMO-US-001"' in response.text
    # No inline script: every <script> loads a file.
    assert response.text.count("<script") == response.text.count('<script src="/static/')


async def test_demo_page_takes_account_and_locale_from_the_query(client: httpx.AsyncClient) -> None:
    page = (await client.get("/", params={"account": "DEMO-CN-001", "locale": "zh-CN"})).text
    assert 'data-account="DEMO-CN-001" data-locale="zh-CN"' in page
    hostile = (await client.get("/", params={"account": '"><script>x()</script>'})).text
    assert "<script>x()" not in hostile and 'data-account="DEMO-US-001"' in hostile


async def test_assist_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/assist")
    assert response.status_code == 200
    assert "content-security-policy" in response.headers
    assert '<script src="/static/assist.js"' in response.text


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("widget.js", "text/javascript"),
        ("assist.js", "text/javascript"),
        ("assist.css", "text/css"),
    ],
)
async def test_static_files(client: httpx.AsyncClient, name: str, content_type: str) -> None:
    response = await client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(content_type)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "max-age" in response.headers["cache-control"]


@pytest.mark.parametrize(
    "path",
    [
        "/static/../api/web.py",
        "/static/..%2Fapi%2Fweb.py",
        "/static/%2e%2e%2fpages%2findex.html",
        "/static/.hidden.js",
        "/static/nope.js",
        "/static/widget.exe",
        "/static/__init__.py",
    ],
)
async def test_static_refuses_anything_else(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert "print(" not in response.text and "import" not in response.text


async def test_analytics_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/analytics")
    assert response.status_code == 200
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert '<script src="/static/analytics.js"' in response.text
    assert (await client.get("/static/analytics.js")).status_code == 200
