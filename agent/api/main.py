"""All routers, aggregated in one place."""

from fastapi import APIRouter

from agent.api import (
    analytics,
    assist,
    audit,
    auth,
    campaigns,
    chat,
    compliance,
    conversations,
    health,
    metrics,
    numbers,
    payments,
    portfolio,
    telephony,
    web,
)
from agent.telephony import media_stream

api_router = APIRouter()
for module in (
    health,
    auth,
    chat,
    conversations,
    audit,
    compliance,
    numbers,
    telephony,
    metrics,
    media_stream,
    assist,
    portfolio,
    payments,
    analytics,
    campaigns,
):
    api_router.include_router(module.router)
# The pages and their static files (no /v1 prefix: browsers load them directly).
api_router.include_router(web.router)
