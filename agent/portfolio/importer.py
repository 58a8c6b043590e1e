"""Read a portfolio file, validate each record, upsert the good ones by `account_ref`.

Bad records are reported with their 1-based line number (the CSV header is line 1) and
a reason, and never stop the good ones. Good records are written in one transaction per
batch of `BATCH_SIZE`. An `account_ref` held by another tenant is refused, never moved.
One `portfolio.imported` audit event records the counts (no personal data)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from sqlalchemy import select

from agent.compliance.audit import AuditChain
from agent.errors import InvalidInput
from agent.portfolio.rows import PortfolioRow, parse_row
from agent.store.models import Account, Debtor
from agent.store.store import Store

Format = Literal["csv", "json"]
BATCH_SIZE = 500


class PortfolioFormatError(InvalidInput):
    """The file as a whole cannot be read (not one bad row: the whole thing)."""

    def __init__(self, message: str) -> None:
        super().__init__("portfolio_unreadable", message)


class Rejection(NamedTuple):
    line: int
    account_ref: str | None
    reason: str


@dataclass
class ImportReport:
    imported: int = 0
    updated: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "updated": self.updated,
            "rejected": [r._asdict() for r in self.rejected],
        }


def records(text: str, fmt: Format) -> Iterator[tuple[int, Any]]:
    """(line number, raw record) pairs; a record that is not even JSON comes back as
    an exception instance so it can be reported on its line."""
    if fmt == "csv":
        yield from _csv_records(text)
    elif text.lstrip().startswith("["):
        yield from _json_array(text)
    else:
        yield from _json_lines(text)


def _csv_records(text: str) -> Iterator[tuple[int, Any]]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise PortfolioFormatError("the CSV file has no header line")
    names = [h.strip().lower() for h in header]
    last = reader.line_num
    for row in reader:
        start, last = last + 1, reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(names):
            yield start, ValueError(f"expected {len(names)} columns, found {len(row)}")
            continue
        yield start, dict(zip(names, row, strict=True))


def _json_array(text: str) -> Iterator[tuple[int, Any]]:
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1

    def skip(at: int) -> int:
        while at < len(text) and text[at].isspace():
            at += 1
        return at

    pos = skip(pos)
    if pos < len(text) and text[pos] == "]":
        return
    while True:
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise PortfolioFormatError(f"invalid JSON at line {exc.lineno}: {exc.msg}") from None
        yield text.count("\n", 0, pos) + 1, value
        pos = skip(end)
        if pos < len(text) and text[pos] == ",":
            pos = skip(pos + 1)
            continue
        if pos < len(text) and text[pos] == "]" and not text[pos + 1 :].strip():
            return
        raise PortfolioFormatError(f"invalid JSON at line {text.count(chr(10), 0, pos) + 1}")


def _json_lines(text: str) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, ValueError(f"invalid JSON: {exc.msg}")


def _ref_of(raw: Any) -> str | None:
    if isinstance(raw, dict):
        ref = raw.get("account_ref")
        if isinstance(ref, str) and ref.strip():
            return ref.strip()[:64]
    return None


def validate(
    text: str, fmt: Format, tenant: str, trust_row_tenant: bool
) -> tuple[list[tuple[int, PortfolioRow]], list[Rejection]]:
    good: list[tuple[int, PortfolioRow]] = []
    rejected: list[Rejection] = []
    seen: dict[str, int] = {}
    for line, raw in records(text, fmt):
        ref = _ref_of(raw)
        if isinstance(raw, Exception):
            rejected.append(Rejection(line, None, str(raw)))
            continue
        try:
            row = parse_row(raw, tenant, trust_row_tenant)
        except ValueError as exc:
            rejected.append(Rejection(line, ref, str(exc)))
            continue
        if row.account_ref in seen:
            reason = f"duplicate account_ref (first on line {seen[row.account_ref]})"
            rejected.append(Rejection(line, row.account_ref, reason))
            continue
        seen[row.account_ref] = line
        good.append((line, row))
    return good, rejected


async def import_portfolio(
    store: Store, rows_source: str, fmt: Format, tenant: str, trust_row_tenant: bool = False
) -> ImportReport:
    """Import `rows_source` (the file's text). `tenant` applies to every row unless
    `trust_row_tenant` lets a row's own `tenant` column choose (the CLI, not the API)."""
    good, rejected = validate(rows_source, fmt, tenant, trust_row_tenant)
    report = ImportReport(rejected=rejected)
    for start in range(0, len(good), BATCH_SIZE):
        await _write_batch(store, good[start : start + BATCH_SIZE], report)
    report.rejected.sort(key=lambda r: r.line)
    async with store.write() as session:
        chain = await AuditChain.open(session)
        chain.append(
            "portfolio.imported",
            None,
            {
                "tenant": tenant,
                "format": fmt,
                "imported": report.imported,
                "updated": report.updated,
                "rejected": len(report.rejected),
            },
        )
        await chain.close()
    return report


async def _write_batch(
    store: Store, batch: list[tuple[int, PortfolioRow]], report: ImportReport
) -> None:
    refs = [row.account_ref for _, row in batch]
    async with store.write() as session:
        found = await session.execute(
            select(Account, Debtor)
            .join(Debtor, Debtor.id == Account.debtor_id)
            .where(Account.account_ref.in_(refs))
        )
        existing = {account.account_ref: (account, debtor) for account, debtor in found.all()}
        imported = updated = 0
        refused: list[Rejection] = []
        for line, row in batch:
            pair = existing.get(row.account_ref)
            if pair is None:
                debtor = Debtor(tenant=row.tenant)
                _fill_debtor(debtor, row)
                session.add(debtor)
                await session.flush()
                account = Account(
                    account_ref=row.account_ref, tenant=row.tenant, debtor_id=debtor.id
                )
                _fill_account(account, row)
                session.add(account)
                imported += 1
            elif pair[0].tenant != row.tenant or pair[1].tenant != row.tenant:
                refused.append(
                    Rejection(line, row.account_ref, "account_ref belongs to another tenant")
                )
            else:
                _fill_debtor(pair[1], row)
                _fill_account(pair[0], row)
                updated += 1
    # Counted only once the batch has committed.
    report.imported += imported
    report.updated += updated
    report.rejected.extend(refused)


def _fill_debtor(debtor: Debtor, row: PortfolioRow) -> None:
    debtor.full_name = row.full_name
    debtor.given_name = row.given_name
    debtor.date_of_birth = row.date_of_birth
    debtor.phones = list(row.phones)
    debtor.address = row.address()
    debtor.timezone = row.timezone
    debtor.preferred_locale = row.locale


def _fill_account(account: Account, row: PortfolioRow) -> None:
    account.creditor = row.creditor
    account.balance = row.balance
    account.currency = row.currency
    account.jurisdiction = row.jurisdiction
    account.region = row.region
    account.days_past_due = row.days_past_due
