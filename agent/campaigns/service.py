"""Creating and steering campaigns, and reading where they stand (API and CLI)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.campaigns.engine import FINAL, set_status, status_counts
from agent.campaigns.selection import select_targets
from agent.campaigns.spec import CampaignSpec
from agent.compliance.audit import AuditChain
from agent.compliance.packs import PackLibrary
from agent.errors import Conflict, InvalidInput, NotFound, Unavailable
from agent.pipeline import Clock
from agent.settings import Settings
from agent.store.models import Account, Campaign, CampaignTarget, Debtor
from agent.store.store import Store
from agent.telephony.twilio_rest import configured

Action = Literal["start", "pause", "resume", "stop"]
# Which actions each status allows, and the status they lead to.
TRANSITIONS: dict[str, dict[str, str]] = {
    "draft": {"start": "running", "stop": "stopped"},
    "running": {"pause": "paused", "stop": "stopped"},
    "paused": {"resume": "running", "stop": "stopped"},
}


class Campaigns:
    def __init__(
        self, store: Store, packs: PackLibrary, settings: Settings, policies: set[str], clock: Clock
    ) -> None:
        self.store = store
        self.packs = packs
        self.settings = settings
        self.policies = policies
        self.clock = clock

    async def create(self, spec: CampaignSpec, tenant: str, created_by: str) -> dict[str, Any]:
        policy = spec.policy or self.settings.default_policy
        if policy not in self.policies:
            raise InvalidInput(
                "unknown_policy", f"policy {policy!r} is not one of {sorted(self.policies)}"
            )
        now = self.clock()
        first = spec.schedule.start_at or now
        async with self.store.write() as session:
            selected = await select_targets(session, tenant, spec.selection, self.packs, now)
            if not selected.chosen:
                raise InvalidInput(
                    "empty_selection",
                    "no account matches the selection",
                    left_out=dict(selected.left_out),
                )
            campaign = Campaign(
                tenant=tenant,
                name=spec.name,
                channel=spec.channel,
                policy_id=policy,
                spec=spec.model_dump(mode="json"),
                status="draft",
                created_by=created_by,
                created_at=now,
                updated_at=now,
            )
            session.add(campaign)
            await session.flush()
            session.add_all(
                CampaignTarget(
                    campaign_id=campaign.id,
                    account_id=chosen.account_id,
                    debtor_id=chosen.debtor_id,
                    status="pending",
                    next_at=first,
                    attempts=0,
                    refusals=0,
                    last_rules=[],
                    updated_at=now,
                )
                for chosen in selected.chosen
            )
            chain = await AuditChain.open(session)
            chain.append(
                "campaign.created",
                None,
                {
                    "campaign_id": campaign.id,
                    "tenant": tenant,
                    "created_by": created_by,
                    "targets": len(selected.chosen),
                    "left_out": dict(selected.left_out),
                    "spec": campaign.spec,
                },
            )
            await chain.close()
            campaign_id = campaign.id
        view = await self.view(campaign_id, tenant)
        view["left_out"] = dict(selected.left_out)
        return view

    async def act(self, campaign_id: int, tenant: str, action: Action, by: str) -> dict[str, Any]:
        async with self.store.write() as session:
            campaign = await self._require(campaign_id, tenant, session, lock=True)
            target = TRANSITIONS.get(campaign.status, {}).get(action)
            if target is None:
                raise Conflict("bad_transition", f"a {campaign.status} campaign cannot {action}")
            if target == "running":
                self._check_can_run()
            if target == "stopped":
                await _stop_pending(session, campaign_id)
            await set_status(session, campaign, target, self.clock(), by=by)
        return await self.view(campaign_id, tenant)

    async def view(self, campaign_id: int, tenant: str) -> dict[str, Any]:
        async with self.store.read() as session:
            campaign = await self._require(campaign_id, tenant, session)
            counts = await status_counts(session, campaign_id)
            totals = (
                await session.execute(
                    select(
                        func.coalesce(func.sum(CampaignTarget.attempts), 0),
                        func.coalesce(func.sum(CampaignTarget.refusals), 0),
                    ).where(CampaignTarget.campaign_id == campaign_id)
                )
            ).one()
            outcomes = await session.execute(
                select(CampaignTarget.last_outcome, func.count())
                .where(CampaignTarget.campaign_id == campaign_id)
                .group_by(CampaignTarget.last_outcome)
            )
            return {
                "campaign_id": campaign.id,
                "name": campaign.name,
                "channel": campaign.channel,
                "policy": campaign.policy_id,
                "status": campaign.status,
                "spec": campaign.spec,
                "created_by": campaign.created_by,
                "created_at": campaign.created_at.isoformat(),
                "targets": sum(counts.values()),
                "by_status": counts,
                "open": sum(n for s, n in counts.items() if s not in FINAL),
                "attempts": int(totals[0]),
                "refusals": int(totals[1]),
                "last_outcomes": {str(k): int(n) for k, n in outcomes.all() if k is not None},
            }

    async def all(self, tenant: str) -> list[dict[str, Any]]:
        async with self.store.read() as session:
            ids = (
                await session.execute(
                    select(Campaign.id).where(Campaign.tenant == tenant).order_by(Campaign.id)
                )
            ).scalars()
            found = list(ids)
        return [await self.view(campaign_id, tenant) for campaign_id in found]

    async def targets(
        self, campaign_id: int, tenant: str, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        async with self.store.read() as session:
            await self._require(campaign_id, tenant, session)
            rows = await session.execute(
                select(CampaignTarget, Account.account_ref)
                .join(Account, Account.id == CampaignTarget.account_id)
                .where(CampaignTarget.campaign_id == campaign_id)
                .order_by(CampaignTarget.id)
                .limit(limit)
                .offset(offset)
            )
            return [_target_body(target, ref) for target, ref in rows.all()]

    async def link(self, token: str) -> tuple[str, str, int]:
        """The account, locale and campaign a texted chat link opens."""
        async with self.store.read() as session:
            row = (
                await session.execute(
                    select(CampaignTarget, Account)
                    .join(Account, Account.id == CampaignTarget.account_id)
                    .where(CampaignTarget.link_token == token)
                )
            ).first()
            if row is None:
                raise NotFound("link_not_found", "this link is not known")
            target, account = row
            debtor = await session.get(Debtor, account.debtor_id)
        locale = debtor.preferred_locale if debtor is not None else "en-US"
        return account.account_ref, locale, target.campaign_id

    async def link_campaign(self, token: str | None, account_ref: str) -> int | None:
        """The campaign behind a chat link, when the link is for this very account."""
        if not token:
            return None
        try:
            linked_ref, _, campaign_id = await self.link(token)
        except NotFound:
            return None
        return campaign_id if linked_ref == account_ref else None

    def _check_can_run(self) -> None:
        """Refuse to start what could not dial: better a 503 now than a campaign that
        silently fails every attempt (texts need the same gateway account)."""
        settings = self.settings
        if settings.dialer == "off":
            raise Unavailable("dialer_off", "AGENT_DIALER is off: nothing would dial")
        if not configured(settings):
            raise Unavailable("telephony_not_configured", "the Twilio account is not configured")
        if not settings.public_base_url:
            raise Unavailable(
                "public_base_url_missing",
                "AGENT_PUBLIC_BASE_URL is needed: the gateway must reach the webhooks",
            )

    @staticmethod
    async def _require(campaign_id: int, tenant: str, session: Any, lock: bool = False) -> Campaign:
        campaign: Campaign | None = await session.get(Campaign, campaign_id, with_for_update=lock)
        # Another tenant's campaign is reported as missing, not as forbidden.
        if campaign is None or campaign.tenant != tenant:
            raise NotFound("campaign_not_found", f"no campaign {campaign_id}")
        return campaign


async def _stop_pending(session: AsyncSession, campaign_id: int) -> None:
    pending = select(CampaignTarget).where(
        CampaignTarget.campaign_id == campaign_id, CampaignTarget.status.in_(("pending", "queued"))
    )
    for target in (await session.execute(pending)).scalars():
        target.status = "stopped"


def _target_body(target: CampaignTarget, account_ref: str) -> dict[str, Any]:
    return {
        "account_ref": account_ref,
        "status": target.status,
        "attempts": target.attempts,
        "refusals": target.refusals,
        "last_outcome": target.last_outcome,
        "last_rules": target.last_rules,
        "next_at": _iso(target.next_at),
        "call_id": target.call_id,
    }


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()
