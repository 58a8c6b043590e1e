"""All routers, aggregated in one place."""

from fastapi import APIRouter

from agent.api import audit, chat, compliance, conversations, health

api_router = APIRouter()
for module in (health, chat, conversations, audit, compliance):
    api_router.include_router(module.router)
