"""The turn pipeline every channel uses (ARCHITECTURE.md):

inbound text -> analyze -> compliance.observe -> dialogue.decide -> templates.render
-> compliance.guard -> audit.append + store (one committed transaction) -> reply.

Nothing leaves `handle` or `start` before the transaction holding the turn and its
audit events has committed; if the commit fails the caller gets `Unavailable` and
the debtor hears nothing (ALL-LOG-FIRST, fail closed).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from weakref import WeakValueDictionary
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from agent.assist.payloads import control_event, ended_event, turn_event
from agent.assist.takeover import HOLDER_IDLE, TakeoverMixin, append_control
from agent.compliance.audit import AuditChain
from agent.compliance.flags import active_flags, set_flags
from agent.compliance.guard import Guard
from agent.compliance.observe import STICKY_ACCOUNT_FLAGS, observe
from agent.compliance.packs import PackLibrary
from agent.compliance.redact import redact
from agent.dialogue.manager import AccountFacts, Decision, DialogueManager
from agent.dialogue.templates import Rendered
from agent.domain import (
    SUPPORTED_LOCALES,
    Analysis,
    AnalysisContext,
    ConversationState,
    GuardResult,
    Message,
    Tone,
)
from agent.errors import Conflict, InvalidInput, NotFound, Unavailable
from agent.events import EventBus
from agent.logs import log_event
from agent.nlp.analyzer import Analyzer
from agent.nlp.combine import read_together
from agent.payments.links import payment_link
from agent.store import repository
from agent.store.database import utc
from agent.store.models import Account, Conversation, Debtor, PromiseToPay, Turn
from agent.store.store import Store
from agent.telephony.lookup import debtor_numbers
from agent.telephony.wrong_numbers import WRONG, conversation_number, set_number_status

if TYPE_CHECKING:
    from agent.payments.texting import PaymentLinkTexter

log = logging.getLogger("agent.pipeline")

Clock = Callable[[], dt.datetime]
PHONE_REGIONS = {"US": "US", "UK": "GB", "CN": "CN"}


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class OutboundMessage:
    message: Message
    guard: GuardResult


@dataclass(frozen=True)
class TurnOutcome:
    conversation_id: str
    session_id: str
    messages: list[Message]
    state: ConversationState
    analysis: Analysis | None = None
    # Seconds spent in the classifier for this turn (voice metrics split it out).
    analysis_seconds: float = 0.0


@dataclass(frozen=True)
class Inbound:
    """A debtor's turn to log: the redacted text, its analysis, the flags it newly raised."""

    text: str
    analysis: Analysis
    new_flags: list[str]


class TurnPipeline(TakeoverMixin):
    def __init__(
        self,
        store: Store,
        analyzer: Analyzer,
        dialogue: DialogueManager,
        guard: Guard,
        packs: PackLibrary,
        *,
        policy_id: str,
        business_name: str,
        callback_number: str,
        clock: Clock = system_clock,
        events: EventBus | None = None,
        payment_links: Mapping[str, str] | None = None,
        link_texter: PaymentLinkTexter | None = None,
        takeover_idle: dt.timedelta | None = None,
    ) -> None:
        self.store = store
        # A person who has taken a chat over and left the debtor unanswered this long
        # gets it taken back by the debtor's next turn (None: never).
        self.takeover_idle = takeover_idle
        # Payment links per tenant (agent/payments/links.py): shown in chat after a
        # promise; on a call the texter sends the link (through the contact rules).
        self.payment_links = payment_links or {}
        self.link_texter = link_texter
        self._texts: set[asyncio.Task[str]] = set()
        # Committed turns are published here (agent/events.py) for the assist panel.
        self.events = events
        self.analyzer = analyzer
        self.dialogue = dialogue
        self.guard = guard
        self.packs = packs
        self.policy_id = policy_id
        self.business_name = business_name
        self.callback_number = callback_number
        self.clock = clock
        # One turn at a time per conversation inside this process; across replicas the
        # turn counter check in `_commit_turn` rejects the loser with a 409.
        self._locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()

    # -- public API -----------------------------------------------------------------------

    async def start(
        self,
        account_ref: str,
        locale: str | None,
        channel: str,
        *,
        policy_id: str | None = None,
        campaign_id: int | None = None,
    ) -> TurnOutcome:
        """Open a conversation; `policy_id` (a campaign's policy) overrides the default
        for the whole conversation, and `campaign_id` ties it to its campaign."""
        now = self.clock()
        async with self.store.read() as session:
            account, debtor = await repository.require_account(session, account_ref)
            flags = sorted(await active_flags(session, account.id, now))
            disclosed_before = await repository.collection_disclosure_given(session, account.id)
        locale = locale or debtor.preferred_locale
        if locale not in SUPPORTED_LOCALES:
            raise InvalidInput(
                "unsupported_locale",
                f"locale {locale!r} is not supported; use one of {list(SUPPORTED_LOCALES)}",
            )
        facts = self._facts(account, debtor, locale, channel, now, not disclosed_before)
        state, decision = self.dialogue.begin(policy_id or self.policy_id, facts, flags)
        outbound = self._guarded(decision, state, facts)
        conversation = Conversation(
            id=str(uuid.uuid4()),
            session_id=secrets.token_urlsafe(18),
            account_id=account.id,
            tenant=account.tenant,
            channel=channel,
            locale=locale,
            policy_id=decision.policy_id,
            policy_version=decision.policy_version,
            state=state.model_dump(mode="json"),
            turn_count=0,
            started_at=now,
            updated_at=now,
            campaign_id=campaign_id,
        )
        try:
            async with self.store.write() as session:
                chain = await AuditChain.open(session)
                session.add(conversation)
                await session.flush()
                chain.append(
                    "conversation.started",
                    conversation.id,
                    {
                        "account_ref": account.account_ref,
                        "tenant": account.tenant,
                        "channel": channel,
                        "locale": locale,
                        "policy_id": decision.policy_id,
                        "policy_version": decision.policy_version,
                        "campaign_id": campaign_id,
                    },
                )
                self._add_outbound(session, chain, conversation, decision, outbound, now)
                await chain.close()
        except SQLAlchemyError as exc:
            raise self._unavailable(exc, conversation.id) from exc
        log_event(log, "conversation_started", conversation_id=conversation.id, channel=channel)
        await self._announce(
            conversation,
            [
                turn_event(conversation, seq, "agent", o.message.text, state, now)
                for seq, o in enumerate(outbound, 1)
            ],
        )
        return TurnOutcome(
            conversation.id, conversation.session_id, [o.message for o in outbound], state
        )

    async def handle(self, session_id: str, text: str) -> TurnOutcome:
        async with self._session_lock(session_id):
            return await self._handle(session_id, text)

    # -- the turn -------------------------------------------------------------------------

    async def _handle(self, session_id: str, text: str) -> TurnOutcome:
        async with self.store.read() as session:
            conversation = await repository.conversation_by_session(session, session_id)
            if conversation is None:
                raise NotFound("session_not_found", f"no chat session {session_id!r}")
            account, debtor = await repository.account_by_id(session, conversation.account_id)
        state = ConversationState.model_validate(conversation.state)
        if state.ended:
            raise Conflict("conversation_ended", "this conversation has ended")
        now = self.clock()
        facts = self._facts_in(conversation, state, account, debtor, now)
        if facts.text_payment_link and not await self._may_text_link(account, debtor):
            # The agent promises a texted link only when the rules would let it go.
            facts = dataclasses.replace(facts, text_payment_link=False)
        context = AnalysisContext(
            today=facts.today,
            timezone=debtor.timezone,
            locale=conversation.locale,
            default_currency=account.currency,
        )
        # Redacted before anything else, analysis included: from here on (entities, state,
        # store, log, reply) card numbers, IDs, phones and emails never exist, and their
        # digits are never read as an amount ("my card is 4111 ..." is not $4,111).
        text = redact(text, PHONE_REGIONS.get(account.jurisdiction))
        started = time.perf_counter()
        [analysis] = await self.analyzer.analyze([text], context)
        analysis_seconds = time.perf_counter() - started
        observed = state.model_copy(deep=True)
        raised, new_flags = observe(observed, analysis)
        decision: Decision | None = None
        outbound: list[OutboundMessage] = []
        new_state = observed
        # While a person has the conversation (assist takeover) the bot stays silent:
        # the turn is still analysed, flagged and logged, and the person sees it live.
        # Unless they have left the debtor waiting too long: then this turn hands it back.
        idle_holder = await self._idle_holder(conversation, now)
        if conversation.controlled_by is None or idle_holder is not None:
            # The conversation keeps the policy it started with (a campaign's own).
            new_state, decision = self.dialogue.respond(
                conversation.policy_id, observed, analysis, facts, frozenset(raised)
            )
            outbound = self._guarded(decision, new_state, facts)
        seq = await self._commit_turn(
            conversation,
            account,
            Inbound(text, analysis, new_flags),
            new_state,
            decision,
            outbound,
            now,
            idle_holder,
        )
        log_event(
            log,
            "turn",
            conversation_id=conversation.id,
            step=new_state.step,
            rule=decision.rule if decision else "human_control",
            tone=decision.tone.value if decision else None,
            intents=[i.value for i in analysis.intents],
            emotion=analysis.emotion.value,
        )
        if idle_holder is not None:
            log_event(log, "takeover_released", conversation_id=conversation.id, idle=idle_holder)
        released = (
            [] if idle_holder is None else [control_event(conversation.id, None, HOLDER_IDLE)]
        )
        await self._announce(
            conversation,
            [
                *released,
                turn_event(conversation, seq, "debtor", text, new_state, now, analysis),
                *(
                    turn_event(conversation, seq + i, "agent", o.message.text, new_state, now)
                    for i, o in enumerate(outbound, 1)
                ),
                *([ended_event(conversation.id)] if new_state.ended else []),
            ],
        )
        if decision is not None and decision.promise_captured and facts.text_payment_link:
            self._text_link(account, debtor, facts)
        return TurnOutcome(
            conversation.id,
            session_id,
            [o.message for o in outbound],
            new_state,
            analysis,
            analysis_seconds,
        )

    async def answer_waiting(self, conversation_id: str) -> bool:
        """Give the bot back a chat whose holder has left the debtor waiting longer than
        `takeover_idle`, and answer the debtor now: the idle round (agent/assist/idle.py)
        calls this, so a debtor who waits in silence is not left unanswered. The bot
        answers every waiting message at once, read together (`read_together`: a promise
        in the first counts under a later "hello?"), and honours the flags each raised.
        False when there is nothing to do (answered, handed back, ended)."""
        conversation = await self._load(conversation_id)
        async with self._session_lock(conversation.session_id):
            conversation = await self._load(conversation_id)  # as it is now, in the lock
            async with self.store.read() as session:
                account, debtor = await repository.account_by_id(session, conversation.account_id)
                waiting = await repository.waiting_turns(session, conversation_id)
            if not waiting:
                return False
            now = self.clock()
            holder = self._holder_if_idle(conversation, utc(waiting[0].created_at), now)
            state = ConversationState.model_validate(conversation.state)
            if holder is None or state.ended:
                return False
            facts = self._facts_in(conversation, state, account, debtor, now)
            analyses = [Analysis.model_validate(turn.analysis) for turn in waiting]
            # `observe` already put these flags on the state when each message came in;
            # which of them this answer must react to is recomputed from the analyses.
            raised = {flag for a in analyses for flag in observe(state.model_copy(deep=True), a)[0]}
            new_state, decision = self.dialogue.respond(
                conversation.policy_id, state, read_together(analyses), facts, frozenset(raised)
            )
            # The debtor has waited minutes for this answer: it starts with an apology.
            apology = self.dialogue.render_for(
                conversation.policy_id, state, facts, "idle_apology", decision.tone
            )
            decision = decision.model_copy(update={"messages": [apology, *decision.messages]})
            outbound = self._guarded(decision, new_state, facts)
            seq = await self._commit_turn(
                conversation, account, None, new_state, decision, outbound, now, holder
            )
        log_event(
            log,
            "takeover_released",
            conversation_id=conversation.id,
            idle=holder,
            answered=[turn.seq for turn in waiting],
            rule=decision.rule,
        )
        await self._announce(
            conversation,
            [
                control_event(conversation.id, None, HOLDER_IDLE),
                *(
                    turn_event(
                        conversation,
                        seq + i,
                        "agent",
                        o.message.text,
                        new_state,
                        now,
                        message=o.message,
                    )
                    for i, o in enumerate(outbound, 1)
                ),
                *([ended_event(conversation.id)] if new_state.ended else []),
            ],
            to_session=True,  # the widget gets the bot's words pushed, like a person's
        )
        return True

    async def record(self, conversation_id: str, kind: str, payload: dict[str, Any]) -> None:
        """Append a channel event (a barge-in, a disclosure played or repeated) to the
        conversation's chain; returns once it is durable."""
        try:
            async with self.store.write() as session:
                chain = await AuditChain.open(session)
                chain.append(kind, conversation_id, payload)
                await chain.close()
        except SQLAlchemyError as exc:
            raise self._unavailable(exc, conversation_id) from exc

    async def end(self, session_id: str, reason: str) -> None:
        """End a conversation from the channel side (the caller hung up); a no-op when
        the dialogue already ended it."""
        now = self.clock()
        try:
            async with self.store.write() as session:
                conversation = await repository.conversation_by_session(session, session_id)
                if conversation is None:
                    raise NotFound("session_not_found", f"no session {session_id!r}")
                if conversation.ended_at is not None:
                    return
                chain = await AuditChain.open(session)
                state = ConversationState.model_validate(conversation.state)
                state.ended = True
                conversation.state = state.model_dump(mode="json")
                conversation.ended_at = now
                conversation.updated_at = now
                chain.append(
                    "conversation.ended", conversation.id, {"step": state.step, "reason": reason}
                )
                await chain.close()
        except SQLAlchemyError as exc:
            raise self._unavailable(exc, session_id) from exc
        await self._announce(conversation, [ended_event(conversation.id)])

    async def _commit_turn(
        self,
        loaded: Conversation,
        account: Account,
        inbound: Inbound | None,
        state: ConversationState,
        decision: Decision | None,
        outbound: list[OutboundMessage],
        now: dt.datetime,
        idle_holder: str | None = None,
    ) -> int:
        """Log the debtor's turn (if `inbound`) and the replies in one transaction; returns
        the seq the replies follow (the debtor's turn, or the last turn logged before).
        With `idle_holder`, the same transaction hands the conversation back from them."""
        try:
            async with self.store.write() as session:
                chain = await AuditChain.open(session)
                conversation = (
                    await session.execute(
                        select(Conversation).where(Conversation.id == loaded.id).with_for_update()
                    )
                ).scalar_one()
                if conversation.turn_count != loaded.turn_count:
                    raise Conflict("turn_conflict", "another turn was taken first; resend")
                if idle_holder is not None:
                    if conversation.controlled_by != idle_holder:  # they acted meanwhile
                        raise Conflict("turn_conflict", "the conversation changed hands; resend")
                    conversation.controlled_by = None
                    append_control(
                        chain, conversation.id, None, "system", idle_holder, reason=HOLDER_IDLE
                    )
                seq = await repository.last_turn_seq(session, conversation.id)
                new_flags = [] if inbound is None else inbound.new_flags
                if inbound is not None:
                    seq += 1
                    analysis = inbound.analysis.model_dump(mode="json")
                    session.add(
                        Turn(
                            conversation_id=conversation.id,
                            seq=seq,
                            role="debtor",
                            text=inbound.text,
                            created_at=now,
                            analysis=analysis,
                        )
                    )
                    chain.append(
                        "turn.inbound",
                        conversation.id,
                        {
                            "turn": seq,
                            "text": inbound.text,
                            "analysis": analysis,
                            "flags_raised": new_flags,
                        },
                    )
                if decision is not None:
                    self._add_outbound(
                        session, chain, conversation, decision, outbound, now, seq + 1
                    )
                if decision is not None and decision.promise_captured is not None:
                    promise = decision.promise_captured
                    session.add(
                        PromiseToPay(
                            conversation_id=conversation.id,
                            account_id=account.id,
                            amount=promise.amount,
                            currency=promise.currency,
                            due_date=promise.date,
                            kind=promise.kind,
                            installments=promise.installments,
                            every=promise.every,
                            status="open",
                            created_at=now,
                        )
                    )
                    chain.append(
                        "promise.captured", conversation.id, promise.model_dump(mode="json")
                    )
                sticky = [f for f in new_flags if f in STICKY_ACCOUNT_FLAGS]
                added = await set_flags(
                    session, account.id, sticky, now, conversation.channel, conversation.id
                )
                pack = self.packs.resolve(account.jurisdiction, account.region)
                if "vulnerability" in added and pack.pause_on_vulnerability_days:
                    until = now + dt.timedelta(days=pack.pause_on_vulnerability_days)
                    paused = await set_flags(
                        session,
                        account.id,
                        ["vulnerability_pause"],
                        now,
                        "policy",
                        conversation.id,
                        until,
                    )
                    added += paused
                if added:
                    chain.append("account.flags", conversation.id, {"added": added})
                if "wrong_party" in new_flags:  # raised only before identity is verified
                    await self._retire_number(session, chain, conversation, now)
                conversation.state = state.model_dump(mode="json")
                conversation.turn_count += 1
                conversation.updated_at = now
                if state.ended and conversation.ended_at is None:
                    conversation.ended_at = now
                    chain.append("conversation.ended", conversation.id, {"step": state.step})
                await chain.close()
        except SQLAlchemyError as exc:
            raise self._unavailable(exc, loaded.id) from exc
        return seq

    @staticmethod
    async def _retire_number(
        session: AsyncSession, chain: AuditChain, conversation: Conversation, now: dt.datetime
    ) -> None:
        """Someone for whom it is the wrong number answered a call, or a texted chat link:
        never use that number again for this debtor (agent/telephony/wrong_numbers.py)."""
        reached = await conversation_number(session, conversation)
        if reached is not None:
            source = "call" if conversation.channel == "voice" else conversation.channel
            await set_number_status(session, chain, *reached, WRONG, now, source, conversation.id)

    def _add_outbound(
        self,
        session: AsyncSession,
        chain: AuditChain,
        conversation: Conversation,
        decision: Decision,
        outbound: list[OutboundMessage],
        now: dt.datetime,
        first_seq: int = 1,
    ) -> None:
        decision_record = decision.model_dump(mode="json", exclude={"messages"})
        for offset, item in enumerate(outbound):
            seq = first_seq + offset
            message = item.message.model_dump(mode="json")
            guard = item.guard.model_dump(mode="json")
            session.add(
                Turn(
                    conversation_id=conversation.id,
                    seq=seq,
                    role="agent",
                    text=item.message.text,
                    created_at=now,
                    decision={**decision_record, "message": message},
                    guard=guard,
                )
            )
            chain.append(
                "turn.outbound",
                conversation.id,
                {"turn": seq, "message": message, "decision": decision_record, "guard": guard},
            )

    # -- helpers --------------------------------------------------------------------------

    def _facts(
        self,
        account: Account,
        debtor: Debtor,
        locale: str,
        channel: str,
        now: dt.datetime,
        first_communication: bool,
    ) -> AccountFacts:
        pack = self.packs.resolve(account.jurisdiction, account.region)
        required = list(pack.disclosures_before_balance)
        if pack.needs_recording_consent(account.region, channel):
            required.append("recording_consent")
        link = payment_link(account.tenant, account.account_ref, None, templates=self.payment_links)
        texter = self.link_texter
        return AccountFacts(
            account_ref=account.account_ref,
            given_name=debtor.given_name,
            date_of_birth=debtor.date_of_birth,
            creditor=account.creditor,
            balance=account.balance,
            currency=account.currency,
            jurisdiction=account.jurisdiction,
            days_past_due=account.days_past_due,
            locale=locale,
            channel=channel,
            today=now.astimezone(ZoneInfo(debtor.timezone)).date(),
            business_name=self.business_name,
            callback_number=self.callback_number,
            region=account.region,
            required_disclosures=tuple(required),
            first_communication=first_communication,
            payment_link=link,
            text_payment_link=bool(
                link and channel == "voice" and texter is not None and texter.enabled
            ),
            collection_stops=frozenset(pack.blocking_flags),
        )

    async def _may_text_link(self, account: Account, debtor: Debtor) -> bool:
        numbers = debtor_numbers(debtor)
        if self.link_texter is None or not numbers:
            return False
        return await self.link_texter.allowed(account.account_ref, numbers[0])

    def _text_link(self, account: Account, debtor: Debtor, facts: AccountFacts) -> None:
        """Send the promised payment link beside the call (the reply is not held up)."""
        numbers = debtor_numbers(debtor)
        if self.link_texter is None or facts.payment_link is None or not numbers:
            return
        task = asyncio.create_task(
            self.link_texter.send(account.account_ref, numbers[0], facts.payment_link, facts.locale)
        )
        self._texts.add(task)
        task.add_done_callback(self._texts.discard)

    def _guarded(
        self, decision: Decision, state: ConversationState, facts: AccountFacts
    ) -> list[OutboundMessage]:
        result = []
        for rendered in decision.messages:
            verdict = self.guard_text(
                rendered.text, state, facts, rendered.reveals_debt, source="template"
            )
            if not verdict.allowed:
                log_event(
                    log,
                    "guard_blocked",
                    logging.WARNING,
                    template_id=rendered.template_id,
                    rules=verdict.rule_ids,
                )
                # A blocked disclosure was not given.
                state.disclosures = [d for d in state.disclosures if d not in rendered.discloses]
                rendered = self._fallback(facts, state)
            result.append(OutboundMessage(_message(rendered), verdict))
        return result

    def _fallback(self, facts: AccountFacts, state: ConversationState) -> Rendered:
        context: dict[str, Any] = {
            "business_name": facts.business_name,
            "callback_number": facts.callback_number,
            "verified": state.verified,
        }
        return self.dialogue.templates.render("safe_fallback", facts.locale, Tone.neutral, context)

    @staticmethod
    def _unavailable(exc: Exception, conversation_id: str) -> Unavailable:
        log_event(
            log,
            "turn_not_logged",
            logging.ERROR,
            conversation_id=conversation_id,
            error=type(exc).__name__,
        )
        return Unavailable("store_unavailable", "the turn could not be logged; nothing was said")


def _message(rendered: Rendered) -> Message:
    return Message(
        role="agent",
        text=rendered.text,
        template_id=rendered.template_id,
        tone=rendered.tone,
        template_version=rendered.template_version,
        template_hash=rendered.template_hash,
        discloses=list(rendered.discloses),
    )
