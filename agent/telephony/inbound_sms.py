"""Texts a debtor sends back: opt-out and opt-in keywords, and cease-like replies.

Our texts (campaign chat links, payment links) go out from a Twilio number, and the debtor
may answer them. Twilio posts each answer to `/v1/telephony/twilio/sms`, signed like the
voice webhooks. What we record:

- **STOP and its kin** (the whole text is one of STOP, STOPALL, UNSUBSCRIBE, CANCEL, END,
  QUIT, REVOKE, OPT OUT, or 退订 / TD / T, as Chinese senders ask): `optout_sms` on every
  account of the debtor with that number, so no channel texts them again (US-MEDIUM; the FCC's 2024
  revocation rule names these words). Twilio's own `OptOutType` parameter, sent when its
  Advanced Opt-Out handled the keyword, counts the same.
- **START / UNSTOP** lifts an `optout_sms` that a keyword set, and only that one: an
  opt-out the debtor said in a conversation, or one a compliance officer set, stays.
- **Any other text** goes through the analyzer: a cease request, a lawyer, a bankruptcy or
  a vulnerability raises the same account flags as in a conversation. A cease request
  that names texts only ("stop texting me") is `optout_sms`, not a cease of all contact.
  A dispute ("this isn't my debt, I dispute it") raises `dispute` too, although in a
  conversation only the verified debtor's does: a text to the number on file is a
  written dispute (Reg F counts electronic ones), and wrongly pausing collection until
  verification is sent costs far less than collecting on a disputed debt (US-DISPUTE).
  A reply saying this is the wrong number ("wrong number, I don't know them") retires the
  number for the debtor (agent/telephony/wrong_numbers.py): nothing is sent to it again.

The reply is an empty TwiML document: Twilio answers the keywords itself, and nothing
about a debt goes to a number that has not been verified. Texts from numbers that match
no single debtor change nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from sqlalchemy import select

from agent.compliance.audit import AuditChain
from agent.compliance.flags import SMS_KEYWORD_SOURCE, lift_flag, set_flags
from agent.compliance.observe import ALWAYS, refuses_only
from agent.domain import AnalysisContext, Intent
from agent.nlp.analyzer import Analyzer
from agent.store.models import Account
from agent.store.store import Store
from agent.telephony.lookup import account_for_phone, locale_for_number
from agent.telephony.wrong_numbers import WRONG, set_number_status

OPT_OUT_FLAG = "optout_sms"
TEXT_FLAGS = (*ALWAYS, Intent.dispute)  # the account flags a reply's words may raise
REPLY_SOURCE = "sms_reply"

STOP_WORDS = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout", "opt out"}
    | {"退订", "td", "t"}
)
START_WORDS = frozenset({"start", "unstop"})
HELP_WORDS = frozenset({"help", "info"})
_TRIM = re.compile(r"[\s\W_]+$|^[\s\W_]+")


@dataclass(frozen=True)
class Reading:
    """What one inbound text asks for: `keyword` (stop, start, help), or the flags its
    words raise and whether it says the number is not the debtor's."""

    keyword: str | None
    flags: tuple[str, ...] = ()
    wrong_number: bool = False

    @property
    def asks_nothing(self) -> bool:
        return self.keyword == "help" or (
            self.keyword is None and not self.flags and not self.wrong_number
        )


def keyword(body: str, opt_out_type: str = "") -> str | None:
    """`stop`, `start` or `help` when the whole text is such a keyword (or Twilio says
    so in `OptOutType`), else None."""
    if opt_out_type.lower() in ("stop", "start", "help"):
        return opt_out_type.lower()
    word = re.sub(r"\s+", " ", _TRIM.sub("", body)).lower()
    for name, words in (("stop", STOP_WORDS), ("start", START_WORDS), ("help", HELP_WORDS)):
        if word in words:
            return name
    return None


async def read_text(
    body: str, opt_out_type: str, analyzer: Analyzer, context: AnalysisContext
) -> Reading:
    found = keyword(body, opt_out_type)
    if found is not None or not body.strip():
        return Reading(found)
    [analysis] = await analyzer.analyze([body], context)
    flags = [i.value for i in TEXT_FLAGS if analysis.has(i)]
    if analysis.has(Intent.cease_contact) and refuses_only(OPT_OUT_FLAG, body):
        flags = [OPT_OUT_FLAG if f == Intent.cease_contact.value else f for f in flags]
    return Reading(None, tuple(flags), analysis.has(Intent.wrong_party))


@dataclass
class Recorded:
    """What an inbound text changed: the debtor's accounts it reached (none for a number
    that matches no single debtor), the flags it set and the ones it lifted."""

    accounts: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    lifted: list[str] = field(default_factory=list)


async def record_text(
    store: Store,
    analyzer: Analyzer,
    now: dt.datetime,
    number: str,
    body: str,
    opt_out_type: str = "",
    message_sid: str = "",
) -> tuple[Reading, Recorded]:
    """Read one inbound text and record what it asks for on every account of the debtor
    with this number, with one audit event; the text itself is not stored."""
    context = AnalysisContext(today=now.date(), locale=locale_for_number(number))
    reading = await read_text(body, opt_out_type, analyzer, context)
    recorded = Recorded()
    if reading.asks_nothing:
        return reading, recorded
    async with store.write() as session:
        found = await account_for_phone(session, number)
        if found is None:
            return reading, recorded
        accounts = (
            await session.execute(
                select(Account).where(Account.debtor_id == found[1].id).order_by(Account.id)
            )
        ).scalars()
        chain = await AuditChain.open(session)
        for account in accounts:
            recorded.accounts.append(account.account_ref)
            if reading.keyword == "start":
                if await lift_flag(session, account.id, OPT_OUT_FLAG, now, SMS_KEYWORD_SOURCE):
                    recorded.lifted.append(OPT_OUT_FLAG)
                continue
            flags, source = (
                ([OPT_OUT_FLAG], SMS_KEYWORD_SOURCE)
                if reading.keyword == "stop"
                else (reading.flags, REPLY_SOURCE)
            )
            recorded.added += await set_flags(session, account.id, flags, now, source)
        if reading.keyword or reading.flags:
            chain.append(
                "account.flags",
                None,
                {
                    "account_refs": recorded.accounts,
                    "added": sorted(set(recorded.added)),
                    "lifted": sorted(set(recorded.lifted)),
                    "source": "sms",
                    "keyword": reading.keyword,
                    "raised": list(reading.flags),
                    "message_sid": message_sid,
                },
            )
        if reading.wrong_number:
            await set_number_status(session, chain, found[1], number, WRONG, now, "sms")
        await chain.close()
    return reading, recorded
