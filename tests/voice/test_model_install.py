"""`agent models install/list` against a local HTTP server serving a model list and zips."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from agent.cli import app
from agent.voice.stt_vosk import resolve_model_path

NAME = "vosk-model-small-xx-0.1"
MODEL_FILES = {"am/final.mdl": b"acoustic", "conf/model.conf": b"--sample-frequency=16000\n"}


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass


class Site:
    """A folder served over HTTP, like alphacephei.com/vosk/models."""

    def __init__(self, root: Path, url: str, requests: list[str]) -> None:
        self.root, self.url, self.requests = root, url, requests
        self.entries: list[dict[str, Any]] = []

    @property
    def list_url(self) -> str:
        return f"{self.url}/model-list.json"

    def publish(self, name: str, archive: bytes, **overrides: Any) -> None:
        (self.root / f"{name}.zip").write_bytes(archive)
        entry = {
            "name": name,
            "lang": "cn",
            "lang_text": "Chinese",
            "type": "small",
            "version": "0.1",
            "url": f"{self.url}/{name}.zip",
            "md5": hashlib.md5(archive, usedforsecurity=False).hexdigest(),
            "size": len(archive),
            "size_text": "1K",
            "obsolete": "false",
        }
        self.entries.append({**entry, **overrides})
        (self.root / "model-list.json").write_text(json.dumps(self.entries), encoding="utf-8")


def model_zip(top: str = NAME, extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path, data in MODEL_FILES.items():
            zf.writestr(f"{top}/{path}", data)
        for path, data in (extra or {}).items():
            zf.writestr(zipfile.ZipInfo(path), data)
    return buffer.getvalue()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    root = tmp_path / "www"
    root.mkdir()
    requests: list[str] = []
    handler = functools.partial(
        type("Handler", (_Handler,), {"requests": requests}), directory=str(root)
    )
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Site(root, f"http://127.0.0.1:{server.server_address[1]}", requests)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "models"


def agent_models(*args: str) -> Result:
    return CliRunner().invoke(app, ["models", *args])


def install(site: Site, models_dir: Path, name: str = NAME, *flags: str) -> Result:
    return agent_models(
        "install", name, "--list-url", site.list_url, "--dir", str(models_dir), *flags
    )


def leftovers(models_dir: Path) -> list[str]:
    vosk_dir = models_dir / "vosk"
    return sorted(p.name for p in vosk_dir.iterdir()) if vosk_dir.exists() else []


def test_install_verifies_and_unpacks_where_resolve_finds_it(site: Site, models_dir: Path) -> None:
    site.publish(NAME, model_zip())

    result = install(site, models_dir)

    assert result.exit_code == 0, result.output
    target = models_dir / "vosk" / NAME
    assert (target / "am" / "final.mdl").read_bytes() == b"acoustic"
    assert (target / "conf" / "model.conf").is_file()
    assert resolve_model_path(NAME, models_dir) == target.resolve()
    assert leftovers(models_dir) == [NAME]  # no temp archive or folder left
    assert f"""AGENT_VOSK_MODELS='{{"zh-CN": "{NAME}"}}'""" in result.output


def test_md5_mismatch_installs_nothing(site: Site, models_dir: Path) -> None:
    site.publish(NAME, model_zip(), md5="0" * 32)

    result = install(site, models_dir)

    assert result.exit_code != 0
    assert "MD5 mismatch" in result.output
    assert leftovers(models_dir) == []


def test_size_mismatch_installs_nothing(site: Site, models_dir: Path) -> None:
    archive = model_zip()
    site.publish(NAME, archive, size=len(archive) + 1)

    result = install(site, models_dir)

    assert result.exit_code != 0
    assert "size mismatch" in result.output
    assert leftovers(models_dir) == []


def test_unknown_name_suggests_close_ones(site: Site, models_dir: Path) -> None:
    site.publish(NAME, model_zip())

    result = install(site, models_dir, "vosk-model-small-xx-0.2")

    assert result.exit_code != 0
    assert "no Vosk model named" in result.output
    assert NAME in result.output
    assert leftovers(models_dir) == []


@pytest.mark.parametrize("evil", ["../escaped.txt", f"{NAME}/../../escaped.txt", "/abs.txt"])
def test_zip_slip_entry_is_rejected(
    site: Site, models_dir: Path, tmp_path: Path, evil: str
) -> None:
    site.publish(NAME, model_zip(extra={evil: b"pwned"}))

    result = install(site, models_dir)

    assert result.exit_code != 0
    assert "unsafe path" in result.output
    assert leftovers(models_dir) == []
    assert not list(tmp_path.rglob("escaped.txt"))


def test_already_installed_is_left_alone_without_network(site: Site, models_dir: Path) -> None:
    site.publish(NAME, model_zip())
    existing = models_dir / "vosk" / NAME
    existing.mkdir(parents=True)
    (existing / "mine").write_text("keep")

    result = install(site, models_dir)

    assert result.exit_code == 0
    assert "already installed" in result.output
    assert (existing / "mine").read_text() == "keep"
    assert site.requests == []


def test_force_reinstalls(site: Site, models_dir: Path) -> None:
    site.publish(NAME, model_zip())
    existing = models_dir / "vosk" / NAME
    existing.mkdir(parents=True)
    (existing / "stale").write_text("old")

    result = install(site, models_dir, NAME, "--force")

    assert result.exit_code == 0, result.output
    assert not (existing / "stale").exists()
    assert (existing / "am" / "final.mdl").is_file()
    assert leftovers(models_dir) == [NAME]


def test_list_marks_installed_and_hides_obsolete(site: Site, models_dir: Path) -> None:
    site.publish(NAME, model_zip())
    site.publish("vosk-model-old-xx-0.0", model_zip("vosk-model-old-xx-0.0"), obsolete="true")
    (models_dir / "vosk" / NAME).mkdir(parents=True)

    result = agent_models("list", "--list-url", site.list_url, "--dir", str(models_dir))

    assert result.exit_code == 0, result.output
    assert f"* {NAME}" in result.output
    assert "vosk-model-old-xx-0.0" not in result.output
