"""The words of the telephone channel: modes, gateway statuses and what each means for
the contact history, and the `CallInfo` the rest of the service reads."""

from __future__ import annotations

from dataclasses import dataclass

from agent.compliance.contact import ContactDecision
from agent.errors import Conflict
from agent.store.models import Call

CONTACT_CHANNEL = "call"  # what the packs' caps and calling windows count
CONVERSATION_CHANNEL = "voice"  # what the packs' recording-consent rules apply to
MODES = frozenset({"gather", "stream", "audiosocket"})
STATUSES = frozenset(
    {
        "queued",
        "initiated",
        "ringing",
        "in-progress",
        "completed",
        "busy",
        "no-answer",
        "canceled",
        "failed",
    }
)
FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "canceled", "failed"})
# Gateway statuses in the contact history's words (agent/compliance/contact.py):
# `conversation` feeds the quiet-after and per-day conversation caps, the rest count
# as unanswered.
OUTCOMES = {"busy": "busy", "no-answer": "no_answer", "canceled": "failed", "failed": "failed"}


def machine_answered(answered_by: str | None) -> bool:
    return bool(answered_by) and (answered_by or "").startswith(("machine", "fax"))


def contact_outcome(status: str, answered_by: str | None) -> str:
    if status != "completed":
        return OUTCOMES[status]
    if answered_by == "fax":
        return "failed"
    # A completed call that a person may have answered counts as a conversation: the
    # conservative reading, since it starts the US seven-day quiet period.
    return "voicemail" if machine_answered(answered_by) else "conversation"


class ContactRefused(Conflict):
    def __init__(self, decision: ContactDecision) -> None:
        self.decision = decision
        at = decision.next_allowed_at
        super().__init__(
            "contact_refused",
            "the contact rules do not allow a call to this debtor now",
            rules=decision.rules,
            next_allowed_at=at.isoformat() if at else None,
            reasons=decision.reasons,
        )


@dataclass(frozen=True)
class CallInfo:
    id: str
    account_ref: str | None  # None: an inbound caller we could not match to a debtor
    locale: str
    direction: str
    mode: str
    status: str
    session_id: str | None
    conversation_id: str | None
    call_sid: str | None
    answered_by: str | None = None
    to_number: str = ""
    campaign_id: int | None = None


def call_info(call: Call, account_ref: str | None) -> CallInfo:
    return CallInfo(
        id=call.id,
        account_ref=account_ref,
        locale=call.locale,
        direction=call.direction,
        mode=call.mode,
        status=call.status,
        session_id=call.session_id,
        conversation_id=call.conversation_id,
        call_sid=call.call_sid,
        answered_by=call.answered_by,
        to_number=call.to_number,
        campaign_id=call.campaign_id,
    )
