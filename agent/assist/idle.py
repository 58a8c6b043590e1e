"""The idle round: a chat a person took over and then left the debtor waiting in goes back
to the bot, which answers, even when the debtor does not write again.

Every `every_s` seconds (a quarter of the limit, at most 30 s) each replica looks for open
conversations someone holds whose debtor has waited longer than AGENT_TAKEOVER_IDLE_SECONDS
and has the pipeline answer them (`TurnPipeline.answer_waiting`). A round that sees a
debtor who will come due before the next round wakes for them instead, so nobody waits
much past the limit (the interval only bounds how late a new wait is noticed, and it is
shorter than the limit). Replicas need no other
coordination: the answer commits only while the conversation row, locked, still has the
same holder and turn count, so of two replicas racing for one conversation the second
gets a conflict and leaves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from typing import TYPE_CHECKING

from agent.assist.takeover import waited_too_long
from agent.errors import ServiceError
from agent.logs import log_event
from agent.store import repository

if TYPE_CHECKING:
    from agent.pipeline import TurnPipeline

log = logging.getLogger("agent.assist.idle")


# A round woken for a debtor comes this long after they are due (the rule is "longer than").
PAST_DUE_S = 0.5


def round_interval(limit: dt.timedelta) -> float:
    """Seconds between rounds when nobody is about to come due."""
    return min(30.0, max(1.0, limit.total_seconds() / 4))


class IdleRound:
    def __init__(self, pipeline: TurnPipeline, every_s: float) -> None:
        self.pipeline = pipeline
        self.every_s = every_s
        self._task: asyncio.Task[None] | None = None
        self._next_due: dt.datetime | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="takeover-idle-round")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run_once(self) -> list[str]:
        """One round; returns the conversations given back to the bot (tests call this)."""
        async with self.pipeline.store.read() as session:
            held = await repository.held_conversations(session)
            waiting = await repository.waiting_since(session, held)
        # Only these are worth the pipeline's lock; it checks everything again under it.
        now, limit = self.pipeline.clock(), self.pipeline.takeover_idle
        due = sorted(c for c, since in waiting.items() if waited_too_long(since, now, limit))
        self._next_due = min(
            (since + limit for since in waiting.values() if limit and since + limit >= now),
            default=None,
        )
        released = []
        for conversation_id in due:
            try:
                if await self.pipeline.answer_waiting(conversation_id):
                    released.append(conversation_id)
            except ServiceError as exc:  # another replica's answer, a takeover meanwhile
                log_event(
                    log, "idle_answer_skipped", conversation_id=conversation_id, error=exc.code
                )
        return released

    def pause(self) -> float:
        """Seconds to the next round: the interval, or less when the last round saw a
        debtor who comes due sooner."""
        if self._next_due is None:
            return self.every_s
        until_due = (self._next_due - self.pipeline.clock()).total_seconds() + PAST_DUE_S
        return min(self.every_s, max(PAST_DUE_S, until_due))

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.pause())
            try:
                await self.run_once()
            except Exception as exc:  # the next round tries again; the service stays up
                log_event(log, "idle_round_failed", logging.ERROR, error=repr(exc))
