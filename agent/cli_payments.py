"""`agent payments ...`: settling promises nobody paid."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Annotated, Any

import typer

from agent.settings import Settings

payments_app = typer.Typer(no_args_is_help=True, help="Payments and promises to pay.")


@payments_app.command("settle")
def settle(
    now: Annotated[
        str | None, typer.Option(help="Pretend it is this ISO datetime (UTC unless given).")
    ] = None,
) -> None:
    """Mark open promises past their due date + grace days broken or partly kept."""
    from agent.compliance.audit import AuditChain
    from agent.payments.matching import settle as settle_promises
    from agent.store.store import Store

    at = dt.datetime.now(dt.UTC)
    if now is not None:
        try:
            parsed = dt.datetime.fromisoformat(now)
        except ValueError:
            typer.echo(f"error: --now {now!r} is not an ISO datetime", err=True)
            raise typer.Exit(2) from None
        at = parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)

    async def run() -> list[dict[str, Any]]:
        settings = Settings()
        store = await Store.open(settings.database_url)
        try:
            async with store.write() as session:
                chain = await AuditChain.open(session)
                settled = await settle_promises(session, chain, at, settings.promise_grace_days)
                await chain.close()
                return settled
        finally:
            await store.close()

    settled = asyncio.run(run())
    typer.echo(json.dumps({"settled": settled}, indent=2))
