"""Audit append rate: how many hash-chained events per second the store can commit.

    .venv/bin/python -m bench.audit_append [--events 2000] [--writers 8]
        [--backends sqlite postgres]

Opens a fresh, migrated database per backend (a SQLite file in a temporary folder; a
new database on the PostgreSQL at AGENT_TEST_POSTGRES_URL, dropped afterwards) and
appends events through `AuditChain` exactly as the pipeline does: open the chain
(locks the head row), append, move the head, commit. Measured per backend:

- one writer, one event per transaction (each commit durable: SQLite synchronous=FULL);
- one writer, three events per transaction (a chat turn: inbound + outbound + one more);
- N concurrent writers, one event per transaction (they serialise on the head row);
- `verify_chain` over everything appended (events/s), which must report ok.

Prints figures; asserts only that the chain verifies.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from agent.compliance.audit import AuditChain, verify_chain
from agent.store.store import Store
from bench.postgres import fresh_postgres_url
from bench.server import machine

# About the size of a real `turn.inbound` payload (text + analysis).
PAYLOAD = {
    "turn": 3,
    "text": "I can pay 200 dollars next Friday",
    "analysis": {
        "language": "en",
        "emotion": "calm",
        "emotion_scores": {"calm": 0.81, "positive": 0.1, "confused": 0.04, "angry": 0.02},
        "intents": ["promise_to_pay"],
        "entities": [{"type": "amount", "value": "200", "currency": "USD"}],
    },
    "flags_raised": [],
}


@dataclass
class AppendFigures:
    backend: str
    single_per_s: float
    turn_per_s: float  # events/s with three events per transaction
    concurrent_per_s: float
    writers: int
    verify_per_s: float
    events: int
    ok: bool


@contextlib.asynccontextmanager
async def fresh_store(backend: str) -> AsyncIterator[Store]:
    """A migrated store on a database nobody else uses; removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            store = await Store.open(f"sqlite+aiosqlite:///{Path(directory) / 'audit.db'}")
            try:
                yield store
            finally:
                await store.close()
        return
    async with fresh_postgres_url("tact_bench") as url:
        store = await Store.open(url)
        try:
            yield store
        finally:
            await store.close()


async def append(store: Store, events_per_transaction: int) -> None:
    async with store.write() as session:
        chain = await AuditChain.open(session)
        for _ in range(events_per_transaction):
            chain.append("bench.event", None, PAYLOAD)
        await chain.close()


async def rate(store: Store, transactions: int, per_tx: int, writers: int) -> float:
    """Events per second for `transactions` commits spread over `writers` tasks."""

    async def writer(count: int) -> None:
        for _ in range(count):
            await append(store, per_tx)

    shares = [transactions // writers + (i < transactions % writers) for i in range(writers)]
    started = time.perf_counter()
    await asyncio.gather(*(writer(n) for n in shares))
    return transactions * per_tx / (time.perf_counter() - started)


async def measure(backend: str, events: int, writers: int) -> AppendFigures:
    async with fresh_store(backend) as store:
        await rate(store, 20, 1, 1)  # warm-up: connections, statement caches
        single = await rate(store, events, 1, 1)
        turn = await rate(store, events // 3, 3, 1)
        concurrent = await rate(store, events, 1, writers)
        started = time.perf_counter()
        async with store.read() as session:
            report = await verify_chain(session)
        verify = report.events / (time.perf_counter() - started)
    return AppendFigures(
        backend, single, turn, concurrent, writers, verify, report.events, report.ok
    )


def run(
    backends: list[str], events: int = 2000, writers: int = 8
) -> tuple[list[AppendFigures], list[str]]:
    """The figures per backend, and why any backend was skipped."""
    results, skipped = [], []
    for backend in backends:
        try:
            results.append(asyncio.run(measure(backend, events, writers)))
        except OSError as exc:  # PostgreSQL not running: say so, measure the rest
            skipped.append(f"{backend}: {type(exc).__name__}: {exc}")
    return results, skipped


def table(results: list[AppendFigures]) -> list[str]:
    lines = [
        "| backend | 1 event/commit, 1 writer | 3 events/commit (a turn) | "
        "1 event/commit, concurrent writers | verify | events | chain ok |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.backend} | {r.single_per_s:.0f} ev/s | {r.turn_per_s:.0f} ev/s | "
            f"{r.concurrent_per_s:.0f} ev/s ({r.writers} writers) | {r.verify_per_s:.0f} ev/s | "
            f"{r.events} | {'yes' if r.ok else 'NO'} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000, help="events per measurement")
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()
    print(f"machine: {machine()}")
    results, skipped = run(args.backends, args.events, args.writers)
    print("\n".join(table(results)))
    for line in skipped:
        print(f"skipped {line}")
    if not all(r.ok for r in results):
        raise SystemExit("the audit chain did not verify")


if __name__ == "__main__":
    main()
