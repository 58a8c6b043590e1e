"""FastAPI dependencies: who is calling, and may they do this?

`ReaderDep` admits any signed-in role; `ActorDep` only roles that may change a
conversation. Both accept the `tact_session` cookie or an `X-API-Key` header. A
state-changing request signed in by cookie must also echo the session's CSRF token in
`X-CSRF-Token`: a browser attaches the cookie to a forged cross-site request, but the
forger cannot read the token. API keys are never sent automatically, so need none."""

from __future__ import annotations

import hmac
import logging
from typing import Annotated, cast

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from agent.api.deps import get_services
from agent.auth.errors import Forbidden, NotAuthenticated
from agent.auth.keys import principal_for_key
from agent.auth.principal import Principal
from agent.auth.sessions import SESSION_COOKIE, SignedIn, session_for_token
from agent.logs import log_event

__all__ = [
    "CSRF_HEADER",
    "ActorDep",
    "Principal",
    "ReaderDep",
    "SupervisorDep",
    "actor",
    "check_csrf",
    "principal_from_cookie",
    "reader",
    "signed_in_from_cookie",
    "supervisor",
]

log = logging.getLogger("agent.auth")

API_KEY_HEADER = "X-API-Key"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_UNSET = object()


def _reject(request: Request, error: NotAuthenticated | Forbidden, **fields: object) -> None:
    log_event(
        log,
        "authorization_failed",
        logging.WARNING,
        code=error.code,
        method=request.method,
        path=request.url.path,
        client=request.client.host if request.client else None,
        **fields,
    )
    raise error


async def signed_in_from_cookie(connection: HTTPConnection) -> SignedIn | None:
    """The cookie's live session, looked up once per request."""
    cached = getattr(connection.state, "auth_session", _UNSET)
    if cached is not _UNSET:
        return cast(SignedIn | None, cached)
    token = connection.cookies.get(SESSION_COOKIE)
    found = await session_for_token(get_services(connection).store, token) if token else None
    connection.state.auth_session = found
    return found


async def principal_from_cookie(connection: HTTPConnection) -> Principal | None:
    """The cookie's principal or None; for handlers that authenticate by hand (SSE, sockets)."""
    signed_in = await signed_in_from_cookie(connection)
    return signed_in.principal if signed_in else None


async def reader(request: Request) -> Principal:
    """Any role, by API key or cookie (+ CSRF token on state-changing methods); 401 otherwise."""
    key = request.headers.get(API_KEY_HEADER)
    if key is not None:
        # A key that is present but wrong fails outright: no falling back to the cookie.
        principal = await principal_for_key(get_services(request).store, key)
        if principal is None:
            _reject(request, NotAuthenticated("invalid_api_key", "the API key is not valid"))
        assert principal is not None
        return principal
    signed_in = await signed_in_from_cookie(request)
    if signed_in is None:
        _reject(request, NotAuthenticated("not_authenticated", "sign in first"))
    assert signed_in is not None
    if request.method not in SAFE_METHODS:
        check_csrf(request, signed_in)
    return signed_in.principal


def check_csrf(request: Request, signed_in: SignedIn) -> None:
    """403 unless the request echoes the session's CSRF token (compared in constant time)."""
    sent = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), signed_in.csrf_token.encode()):
        _reject(
            request,
            Forbidden("csrf_failed", f"missing or wrong {CSRF_HEADER} header"),
            username=signed_in.principal.username,
        )


async def actor(request: Request) -> Principal:
    """Agent or supervisor; an auditor may only read (403)."""
    principal = await reader(request)
    _require_role(request, principal, principal.can_act)
    return principal


async def supervisor(request: Request) -> Principal:
    """Supervisors only: launching and steering outbound campaigns, lifting account flags."""
    principal = await reader(request)
    _require_role(request, principal, principal.role == "supervisor")
    return principal


def _require_role(request: Request, principal: Principal, allowed: bool) -> None:
    if not allowed:
        _reject(
            request,
            Forbidden("forbidden", f"the {principal.role} role may not do this"),
            username=principal.username,
            role=principal.role,
        )


ReaderDep = Annotated[Principal, Depends(reader)]
ActorDep = Annotated[Principal, Depends(actor)]
SupervisorDep = Annotated[Principal, Depends(supervisor)]
