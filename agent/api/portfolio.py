"""`POST /v1/portfolio/import`: a CSV or JSON body of accounts, for the caller's tenant."""

from __future__ import annotations

from fastapi import APIRouter, Request

from agent.api.deps import ServicesDep
from agent.auth.deps import ActorDep
from agent.errors import InvalidInput
from agent.portfolio.importer import Format, import_portfolio

router = APIRouter(tags=["portfolio"])

JSON_TYPES = (
    "application/json",
    "application/x-ndjson",
    "application/jsonl",
    "application/x-jsonlines",
)


@router.post("/v1/portfolio/import")
async def import_accounts(
    request: Request, services: ServicesDep, principal: ActorDep, tenant: str | None = None
) -> dict[str, object]:
    """Rows go to the signed-in principal's tenant; a `tenant` query or column naming
    another tenant is ignored."""
    del tenant  # accepted for symmetry with the CLI; the principal decides
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt: Format
    if media in ("text/csv", "application/csv"):
        fmt = "csv"
    elif media in JSON_TYPES:
        fmt = "json"
    else:
        raise InvalidInput("unsupported_media_type", "send text/csv or application/json")
    try:
        text = (await request.body()).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("portfolio_unreadable", "the body is not UTF-8") from None
    report = await import_portfolio(services.store, text, fmt, principal.tenant)
    return report.as_dict()
