"""Handing a created outbound call to the gateway: one way for the API and the dialer.

The call row (and its contact attempt) exists before the gateway is asked, so a crash
in between leaves a `queued` call that the contact rules still see as in progress,
never an untracked call."""

from __future__ import annotations

from urllib.parse import urlencode

from agent.settings import Settings
from agent.telephony.calls import CallRegistry
from agent.telephony.status import CallInfo
from agent.telephony.twilio_rest import DialError, place_call

WEBHOOK_PREFIX = "/v1/telephony/twilio"


def webhook_url(base: str, path: str, **query: str | int) -> str:
    """`base` is the public origin the gateway reaches us at (no trailing slash)."""
    url = base.rstrip("/") + WEBHOOK_PREFIX + path
    return f"{url}?{urlencode(query)}" if query else url


async def place(calls: CallRegistry, settings: Settings, call: CallInfo, base: str) -> CallInfo:
    """Ask the gateway to ring `call`; a refusal closes the call as failed (settling its
    contact attempt) and raises the ServiceError the API answers with."""
    try:
        placed = await place_call(
            settings,
            call.to_number,
            webhook_url(base, "/voice", call_id=call.id),
            webhook_url(base, "/status", call_id=call.id),
        )
    except DialError as exc:
        await calls.dial_failed(call.id, exc.error.code)
        raise exc.error from exc
    return await calls.dialled(call.id, placed.sid, placed.status)
