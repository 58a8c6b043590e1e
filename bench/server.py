"""What the service benchmarks share: the service as a real process on a free
loopback port, percentiles, and the machine they ran on."""

from __future__ import annotations

import math
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(
    data_dir: Path, log_path: Path, env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], str]:
    """`agent serve` with SQLite in `data_dir` and `env` on top; returns once /healthz
    answers. The caller terminates the process."""
    port = free_port()
    full_env = {**os.environ, "AGENT_DATA_DIR": str(data_dir), "AGENT_PORT": str(port), **env}
    with log_path.open("ab") as log:  # the child keeps its own descriptor
        server = subprocess.Popen(
            [sys.executable, "-m", "agent", "serve"], env=full_env, stdout=log, stderr=log
        )
    host = f"127.0.0.1:{port}"
    for _ in range(1200):
        try:
            if httpx.get(f"http://{host}/healthz").status_code == 200:
                return server, host
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"server did not start; see {log_path}")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)] if ordered else 0.0


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"
