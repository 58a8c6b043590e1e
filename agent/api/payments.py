"""Payments: the processor's signed webhook, and the payment link for an account."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictStr, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from agent.api.deps import ServicesDep
from agent.auth.deps import ReaderDep
from agent.compliance.audit import AuditChain
from agent.errors import InvalidInput, NotFound
from agent.payments.links import payment_link
from agent.payments.matching import record_payment
from agent.payments.signature import verified_body
from agent.security.throttle import check_webhook
from agent.services import Services
from agent.store import repository
from agent.store.models import Payment

router = APIRouter(tags=["payments"])


class PaymentIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    payment_ref: StrictStr = Field(min_length=1, max_length=64)
    account_ref: StrictStr = Field(min_length=1, max_length=64)
    amount: Decimal = Field(gt=0, max_digits=14, decimal_places=2)
    currency: StrictStr = Field(pattern=r"^[A-Z]{3}$")
    paid_at: AwareDatetime


def _parse(body: bytes) -> PaymentIn:
    try:
        return PaymentIn.model_validate_json(body)
    except ValidationError as exc:
        fields = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg", "")}
            for e in exc.errors()
        ]
        raise InvalidInput(
            "invalid_request", "the request does not match the schema", fields=fields
        ) from None


async def _existing(services: Services, payment_ref: str) -> dict[str, Any] | None:
    async with services.store.read() as session:
        found = await session.scalar(select(Payment).where(Payment.payment_ref == payment_ref))
        return None if found is None else dict(found.result)


@router.post("/v1/payments", status_code=201)
async def receive_payment(request: Request, services: ServicesDep) -> JSONResponse:
    """A payment from the lender's processor; retries with the same `payment_ref` get the
    first answer (200) and change nothing."""
    settings = services.settings
    await check_webhook(request)
    body = _parse(await verified_body(request, settings.payments_webhook_secret))
    earlier = await _existing(services, body.payment_ref)
    if earlier is not None:
        return JSONResponse(earlier, status_code=200)
    now = services.pipeline.clock()
    try:
        async with services.store.write() as session:
            chain = await AuditChain.open(session)
            account, _ = await repository.require_account(session, body.account_ref)
            if body.currency != account.currency:
                raise InvalidInput(
                    "currency_mismatch",
                    f"the account is in {account.currency}, the payment in {body.currency}",
                )
            payment = await record_payment(
                session,
                chain,
                account,
                body.payment_ref,
                body.amount,
                body.currency,
                body.paid_at,
                now,
                settings.promise_grace_days,
            )
            result = dict(payment.result)
            await chain.close()
    except IntegrityError:
        # A concurrent delivery of the same payment won the race: answer as it did.
        earlier = await _existing(services, body.payment_ref)
        if earlier is None:
            raise
        return JSONResponse(earlier, status_code=200)
    return JSONResponse(result, status_code=201)


@router.get("/v1/accounts/{account_ref}/payment-link")
async def get_payment_link(
    account_ref: str,
    principal: ReaderDep,
    services: ServicesDep,
    amount: Annotated[Decimal | None, Query(gt=0, max_digits=14, decimal_places=2)] = None,
) -> dict[str, object]:
    """The tenant's payment link for this account (the balance unless `amount` is given)."""
    async with services.store.read() as session:
        account, _ = await repository.require_account(session, account_ref, principal.tenant)
    value = amount if amount is not None else Decimal(account.balance)
    url = payment_link(
        account.tenant,
        account_ref,
        f"{value:.2f}",
        templates=services.settings.payment_link_templates,
    )
    if url is None:
        raise NotFound("no_payment_link", f"tenant {account.tenant!r} has no payment link")
    return {"account_ref": account_ref, "amount": f"{value:.2f}", "url": url}
