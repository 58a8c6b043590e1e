"""The distributed mode as a whole, small: 2 API replicas + 2 procrastinate workers on
a fresh PostgreSQL database and the local Redis, two overlapping campaigns against the
fake gateway (bench/distributed.py; `python -m bench.distributed` runs it at 1,000)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.postgres


def test_two_replicas_and_two_workers_run_campaigns_within_every_rule() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.distributed",
            "--accounts",
            "60",
            "--max-concurrent",
            "15",
            "--analyzer",
            "lexicon",  # the replicas only open conversations here: no model needed
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode in (0, 1), run.stderr[-3000:]
    summary = json.loads(run.stdout)
    assert summary["failures"] == [] and summary["ok"], summary
    # It really dialled: calls were placed and answered, and nothing is left open.
    assert summary["calls"] >= 60 and summary["conversations"] > 0
    assert set(summary["targets"]) <= {"done", "exhausted", "expired", "stopped"}
    assert sum(summary["targets"].values()) == 60 + 12  # both campaigns' targets
    # The second campaign wants debtors the first is calling: refusals happen, counted.
    assert summary["refusals_by_rule"]
