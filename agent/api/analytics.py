"""Collection analytics for the signed-in principal's tenant: JSON and a CSV download."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from agent.analytics import collection_figures, csv_rows
from agent.api.deps import ServicesDep
from agent.auth.deps import Principal, ReaderDep
from agent.errors import InvalidInput
from agent.services import Services

router = APIRouter(prefix="/v1", tags=["analytics"])
DEFAULT_DAYS = 30
MAX_DAYS = 366


def _range(today: dt.date, since: dt.date | None, until: dt.date | None) -> tuple[dt.date, dt.date]:
    until = until or today
    since = since or until - dt.timedelta(days=DEFAULT_DAYS - 1)
    if until < since:
        raise InvalidInput("bad_range", "until must not be before since")
    if (until - since).days + 1 > MAX_DAYS:
        raise InvalidInput("bad_range", f"the range may span at most {MAX_DAYS} days")
    return since, until


async def _figures(
    principal: Principal,
    services: Services,
    since: dt.date | None,
    until: dt.date | None,
    campaign: int | None,
) -> dict[str, Any]:
    today = services.pipeline.clock().astimezone(dt.UTC).date()
    start, end = _range(today, since, until)
    if campaign is not None:
        await services.campaigns.view(campaign, principal.tenant)  # 404 unless the tenant's
    async with services.store.read() as session:
        return await collection_figures(session, principal.tenant, start, end, campaign)


@router.get("/analytics")
async def analytics(
    principal: ReaderDep,
    services: ServicesDep,
    since: dt.date | None = None,
    until: dt.date | None = None,
    campaign: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> dict[str, Any]:
    """Figures per UTC day and in total, for the caller's own tenant only; `campaign`
    narrows them to one of its campaigns."""
    return await _figures(principal, services, since, until, campaign)


@router.get("/analytics.csv")
async def analytics_csv(
    principal: ReaderDep,
    services: ServicesDep,
    since: dt.date | None = None,
    until: dt.date | None = None,
    campaign: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Response:
    figures = await _figures(principal, services, since, until, campaign)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(csv_rows(figures))
    scope = f"-campaign-{campaign}" if campaign is not None else ""
    name = f"analytics{scope}-{figures['since']}-{figures['until']}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
