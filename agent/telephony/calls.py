"""Calls on the store: who is on the line, in which mode, and where the call stands.

Outbound calls pass the contact rules first (`ContactService.reserve`, channel
`call`, the channel the packs' caps count); the conversation itself runs on channel
`voice`, the one the packs ask recording consent for. Every state change that
matters for compliance (call created, voicemail left, final status) is appended to
the audit chain in the transaction that stores it. Audit payloads carry no phone
numbers: they outlive the retention purge of calls and attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from weakref import WeakValueDictionary

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from agent.compliance.audit import AuditChain
from agent.compliance.contact_service import ContactService
from agent.domain import ConversationState, Message
from agent.errors import Conflict, InvalidInput, NotFound, Unavailable
from agent.pipeline import Clock, TurnOutcome, TurnPipeline, system_clock
from agent.settings import Settings
from agent.store import repository
from agent.store.models import Account, Call, Campaign, ContactAttempt, Debtor
from agent.store.store import Store
from agent.telephony import lookup
from agent.telephony.status import (
    CONTACT_CHANNEL,
    CONVERSATION_CHANNEL,
    FINAL_STATUSES,
    MODES,
    STATUSES,
    CallInfo,
    ContactRefused,
    call_info,
    contact_outcome,
)
from agent.telephony.voicemail import leave_voicemail


class CallRegistry:
    def __init__(
        self,
        store: Store,
        contacts: ContactService,
        pipeline: TurnPipeline | None,
        settings: Settings,
        clock: Clock = system_clock,
    ) -> None:
        self.store = store
        self.contacts = contacts
        self.pipeline = pipeline
        self.settings = settings
        self.clock = clock
        # One conversation start per call in this process (webhook retries, a stream
        # reconnecting); across replicas the call row's lock in `start_conversation`
        # decides which conversation is linked.
        self._locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()

    # -- creating calls -------------------------------------------------------------------

    async def create_outbound(
        self, account_ref: str, mode: str | None = None, campaign_id: int | None = None
    ) -> CallInfo:
        mode = self._mode(mode)
        async with self.store.read() as session:
            account, debtor = await repository.require_account(session, account_ref)
        numbers = lookup.debtor_numbers(debtor)
        if not numbers:
            raise InvalidInput("no_phone_number", f"account {account_ref!r} has no phone number")
        now = self.clock()
        reservation = await self.contacts.reserve(
            account_ref, CONTACT_CHANNEL, now, numbers[0], campaign_id=campaign_id
        )
        if not reservation.decision.allowed:
            raise ContactRefused(reservation.decision)
        call = Call(
            id=str(uuid.uuid4()),
            account_id=account.id,
            direction="outbound",
            mode=mode,
            locale=debtor.preferred_locale,
            status="queued",
            from_number=self.settings.twilio_caller_id,
            to_number=numbers[0],
            contact_attempt_id=reservation.attempt_id,
            created_at=now,
            updated_at=now,
            campaign_id=campaign_id,
        )
        try:
            await self._insert(call, "call.created", account_ref)
        except SQLAlchemyError as exc:
            await self._settle_attempt(reservation.attempt_id, "failed")
            raise Unavailable("store_unavailable", "the call could not be recorded") from exc
        return call_info(call, account_ref)

    async def inbound(self, call_sid: str, from_number: str, to_number: str) -> CallInfo:
        """The call for this gateway call id, created on its first webhook."""
        existing = await self.by_sid(call_sid)
        if existing is not None:
            return existing
        caller = lookup.e164(from_number)
        async with self.store.read() as session:
            match = await lookup.account_for_phone(session, caller) if caller else None
        now = self.clock()
        call = Call(
            id=str(uuid.uuid4()),
            call_sid=call_sid,
            account_id=match[0].id if match else None,
            direction="inbound",
            mode=self.settings.telephony_mode,
            locale=match[1].preferred_locale if match else lookup.locale_for_number(caller),
            status="in-progress",
            from_number=(caller or from_number)[:32],
            to_number=(lookup.e164(to_number) or to_number)[:32],
            created_at=now,
            updated_at=now,
        )
        account_ref = match[0].account_ref if match else None
        try:
            await self._insert(call, "call.inbound", account_ref, match)
        except IntegrityError:
            # The gateway retried the webhook and the other request stored it first.
            if (found := await self.by_sid(call_sid)) is not None:
                return found
            raise
        return call_info(call, account_ref)

    # -- reading --------------------------------------------------------------------------

    async def get(self, call_id: str) -> CallInfo:
        found = await self._find(Call.id == call_id)
        if found is None:
            raise NotFound("call_not_found", f"no call {call_id!r}")
        return found

    async def by_sid(self, call_sid: str) -> CallInfo | None:
        return await self._find(Call.call_sid == call_sid) if call_sid else None

    async def silent_since(self, before: dt.datetime, limit: int) -> list[CallInfo]:
        """Twilio calls (sid `CA...`) not yet final whose last news is older than `before`,
        longest silent first."""
        async with self.store.read() as session:
            rows = await session.execute(
                _with_account_ref()
                .where(
                    Call.status.not_in(FINAL_STATUSES),
                    Call.call_sid.like("CA%"),
                    Call.updated_at < before,
                )
                .order_by(Call.updated_at, Call.id)
                .limit(limit)
            )
            return [call_info(call, ref) for call, ref in rows.all()]

    # -- the gateway's progress -----------------------------------------------------------

    async def dialled(self, call_id: str, call_sid: str, status: str = "queued") -> CallInfo:
        """The gateway accepted the outbound call and named it."""
        async with self.store.write() as session:
            call = await self._require(session, call_id)
            call.call_sid = call.call_sid or call_sid
            if call.status == "queued" and status in STATUSES:
                call.status = status
            call.updated_at = self.clock()
        return await self.get(call_id)

    async def dial_failed(self, call_id: str, reason: str) -> None:
        """The gateway never took the call: close it and its attempt (nothing pending)."""
        await self.update_status("", "failed", call_id=call_id, reason=reason)

    async def answered(self, call_id: str, call_sid: str, answered_by: str | None) -> CallInfo:
        """The voice webhook of an outbound call: it is up, and we know who picked up."""
        async with self.store.write() as session:
            call = await self._require(session, call_id)
            if call.call_sid and call_sid and call.call_sid != call_sid:
                raise Conflict("call_sid_mismatch", "the webhook names another call")
            call.call_sid = call.call_sid or call_sid or None
            call.answered_by = answered_by or call.answered_by
            if call.status not in FINAL_STATUSES:
                call.status = "in-progress"
            call.updated_at = self.clock()
        return await self.get(call_id)

    async def update_status(
        self,
        call_sid: str,
        status: str,
        answered_by: str | None = None,
        duration: int | None = None,
        *,
        call_id: str | None = None,
        reason: str | None = None,
    ) -> CallInfo:
        """A status callback. The first final status settles the contact attempt and is
        audited; later or out-of-order callbacks never move a final call back."""
        if status not in STATUSES:
            raise InvalidInput("unknown_call_status", f"call status {status!r} is not known")
        now = self.clock()
        async with self.store.write() as session:
            where = Call.id == call_id if call_id else Call.call_sid == call_sid
            # Locked: two callbacks racing (PostgreSQL) must not both settle the attempt.
            call = (
                await session.execute(select(Call).where(where).with_for_update())
            ).scalar_one_or_none()
            if call is None:
                raise NotFound("call_not_found", f"no call {call_id or call_sid!r}")
            settle = status in FINAL_STATUSES and call.status not in FINAL_STATUSES
            if call.status not in FINAL_STATUSES:
                call.status = status
            call.call_sid = call.call_sid or call_sid or None
            call.answered_by = answered_by or call.answered_by
            call.duration_s = duration if duration is not None else call.duration_s
            call.updated_at = now
            if settle:
                outcome = contact_outcome(status, call.answered_by)
                if call.contact_attempt_id is not None:
                    # The same transaction as the call row, so a crash can never leave
                    # a final call beside a pending attempt (the caps would differ).
                    attempt = await session.get(ContactAttempt, call.contact_attempt_id)
                    if attempt is not None:
                        attempt.outcome, attempt.updated_at = outcome, now
                chain = await AuditChain.open(session)
                chain.append(
                    "call.ended",
                    call.conversation_id,
                    {
                        "call_id": call.id,
                        "call_sid": call.call_sid,
                        "direction": call.direction,
                        "status": status,
                        "answered_by": call.answered_by,
                        "duration_s": call.duration_s,
                        "outcome": outcome,
                        "attempt_id": call.contact_attempt_id,
                        "reason": reason,
                    },
                )
                await chain.close()
        if settle and call.session_id is not None:
            # The gateway says the call is over. Normally the call loop ended the
            # conversation already (a no-op then); after a crash or a lost media stream
            # nobody else will, so the conversation is closed and logged here.
            await self._pipeline().end(call.session_id, f"call_{status}")
        return await self.get(call.id)

    # -- the conversation -----------------------------------------------------------------

    async def start_conversation(self, call_id: str) -> TurnOutcome:
        """Open the call's conversation, once: a second call (webhook retry, stream
        reconnect) gets the same session and what the agent last said."""
        lock = self._locks.get(call_id)
        if lock is None:
            lock = self._locks[call_id] = asyncio.Lock()
        async with lock:
            call = await self.get(call_id)
            if call.account_ref is None:
                raise Conflict("unknown_caller", "this call has no account to talk about")
            if call.session_id is not None:
                return await self._existing(call.session_id)
            outcome = await self._pipeline().start(
                call.account_ref,
                call.locale,
                CONVERSATION_CHANNEL,
                policy_id=await self._campaign_policy(call.campaign_id),
                campaign_id=call.campaign_id,
            )
            async with self.store.write() as session:
                call_row = await self._require(session, call_id)
                if call_row.session_id is None:
                    call_row.session_id = outcome.session_id
                    call_row.conversation_id = outcome.conversation_id
                    call_row.updated_at = self.clock()
                    return outcome
                winner = call_row.session_id
            # Another replica linked its conversation first; ours stays unused.
            return await self._existing(winner)

    async def replay(self, call_id: str) -> list[Message]:
        """What the agent last said on this call (a reprompt after silence)."""
        call = await self.get(call_id)
        if call.conversation_id is None:
            return []
        async with self.store.read() as session:
            return await lookup.latest_agent_messages(session, call.conversation_id)

    async def voicemail(self, call_id: str) -> str | None:
        """The limited-content message for an answering machine, guarded and audited;
        None when the guard refuses it (then nothing is left on the machine)."""
        call = await self.get(call_id)
        if call.account_ref is None:
            return None
        return await leave_voicemail(
            self._pipeline(), self.store, call, call.account_ref, self.clock()
        )

    # -- helpers --------------------------------------------------------------------------

    def _pipeline(self) -> TurnPipeline:
        # A dialer worker builds its registry without a pipeline: it places calls and
        # never holds a conversation (the API replicas answer the webhooks).
        if self.pipeline is None:
            raise RuntimeError("this call registry has no turn pipeline (a dialer's)")
        return self.pipeline

    async def _campaign_policy(self, campaign_id: int | None) -> str | None:
        if campaign_id is None:
            return None
        async with self.store.read() as session:
            campaign = await session.get(Campaign, campaign_id)
        return campaign.policy_id if campaign is not None and campaign.policy_id else None

    def _mode(self, mode: str | None) -> str:
        chosen = mode or self.settings.telephony_mode
        if chosen not in MODES:
            raise InvalidInput(
                "unknown_call_mode", f"mode {chosen!r} is not one of {sorted(MODES)}"
            )
        return chosen

    async def _insert(
        self,
        call: Call,
        kind: str,
        account_ref: str | None,
        match: tuple[Account, Debtor] | None = None,
    ) -> None:
        async with self.store.write() as session:
            await lookup.insert_call(session, call, kind, account_ref, match)

    async def _settle_attempt(self, attempt_id: int | None, outcome: str) -> None:
        if attempt_id is not None:
            # The store may be down; the caller reports Unavailable either way.
            with contextlib.suppress(SQLAlchemyError):
                await self.contacts.record_outcome(attempt_id, outcome, self.clock())

    async def _existing(self, session_id: str) -> TurnOutcome:
        async with self.store.read() as session:
            conversation = await repository.conversation_by_session(session, session_id)
            if conversation is None:
                raise NotFound("session_not_found", f"no session {session_id!r}")
            messages = await lookup.latest_agent_messages(session, conversation.id)
        state = ConversationState.model_validate(conversation.state)
        return TurnOutcome(conversation.id, session_id, messages, state)

    async def _find(self, where: ColumnElement[bool]) -> CallInfo | None:
        async with self.store.read() as session:
            row = (await session.execute(_with_account_ref().where(where))).first()
        return None if row is None else call_info(row[0], row[1])

    @staticmethod
    async def _require(session: AsyncSession, call_id: str) -> Call:
        call = await session.get(Call, call_id, with_for_update=True)
        if call is None:
            raise NotFound("call_not_found", f"no call {call_id!r}")
        return call


def _with_account_ref() -> Select[Call, str]:
    """Calls with their account's reference (None for an unmatched inbound caller)."""
    return select(Call, Account.account_ref).outerjoin(Account, Account.id == Call.account_id)
