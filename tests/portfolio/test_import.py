"""Portfolio import: validation per row, upsert by account_ref, CLI and API."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from agent.cli import app as cli
from agent.portfolio.importer import ImportReport, Rejection, import_portfolio
from agent.settings import Settings
from agent.store.models import Account, AuditEvent, Debtor
from agent.store.store import Store
from tests.auth.helpers import sign_in

HEADER = (
    "account_ref,full_name,given_name,date_of_birth,phones,address_line1,city,state,"
    "postal_code,country,creditor,balance,currency,days_past_due,locale"
)
GOOD_US = (
    "P-US-1,Jane Q Doe,,1980-02-03,(415) 555-0100,1 Main St,San Francisco,CA,94105,US,"
    "Acme,100.5,,12,"
)
GOOD_UK = "P-UK-1,Tom Smith,Tommy,1975-06-07,07911 123456,,Leeds,,LS1 4AP,GB,Albion,20.00,GBP,5,"
GOOD_CN = "P-CN-1,李雷,,1990-01-01,13800138000,,上海,,,CN,华信,300,,40,"


def csv_text(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def store_of(app: FastAPI) -> Store:
    store: Store = app.state.services.store
    return store


async def accounts(store: Store) -> dict[str, tuple[Account, Debtor]]:
    async with store.read() as session:
        found = await session.execute(
            select(Account, Debtor)
            .join(Debtor, Debtor.id == Account.debtor_id)
            .where(Account.account_ref.like("P-%"))
        )
        return {a.account_ref: (a, d) for a, d in found.all()}


async def test_good_csv_imports_with_derived_fields(app: FastAPI) -> None:
    store = store_of(app)
    report = await import_portfolio(store, csv_text(GOOD_US, GOOD_UK, GOOD_CN), "csv", "demo")
    assert report == ImportReport(imported=3, updated=0, rejected=[])

    rows = await accounts(store)
    us_account, us_debtor = rows["P-US-1"]
    assert (us_account.jurisdiction, us_account.region, us_debtor.timezone) == (
        "US",
        "CA",
        "America/Los_Angeles",
    )
    assert us_account.balance == Decimal("100.50") and us_account.currency == "USD"
    assert us_debtor.given_name == "Jane" and us_debtor.phones == ["+14155550100"]
    assert us_debtor.preferred_locale == "en-US" and us_debtor.tenant == "demo"
    assert us_debtor.address == {
        "line1": "1 Main St",
        "city": "San Francisco",
        "state": "CA",
        "postal_code": "94105",
        "country": "US",
    }
    uk_account, uk_debtor = rows["P-UK-1"]
    assert (uk_account.jurisdiction, uk_account.region, uk_debtor.timezone) == (
        "UK",
        None,
        "Europe/London",
    )
    assert uk_debtor.phones == ["+447911123456"] and uk_debtor.given_name == "Tommy"
    cn_account, cn_debtor = rows["P-CN-1"]
    assert (cn_account.jurisdiction, cn_account.currency, cn_debtor.timezone) == (
        "CN",
        "CNY",
        "Asia/Shanghai",
    )
    assert cn_debtor.preferred_locale == "zh-CN" and cn_debtor.given_name == "李雷"

    async with store.read() as session:
        event = (
            await session.execute(select(AuditEvent).where(AuditEvent.kind == "portfolio.imported"))
        ).scalar_one()
    assert event.payload == {
        "tenant": "demo",
        "format": "csv",
        "imported": 3,
        "updated": 0,
        "rejected": 0,
    }


async def test_bad_rows_are_reported_by_line_while_good_rows_import(app: FastAPI) -> None:
    text = csv_text(
        GOOD_US,  # line 2
        GOOD_US.replace("P-US-1", ""),  # 3: missing ref
        GOOD_US.replace("P-US-1", "P-BAD-DATE").replace("1980-02-03", "03/02/1980"),  # 4
        GOOD_US.replace("P-US-1", "P-NEG").replace("100.5", "-1"),  # 5
        GOOD_UK.replace("P-UK-1", "P-FR").replace(",GB,", ",FR,"),  # 6
        GOOD_US.replace("P-US-1", "P-PHONE").replace("(415) 555-0100", "12345"),  # 7
        GOOD_UK,  # 8
        GOOD_US.replace("100.5", "7"),  # 9: duplicate of line 2
    )
    report = await import_portfolio(store_of(app), text, "csv", "demo")
    assert report.imported == 2 and report.updated == 0
    by_line = {r.line: r for r in report.rejected}
    assert sorted(by_line) == [3, 4, 5, 6, 7, 9]
    assert by_line[3].account_ref is None and "account_ref" in by_line[3].reason
    assert by_line[4].account_ref == "P-BAD-DATE" and "ISO date" in by_line[4].reason
    assert "balance" in by_line[5].reason
    assert "country 'FR' is not supported" in by_line[6].reason
    assert "phone" in by_line[7].reason
    assert by_line[9] == Rejection(9, "P-US-1", "duplicate account_ref (first on line 2)")
    assert "1980" not in json.dumps(report.as_dict())  # reasons carry no input values
    rows = await accounts(store_of(app))
    assert set(rows) == {"P-US-1", "P-UK-1"}
    assert rows["P-US-1"][0].balance == Decimal("100.50")


async def test_reimport_updates_and_never_duplicates(app: FastAPI) -> None:
    store = store_of(app)
    await import_portfolio(store, csv_text(GOOD_US, GOOD_UK), "csv", "demo")
    changed = GOOD_US.replace("100.5", "80.25").replace(",12,", ",43,")
    report = await import_portfolio(store, csv_text(changed, GOOD_UK, GOOD_CN), "csv", "demo")
    assert (report.imported, report.updated, report.rejected) == (1, 2, [])
    rows = await accounts(store)
    assert len(rows) == 3
    account, _ = rows["P-US-1"]
    assert account.balance == Decimal("80.25") and account.days_past_due == 43
    async with store.read() as session:
        debtors = await session.scalar(
            select(func.count()).select_from(Debtor).where(Debtor.tenant == "demo")
        )
    assert debtors == 3 + 3  # three demo debtors, three imported


async def test_json_list_and_json_lines(app: FastAPI) -> None:
    store = store_of(app)
    base = {
        "full_name": "Ann Lee",
        "date_of_birth": "1970-05-05",
        "phones": ["+12125550142"],
        "address": {"line1": "2 Elm", "city": "Boston", "state": "MA", "country": "US"},
        "creditor": "Acme",
        "balance": 12.34,
        "days_past_due": 9,
    }
    listed = json.dumps([{**base, "account_ref": "P-J-1"}, {**base, "days_past_due": 1}], indent=2)
    report = await import_portfolio(store, listed, "json", "demo")
    assert report.imported == 1
    assert report.rejected == [Rejection(19, None, "account_ref: Field required")]

    lines = "\n".join(
        [
            json.dumps({**base, "account_ref": "P-J-2"}),
            "",
            "{not json",
            json.dumps({**base, "account_ref": "P-J-1", "balance": 1}),
        ]
    )
    report = await import_portfolio(store, lines, "json", "demo")
    assert (report.imported, report.updated) == (1, 1)
    assert [(r.line, r.account_ref) for r in report.rejected] == [(3, None)]
    rows = await accounts(store)
    assert rows["P-J-1"][0].balance == Decimal("1.00")
    assert rows["P-J-2"][0].region == "MA" and rows["P-J-2"][1].timezone == "America/New_York"


async def test_a_ref_of_another_tenant_is_refused_not_moved(app: FastAPI) -> None:
    store = store_of(app)
    await import_portfolio(store, csv_text(GOOD_US), "csv", "other")
    report = await import_portfolio(store, csv_text(GOOD_US, GOOD_UK), "csv", "demo")
    assert report.imported == 1 and report.updated == 0
    assert report.rejected == [Rejection(2, "P-US-1", "account_ref belongs to another tenant")]
    # The seeded demo account is refused too.
    demo = GOOD_UK.replace("P-UK-1", "DEMO-US-001")
    assert (await import_portfolio(store, csv_text(demo), "csv", "other")).imported == 0
    rows = await accounts(store)
    assert rows["P-US-1"][0].tenant == "other" and rows["P-US-1"][1].tenant == "other"


async def test_a_territory_takes_its_zone_from_the_phone(app: FastAPI) -> None:
    row = GOOD_US.replace(",CA,", ",PR,").replace("(415) 555-0100", "+1 787 555 0100")
    report = await import_portfolio(store_of(app), csv_text(row), "csv", "demo")
    assert report.imported == 1
    assert (await accounts(store_of(app)))["P-US-1"][1].timezone == "America/Puerto_Rico"


# -- CLI ---------------------------------------------------------------------------------


@pytest.fixture
def same_database(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_DATABASE_URL", settings.database_url)


async def _agent(*args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, cli, list(args))


@pytest.mark.usefixtures("same_database")
async def test_cli_exit_codes(app: FastAPI, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text(csv_text(GOOD_US, GOOD_US.replace("P-US-1", "")), encoding="utf-8")
    result = await _agent("portfolio", "import", str(good), "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["imported"] == 1 and body["rejected"][0]["line"] == 3

    again = await _agent("portfolio", "import", str(good))
    assert again.exit_code == 0 and "updated 1" in again.stdout and "line 3" in again.stdout

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"account_ref": "X"}\n', encoding="utf-8")
    assert (await _agent("portfolio", "import", str(bad))).exit_code == 1

    missing = await _agent("portfolio", "import", str(tmp_path / "nope.csv"))
    assert missing.exit_code == 2
    broken = tmp_path / "broken.json"
    broken.write_text("[{]", encoding="utf-8")
    assert (await _agent("portfolio", "import", str(broken))).exit_code == 2
    unknown = tmp_path / "rows.txt"
    unknown.write_text(csv_text(GOOD_UK), encoding="utf-8")
    assert (await _agent("portfolio", "import", str(unknown))).exit_code == 2
    chosen = await _agent("portfolio", "import", str(unknown), "--format", "csv", "--tenant", "t2")
    assert chosen.exit_code == 0, chosen.output
    assert (await accounts(store_of(app)))["P-UK-1"][0].tenant == "t2"


# -- API ---------------------------------------------------------------------------------


async def test_api_imports_for_the_principals_tenant(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_in(client, "agent@demo")
    text = csv_text(GOOD_US, GOOD_UK.replace("1975-06-07", "soon"))
    response = await client.post(
        "/v1/portfolio/import?tenant=other",
        content=text.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["imported"] == 1 and body["updated"] == 0
    assert body["rejected"][0]["line"] == 3 and body["rejected"][0]["account_ref"] == "P-UK-1"
    assert (await accounts(store_of(app)))["P-US-1"][0].tenant == "demo"

    lines = json.dumps({"account_ref": "P-US-1", "tenant": "other"})
    response = await client.post(
        "/v1/portfolio/import", content=lines, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200 and response.json()["imported"] == 0


async def test_api_refuses_anonymous_callers(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/portfolio/import", content=csv_text(GOOD_US), headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 401


async def test_api_refuses_an_auditor_and_an_unknown_media_type(client: httpx.AsyncClient) -> None:
    await sign_in(client, "auditor@demo")
    response = await client.post(
        "/v1/portfolio/import", content=csv_text(GOOD_US), headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 403
