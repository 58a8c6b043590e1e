"""Download an official Vosk model, verify it, and install it where
`resolve_model_path(name, models_dir)` finds it: `models_dir/vosk/<name>`.

Nothing is installed unless the archive's MD5 (and size, when listed) match the
published model list, and no archive entry may write outside the target folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import hashlib
import logging
import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
from tqdm import tqdm

from agent.logs import log_event

logger = logging.getLogger(__name__)

TIMEOUT_S = 30.0
_CHUNK = 1 << 16
# A model name becomes a folder name: one plain path component, nothing else.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class InstallError(Exception):
    """Why a model was not installed (the message is meant for the user)."""


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One object of Vosk's model-list.json."""

    name: str
    lang: str
    type: str
    version: str
    url: str
    md5: str
    size: int | None
    size_text: str
    obsolete: bool

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelEntry:
        size = str(data.get("size", ""))
        return cls(
            name=str(data["name"]),
            lang=str(data.get("lang", "")),
            type=str(data.get("type", "")),
            version=str(data.get("version", "")),
            url=str(data["url"]),
            md5=str(data.get("md5", "")).lower(),
            size=int(size) if size.isdigit() else None,
            size_text=str(data.get("size_text", "")),
            # The official list spells booleans as the strings "true" / "false".
            obsolete=str(data.get("obsolete", "false")).lower() == "true",
        )


def installed_path(models_dir: Path, name: str) -> Path:
    return models_dir / "vosk" / name


def fetch_model_list(url: str, timeout: float = TIMEOUT_S) -> list[ModelEntry]:
    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=True)
        response.raise_for_status()
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise InstallError(f"cannot read the model list {url}: {exc}") from exc
    if not isinstance(data, list):
        raise InstallError(f"the model list {url} is not a JSON list")
    entries = []
    for item in data:
        # Skip malformed items rather than refuse the whole list for one bad row.
        with contextlib.suppress(KeyError, TypeError, ValueError):
            entries.append(ModelEntry.from_json(item))
    # Relative URLs resolve against the list's own address.
    base = httpx.URL(url)
    return [_with_url(e, str(base.join(e.url))) for e in entries]


def find_model(entries: list[ModelEntry], name: str) -> ModelEntry:
    for entry in entries:
        if entry.name == name:
            return entry
    close = difflib.get_close_matches(name, [e.name for e in entries], n=5, cutoff=0.5)
    hint = f"; did you mean: {', '.join(close)}?" if close else ""
    raise InstallError(f"no Vosk model named {name!r} in the model list{hint}")


def install_model(
    entry: ModelEntry,
    models_dir: Path,
    *,
    force: bool = False,
    progress: bool = True,
    timeout: float = TIMEOUT_S,
) -> Path:
    """Download, verify and unpack `entry` into `models_dir/vosk/<name>`; returns it.
    Work happens in temporary siblings of the target, so the final step is a rename
    on one file system and a failure at any point leaves no partial model behind."""
    if not _SAFE_NAME.fullmatch(entry.name):
        raise InstallError(f"refusing unsafe model name {entry.name!r}")
    if not entry.md5:
        raise InstallError(f"the model list gives no MD5 for {entry.name}: cannot verify it")
    target = installed_path(models_dir, entry.name)
    if target.exists() and not force:
        raise InstallError(f"{entry.name} is already installed in {target}")
    target.parent.mkdir(parents=True, exist_ok=True)

    with _temp_file(target.parent, f".{entry.name}.", ".zip.part") as archive:
        _download(entry, archive, progress, timeout)
        with _temp_dir(target.parent, f".{entry.name}.") as unpacked:
            _safe_extract(archive, unpacked)
            _replace(_model_root(unpacked), target)
    return target


def _download(entry: ModelEntry, dest: Path, progress: bool, timeout: float) -> None:
    md5 = hashlib.md5(usedforsecurity=False)  # the list publishes MD5 only
    sha256 = hashlib.sha256()  # logged, for anyone pinning the archive more strongly
    received = 0
    try:
        with (
            httpx.stream("GET", entry.url, timeout=timeout, follow_redirects=True) as response,
            dest.open("wb") as out,
            tqdm(
                total=entry.size,
                unit="B",
                unit_scale=True,
                desc=entry.name,
                disable=not progress,
            ) as bar,
        ):
            response.raise_for_status()
            for chunk in response.iter_bytes(_CHUNK):
                out.write(chunk)
                md5.update(chunk)
                sha256.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
                if entry.size is not None and received > entry.size:
                    break  # already wrong: stop rather than fill the disk
    except httpx.HTTPError as exc:
        raise InstallError(f"download of {entry.url} failed: {exc}") from exc
    if entry.size is not None and received != entry.size:
        raise InstallError(
            f"size mismatch for {entry.name}: got {received} bytes, the list says {entry.size}"
        )
    if md5.hexdigest() != entry.md5:
        raise InstallError(
            f"MD5 mismatch for {entry.name}: got {md5.hexdigest()}, the list says {entry.md5}"
        )
    log_event(
        logger,
        "vosk model downloaded",
        name=entry.name,
        bytes=received,
        md5=md5.hexdigest(),
        sha256=sha256.hexdigest(),
    )


def _safe_extract(archive: Path, dest: Path) -> None:
    """Unzip, refusing any entry that could land outside `dest` (zip-slip)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            for member in members:
                _check_member(member)
            root = dest.resolve()
            for member in members:
                path = (root / member.filename).resolve()
                if not path.is_relative_to(root):  # belt and braces after _check_member
                    raise InstallError(f"unsafe path in the archive: {member.filename!r}")
                zf.extract(member, root)
    except zipfile.BadZipFile as exc:
        raise InstallError(f"the download is not a valid zip archive: {exc}") from exc


def _check_member(member: zipfile.ZipInfo) -> None:
    name = member.filename.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or re.match(r"[A-Za-z]:", name) or ".." in parts or "\0" in name:
        raise InstallError(f"unsafe path in the archive: {member.filename!r}")
    # zipfile writes a symlink entry as a plain file, but a model never needs one.
    if stat.S_ISLNK(member.external_attr >> 16):
        raise InstallError(f"symbolic link in the archive: {member.filename!r}")


def _model_root(unpacked: Path) -> Path:
    """The archive's single top folder (named like the model), or the whole tree."""
    top = [p for p in unpacked.iterdir() if p.name != "__MACOSX"]
    if len(top) == 1 and top[0].is_dir():
        return top[0]
    if not top:
        raise InstallError("the archive is empty")
    return unpacked


def _replace(source: Path, target: Path) -> None:
    if not target.exists():
        os.replace(source, target)
        return
    # --force: swap the new folder in by renames, then delete the old one.
    old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old."))
    os.replace(target, old / target.name)
    os.replace(source, target)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _temp_file(directory: Path, prefix: str, suffix: str) -> Iterator[Path]:
    handle, name = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=suffix)
    os.close(handle)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


@contextlib.contextmanager
def _temp_dir(directory: Path, prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(dir=directory, prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _with_url(entry: ModelEntry, url: str) -> ModelEntry:
    return dataclasses.replace(entry, url=url)
