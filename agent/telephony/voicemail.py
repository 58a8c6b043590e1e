"""The answering-machine message: the voicemail template (the limited-content message
of US-VOICEMAIL: name, a business name that does not say "debt", a callback number)
checked by the same guard as every other utterance, as said to an unverified listener."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from agent.compliance.audit import AuditChain
from agent.compliance.flags import active_flags
from agent.compliance.guard import Utterance
from agent.dialogue.templates import Rendered, money
from agent.domain import GuardResult, Tone
from agent.pipeline import TurnPipeline
from agent.store import repository
from agent.store.models import Account, Debtor
from agent.store.store import Store
from agent.telephony.status import CallInfo

TEMPLATE_ID = "voicemail"


async def render_voicemail(
    pipeline: TurnPipeline,
    session: AsyncSession,
    account: Account,
    debtor: Debtor,
    locale: str,
    now: dt.datetime,
) -> tuple[Rendered, GuardResult]:
    rendered = pipeline.dialogue.templates.render(
        TEMPLATE_ID,
        locale,
        Tone.neutral,
        {
            "given_name": debtor.given_name,
            "business_name": pipeline.business_name,
            "callback_number": pipeline.callback_number,
        },
    )
    flags = await active_flags(session, account.id, now)
    verdict = pipeline.guard.check(
        Utterance(
            text=rendered.text,
            language="zh" if locale.startswith("zh") else "en",
            # Anyone may hear a machine's recording: it is never a verified listener.
            verified=False,
            reveals_debt=rendered.reveals_debt,
            source="template",
            jurisdiction=account.jurisdiction,
            region=account.region,
            account_flags=frozenset(flags),
            debt_words=(account.creditor, money(account.balance, account.currency, locale)),
        )
    )
    return rendered, verdict


async def leave_voicemail(
    pipeline: TurnPipeline, store: Store, call: CallInfo, account_ref: str, now: dt.datetime
) -> str | None:
    """Render, guard and audit the message in one transaction; the audit keeps the
    template's id, version and hash (the words can be rebuilt), not the debtor's name."""
    async with store.write() as session:
        account, debtor = await repository.require_account(session, account_ref)
        rendered, verdict = await render_voicemail(
            pipeline, session, account, debtor, call.locale, now
        )
        chain = await AuditChain.open(session)
        chain.append(
            "call.voicemail",
            None,
            {
                "call_id": call.id,
                "account_ref": account_ref,
                "template_id": rendered.template_id,
                "template_version": rendered.template_version,
                "template_hash": rendered.template_hash,
                "locale": call.locale,
                "guard": verdict.model_dump(mode="json"),
                "left": verdict.allowed,
            },
        )
        await chain.close()
    return rendered.text if verdict.allowed else None
