"""End-of-conversation summary and a suggested wrap-up code, from the state and turns.

Derived, not generated: the outcome comes from the step the policy ended on and the
promise it captured, so the suggestion can always be traced to a logged fact. The
agent may edit the text and pick another code before saving (POST .../wrapup).
"""

from __future__ import annotations

from typing import Any

from agent.assist.payloads import WRAPUP_CODES
from agent.dialogue.templates import money
from agent.domain import ConversationState
from agent.store.models import Conversation, Turn

# Final step -> outcome (and wrap-up code, where they share a name).
STEP_OUTCOMES = {
    "close_promise": "promise",
    "callback_confirmed": "callback",
    "callback_arrange": "callback",
    "dispute_end": "dispute",
    "cease_end": "cease",
    "wrong_party_end": "wrong_party",
    "third_party_end": "wrong_party",
    "close_no_agreement": "refused",
    "already_paid_end": "paid",
    "already_paid_details": "paid",
}
FLAG_OUTCOMES = {"cease_contact": "cease", "dispute": "dispute", "wrong_party": "wrong_party"}


def outcome_of(state: ConversationState) -> str:
    promise = state.promise
    if promise is not None and promise.confirmed:
        return "plan" if promise.kind == "plan" else "promise"
    if state.step in STEP_OUTCOMES:
        return STEP_OUTCOMES[state.step]
    for flag, outcome in FLAG_OUTCOMES.items():
        if flag in state.flags:
            return outcome
    if state.handoff:
        return "handoff"
    return "no_outcome" if state.ended else "in_progress"


def emotion_arc(turns: list[Turn]) -> list[str]:
    return [
        str(t.analysis.get("emotion", "calm")) for t in turns if t.role == "debtor" and t.analysis
    ]


def summarize(conversation: Conversation, turns: list[Turn]) -> dict[str, Any]:
    state = ConversationState.model_validate(conversation.state)
    outcome = outcome_of(state)
    arc = emotion_arc(turns)
    promise = state.promise.model_dump(mode="json") if state.promise else None
    parts = [f"Outcome: {outcome.replace('_', ' ')}."]
    if state.promise is not None:
        amount = money(state.promise.amount, state.promise.currency, "en-US")
        plan = (
            f" a {state.promise.every}, {state.promise.installments} payments"
            if state.promise.kind == "plan"
            else ""
        )
        status = "confirmed" if state.promise.confirmed else "not yet confirmed"
        parts.append(f"Promise: {amount}{plan} from {state.promise.date}, {status}.")
    parts.append("Identity verified." if state.verified else "Identity not verified.")
    if arc:
        # Consecutive repeats collapsed: the arc reads as changes of mood.
        changes = [e for i, e in enumerate(arc) if i == 0 or arc[i - 1] != e]
        parts.append("Emotion: " + " -> ".join(changes) + ".")
    if state.flags:
        parts.append("Flags: " + ", ".join(state.flags) + ".")
    humans = sum(1 for t in turns if t.role == "human")
    parts.append(
        f"{sum(1 for t in turns if t.role == 'debtor')} debtor turns, {humans} by a person."
    )
    return {
        "conversation_id": conversation.id,
        "outcome": outcome,
        "promise": promise,
        "flags": list(state.flags),
        "emotion_arc": arc,
        "suggested_code": outcome if outcome in WRAPUP_CODES else "other",
        "text": " ".join(parts),
        "wrapup": conversation.wrapup,
    }
