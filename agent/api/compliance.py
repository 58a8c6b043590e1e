"""Compliance endpoints: contact checks, account flags, and the guard for typed text."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictStr

from agent.api.deps import ServicesDep
from agent.auth.deps import ActorDep, ReaderDep, SupervisorDep
from agent.compliance.audit import AuditChain
from agent.compliance.flags import (
    LIFTABLE_FLAGS,
    SETTABLE_FLAGS,
    active_flags,
    lift_flag,
    set_flags,
)
from agent.compliance.guard import Utterance
from agent.errors import Conflict, InvalidInput
from agent.logs import log_event
from agent.nlp.language import detect_language
from agent.store import repository

router = APIRouter(tags=["compliance"])
log = logging.getLogger("agent.api.compliance")

Channel = Literal["call", "sms", "email", "chat", "voice"]


class ContactCheck(BaseModel):
    model_config = ConfigDict(extra="ignore")

    account_ref: StrictStr = Field(min_length=1, max_length=64)
    channel: Channel = "call"
    at: AwareDatetime | None = None
    number: StrictStr | None = Field(default=None, max_length=32)
    purpose: Literal["collection", "cease_confirmation"] = "collection"


class FlagLift(BaseModel):
    model_config = ConfigDict(extra="ignore")

    reason: StrictStr = Field(min_length=1, max_length=500)


class FlagSet(BaseModel):
    model_config = ConfigDict(extra="ignore")

    flag: StrictStr
    expires_at: AwareDatetime | None = None
    details: dict[str, Any] = Field(default_factory=dict)


@router.post("/v1/compliance/contact-check")
async def contact_check(
    body: ContactCheck, principal: ReaderDep, services: ServicesDep
) -> dict[str, object]:
    """May we contact this debtor now? Read-only: nothing is recorded."""
    async with services.store.read() as session:
        await repository.require_account(session, body.account_ref, principal.tenant)
    at = (body.at or services.pipeline.clock()).astimezone(dt.UTC)
    decision = await services.contacts.check(
        body.account_ref, body.channel, at, body.number, body.purpose
    )
    return decision.as_dict()


@router.get("/v1/accounts/{account_ref}/flags")
async def list_flags(
    account_ref: str, principal: ReaderDep, services: ServicesDep
) -> dict[str, object]:
    async with services.store.read() as session:
        found = await repository.require_account(session, account_ref, principal.tenant)
        flags = await active_flags(session, found[0].id, services.pipeline.clock())
    return {
        "account_ref": account_ref,
        "flags": {
            name: {
                "set_at": s.set_at.isoformat(),
                "expires_at": s.expires_at.isoformat() if s.expires_at else None,
            }
            for name, s in sorted(flags.items())
        },
    }


@router.post("/v1/accounts/{account_ref}/flags", status_code=201)
async def add_flag(
    account_ref: str, body: FlagSet, principal: ActorDep, services: ServicesDep
) -> dict[str, object]:
    if body.flag not in SETTABLE_FLAGS:
        raise InvalidInput(
            "unknown_flag", f"flag {body.flag!r} is not one of {sorted(SETTABLE_FLAGS)}"
        )
    now = services.pipeline.clock()
    async with services.store.write() as session:
        chain = await AuditChain.open(session)
        found = await repository.require_account(session, account_ref, principal.tenant)
        added = await set_flags(
            session, found[0].id, [body.flag], now, "api", None, body.expires_at, body.details
        )
        chain.append(
            "account.flags",
            None,
            {
                "account_ref": account_ref,
                "added": added,
                "expires_at": body.expires_at.isoformat() if body.expires_at else None,
                "source": "api",
                "by": principal.username,
            },
        )
        await chain.close()
    return {"account_ref": account_ref, "flag": body.flag, "added": bool(added)}


@router.post("/v1/accounts/{account_ref}/flags/{flag}/lift")
async def lift_account_flag(
    account_ref: str, flag: str, body: FlagLift, principal: SupervisorDep, services: ServicesDep
) -> dict[str, object]:
    """End a flag now (a supervisor, with a reason, in the chain): e.g. `dispute` once
    written verification has gone out, so collection may resume. The debtor's own cease
    and opt-out requests are theirs to withdraw and cannot be lifted here."""
    if flag not in LIFTABLE_FLAGS:
        raise InvalidInput(
            "flag_not_liftable", f"flag {flag!r} is not one of {sorted(LIFTABLE_FLAGS)}"
        )
    now = services.pipeline.clock()
    async with services.store.write() as session:
        found = await repository.require_account(session, account_ref, principal.tenant)
        if not await lift_flag(session, found[0].id, flag, now, source=None):
            raise Conflict("flag_not_active", f"{flag!r} is not active on {account_ref!r}")
        chain = await AuditChain.open(session)
        chain.append(
            "account.flags",
            None,
            {
                "account_ref": account_ref,
                "lifted": [flag],
                "reason": body.reason,
                "source": "api",
                "by": principal.username,
            },
        )
        await chain.close()
    log_event(log, "flag_lifted", account_ref=account_ref, flag=flag, by=principal.username)
    return {"account_ref": account_ref, "flag": flag, "lifted": True}


class GuardCheck(BaseModel):
    """Text a human collector is about to send (or any text), checked as the guard would."""

    model_config = ConfigDict(extra="ignore")

    account_ref: StrictStr = Field(min_length=1, max_length=64)
    text: StrictStr = Field(min_length=1, max_length=2000)
    verified: bool = True
    language: Literal["en", "zh"] | None = None


@router.post("/v1/compliance/guard-check")
async def guard_check(
    body: GuardCheck, principal: ReaderDep, services: ServicesDep
) -> dict[str, object]:
    async with services.store.read() as session:
        found = await repository.require_account(session, body.account_ref, principal.tenant)
        account = found[0]
        flags = await active_flags(session, account.id, services.pipeline.clock())
    verdict = services.pipeline.guard.check(
        Utterance(
            text=body.text,
            language=body.language or detect_language(body.text),
            verified=body.verified,
            reveals_debt=False,
            source="human",
            jurisdiction=account.jurisdiction,
            region=account.region,
            account_flags=frozenset(flags),
            debt_words=(account.creditor,),
        )
    )
    return verdict.model_dump(mode="json")
