"""The account endpoints (flags, contact and guard checks, payment link, numbers) need a
sign-in, keep to the caller's tenant, and let auditors only read."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.assist.helpers import sign_in
from tests.conftest import http_client

REF = "DEMO-US-001"
ROUTES: list[tuple[str, str, dict[str, Any] | None, int]] = [
    # method, path, JSON body, what an auditor of the tenant gets
    ("GET", f"/v1/accounts/{REF}/flags", None, 200),
    ("POST", f"/v1/accounts/{REF}/flags", {"flag": "dispute"}, 403),
    ("POST", "/v1/compliance/contact-check", {"account_ref": REF}, 200),
    ("POST", "/v1/compliance/guard-check", {"account_ref": REF, "text": "hello"}, 200),
    ("GET", f"/v1/accounts/{REF}/payment-link", None, 404),  # the demo tenant has no template
    ("GET", f"/v1/accounts/{REF}/numbers", None, 200),
    ("POST", f"/v1/accounts/{REF}/numbers", {"number": "+12125550142", "status": "wrong"}, 403),
]


async def _call(client: httpx.AsyncClient, method: str, path: str, body: Any) -> tuple[int, str]:
    response = await client.request(method, path, json=body)
    return response.status_code, response.json().get("error", {}).get("code", "")


async def _flags_and_numbers(client: httpx.AsyncClient) -> tuple[Any, Any]:
    flags = (await client.get(f"/v1/accounts/{REF}/flags")).json()["flags"]
    numbers = (await client.get(f"/v1/accounts/{REF}/numbers")).json()["numbers"]
    return flags, numbers


@pytest.mark.parametrize(("method", "path", "body", "auditor_gets"), ROUTES)
async def test_account_routes_need_a_sign_in_of_the_tenant(
    app: FastAPI, method: str, path: str, body: Any, auditor_gets: int
) -> None:
    async with http_client(app) as client:
        assert await _call(client, method, path, body) == (401, "not_authenticated")
        await sign_in(client, "agent@other")  # another tenant's account does not exist
        assert await _call(client, method, path, body) == (404, "account_not_found")
        await sign_in(client, "auditor@demo")
        assert (await _call(client, method, path, body))[0] == auditor_gets
        await sign_in(client, "agent@demo")
        assert await _flags_and_numbers(client) == (
            {},
            [{"number": "+12125550142", "status": "reachable"}],
        )
