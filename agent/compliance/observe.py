"""compliance.observe: set the critical flags from a turn's analysis, before any policy runs.

These flags are the service's floor (ALL-CEASE, ALL-VULNERABLE, ALL-RPC): a policy
cannot forget them, and they stick to the account so every channel honours them.
"""

from __future__ import annotations

from agent.domain import Analysis, ConversationState, Intent

ALWAYS = (Intent.cease_contact, Intent.attorney, Intent.bankruptcy, Intent.vulnerability)
# A dispute only means something from the verified debtor; "wrong person" only before.
WHEN_VERIFIED = (Intent.dispute,)
WHEN_UNVERIFIED = (Intent.wrong_party,)
STICKY_ACCOUNT_FLAGS = frozenset(i.value for i in (*ALWAYS, *WHEN_VERIFIED))


def observe(state: ConversationState, analysis: Analysis) -> list[str]:
    """Add the flags this turn raises to `state`; return the ones that are new."""
    raised = [i.value for i in ALWAYS if analysis.has(i)]
    if "self_harm" in analysis.cues:
        raised.append(Intent.vulnerability.value)
    group = WHEN_VERIFIED if state.verified else WHEN_UNVERIFIED
    raised += [i.value for i in group if analysis.has(i)]
    new = [flag for flag in dict.fromkeys(raised) if flag not in state.flags]
    for flag in new:
        state.add_flag(flag)
    return new
