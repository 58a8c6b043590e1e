"""The payments webhook, promise matching, settle, and payment links."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from typer.testing import CliRunner

from agent.cli import app as cli_app
from agent.payments.links import payment_link
from agent.payments.matching import OpenPromise, allocate, outcome
from agent.payments.signature import sign
from agent.services import Services
from agent.settings import Settings
from agent.store.models import Account, Conversation, Payment, PromiseToPay
from tests.assist.helpers import sign_in
from tests.conftest import FIXED_NOW

SECRET = "test-webhook-secret"
ACCOUNT = "DEMO-US-001"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url="",
        log_format="console",
        environment="test",
        payments_webhook_secret=SECRET,
        payment_link_templates={"demo": "https://pay.example.com/{account_ref}?amount={amount}"},
    )


def services(app: FastAPI) -> Services:
    result: Services = app.state.services
    return result


def body(**overrides: Any) -> bytes:
    values: dict[str, Any] = {
        "payment_ref": "pay-1",
        "account_ref": ACCOUNT,
        "amount": "200.00",
        "currency": "USD",
        "paid_at": "2026-11-28T10:00:00+00:00",
    }
    values.update(overrides)
    return json.dumps(values).encode()


async def post(client: httpx.AsyncClient, raw: bytes, secret: str = SECRET) -> httpx.Response:
    headers = {"Content-Type": "application/json", "X-Tact-Signature": sign(secret, raw)}
    return await client.post("/v1/payments", content=raw, headers=headers)


async def add_promise(app: FastAPI, amount: str, due: dt.date) -> int:
    async with services(app).store.write() as session:
        account = (
            await session.execute(select(Account).where(Account.account_ref == ACCOUNT))
        ).scalar_one()
        conversation = Conversation(
            id=str(uuid.uuid4()),
            session_id=uuid.uuid4().hex,
            account_id=account.id,
            tenant=account.tenant,
            channel="chat",
            locale="en-US",
            policy_id="collections_default",
            policy_version=1,
            state={},
            started_at=FIXED_NOW,
            updated_at=FIXED_NOW,
        )
        session.add(conversation)
        await session.flush()
        promise = PromiseToPay(
            conversation_id=conversation.id,
            account_id=account.id,
            amount=Decimal(amount),
            currency="USD",
            due_date=due,
            kind="single",
            installments=1,
            status="open",
            created_at=FIXED_NOW,
        )
        session.add(promise)
        await session.flush()
        return promise.id


async def promise_status(app: FastAPI, promise_id: int) -> str:
    async with services(app).store.read() as session:
        promise = await session.get(PromiseToPay, promise_id)
        assert promise is not None
        return promise.status


async def payment_count(app: FastAPI) -> int:
    async with services(app).store.read() as session:
        return int(await session.scalar(select(func.count()).select_from(Payment)) or 0)


async def balance(app: FastAPI) -> Decimal:
    async with services(app).store.read() as session:
        account = (
            await session.execute(select(Account).where(Account.account_ref == ACCOUNT))
        ).scalar_one()
        return Decimal(account.balance)


async def assert_chain_ok(client: httpx.AsyncClient) -> None:
    report = (await client.get("/v1/audit/verify")).json()
    assert report["ok"], report


async def test_valid_signature_records_the_payment_and_reduces_the_balance(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    before = await balance(app)
    response = await post(client, body())
    assert response.status_code == 201, response.text
    assert response.json()["balance"] == f"{before - Decimal('200'):.2f}"
    assert await balance(app) == before - Decimal("200")
    assert await payment_count(app) == 1
    await assert_chain_ok(client)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Tact-Signature": "sha256=" + "0" * 64},
        {"X-Tact-Signature": sign("another-secret", body())},
        {},
    ],
    ids=["bad", "wrong-secret", "missing"],
)
async def test_bad_or_missing_signature_is_refused(
    app: FastAPI,
    client: httpx.AsyncClient,
    headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="agent.payments.signature"):
        response = await client.post("/v1/payments", content=body(), headers=headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_signature"
    assert any(r.getMessage() == "payment_signature_rejected" for r in caplog.records)
    assert await payment_count(app) == 0


async def test_empty_secret_refuses_everything(tmp_path: Path) -> None:
    from agent.app import create_app
    from tests.conftest import fixed_clock, http_client

    settings = Settings(data_dir=tmp_path, database_url="", environment="test")
    application = create_app(settings, clock=fixed_clock)
    async with application.router.lifespan_context(application), http_client(application) as c:
        response = await post(c, body(), secret="")
        assert response.status_code == 403
        assert await payment_count(application) == 0


async def test_same_payment_ref_is_idempotent(app: FastAPI, client: httpx.AsyncClient) -> None:
    first = await post(client, body())
    again = await post(client, body(amount="999.00"))
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    assert await payment_count(app) == 1
    await assert_chain_ok(client)


async def test_unknown_account_is_404(app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await post(client, body(account_ref="NO-SUCH"))
    assert response.status_code == 404
    assert await payment_count(app) == 0


@pytest.mark.parametrize(
    "raw",
    [
        body(amount="-5"),
        body(paid_at="yesterday"),
        body(paid_at="2026-11-28T10:00:00"),
        body(currency="usd"),
        json.dumps({"payment_ref": "x"}).encode(),
        b"[1, 2]",
    ],
)
async def test_bad_body_is_422(app: FastAPI, client: httpx.AsyncClient, raw: bytes) -> None:
    response = await post(client, raw)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
    assert await payment_count(app) == 0


async def test_currency_mismatch_is_422(app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await post(client, body(currency="EUR"))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "currency_mismatch"
    assert await payment_count(app) == 0


async def test_full_payment_on_time_keeps_the_promise(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    promise_id = await add_promise(app, "200.00", dt.date(2026, 12, 4))
    response = await post(client, body())
    assert response.json()["applied"] == [{"promise_id": promise_id, "amount": "200.00"}]
    assert response.json()["promises"] == [{"promise_id": promise_id, "status": "kept"}]
    assert await promise_status(app, promise_id) == "kept"
    await assert_chain_ok(client)


async def test_payment_spans_promises_oldest_first(app: FastAPI, client: httpx.AsyncClient) -> None:
    later = await add_promise(app, "100.00", dt.date(2026, 12, 20))
    first = await add_promise(app, "150.00", dt.date(2026, 12, 4))
    response = await post(client, body(amount="200.00"))
    assert response.json()["applied"] == [
        {"promise_id": first, "amount": "150.00"},
        {"promise_id": later, "amount": "50.00"},
    ]
    assert await promise_status(app, first) == "kept"
    assert await promise_status(app, later) == "open"


async def settle_cli(
    settings: Settings, now: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """`agent payments settle` on the app's database (in a thread: the CLI runs its own loop)."""
    monkeypatch.setenv("AGENT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("AGENT_PROMISE_GRACE_DAYS", str(settings.promise_grace_days))
    runner = CliRunner()
    result = await asyncio.to_thread(runner.invoke, cli_app, ["payments", "settle", "--now", now])
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.output)
    return parsed


async def test_part_payment_then_settle_is_partly_kept(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    promise_id = await add_promise(app, "200.00", dt.date(2026, 12, 4))
    await post(client, body(amount="80.00"))
    assert await promise_status(app, promise_id) == "open"
    # Within the grace days: still open.
    assert (await settle_cli(settings, "2026-12-06T12:00:00+00:00", monkeypatch))["settled"] == []
    settled = (await settle_cli(settings, "2026-12-07T00:00:00+00:00", monkeypatch))["settled"]
    assert [(s["promise_id"], s["status"], s["paid"]) for s in settled] == [
        (promise_id, "partly_kept", "80.00")
    ]
    assert await promise_status(app, promise_id) == "partly_kept"
    await assert_chain_ok(client)


async def test_unpaid_promise_is_broken_by_settle(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    promise_id = await add_promise(app, "200.00", dt.date(2026, 12, 4))
    settled = (await settle_cli(settings, "2026-12-10T00:00:00", monkeypatch))["settled"]
    assert [(s["promise_id"], s["status"]) for s in settled] == [(promise_id, "broken")]
    assert await promise_status(app, promise_id) == "broken"
    # A late payment does not count toward a settled promise.
    late = await post(client, body(paid_at="2026-12-10T09:00:00+00:00"))
    assert late.json()["applied"] == []
    await assert_chain_ok(client)


async def test_late_payment_does_not_keep_an_overdue_promise(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    promise_id = await add_promise(app, "200.00", dt.date(2026, 11, 20))
    response = await post(client, body())
    assert response.json()["applied"] == []
    assert response.json()["promises"] == [{"promise_id": promise_id, "status": "broken"}]


async def test_balance_never_goes_below_zero(app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await post(client, body(amount="99999.00"))
    assert response.json()["balance"] == "0.00"
    assert await balance(app) == Decimal("0")


def test_matching_rules() -> None:
    due = dt.date(2026, 12, 4)
    promises = [OpenPromise(1, Decimal("100"), due, Decimal("0"))]
    assert allocate(promises, Decimal("40"), dt.date(2026, 12, 6), 2) == [(1, Decimal("40"))]
    assert allocate(promises, Decimal("40"), dt.date(2026, 12, 7), 2) == []
    assert outcome(promises[0], dt.date(2026, 12, 6), 2) is None
    assert outcome(promises[0], dt.date(2026, 12, 7), 2) == "broken"
    partly = OpenPromise(1, Decimal("100"), due, Decimal("1"))
    assert outcome(partly, dt.date(2026, 12, 7), 2) == "partly_kept"
    kept = OpenPromise(1, Decimal("100"), due, Decimal("100"))
    assert outcome(kept, dt.date(2026, 12, 1), 2) == "kept"


def test_payment_link_is_url_encoded() -> None:
    templates = {"acme": "https://pay.example.com/{account_ref}?amount={amount}"}
    assert (
        payment_link("acme", "A/B 1&x", Decimal("12.50"), templates=templates)
        == "https://pay.example.com/A%2FB%201%26x?amount=12.50"
    )
    assert payment_link("other", "A", "1", templates=templates) is None


async def test_payment_link_endpoint(app: FastAPI, client: httpx.AsyncClient) -> None:
    await sign_in(client, "agent@demo")
    response = await client.get(f"/v1/accounts/{ACCOUNT}/payment-link", params={"amount": "200"})
    assert response.status_code == 200, response.text
    assert response.json()["url"] == f"https://pay.example.com/{ACCOUNT}?amount=200.00"
    missing = await client.get("/v1/accounts/NO-SUCH/payment-link")
    assert missing.status_code == 404
