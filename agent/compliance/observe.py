"""compliance.observe: set the critical flags from a turn's analysis, before any policy runs.

These flags are the service's floor (ALL-CEASE, ALL-VULNERABLE, ALL-RPC, US-WORK,
US-MEDIUM): a policy cannot forget them, and they stick to the account so every
channel and every outbound contact check honours them.

A cease request that names another medium ("don't call me, text me instead",
"别打电话，发短信") is a medium opt-out, not a cease: it stops calls only.
"""

from __future__ import annotations

import re

from agent.domain import Analysis, ConversationState, Intent

ALWAYS = (Intent.cease_contact, Intent.attorney, Intent.bankruptcy, Intent.vulnerability)
# A dispute only means something from the verified debtor; "wrong person" only before.
WHEN_VERIFIED = (Intent.dispute,)
WHEN_UNVERIFIED = (Intent.wrong_party,)
MEDIUM_FLAGS = ("optout_call", "optout_sms", "optout_email")
STICKY_ACCOUNT_FLAGS = frozenset(
    [*(i.value for i in (*ALWAYS, *WHEN_VERIFIED)), "no_work_contact", *MEDIUM_FLAGS]
)

_AT_WORK = re.compile(
    r"\b(?:i'?m|i am|im)\s+(?:at work|at the office|on shift|working)\b"
    r"|\b(?:boss|employer|work)\s+(?:doesn'?t|does not|won'?t|will not)\s+(?:let|allow)"
    r"|在上班|在单位|上班时间|在公司|公司不让接",
    re.IGNORECASE,
)
# Which medium a cease-like request refuses, and which one it asks for instead.
_REFUSED = {
    "optout_call": re.compile(r"\b(?:call|calling|ring|phone)\b|打电话|打来|来电", re.IGNORECASE),
    "optout_sms": re.compile(r"\b(?:text|texting|sms|message)\b|发短信|短信", re.IGNORECASE),
    "optout_email": re.compile(r"\be-?mails?\b|邮件", re.IGNORECASE),
}
_INSTEAD = re.compile(
    r"\binstead\b|\b(?:text|e-?mail|write to|message)\s+me\b|\bby (?:text|e-?mail|letter|post)\b"
    r"|改成|换成|发短信|短信联系|发邮件|邮件联系|发微信|写信",
    re.IGNORECASE,
)
_PREFERRED = {
    "optout_call": re.compile(
        r"\b(?:call|ring|phone)\s+me\b|打电话给我|给我打电话|电话联系|打电话吧|打电话就行",
        re.IGNORECASE,
    ),
    "optout_sms": re.compile(
        r"\b(?:text|message)\s+me\b|\bby text\b|发短信|短信联系|发微信", re.IGNORECASE
    ),
    "optout_email": re.compile(r"\be-?mail\s+me\b|\bby e-?mail\b|发邮件|邮件联系", re.IGNORECASE),
}


_NEGATED = re.compile(
    r"(?:\b(?:don'?t|do not|never|stop|no more)\s+(?:(?:ever|again|even)\s+)?"
    r"(?:\w+\s+(?:or|and|nor)\s+)?|(?:别|不要|不用)再?(?:给我)?)$",
    re.IGNORECASE,
)


def _asked_for(pattern: re.Pattern[str], text: str) -> bool:
    """The medium is asked for, not refused ("call me" but not "don't call me")."""
    return any(not _NEGATED.search(text[: m.start()]) for m in pattern.finditer(text))


def medium_optouts(text: str) -> list[str]:
    """The media a cease-like request refuses while asking for another; [] if none."""
    if not _INSTEAD.search(text):
        return []
    preferred = {flag for flag, pattern in _PREFERRED.items() if _asked_for(pattern, text)}
    refused = [f for f, pattern in _REFUSED.items() if pattern.search(text) and f not in preferred]
    return refused if preferred and refused else []


def refuses_only(flag: str, text: str) -> bool:
    """The text names this medium and no other ("stop texting me" for `optout_sms`)."""
    return bool(_REFUSED[flag].search(text)) and not any(
        pattern.search(text) for other, pattern in _REFUSED.items() if other != flag
    )


def observe(state: ConversationState, analysis: Analysis) -> tuple[list[str], list[str]]:
    """Add the flags this turn raises to `state`; return (raised by this turn, new ones)."""
    raised = [i.value for i in ALWAYS if analysis.has(i)]
    if analysis.has(Intent.cease_contact):
        optouts = medium_optouts(analysis.text)
        if optouts:
            raised = [f for f in raised if f != Intent.cease_contact.value] + optouts
    if "self_harm" in analysis.cues:
        raised.append(Intent.vulnerability.value)
    if _AT_WORK.search(analysis.text):
        raised.append("no_work_contact")
    group = WHEN_VERIFIED if state.verified else WHEN_UNVERIFIED
    raised += [i.value for i in group if analysis.has(i)]
    raised = list(dict.fromkeys(raised))
    new = [flag for flag in raised if flag not in state.flags]
    for flag in new:
        state.add_flag(flag)
    return raised, new
