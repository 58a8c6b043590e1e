"""X-Twilio-Signature: every webhook is checked before anything reads it.

The gateway signs the URL it called plus the POST parameters (PROTOCOLS.md). Behind
a proxy the URL we receive is not the one it signed, so with `public_base_url` set
the public URL is rebuilt from it; without, the request URL is used as received.
An empty auth token refuses everything: nothing unsigned is ever trusted.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import RequestValidator

from agent.errors import ServiceError
from agent.logs import log_event
from agent.settings import Settings

log = logging.getLogger("agent.telephony.signature")
SIGNATURE_HEADER = "X-Twilio-Signature"


class Forbidden(ServiceError):
    status = 403


def public_base(request: Request, settings: Settings) -> str:
    """Scheme, host and any path prefix the gateway reaches this service at."""
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    return str(request.base_url).rstrip("/")


def signed_url(request: Request, settings: Settings) -> str:
    """The URL exactly as the gateway called it: path and raw query included."""
    if not settings.public_base_url:
        return str(request.url)
    query = request.url.query
    return public_base(request, settings) + request.url.path + (f"?{query}" if query else "")


async def verified_params(request: Request, settings: Settings) -> dict[str, str]:
    """The webhook's parameters once its signature holds; `Forbidden` (403) otherwise."""
    body = (await request.body()).decode("utf-8", errors="replace")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    signed: Any
    if content_type == "application/json":
        # JSON bodies are signed through `bodySHA256` in the URL; the validator checks it.
        signed, params = body, _json_params(body)
    else:
        pairs = parse_qsl(body, keep_blank_values=True)
        signed, params = ImmutableMultiDict(pairs), dict(pairs)
    signature = request.headers.get(SIGNATURE_HEADER, "")
    reason = None
    if not settings.twilio_auth_token:
        reason = "no_auth_token_configured"
    elif not signature:
        reason = "missing_signature"
    elif isinstance(signed, str) and "bodySHA256" not in request.query_params:
        reason = "json_body_without_hash"
    elif not RequestValidator(settings.twilio_auth_token).validate(
        signed_url(request, settings), signed, signature
    ):
        reason = "bad_signature"
    if reason is not None:
        log_event(
            log,
            "twilio_signature_rejected",
            logging.WARNING,
            reason=reason,
            path=request.url.path,
            client=request.client.host if request.client else None,
        )
        raise Forbidden("invalid_signature", "the request is not signed by the telephony gateway")
    return params


def _json_params(body: str) -> dict[str, str]:
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}
