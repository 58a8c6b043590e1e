from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from agent.api.deps import ServicesDep
from agent.compliance.audit import verify_chain

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("/verify")
async def verify(services: ServicesDep) -> dict[str, Any]:
    async with services.store.read() as session:
        report = await verify_chain(session)
    return report.as_dict()
