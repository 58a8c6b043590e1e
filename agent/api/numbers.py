"""The debtor's phone numbers behind an account, and which are reported wrong."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from agent.api.deps import ServicesDep
from agent.auth.deps import ActorDep, ReaderDep
from agent.compliance.audit import AuditChain
from agent.errors import NotFound
from agent.store import repository
from agent.telephony.lookup import as_debtor_number, known_numbers
from agent.telephony.wrong_numbers import number_statuses, set_number_status

router = APIRouter(tags=["compliance"])


class NumberStatus(BaseModel):
    model_config = ConfigDict(extra="ignore")

    number: StrictStr = Field(min_length=1, max_length=32)
    status: Literal["wrong", "reachable"]  # wrong_numbers.WRONG / REACHABLE


@router.get("/v1/accounts/{account_ref}/numbers")
async def list_numbers(
    account_ref: str, principal: ReaderDep, services: ServicesDep
) -> dict[str, object]:
    """Each of the debtor's numbers, in dialling order, `reachable` or `wrong`."""
    async with services.store.read() as session:
        _, debtor = await repository.require_account(session, account_ref, principal.tenant)
    return {"account_ref": account_ref, "numbers": number_statuses(debtor)}


@router.post("/v1/accounts/{account_ref}/numbers")
async def mark_number(
    account_ref: str, body: NumberStatus, principal: ActorDep, services: ServicesDep
) -> dict[str, object]:
    """Report one of the debtor's numbers wrong, or reachable again (say, once the debtor
    confirms it is theirs). The number may be written in any common form."""
    async with services.store.write() as session:
        chain = await AuditChain.open(session)
        _, debtor = await repository.require_account(session, account_ref, principal.tenant)
        number = as_debtor_number(debtor, body.number)
        if number is None or number not in known_numbers(debtor):
            raise NotFound("unknown_number", "that is not one of this debtor's numbers")
        changed = await set_number_status(
            session,
            chain,
            debtor,
            number,
            body.status,
            services.pipeline.clock(),
            "api",
            by=principal.username,
        )
        await chain.close()
    return {"account_ref": account_ref, "number": number, "status": body.status, "changed": changed}
