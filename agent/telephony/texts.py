"""Sending one text whose contact the rules already allowed (a reserved attempt), and
recording how it went: one way for campaign chat links and payment links."""

from __future__ import annotations

import logging

from agent.compliance.contact_service import ContactService
from agent.logs import log_event
from agent.pipeline import Clock
from agent.settings import Settings
from agent.telephony.twilio_rest import DialError, send_sms

log = logging.getLogger("agent.telephony.texts")


async def deliver_text(
    contacts: ContactService,
    settings: Settings,
    clock: Clock,
    attempt_id: int,
    number: str,
    body: str,
) -> str:
    """`sent` or `failed` (the gateway refused or was unreachable), also recorded as the
    attempt's outcome (audited), so a failed text never counts as a silent success."""
    try:
        await send_sms(settings, number, body)
        outcome = "sent"
    except DialError as exc:
        log_event(log, "text_failed", logging.WARNING, code=exc.error.code)
        outcome = "failed"
    await contacts.record_outcome(attempt_id, outcome, clock())
    return outcome
