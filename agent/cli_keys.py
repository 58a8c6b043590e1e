"""`agent keys ...`: API keys for machine clients of the assist API."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from agent.auth.principal import ROLES, parse_role
from agent.settings import Settings

keys_app = typer.Typer(no_args_is_help=True, help="API keys (header X-API-Key).")


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Option(help="What the key is for, e.g. crm-sync.")],
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}.")],
    tenant: Annotated[str, typer.Option(help="The tenant whose conversations it may see.")],
) -> None:
    """Create a key and print it: it is shown this once (only its hash is stored)."""
    from agent.auth.keys import create_api_key
    from agent.store.store import Store

    try:
        checked = parse_role(role)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if not name.strip() or not tenant.strip():
        typer.echo("error: --name and --tenant must not be empty", err=True)
        raise typer.Exit(2)

    async def run() -> str:
        store = await Store.open(Settings().database_url)
        try:
            return await create_api_key(store, name.strip(), checked, tenant.strip())
        finally:
            await store.close()

    typer.echo(asyncio.run(run()))


@keys_app.command("revoke")
def revoke(name: Annotated[str, typer.Option(help="The name the key was created with.")]) -> None:
    """Revoke every live key of that name."""
    from agent.auth.keys import revoke_api_keys
    from agent.store.store import Store

    async def run() -> int:
        store = await Store.open(Settings().database_url)
        try:
            return await revoke_api_keys(store, name)
        finally:
            await store.close()

    count = asyncio.run(run())
    typer.echo(f"keys revoked: {count}")
    raise typer.Exit(0 if count else 1)
