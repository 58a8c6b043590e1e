"""`agent portfolio ...`: import accounts from CSV or JSON."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from agent.settings import Settings

portfolio_app = typer.Typer(no_args_is_help=True, help="The portfolio of accounts.")

SUFFIXES = {".csv": "csv", ".json": "json", ".jsonl": "json", ".ndjson": "json"}


@portfolio_app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="A CSV file, a JSON list, or JSON lines.")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or json; default from the file name.")
    ] = None,
    tenant: Annotated[str, typer.Option(help="Tenant for rows without a tenant column.")] = "demo",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Validate each row and upsert the good ones by account_ref. Exit 0 when any row
    was imported or updated, 1 when none, 2 when the file cannot be read."""
    from agent.portfolio.importer import (
        Format,
        ImportReport,
        PortfolioFormatError,
        import_portfolio,
    )
    from agent.store.store import Store

    named = fmt or SUFFIXES.get(file.suffix.lower())
    if named not in ("csv", "json"):
        typer.echo("error: say --format csv or --format json", err=True)
        raise typer.Exit(2)
    chosen: Format = "csv" if named == "csv" else "json"
    try:
        text = file.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        typer.echo(f"error: cannot read {file}: {exc}", err=True)
        raise typer.Exit(2) from None

    async def run() -> ImportReport:
        store = await Store.open(Settings().database_url)
        try:
            return await import_portfolio(store, text, chosen, tenant, trust_row_tenant=True)
        finally:
            await store.close()

    try:
        report = asyncio.run(run())
    except PortfolioFormatError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        typer.echo(
            f"imported {report.imported}, updated {report.updated}, rejected {len(report.rejected)}"
        )
        for line, ref, reason in report.rejected:
            typer.echo(f"  line {line} ({ref or '-'}): {reason}")
    raise typer.Exit(0 if report.imported + report.updated else 1)
