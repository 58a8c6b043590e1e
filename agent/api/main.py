"""All routers, aggregated in one place."""

from fastapi import APIRouter

from agent.api import audit, chat, compliance, conversations, health, metrics, telephony
from agent.telephony import media_stream

api_router = APIRouter()
for module in (health, chat, conversations, audit, compliance, telephony, metrics, media_stream):
    api_router.include_router(module.router)
