"""The `agent` command."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from agent.cli_compliance import compliance_app
from agent.cli_keys import keys_app
from agent.cli_models import models_app
from agent.cli_payments import payments_app
from agent.cli_portfolio import portfolio_app
from agent.dialogue.yaml_lines import ConfigError
from agent.heap import limit_arenas
from agent.settings import Settings

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Tact: compliant collections agent."
)
audit_app = typer.Typer(no_args_is_help=True, help="The compliance log.")
db_app = typer.Typer(no_args_is_help=True, help="The database.")
app.add_typer(audit_app, name="audit")
app.add_typer(db_app, name="db")
app.add_typer(compliance_app, name="compliance")
app.add_typer(models_app, name="models")
app.add_typer(keys_app, name="keys")
app.add_typer(payments_app, name="payments")
app.add_typer(portfolio_app, name="portfolio")


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
    _check_classifier(settings)


def _check_classifier(settings: Settings) -> None:
    """Without the `train` extra, one clear line now instead of an import error later."""
    from agent.nlp.built_model import TrainExtraMissing, require_what_loading_needs

    if settings.analyzer != "model":
        return
    try:
        require_what_loading_needs(settings.model_dir, settings.classifier_precision)
    except TrainExtraMissing as exc:
        _fail(str(exc))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (AGENT_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (AGENT_PORT).")] = None,
) -> None:
    """Run the service (embedded SQLite and demo data unless configured otherwise)."""
    limit_arenas()  # before any thread starts (agent/heap.py)
    import uvicorn

    from agent.app import create_app
    from agent.security.production import UnsafeProductionConfig, check_production

    settings = Settings()
    _check_config(settings)
    try:  # also checked by the app's lifespan; here it is one clear message and exit 2
        asyncio.run(check_production(settings))
    except UnsafeProductionConfig as exc:
        _fail(str(exc))
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        # The sans-I/O websockets protocol: the legacy one is deprecated upstream.
        ws="websockets-sansio",
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
    analyzer_name: Annotated[
        str | None, typer.Option("--analyzer", help="model or lexicon (AGENT_ANALYZER).")
    ] = None,
    details: Annotated[
        bool, typer.Option("--details", help="Also write `cues` and `source`.")
    ] = False,
) -> None:
    """Analyse utterances: one per line in, one JSON object per line out."""
    from agent.domain import AnalysisContext
    from agent.nlp.analyzer import build_analyzer

    settings = _analyzer_settings(analyzer_name)
    _check_classifier(settings)
    analyzer = asyncio.run(build_analyzer(settings))
    context = AnalysisContext(today=dt.date.today(), locale=locale)
    source = input.open(encoding="utf-8") if input else sys.stdin
    sink = output.open("w", encoding="utf-8") if output else sys.stdout
    fields = {"text", "language", "emotion", "emotion_scores", "intents", "entities"}
    if details:
        fields |= {"cues", "source"}

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


def _analyzer_settings(analyzer: str | None) -> Settings:
    settings = Settings()
    if analyzer is not None:
        if analyzer not in ("model", "lexicon"):
            _fail(f"--analyzer must be model or lexicon, not {analyzer!r}")
        settings = settings.model_copy(update={"analyzer": analyzer})
    return settings


@app.command()
def train(
    output: Annotated[
        Path | None, typer.Option("--output", help="Model directory (AGENT_MODEL_DIR).")
    ] = None,
    base_model: Annotated[
        str | None,
        typer.Option(help="Base checkpoint directory (AGENT_CLASSIFIER_BASE_MODEL)."),
    ] = None,
    epochs: Annotated[int | None, typer.Option(min=1)] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    max_length: Annotated[int | None, typer.Option(min=8)] = None,
    limit: Annotated[int | None, typer.Option(min=10, help="Train on N rows only.")] = None,
    train_file: Annotated[
        Path | None, typer.Option("--train", help="Training JSON lines (data/train.jsonl).")
    ] = None,
    test_file: Annotated[
        Path | None, typer.Option("--test", help="Test JSON lines (data/test.jsonl).")
    ] = None,
    if_missing: Annotated[
        bool,
        typer.Option(
            "--if-missing",
            help="Do nothing when the model and its int8 graph were built from this data.",
        ),
    ] = False,
) -> None:
    """Fine-tune the classifier on data/train.jsonl; write model, card and report."""
    import dataclasses
    import time

    from agent.nlp.built_model import (
        DATA_DIR,
        TrainExtraMissing,
        file_sha256,
        is_built,
        require_train_extra,
        trained_on,
    )
    from agent.nlp.int8_graph import GRAPH_FILE

    settings = Settings()
    target = output or settings.model_dir
    train_path = train_file or DATA_DIR / "train.jsonl"
    if if_missing and is_built(target):
        # A model trained on other data is stale: data/train.jsonl changes with the seeds.
        if train_path.is_file() and trained_on(target) != file_sha256(train_path):
            typer.echo(f"classifier in {target} was trained on other data: rebuilding")
        elif not (target / GRAPH_FILE).is_file():
            typer.echo(f"classifier in {target} predates its int8 graph: rebuilding")
        else:
            typer.echo(f"classifier already built in {target}")
            return
    try:  # checked after --if-missing: a current model needs no torch to be left alone
        require_train_extra("agent train")
    except TrainExtraMissing as exc:
        _fail(str(exc))
    from agent.nlp.train import TrainConfig, train_classifier

    config = TrainConfig(
        base_model=settings.classifier_base_model if base_model is None else base_model,
        threads=settings.torch_threads,
    )
    overrides: dict[str, Any] = {
        "epochs": epochs,
        "seed": seed,
        "max_length": max_length,
        "limit": limit,
    }
    config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
    started = time.perf_counter()
    try:
        train_classifier(
            target,
            config,
            train_path=train_path,
            test_path=test_file or DATA_DIR / "test.jsonl",
        )
    except FileNotFoundError as exc:
        _fail(str(exc))
    typer.echo(f"classifier built in {target} ({time.perf_counter() - started:.0f} s)")
    typer.echo(f"model card: {target / 'MODEL_CARD.md'}")
    typer.echo(f"evaluation: {target / 'evaluation' / 'report.md'}")


@app.command()
def evaluate(
    file: Annotated[Path, typer.Argument(help="Labelled CSV, TSV or JSON lines.", exists=True)],
    text_column: Annotated[str, typer.Option(help="Column with the utterance.")] = "text",
    emotion_column: Annotated[
        str, typer.Option(help="Column with the emotion label ('' for none).")
    ] = "emotion",
    intents_column: Annotated[
        str, typer.Option(help="Column with the intents: JSON list or a,b,c ('' for none).")
    ] = "",
    language: Annotated[
        str | None, typer.Option(help="en or zh: the locale for texts with no letters.")
    ] = None,
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="Emotion value mapping SOURCE=TARGET (repeatable)."),
    ] = None,
    analyzer_name: Annotated[
        str | None, typer.Option("--analyzer", help="model or lexicon (AGENT_ANALYZER).")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Score the first N rows.")] = None,
    json_output: Annotated[
        Path | None, typer.Option("--json", help="Also write the scores as JSON here.")
    ] = None,
) -> None:
    """Score the analyzer on a labelled file, with trivial baselines, per label."""
    from agent.nlp.commands import evaluate_file, parse_mapping

    settings = _analyzer_settings(analyzer_name)
    _check_classifier(settings)
    try:
        text, scored = evaluate_file(
            file,
            settings,
            text_column=text_column,
            emotion_column=emotion_column or None,
            intents_column=intents_column or None,
            language=language,
            emotion_map=parse_mapping(mapping or []),
            limit=limit,
        )
    except ValueError as exc:
        _fail(str(exc))
        return
    typer.echo(text)
    if json_output:
        payload = {"file": str(file), "results": [s.as_dict() for s in scored]}
        json_output.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


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
    """Insert the demo accounts and users (idempotent; refused in production)."""
    from agent.store.seed import seed_demo
    from agent.store.store import Store

    settings = Settings()
    if settings.environment == "production":
        _fail("demo data is never seeded with AGENT_ENVIRONMENT=production")

    async def run() -> int:
        store = await Store.open(settings.database_url)
        try:
            return await seed_demo(store, settings.environment)
        finally:
            await store.close()

    typer.echo(f"demo accounts added: {asyncio.run(run())}")


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs run at once.")] = 20,
    name: Annotated[str | None, typer.Option(help="Worker name in logs.")] = None,
) -> None:
    """Run a campaign dialer worker (distributed mode: procrastinate on PostgreSQL).

    Run it beside API replicas started with AGENT_DIALER=procrastinate, all sharing
    AGENT_DATABASE_URL; several workers may run at once."""
    limit_arenas()
    from agent.campaigns.worker import run_worker
    from agent.logs import configure_logging

    settings = Settings()
    if settings.is_sqlite:
        _fail("the dialer worker needs PostgreSQL: set AGENT_DATABASE_URL=postgresql+asyncpg://...")
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(run_worker(settings, concurrency, name))
