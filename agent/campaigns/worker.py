"""The distributed dialer: campaign jobs on procrastinate (PostgreSQL), run by
`agent worker` processes beside any number of API replicas.

Why procrastinate: its jobs live in the PostgreSQL database the service already
needs (no broker to run), it has per-key locks (`lock`: jobs sharing one run one at
a time, across every worker: here one per debtor), queueing locks (`queueing_lock`:
at most one waiting job per key: here one per target), periodic jobs that exactly one
worker defers per period (the tick), and retries with back-off for transient errors.

Jobs:
- `tact.campaign_tick` (every `AGENT_DIALER_TICK_S` seconds, rounded to whole
  seconds): settles ended calls and defers one contact job per due target;
- `tact.campaign_contact`: one attempt for one target (CampaignEngine.contact);
- `tact.call_reconcile` (every minute): asks the gateway about calls whose final
  status never arrived (agent/telephony/reconcile.py).
The campaign rows stay the source of truth; the jobs only carry target ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
from dataclasses import dataclass, field
from typing import Any

import procrastinate
import psycopg
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.schema import SchemaManager
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from agent.campaigns.engine import CampaignEngine, Job
from agent.compliance.contact_service import ContactService
from agent.compliance.packs import PackLibrary
from agent.logs import log_event
from agent.pipeline import Clock, system_clock
from agent.settings import Settings
from agent.store.store import Store
from agent.telephony.calls import CallRegistry
from agent.telephony.reconcile import reconcile_calls

log = logging.getLogger("agent.campaigns.worker")

TICK_TASK = "tact.campaign_tick"
CONTACT_TASK = "tact.campaign_contact"
RECONCILE_TASK = "tact.call_reconcile"
QUEUES = ["dialer_tick", "dialer"]
SCHEMA_LOCK = 7201  # the advisory lock key guarding the schema's creation
# Transient store errors (a failover, a restart) are retried; anything else is a bug
# that retrying would only repeat.
RETRY = procrastinate.RetryStrategy(
    max_attempts=5, exponential_wait=1, retry_exceptions={OperationalError, OSError}
)


def conninfo(database_url: str) -> str:
    """The libpq URI of the service's SQLAlchemy URL (procrastinate speaks psycopg 3)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError("the distributed dialer needs PostgreSQL (AGENT_DATABASE_URL)")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def tick_cron(tick_s: float) -> str:
    """A six-field cron (seconds last, croniter's form) firing every `tick_s` seconds."""
    seconds = max(1, min(59, math.ceil(tick_s)))
    return "* * * * * *" if seconds == 1 else f"* * * * * */{seconds}"


@dataclass
class _Parts:
    """The worker's share of the service, built on first use inside the worker's loop."""

    settings: Settings
    clock: Clock
    engine: CampaignEngine | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def get(self) -> CampaignEngine:
        async with self.lock:
            if self.engine is None:
                store = await Store.open(self.settings.database_url)
                contacts = ContactService(store, PackLibrary())
                # A dialer never holds a conversation: no pipeline (no model to load).
                calls = CallRegistry(store, contacts, None, self.settings, self.clock)
                self.engine = CampaignEngine(store, contacts, calls, self.settings, self.clock)
            return self.engine

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.store.close()


def build_app(settings: Settings, clock: Clock = system_clock) -> tuple[procrastinate.App, _Parts]:
    parts = _Parts(settings, clock)
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=conninfo(settings.database_url))
    )

    @app.task(name=CONTACT_TASK, queue="dialer", retry=RETRY)
    async def contact(target_id: int) -> str:
        result = await (await parts.get()).contact(target_id)
        log_event(log, "campaign_contact", target_id=target_id, result=result)
        return result

    @app.periodic(cron=tick_cron(settings.dialer_tick_s), periodic_id="campaigns")
    @app.task(name=TICK_TASK, queue="dialer_tick", queueing_lock="campaign_tick")
    async def tick(timestamp: int) -> int:
        jobs = await (await parts.get()).claim_due()
        await defer_contacts(contact, jobs)
        return len(jobs)

    @app.periodic(cron="* * * * *", periodic_id="calls")
    @app.task(name=RECONCILE_TASK, queue="dialer_tick", queueing_lock="call_reconcile")
    async def reconcile(timestamp: int) -> int:
        engine = await parts.get()
        return len(await reconcile_calls(engine.calls, parts.settings))

    return app, parts


async def defer_contacts(task: Any, jobs: list[Job]) -> None:
    for job in jobs:
        # A job already waiting for this target (queueing lock) will do.
        with contextlib.suppress(AlreadyEnqueued):
            await task.configure(
                lock=f"debtor:{job.debtor_id}", queueing_lock=f"target:{job.target_id}"
            ).defer_async(target_id=job.target_id)


async def ensure_schema(database_url: str) -> None:
    """Apply procrastinate's tables once. Several workers starting together take turns
    on a PostgreSQL advisory lock held by one dedicated connection."""
    async with await psycopg.AsyncConnection.connect(
        conninfo(database_url), autocommit=True
    ) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        try:
            cursor = await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
            row = await cursor.fetchone()
            if not (row and row[0]):
                await conn.execute(SchemaManager.get_schema())
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))


async def run_worker(settings: Settings, concurrency: int, name: str | None = None) -> None:
    app, parts = build_app(settings)
    await ensure_schema(settings.database_url)
    async with app.open_async():
        worker = name or f"dialer-{socket.gethostname()}"
        log_event(log, "worker_started", name=worker, concurrency=concurrency)
        try:
            await app.run_worker_async(queues=QUEUES, concurrency=concurrency, name=worker)
        finally:
            await parts.close()
