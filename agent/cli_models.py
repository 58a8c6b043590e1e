"""`agent models ...`: install official Vosk speech models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from agent.settings import Settings

models_app = typer.Typer(no_args_is_help=True, help="Speech models (Vosk).")

ListUrl = Annotated[
    str | None, typer.Option("--list-url", help="Model list (AGENT_VOSK_MODEL_LIST_URL).")
]
ModelsDir = Annotated[Path | None, typer.Option("--dir", help="Models folder (AGENT_MODELS_DIR).")]

# Vosk's language codes that are not already our locale names.
_LOCALES = {"cn": "zh-CN", "en-us": "en-US", "en-in": "en-IN", "ua": "uk-UA"}


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _locale(lang: str) -> str:
    if lang in _LOCALES:
        return _LOCALES[lang]
    language, _, region = lang.partition("-")
    return f"{language}-{region.upper()}" if region else language


@models_app.command("install")
def install(
    name: Annotated[str, typer.Argument(help="Model name, e.g. vosk-model-small-cn-0.22.")],
    list_url: ListUrl = None,
    models_dir: ModelsDir = None,
    force: Annotated[bool, typer.Option("--force", help="Reinstall if present.")] = False,
) -> None:
    """Download a Vosk model, verify its MD5, and unpack it under DIR/vosk/NAME."""
    from agent.voice.model_install import (
        InstallError,
        fetch_model_list,
        find_model,
        install_model,
        installed_path,
    )

    settings = Settings()
    target_dir = models_dir or settings.models_dir
    existing = installed_path(target_dir, name)
    # Checked before any network access, so re-running setup offline still succeeds.
    if existing.is_dir() and not force:
        typer.echo(f"{name} is already installed in {existing} (--force reinstalls)")
        return
    try:
        entry = find_model(fetch_model_list(list_url or settings.vosk_model_list_url), name)
        size = f" ({entry.size_text})" if entry.size_text else ""
        typer.echo(f"downloading {entry.name}{size} from {entry.url}")
        path = install_model(entry, target_dir, force=force)
    except InstallError as exc:
        _fail(str(exc))
        return
    typer.echo(f"installed {entry.name} in {path}")
    typer.echo("use it with:")
    if target_dir.resolve() != settings.models_dir.resolve():
        typer.echo(f"  AGENT_MODELS_DIR='{target_dir}'")
    mapping = json.dumps({_locale(entry.lang): entry.name}, ensure_ascii=False)
    typer.echo(f"  AGENT_VOSK_MODELS='{mapping}'")


@models_app.command("list")
def list_models(
    list_url: ListUrl = None,
    models_dir: ModelsDir = None,
    lang: Annotated[str | None, typer.Option(help="Only this Vosk language, e.g. cn.")] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Include obsolete models.")] = False,
) -> None:
    """The models on offer; `*` marks those installed."""
    from agent.voice.model_install import InstallError, fetch_model_list, installed_path

    settings = Settings()
    target_dir = models_dir or settings.models_dir
    try:
        entries = fetch_model_list(list_url or settings.vosk_model_list_url)
    except InstallError as exc:
        _fail(str(exc))
        return
    shown = [
        e
        for e in entries
        if (show_all or not e.obsolete) and (lang is None or e.lang == lang) and e.type != "spk"
    ]
    for e in sorted(shown, key=lambda e: (e.lang, e.name)):
        mark = "*" if installed_path(target_dir, e.name).is_dir() else " "
        note = " (obsolete)" if e.obsolete else ""
        typer.echo(f"{mark} {e.name:<42} {e.lang:<8} {e.type:<11} {e.size_text:>6}{note}")
