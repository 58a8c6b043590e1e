"""Texting a payment link after a promise made on a call: a URL cannot be spoken
usefully, so the agent says a link is coming and this sends it.

The text is a contact like any other: it passes the contact rules first (channel
`sms`, purpose `payment_link`; an opt-out of texts or a cap refuses it, and the
refusal is logged) and names no debt, since anyone may read a phone's messages."""

from __future__ import annotations

import logging

from agent.compliance.contact_service import ContactService
from agent.logs import log_event
from agent.pipeline import Clock
from agent.settings import Settings
from agent.telephony.texts import deliver_text
from agent.telephony.twilio_rest import configured

log = logging.getLogger("agent.payments.texting")

TEXTS = {
    "en": "{business}: here is the secure link you asked for: {link}",
    "zh": "{business}：这是您需要的安全链接：{link}",
}


class PaymentLinkTexter:
    def __init__(self, contacts: ContactService, settings: Settings, clock: Clock) -> None:
        self.contacts = contacts
        self.settings = settings
        self.clock = clock

    @property
    def enabled(self) -> bool:
        return configured(self.settings)

    async def allowed(self, account_ref: str, number: str) -> bool:
        """Would the contact rules let the link go now? (Read only: nothing logged.)"""
        decision = await self.contacts.check(
            account_ref, "sms", self.clock(), number, purpose="payment_link"
        )
        return decision.allowed

    async def send(self, account_ref: str, number: str, link: str, locale: str) -> str:
        """Reserve, send, record; returns the outcome (refused | sent | failed)."""
        reservation = await self.contacts.reserve(
            account_ref, "sms", self.clock(), number, purpose="payment_link"
        )
        if not reservation.decision.allowed or reservation.attempt_id is None:
            log_event(log, "payment_link_refused", rules=reservation.decision.rules)
            return "refused"
        template = TEXTS["zh" if locale.startswith("zh") else "en"]
        body = template.format(business=self.settings.business_name, link=link)
        return await deliver_text(
            self.contacts, self.settings, self.clock, reservation.attempt_id, number, body
        )
