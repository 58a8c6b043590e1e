"""The campaign dialer's two steps, shared by every way of running it.

`claim_due` (the tick) settles targets whose call has ended, then hands out as many
due targets as each running campaign's pacing allows, marking them `queued`.
`contact` makes one attempt for one queued target: the contact rules first (through
`ContactService.reserve`, which audits every decision), then the gateway.

Both run in the embedded default (a task in the API process, `LocalDialer`) and in
the distributed mode (procrastinate jobs in `agent worker` processes); the database
rows and their locks are what keep them correct when several run at once: the tick
locks each campaign row, `contact` locks its target row, and the contact rules lock
the debtor row.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.campaigns.messages import chat_link, link_text
from agent.campaigns.spec import RETRY_OUTCOMES, CampaignSpec
from agent.compliance.audit import AuditChain
from agent.compliance.contact import CALL_IN_PROGRESS_WINDOW, ONE_CALL_RULE, ContactDecision
from agent.compliance.contact_service import ContactService
from agent.errors import ServiceError
from agent.logs import log_event
from agent.pipeline import Clock
from agent.settings import Settings
from agent.store.database import utc
from agent.store.models import Account, Call, Campaign, CampaignTarget, Debtor
from agent.store.store import Store
from agent.telephony.calls import CallRegistry
from agent.telephony.dialing import place
from agent.telephony.lookup import debtor_numbers
from agent.telephony.status import FINAL_STATUSES, ContactRefused, contact_outcome
from agent.telephony.texts import deliver_text

log = logging.getLogger("agent.campaigns")

FINAL = frozenset({"done", "stopped", "exhausted", "expired"})
IN_FLIGHT = ("queued", "in_contact")
# A queued target whose job never ran (a worker died before taking it) goes back to
# pending after this long; the contact rules still stop a double call if it did run.
QUEUE_LEASE = dt.timedelta(minutes=5)
# A refusal defers the target at least this long, so a rule that reopens "now" (a
# call that just ended) is not retried in a tight loop.
MIN_DEFER = dt.timedelta(seconds=1)
ONE_CALL_RECHECK = dt.timedelta(seconds=30)


@dataclass(frozen=True)
class Job:
    target_id: int
    debtor_id: int


class CampaignEngine:
    def __init__(
        self,
        store: Store,
        contacts: ContactService,
        calls: CallRegistry,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self.store = store
        self.contacts = contacts
        self.calls = calls
        self.settings = settings
        self.clock = clock

    # -- the tick -------------------------------------------------------------------------

    async def claim_due(self) -> list[Job]:
        now = self.clock()
        jobs: list[Job] = []
        async with self.store.read() as session:
            # Most ticks find nothing running: no write transaction for those.
            found = await session.execute(
                select(Campaign.id).where(Campaign.status == "running").limit(1)
            )
            if found.first() is None:
                return jobs
        async with self.store.write() as session:
            running = select(Campaign).where(Campaign.status == "running").order_by(Campaign.id)
            for campaign in (await session.execute(running.with_for_update())).scalars():
                jobs.extend(await self._tick(session, campaign, now))
        return jobs

    async def _tick(self, session: AsyncSession, campaign: Campaign, now: dt.datetime) -> list[Job]:
        spec = CampaignSpec.model_validate(campaign.spec)
        await self._settle_ended_calls(session, campaign, spec, now)
        await self._release_stale(session, campaign, spec, now)
        schedule = spec.schedule
        if schedule.end_at is not None and now >= schedule.end_at:
            await self._expire(session, campaign.id)
        if schedule.start_at is not None and now < schedule.start_at:
            return []
        counts = await status_counts(session, campaign.id)
        if not any(counts.get(status) for status in ("pending", *IN_FLIGHT)):
            await set_status(session, campaign, "completed", now, counts=counts)
            return []
        free = spec.max_concurrent - sum(counts.get(s, 0) for s in IN_FLIGHT)
        if free <= 0:
            return []
        due = (
            select(CampaignTarget)
            .where(
                CampaignTarget.campaign_id == campaign.id,
                CampaignTarget.status == "pending",
                CampaignTarget.next_at <= now,
            )
            .order_by(CampaignTarget.next_at, CampaignTarget.id)
            .limit(free)
        )
        jobs = []
        for target in (await session.execute(due)).scalars():
            target.status, target.updated_at = "queued", now
            jobs.append(Job(target.id, target.debtor_id))
        return jobs

    async def _settle_ended_calls(
        self, session: AsyncSession, campaign: Campaign, spec: CampaignSpec, now: dt.datetime
    ) -> None:
        rows = await session.execute(
            select(CampaignTarget, Call)
            .join(Call, Call.id == CampaignTarget.call_id)
            .where(CampaignTarget.campaign_id == campaign.id, CampaignTarget.status == "in_contact")
        )
        for target, call in rows.all():
            if call.status in FINAL_STATUSES:
                _after_attempt(target, contact_outcome(call.status, call.answered_by), spec, now)
            elif utc(call.updated_at) < now - CALL_IN_PROGRESS_WINDOW:
                # The gateway never reported an end: treat it as failed (retried).
                _after_attempt(target, "failed", spec, now)

    @staticmethod
    async def _release_stale(
        session: AsyncSession, campaign: Campaign, spec: CampaignSpec, now: dt.datetime
    ) -> None:
        """Targets a dead worker left behind: a job never run goes back to pending; a
        text whose sending never finished counts as a failed attempt."""
        stale = select(CampaignTarget).where(
            CampaignTarget.campaign_id == campaign.id,
            CampaignTarget.status.in_(IN_FLIGHT),
            CampaignTarget.call_id.is_(None),
            CampaignTarget.updated_at < now - QUEUE_LEASE,
        )
        for target in (await session.execute(stale)).scalars():
            if target.status == "queued":
                target.status, target.updated_at = "pending", now
            else:
                _after_attempt(target, "failed", spec, now)

    @staticmethod
    async def _expire(session: AsyncSession, campaign_id: int) -> None:
        """The schedule has ended: pending targets can no longer be contacted."""
        query = select(CampaignTarget).where(
            CampaignTarget.campaign_id == campaign_id, CampaignTarget.status == "pending"
        )
        for target in (await session.execute(query)).scalars():
            target.status = "expired"

    # -- one attempt ----------------------------------------------------------------------

    async def contact(self, target_id: int) -> str:
        """One attempt for a queued target; returns what happened (for logs and tests).
        A duplicate job (the target is no longer queued) does nothing."""
        now = self.clock()
        async with self.store.write() as session:
            target = await session.get(CampaignTarget, target_id, with_for_update=True)
            if target is None or target.status != "queued":
                return "skipped"
            campaign = await session.get(Campaign, target.campaign_id)
            account = await session.get(Account, target.account_id)
            debtor = await session.get(Debtor, target.debtor_id)
            if campaign is None or account is None or debtor is None:
                return "skipped"
            if campaign.status != "running":
                target.status = "pending" if campaign.status == "paused" else "expired"
                return "not_running"
            spec = CampaignSpec.model_validate(campaign.spec)
            numbers = debtor_numbers(debtor)
            if not numbers:
                target.status, target.last_outcome = "stopped", "no_phone_number"
                return "no_phone_number"
        if spec.channel == "sms":
            return await self._text(target_id, campaign, spec, account, numbers[0], now)
        return await self._call(target_id, campaign, spec, account.account_ref, now)

    async def _call(
        self,
        target_id: int,
        campaign: Campaign,
        spec: CampaignSpec,
        account_ref: str,
        now: dt.datetime,
    ) -> str:
        try:
            call = await self.calls.create_outbound(account_ref, spec.call_mode, campaign.id)
        except ContactRefused as refused:
            return await self._refused(target_id, spec, refused.decision, now)
        async with self.store.write() as session:
            target = await session.get(CampaignTarget, target_id, with_for_update=True)
            if target is not None:
                target.status, target.call_id = "in_contact", call.id
                target.attempts += 1
                target.updated_at = now
        try:
            await place(self.calls, self.settings, call, self._public_base())
        except ServiceError as exc:
            # `place` closed the call as failed; the next tick settles the target.
            log_event(log, "campaign_dial_failed", logging.WARNING, call_id=call.id, code=exc.code)
            return "dial_failed"
        return "dialled"

    async def _text(
        self,
        target_id: int,
        campaign: Campaign,
        spec: CampaignSpec,
        account: Account,
        number: str,
        now: dt.datetime,
    ) -> str:
        reservation = await self.contacts.reserve(
            account.account_ref, "sms", now, number, campaign_id=campaign.id
        )
        if not reservation.decision.allowed or reservation.attempt_id is None:
            return await self._refused(target_id, spec, reservation.decision, now)
        token = secrets.token_urlsafe(18)
        async with self.store.write() as session:
            target = await session.get(CampaignTarget, target_id, with_for_update=True)
            debtor = await session.get(Debtor, account.debtor_id)
            if target is not None:
                target.link_token, target.attempts = token, target.attempts + 1
                target.status, target.updated_at = "in_contact", now
        locale = debtor.preferred_locale if debtor else "en-US"
        body = link_text(locale, self.settings.business_name, chat_link(self.settings, token))
        outcome = await deliver_text(
            self.contacts, self.settings, self.clock, reservation.attempt_id, number, body
        )
        async with self.store.write() as session:
            target = await session.get(CampaignTarget, target_id, with_for_update=True)
            if target is not None:
                _after_attempt(target, outcome, spec, self.clock())
        return outcome

    async def _refused(
        self, target_id: int, spec: CampaignSpec, decision: ContactDecision, now: dt.datetime
    ) -> str:
        async with self.store.write() as session:
            target = await session.get(CampaignTarget, target_id, with_for_update=True)
            if target is None:
                return "refused"
            target.refusals += 1
            target.last_rules = decision.rules
            target.last_outcome = "refused"
            target.updated_at = now
            reopens = decision.next_allowed_at
            if reopens is not None and decision.rules == [ONE_CALL_RULE]:
                # The rules assume the other call lasts its whole window; it usually
                # ends in minutes, so look again soon.
                reopens = min(reopens, now + ONE_CALL_RECHECK)
            end = spec.schedule.end_at
            if reopens is None:
                target.status = "stopped"  # a blocking flag: no contact until it is lifted
            elif end is not None and reopens >= end:
                target.status = "expired"
            else:
                target.status, target.next_at = "pending", max(reopens, now + MIN_DEFER)
        return "refused"

    def _public_base(self) -> str:
        return self.settings.public_base_url.rstrip("/")


def _after_attempt(
    target: CampaignTarget, outcome: str, spec: CampaignSpec, now: dt.datetime
) -> None:
    target.last_outcome, target.updated_at = outcome, now
    if outcome not in RETRY_OUTCOMES:
        target.status = "done"
    elif target.attempts >= spec.retries.max_attempts:
        target.status = "exhausted"
    else:
        target.status = "pending"
        target.next_at = now + spec.retries.delay(target.attempts)


async def status_counts(session: AsyncSession, campaign_id: int) -> dict[str, int]:
    rows = await session.execute(
        select(CampaignTarget.status, func.count())
        .where(CampaignTarget.campaign_id == campaign_id)
        .group_by(CampaignTarget.status)
    )
    return {status: int(count) for status, count in rows.all()}


async def set_status(
    session: AsyncSession,
    campaign: Campaign,
    status: str,
    now: dt.datetime,
    **details: object,
) -> None:
    campaign.status, campaign.updated_at = status, now
    chain = await AuditChain.open(session)
    chain.append(f"campaign.{status}", None, {"campaign_id": campaign.id, **details})
    await chain.close()
    log_event(log, f"campaign_{status}", campaign_id=campaign.id)
