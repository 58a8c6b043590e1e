"""Collection analytics: figures after real chats, tenant isolation, range checks, CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
from fastapi import FastAPI

from tests.assist.helpers import sign_in, verified_chat

DAY = "2026-11-28"  # tests.conftest.FIXED_NOW
RANGE = {"since": "2026-11-01", "until": "2026-11-30"}


async def _say(client: httpx.AsyncClient, chat: dict[str, Any], text: str) -> None:
    reply = await client.post(
        f"/v1/chat/sessions/{chat['session_id']}/messages", json={"text": text}
    )
    assert reply.status_code == 200, reply.text


async def _promise_and_cease(client: httpx.AsyncClient) -> None:
    promise = await verified_chat(client)
    await _say(client, promise, "I can pay 200 dollars next Friday")
    await _say(client, promise, "yes")
    cease = await verified_chat(client)
    await _say(client, cease, "stop calling me")


async def test_figures_count_a_promise_and_a_cease_request(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_in(client, "agent@demo")
    await _promise_and_cease(client)
    response = await client.get("/v1/analytics", params=RANGE)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tenant"] == "demo"
    assert (body["since"], body["until"]) == (RANGE["since"], RANGE["until"])
    assert len(body["days"]) == 30
    totals = body["totals"]
    assert totals["right_party_contacts"] == 2
    assert totals["promises"] == {"count": 1, "amount": {"USD": "200.00"}}
    assert totals["kept_promises"]["count"] == 0
    assert totals["cease_requests"] == 1
    assert totals["complaints"] == 0
    # Debtor turns: two DOB answers, the offer, the "yes", the cease request.
    assert sum(totals["emotion_mix"].values()) == 5
    day = next(d for d in body["days"] if d["date"] == DAY)
    assert day["promises"]["count"] == 1 and day["right_party_contacts"] == 2
    others = [d for d in body["days"] if d["date"] != DAY]
    assert all(d["promises"]["count"] == 0 and d["right_party_contacts"] == 0 for d in others)


async def test_other_tenant_sees_zeros(client: httpx.AsyncClient) -> None:
    await sign_in(client, "agent@demo")
    await _promise_and_cease(client)
    client.cookies.clear()
    await sign_in(client, "agent@other")
    totals = (await client.get("/v1/analytics", params=RANGE)).json()["totals"]
    assert totals["right_party_contacts"] == 0 and totals["promises"]["count"] == 0
    assert totals["cease_requests"] == 0 and totals["emotion_mix"] == {}
    assert totals["guard_blocks_by_rule"] == {} and totals["recovery"] == {}


async def test_anonymous_is_401(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/analytics")).status_code == 401
    assert (await client.get("/v1/analytics.csv")).status_code == 401


async def test_bad_ranges_are_422(client: httpx.AsyncClient) -> None:
    await sign_in(client, "supervisor@demo")
    backwards = await client.get("/v1/analytics", params={"since": DAY, "until": "2026-11-01"})
    assert backwards.status_code == 422
    too_long = await client.get("/v1/analytics", params={"since": "2025-01-01", "until": DAY})
    assert too_long.status_code == 422
    garbled = await client.get("/v1/analytics", params={"since": "yesterday"})
    assert garbled.status_code == 422
    default = (await client.get("/v1/analytics")).json()
    assert default["until"] == DAY and len(default["days"]) == 30


async def test_csv_has_a_header_and_a_row_per_day(client: httpx.AsyncClient) -> None:
    await sign_in(client, "auditor@demo")
    chat = await verified_chat(client)
    await _say(client, chat, "I can pay 200 dollars next Friday")
    await _say(client, chat, "yes")
    response = await client.get("/v1/analytics.csv", params={"since": "2026-11-27", "until": DAY})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["date"] for r in rows] == ["2026-11-27", DAY]
    assert rows[1]["promises"] == "1" and rows[1]["promise_amount"] == "USD:200.00"
    assert rows[1]["right_party_contacts"] == "1" and rows[0]["promises"] == "0"
