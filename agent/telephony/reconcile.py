"""Settling calls whose final status callback never arrived, by asking the gateway.

Twilio reports a call's end by a status callback. If that request is lost (our service
down or unreachable at that moment, a proxy error), the call would stay "in progress":
its contact attempt stays pending, the one-call rule blocks the debtor until
`CALL_IN_PROGRESS_WINDOW` runs out, and a campaign target waits as long. So every
`RECHECK_AFTER` of silence the call's REST resource is read and its state applied
exactly as a callback would be (`CallRegistry.update_status`): a final status settles
the attempt and is audited; a call still live gets a fresh `updated_at`, so it is asked
about again only after another quiet spell and is never taken for lost while it lasts.
A sid the gateway does not know is closed as failed, which counts as an attempt.
"""

from __future__ import annotations

import datetime as dt
import logging

from agent.logs import log_event
from agent.settings import Settings
from agent.telephony.calls import CallRegistry
from agent.telephony.status import FINAL_STATUSES, STATUSES, CallInfo
from agent.telephony.twilio_rest import DialError, configured, fetch_call

log = logging.getLogger("agent.telephony.reconcile")

# A live call sends no news between its answer and its end: ask about it this often.
RECHECK_AFTER = dt.timedelta(minutes=5)
# Gateway lookups per round; the longest-silent calls go first, the rest wait a round.
BATCH = 20
# How often the embedded dialer and the worker run a round.
ROUND_EVERY_S = 60.0


async def reconcile_calls(calls: CallRegistry, settings: Settings) -> list[CallInfo]:
    """One round; returns the calls this round closed."""
    if not configured(settings):
        return []
    closed: list[CallInfo] = []
    for call in await calls.silent_since(calls.clock() - RECHECK_AFTER, BATCH):
        sid = call.call_sid or ""
        try:
            found = await fetch_call(settings, sid)
        except DialError as exc:
            # The gateway is down or refuses us: every other lookup would fail alike.
            log_event(log, "call_reconcile_failed", logging.WARNING, error=exc.error.code)
            break
        if found is not None and found.status not in STATUSES:
            log_event(log, "call_reconcile_unknown_status", logging.WARNING, status=found.status)
            continue
        if found is None:
            updated = await calls.update_status(sid, "failed", reason="unknown_to_gateway")
        else:
            updated = await calls.update_status(
                sid, found.status, found.answered_by, found.duration_s, reason="reconciled"
            )
        if updated.status in FINAL_STATUSES:
            closed.append(updated)
            log_event(log, "call_reconciled", call_id=updated.id, status=updated.status)
    return closed
