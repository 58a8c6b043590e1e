"""Outbound calls through the Twilio REST API, with the official (synchronous) client
run in a worker thread so the event loop never waits on the network.

The API host is a setting (`twilio_api_base`) so tests and staging can point it at a
fake: twilio 9.x hard-codes `https://api.twilio.com` in `ApiBase.__init__`, but every
request URL is built from the domain's plain `base_url` attribute
(`Domain.absolute_url`), so replacing it on `client.api` redirects the whole
`/2010-04-01/Accounts/{sid}/Calls.json` family.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from agent.errors import ServiceError, Unavailable
from agent.settings import Settings

TIMEOUT_S = 10.0
T = TypeVar("T")
# The client logs each request and response at INFO in free text, several lines each;
# our own `call_placed` line says what matters, so its lines only show when they warn.
_HTTP_LOG = logging.getLogger("agent.telephony.twilio_http")
_HTTP_LOG.setLevel(logging.WARNING)


class BadGateway(ServiceError):
    status = 502


@dataclass(frozen=True)
class PlacedCall:
    sid: str
    status: str


@dataclass(frozen=True)
class GatewayCall:
    """What the gateway says of one call now (its REST resource)."""

    status: str
    answered_by: str | None
    duration_s: int | None


class DialError(Exception):
    """The gateway did not take the call; `error` is what the API caller is told."""

    def __init__(self, error: ServiceError) -> None:
        super().__init__(error.message)
        self.error = error


def configured(settings: Settings) -> bool:
    return bool(settings.twilio_account_sid and settings.twilio_auth_token)


@contextlib.contextmanager
def _client(settings: Settings) -> Iterator[Client]:
    http = TwilioHttpClient(timeout=TIMEOUT_S, logger=_HTTP_LOG)
    client = Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=http)
    client.api.base_url = settings.twilio_api_base.rstrip("/")
    try:
        yield client
    finally:
        if http.session is not None:
            http.session.close()


def _create(settings: Settings, to: str, url: str, status_callback: str) -> PlacedCall:
    with _client(settings) as client:
        call = client.api.v2010.accounts(settings.twilio_account_sid).calls.create(
            to=to,
            from_=settings.twilio_caller_id,
            url=url,
            method="POST",
            status_callback=status_callback,
            status_callback_method="POST",
            machine_detection="Enable",
        )
        return PlacedCall(sid=str(call.sid), status=str(call.status or "queued"))


def _fetch(settings: Settings, sid: str) -> GatewayCall | None:
    with _client(settings) as client:
        try:
            call = client.api.v2010.accounts(settings.twilio_account_sid).calls(sid).fetch()
        except TwilioRestException as exc:
            if exc.status == 404:
                return None
            raise
        duration = str(call.duration or "")
        return GatewayCall(
            status=str(call.status),
            answered_by=str(call.answered_by) if call.answered_by else None,
            duration_s=int(duration) if duration.isdigit() else None,
        )


def _send(settings: Settings, to: str, body: str) -> str:
    with _client(settings) as client:
        message = client.api.v2010.accounts(settings.twilio_account_sid).messages.create(
            to=to, from_=settings.twilio_sms_from or settings.twilio_caller_id, body=body
        )
        return str(message.sid)


async def _ask(gateway: str, action: str, work: Callable[..., T], *args: Any) -> T:
    """`work(*args)` on a worker thread; the gateway's refusals and outages as DialErrors."""
    try:
        return await asyncio.to_thread(work, *args)
    except TwilioRestException as exc:
        raise DialError(
            BadGateway("gateway_error", f"the {gateway} gateway refused {action} ({exc.status})")
        ) from exc
    except (TwilioException, OSError) as exc:  # requests' errors are OSErrors
        raise DialError(
            Unavailable("gateway_unavailable", f"the {gateway} gateway could not be reached")
        ) from exc


async def place_call(settings: Settings, to: str, url: str, status_callback: str) -> PlacedCall:
    return await _ask("telephony", "the call", _create, settings, to, url, status_callback)


async def fetch_call(settings: Settings, sid: str) -> GatewayCall | None:
    """The call's current state at the gateway; None when the gateway has no such call."""
    return await _ask("telephony", "the lookup", _fetch, settings, sid)


async def send_sms(settings: Settings, to: str, body: str) -> str:
    """Send one text through Twilio Messaging (same API host setting); the message sid."""
    return await _ask("messaging", "the text", _send, settings, to, body)
