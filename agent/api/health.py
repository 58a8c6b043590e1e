from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from agent import __version__
from agent.api.deps import ServicesDep
from agent.errors import Unavailable

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(services: ServicesDep) -> dict[str, Any]:
    try:
        async with services.store.read() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:
        raise Unavailable("store_unavailable", "the database does not answer") from exc
    return {
        "status": "ok",
        "version": __version__,
        "database": services.store.engine.dialect.name,
        "policy": services.settings.default_policy,
    }
