"""The `agent` command."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from agent.dialogue.yaml_lines import ConfigError
from agent.settings import Settings

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Tact: compliant collections agent."
)
audit_app = typer.Typer(no_args_is_help=True, help="The compliance log.")
db_app = typer.Typer(no_args_is_help=True, help="The database.")
app.add_typer(audit_app, name="audit")
app.add_typer(db_app, name="db")


def main() -> None:
    app()


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _check_config(settings: Settings) -> None:
    from agent.services import load_dialogue

    try:
        load_dialogue(settings)
    except (ConfigError, ValueError) as exc:
        _fail(f"configuration: {exc}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (AGENT_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (AGENT_PORT).")] = None,
) -> None:
    """Run the service (embedded SQLite and demo data unless configured otherwise)."""
    import uvicorn

    from agent.app import create_app

    settings = Settings()
    _check_config(settings)
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
    )


@app.command()
def chat(
    account: Annotated[str, typer.Option(help="Account reference, e.g. DEMO-CN-001.")],
    locale: Annotated[str | None, typer.Option(help="en-US, en-GB or zh-CN.")] = None,
    url: Annotated[
        str | None, typer.Option(help="A running service; default: in-process, same settings.")
    ] = None,
) -> None:
    """Hold a conversation in the terminal through the chat API."""
    from agent.terminal_chat import run_chat

    settings = Settings()
    if url is None:
        _check_config(settings)
    raise typer.Exit(asyncio.run(run_chat(settings, account, locale, url)))


@app.command()
def classify(
    input: Annotated[
        Path | None, typer.Option("--input", help="File, one utterance a line.")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", help="Write JSON lines here.")] = None,
    locale: Annotated[str, typer.Option(help="Locale for dates and currency.")] = "en-US",
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
) -> None:
    """Analyse utterances: one per line in, one JSON object per line out."""
    from agent.domain import AnalysisContext
    from agent.nlp.analyzer import LexiconAnalyzer

    analyzer = LexiconAnalyzer()
    context = AnalysisContext(today=dt.date.today(), locale=locale)
    source = input.open(encoding="utf-8") if input else sys.stdin
    sink = output.open("w", encoding="utf-8") if output else sys.stdout
    fields = {"text", "language", "emotion", "emotion_scores", "intents", "entities"}

    def flush(batch: list[str]) -> None:
        for analysis in asyncio.run(analyzer.analyze(batch, context)):
            record = analysis.model_dump(mode="json", include=fields)
            sink.write(json.dumps(record, ensure_ascii=False) + "\n")
        sink.flush()

    batch: list[str] = []
    try:
        for line in source:
            text = line.rstrip("\n")
            if not text.strip():
                continue
            batch.append(text)
            if len(batch) >= batch_size:
                flush(batch)
                batch = []
        if batch:
            flush(batch)
    finally:
        if input:
            source.close()
        if output:
            sink.close()


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the whole hash chain; exit 1 if anything is broken."""
    from agent.compliance.audit import verify_chain
    from agent.store.store import Store

    async def run() -> dict[str, Any]:
        store = await Store.open(Settings().database_url)
        try:
            async with store.read() as session:
                return (await verify_chain(session)).as_dict()
        finally:
            await store.close()

    report = asyncio.run(run())
    typer.echo(json.dumps(report, indent=2))
    raise typer.Exit(0 if report["ok"] else 1)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations up to the latest revision."""
    from agent.store.store import Store

    async def run() -> None:
        store = await Store.open(Settings().database_url)
        await store.close()

    asyncio.run(run())
    typer.echo("database is at the latest revision")


@app.command()
def seed() -> None:
    """Insert the demo accounts (idempotent)."""
    from agent.store.seed import seed_demo
    from agent.store.store import Store

    async def run() -> int:
        store = await Store.open(Settings().database_url)
        try:
            return await seed_demo(store)
        finally:
            await store.close()

    typer.echo(f"demo accounts added: {asyncio.run(run())}")
