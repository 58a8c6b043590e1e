"""X-Tact-Signature: `sha256=<hex HMAC-SHA256(secret, raw body)>`, checked before parsing.

An empty secret refuses everything: nothing unsigned is ever trusted.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from fastapi import Request

from agent.errors import ServiceError
from agent.logs import log_event

log = logging.getLogger("agent.payments.signature")
SIGNATURE_HEADER = "X-Tact-Signature"


class Forbidden(ServiceError):
    status = 403


def sign(secret: str, body: bytes) -> str:
    """The header value a sender puts on `body`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def rejection(secret: str, body: bytes, header: str) -> str | None:
    """Why the signature fails, or None when it holds."""
    if not secret:
        return "no_secret_configured"
    if not header:
        return "missing_signature"
    if not hmac.compare_digest(sign(secret, body).encode(), header.strip().lower().encode()):
        return "bad_signature"
    return None


async def verified_body(request: Request, secret: str) -> bytes:
    """The raw body once its signature holds; `Forbidden` (403) otherwise."""
    body = await request.body()
    reason = rejection(secret, body, request.headers.get(SIGNATURE_HEADER, ""))
    if reason is not None:
        log_event(
            log,
            "payment_signature_rejected",
            logging.WARNING,
            reason=reason,
            path=request.url.path,
            client=request.client.host if request.client else None,
        )
        raise Forbidden("invalid_signature", "the request is not signed by the payment processor")
    return body
