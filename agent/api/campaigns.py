"""Outbound campaigns: created and steered by supervisors, read by every role of the
tenant; and the landing address of the chat links campaigns send by text."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query
from fastapi.responses import RedirectResponse

from agent.api.deps import ServicesDep
from agent.auth.deps import ReaderDep, SupervisorDep
from agent.campaigns.messages import LINK_PATH
from agent.campaigns.service import Action
from agent.campaigns.spec import CampaignSpec

router = APIRouter(tags=["campaigns"])
# A database integer: a larger id cannot exist, and must not reach the driver.
CampaignId = Annotated[int, Path(ge=1, le=2**63 - 1)]
ACTIONS: tuple[Action, ...] = ("start", "pause", "resume", "stop")


@router.post("/v1/campaigns", status_code=201)
async def create_campaign(
    spec: CampaignSpec, principal: SupervisorDep, services: ServicesDep
) -> dict[str, Any]:
    """A draft campaign over the selected accounts of the caller's tenant (start it with
    POST /v1/campaigns/{id}/start). Accounts that could never be contacted are left out
    and counted in `left_out`."""
    return await services.campaigns.create(spec, principal.tenant, principal.username)


@router.get("/v1/campaigns")
async def list_campaigns(principal: ReaderDep, services: ServicesDep) -> dict[str, Any]:
    return {"campaigns": await services.campaigns.all(principal.tenant)}


@router.get("/v1/campaigns/{campaign_id}")
async def get_campaign(
    campaign_id: CampaignId, principal: ReaderDep, services: ServicesDep
) -> dict[str, Any]:
    return await services.campaigns.view(campaign_id, principal.tenant)


@router.get("/v1/campaigns/{campaign_id}/targets")
async def campaign_targets(
    campaign_id: CampaignId,
    principal: ReaderDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    targets = await services.campaigns.targets(campaign_id, principal.tenant, limit, offset)
    return {"campaign_id": campaign_id, "targets": targets}


def _steer(action: Action) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def steer(
        campaign_id: CampaignId, principal: SupervisorDep, services: ServicesDep
    ) -> dict[str, Any]:
        return await services.campaigns.act(
            campaign_id, principal.tenant, action, principal.username
        )

    steer.__doc__ = f"{action.capitalize()} the campaign (409 when its status does not allow it)."
    return steer


# One route per action, so any other path under a campaign is a 404/405, not a 422.
for _action in ACTIONS:
    router.add_api_route(
        f"/v1/campaigns/{{campaign_id}}/{_action}",
        _steer(_action),
        methods=["POST"],
        name=f"{_action}_campaign",
    )


@router.get(LINK_PATH + "{token}", include_in_schema=False)
async def open_chat_link(token: str, services: ServicesDep) -> RedirectResponse:
    """A texted chat link: the chat page for that account, which verifies identity
    before anything about the account is said (an unknown token is a 404)."""
    account_ref, locale, _ = await services.campaigns.link(token)
    query = urlencode({"account": account_ref, "locale": locale, "link": token})
    return RedirectResponse(f"/?{query}", status_code=303)
