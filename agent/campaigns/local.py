"""The embedded dialer: the campaign tick as a task inside the API process, and the
round that settles calls whose final status never arrived (agent/telephony/reconcile.py).

For the default single-process service (SQLite or PostgreSQL, no worker to run). One
attempt per debtor at a time in this process (a lock per debtor); across processes
the distributed mode (agent/campaigns/worker.py) takes over. With `AGENT_DIALER=off`
only the reconcile round runs: calls placed through `POST /v1/calls` can lose their
final callback too."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from weakref import WeakValueDictionary

from agent.campaigns.engine import CampaignEngine, Job
from agent.logs import log_event
from agent.telephony.reconcile import ROUND_EVERY_S, reconcile_calls

log = logging.getLogger("agent.campaigns.local")


class LocalDialer:
    def __init__(
        self,
        engine: CampaignEngine,
        tick_s: float,
        *,
        campaigns: bool = True,
        reconcile_every_s: float = ROUND_EVERY_S,
    ) -> None:
        self.engine = engine
        self.tick_s = tick_s
        self.campaigns = campaigns
        self.reconcile_every_s = reconcile_every_s
        self._task: asyncio.Task[None] | None = None
        self._reconciler: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[str]] = set()
        self._locks: WeakValueDictionary[int, asyncio.Lock] = WeakValueDictionary()

    def start(self) -> None:
        if self.campaigns:
            self._task = asyncio.create_task(self._loop(), name="campaign-dialer")
        self._reconciler = asyncio.create_task(self._reconcile_loop(), name="call-reconciler")

    async def close(self) -> None:
        tasks = [t for t in (self._task, self._reconciler, *self._running) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def tick(self) -> list[Job]:
        """One round: claim what is due and start its attempts (tests call this)."""
        jobs = await self.engine.claim_due()
        for job in jobs:
            task = asyncio.create_task(self._attempt(job))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        return jobs

    async def drain(self) -> None:
        """Wait for every attempt started so far (tests)."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    async def _attempt(self, job: Job) -> str:
        lock = self._locks.get(job.debtor_id)
        if lock is None:
            lock = self._locks[job.debtor_id] = asyncio.Lock()
        async with lock:
            return await self.engine.contact(job.target_id)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                await self.tick()
            except Exception as exc:  # the store may be down; try again next tick
                log_event(log, "dialer_tick_failed", logging.ERROR, error=type(exc).__name__)

    async def _reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(self.reconcile_every_s)
            try:
                await reconcile_calls(self.engine.calls, self.engine.settings)
            except Exception as exc:  # the store may be down; try again next round
                log_event(log, "reconcile_round_failed", logging.ERROR, error=type(exc).__name__)
