"""`agent compliance ...`: reports and retention."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Annotated, Any

import typer

from agent.settings import Settings

compliance_app = typer.Typer(no_args_is_help=True, help="Compliance reports and retention.")


def _when(value: str | None, default: dt.datetime) -> dt.datetime:
    if value is None:
        return default
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@compliance_app.command("report")
def report(
    since: Annotated[str, typer.Option(help="ISO date or datetime (UTC unless given).")],
    until: Annotated[str | None, typer.Option(help="ISO date or datetime; default now.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Refusals, guard blocks, flags and disclosures per rule."""
    from agent.compliance.report import compliance_report, report_table
    from agent.store.store import Store

    async def run() -> dict[str, Any]:
        store = await Store.open(Settings().database_url)
        try:
            async with store.read() as session:
                return await compliance_report(
                    session,
                    _when(since, dt.datetime.now(dt.UTC)),
                    _when(until, dt.datetime.now(dt.UTC)) if until else None,
                )
        finally:
            await store.close()

    result = asyncio.run(run())
    typer.echo(
        json.dumps(result, indent=2, ensure_ascii=False) if as_json else report_table(result)
    )


@compliance_app.command("purge")
def purge(
    now: Annotated[
        str | None, typer.Option(help="Pretend it is this ISO datetime (for audits).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count only; change nothing.")] = False,
) -> None:
    """Apply each pack's retention period: purge only what has expired, log the purge."""
    from agent.compliance.packs import PackLibrary
    from agent.compliance.retention import purge_expired
    from agent.store.store import Store

    async def run() -> dict[str, Any]:
        store = await Store.open(Settings().database_url)
        try:
            purged = await purge_expired(
                store, PackLibrary(), _when(now, dt.datetime.now(dt.UTC)), dry_run
            )
            return purged.as_dict()
        finally:
            await store.close()

    typer.echo(json.dumps(asyncio.run(run()), indent=2))
