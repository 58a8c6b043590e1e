"""Sign-in for the agent-assist panel: login, logout, me."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from agent.api.deps import ServicesDep
from agent.auth.deps import ReaderDep, check_csrf, signed_in_from_cookie
from agent.auth.errors import NotAuthenticated, TooManyAttempts
from agent.auth.principal import Principal
from agent.auth.ratelimit import FailedLoginLimiter
from agent.auth.sessions import SESSION_COOKIE, SESSION_LIFETIME, close_session, open_session
from agent.auth.users import authenticate
from agent.logs import log_event
from agent.security.throttle import check_login

router = APIRouter(prefix="/v1/auth", tags=["auth"])
log = logging.getLogger("agent.auth")


class LoginBody(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1024)


def _body(principal: Principal, csrf_token: str) -> dict[str, Any]:
    return {
        "username": principal.username,
        "role": principal.role,
        "tenant": principal.tenant,
        "csrf_token": csrf_token,
    }


def _limiter(request: Request) -> FailedLoginLimiter:
    # One per app (not per module), so separate apps, e.g. tests, never share counts.
    state = request.app.state
    if getattr(state, "login_limiter", None) is None:
        state.login_limiter = FailedLoginLimiter()
    limiter: FailedLoginLimiter = state.login_limiter
    return limiter


@router.post("/login")
async def login(
    body: LoginBody, request: Request, response: Response, services: ServicesDep
) -> dict[str, Any]:
    await check_login(request)  # attempts per address, on top of the failure brake below
    client = request.client.host if request.client else ""
    key = (body.username.casefold(), client)
    limiter = _limiter(request)
    wait = limiter.retry_after(key)
    if wait > 0:
        log_event(log, "login_throttled", logging.WARNING, username=body.username, client=client)
        raise TooManyAttempts(
            "too_many_attempts",
            "too many failed sign-ins; try again later",
            retry_after_s=math.ceil(wait),
        )
    principal = await authenticate(services.store, body.username, body.password)
    if principal is None:
        limiter.record_failure(key)
        # Never the password; the username helps spot guessing.
        log_event(log, "login_failed", logging.WARNING, username=body.username, client=client)
        # The same answer for an unknown user and a wrong password.
        raise NotAuthenticated("invalid_credentials", "wrong username or password")
    limiter.reset(key)
    token, signed_in = await open_session(services.store, principal)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        # Plain HTTP in development and tests (browsers drop Secure cookies there).
        secure=services.settings.environment == "production",
    )
    log_event(log, "login", username=principal.username, role=principal.role, client=client)
    return _body(principal, signed_in.csrf_token)


@router.post("/logout")
async def logout(request: Request, response: Response, services: ServicesDep) -> dict[str, Any]:
    """Revoke the session. Signed in: needs the CSRF token like any state change (a forged
    logout is a nuisance). Not signed in (expired, already out): succeeds and clears."""
    token = request.cookies.get(SESSION_COOKIE)
    signed_in = await signed_in_from_cookie(request)
    if token and signed_in is not None:
        check_csrf(request, signed_in)
        await close_session(services.store, token)
        log_event(log, "logout", username=signed_in.principal.username)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return {"signed_in": False}


@router.get("/me")
async def me(request: Request, principal: ReaderDep) -> dict[str, Any]:
    signed_in = await signed_in_from_cookie(request)
    # An API-key caller has no session and so no CSRF token (it needs none).
    csrf = signed_in.csrf_token if signed_in and signed_in.principal == principal else ""
    return _body(principal, csrf)
