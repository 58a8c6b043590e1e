"""Dialer throughput: contacts placed per second by 2 procrastinate workers (with 2 API
replicas taking the gateway's callbacks), on the local PostgreSQL.

    python -m bench.dialer [--accounts 1000]

One campaign pass over N accounts with pacing out of the way (max_concurrent = N), one
attempt each, and calls that end within 0.1 s, so the figure is the dialer's own rate:
tick, contact rules (a locked debtor row and an audited decision per contact), call row,
REST request to the gateway. It runs the distributed drill (bench/distributed.py), so
the same checks (caps, overlaps, log, chain) must hold for the figure to count.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile

from bench.distributed import drill, parser_for


def measure(accounts: int) -> dict[str, object]:
    args = parser_for().parse_args(
        [
            "--accounts", str(accounts),
            "--max-concurrent", str(accounts),
            "--max-attempts", "1",
            "--call-s", "0.1",
            "--analyzer", "lexicon",
            "--logs", tempfile.mkdtemp(prefix="tact-dialer-"),
        ]
    )  # fmt: skip
    checks = asyncio.run(drill(args))
    return {"ok": not checks.failures, "failures": checks.failures, **checks.facts}


def report_lines(quick: bool) -> list[str]:
    """Markdown lines for `python -m bench`."""
    accounts = 200 if quick else 1000
    facts = measure(accounts)
    return [
        "| accounts | calls placed | calls/s (first to last) | wall s | checks |",
        "|---:|---:|---:|---:|---|",
        f"| {accounts} | {facts['calls']} | {facts['calls_per_s']} | {facts['seconds']} | "
        f"{'all passed' if facts['ok'] else facts['failures']} |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1000)
    args = parser.parse_args()
    for key, value in measure(args.accounts).items():
        print(f"{key:>24}: {value}")


if __name__ == "__main__":
    main()
