"""A private PostgreSQL server for fault tests that stop the database: the machine's
shared PostgreSQL is never touched. initdb into a temporary folder, started on a free
port with its socket in that folder; as root the server runs as the `postgres` user
(PostgreSQL refuses to run as root)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.server import free_port

BINDIRS = [Path(f"/usr/lib/postgresql/{v}/bin") for v in (17, 16, 15, 14, 13)]


def find_bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    return next((d for d in BINDIRS if (d / "pg_ctl").exists()), None)


def why_not_available() -> str | None:
    """None when a private server can be run here, else the reason (for a skip)."""
    if find_bindir() is None:
        return "no PostgreSQL server binaries (pg_ctl, initdb) on this machine"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user to run the server as"
        if shutil.which("runuser") is None:
            return "running as root without `runuser` to drop to the postgres user"
    return None


@dataclass
class PrivatePostgres:
    bindir: Path
    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl", "-D", str(self.directory / "data"), "-o", options,
            "-l", str(self.directory / "postgres.log"), "-w", "start",
        )  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        """`immediate`: what a crash looks like to clients (no goodbye, connections cut)."""
        self._run("pg_ctl", "-D", str(self.directory / "data"), "-m", mode, "-w", "stop")


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    bindir = find_bindir()
    assert bindir is not None
    directory = Path(tempfile.mkdtemp(prefix="tact-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")
    server = PrivatePostgres(bindir, directory, free_port())
    try:
        server._run(
            "initdb", "-D", str(directory / "data"), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        server.start()
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)
