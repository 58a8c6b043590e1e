"""Human takeover, for the turn pipeline (mixed into `TurnPipeline`).

A person may take a conversation over (`set_control`): the bot then stays silent and
every debtor turn is still analysed and logged. What the person says is guarded like a
template (source "human") and logged as `turn.outbound` with role "human" in the same
hash chain, in one committed transaction, before anyone sees it: the same
ALL-LOG-FIRST rule as bot turns. A blocked text is never said; the block itself is
logged (`guard.blocked`) and the caller gets 422 `blocked_by_guard` with the rules.

Events go out only after the commit returns (`_announce`), so the panel and the chat
socket never show anything the log does not hold. Publishing never fails a turn.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any, Literal
from weakref import WeakValueDictionary

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from agent.assist.payloads import WRAPUP_CODES, control_event, ended_event, turn_event
from agent.compliance.audit import AuditChain
from agent.compliance.guard import Guard, Utterance
from agent.dialogue.manager import AccountFacts, DialogueManager
from agent.dialogue.templates import money
from agent.domain import ConversationState, GuardResult, Message, Tone
from agent.errors import Conflict, InvalidInput, NotFound, Unavailable
from agent.events import Event, EventBus
from agent.logs import log_event
from agent.store import repository
from agent.store.models import Account, Conversation, Debtor, Turn
from agent.store.store import Store

log = logging.getLogger("agent.assist.takeover")

# Why the service took a conversation back from the person holding it: they left a debtor
# message unanswered longer than `takeover_idle` (chain event and live event alike).
HOLDER_IDLE = "holder_idle"


class TakeoverMixin:
    # Provided by TurnPipeline.
    store: Store
    guard: Guard
    dialogue: DialogueManager
    policy_id: str
    clock: Callable[[], dt.datetime]
    events: EventBus | None
    takeover_idle: dt.timedelta | None
    _locks: WeakValueDictionary[str, asyncio.Lock]

    def _facts(
        self,
        account: Account,
        debtor: Debtor,
        locale: str,
        channel: str,
        now: dt.datetime,
        first_communication: bool,
    ) -> AccountFacts:
        raise NotImplementedError

    def _session_lock(self, session_id: str) -> asyncio.Lock:
        lock = self._locks.get(session_id)
        if lock is None:
            lock = self._locks[session_id] = asyncio.Lock()
        return lock

    async def _announce(
        self, conversation: Conversation, events: list[Event], to_session: bool = False
    ) -> None:
        """Publish committed events to the tenant's panel (and the chat socket)."""
        if self.events is None:
            return
        for event in events:
            try:
                await self.events.publish(f"tenant:{conversation.tenant}", event)
                if to_session:
                    await self.events.publish(f"session:{conversation.session_id}", event)
            except Exception as exc:  # a live view is never worth failing a logged turn
                log_event(log, "event_not_published", logging.WARNING, error=repr(exc))

    async def facts_for(self, conversation: Conversation) -> AccountFacts:
        async with self.store.read() as session:
            account, debtor = await repository.account_by_id(session, conversation.account_id)
        state = ConversationState.model_validate(conversation.state)
        return self._facts_in(conversation, state, account, debtor, self.clock())

    def _facts_in(
        self,
        conversation: Conversation,
        state: ConversationState,
        account: Account,
        debtor: Debtor,
        now: dt.datetime,
    ) -> AccountFacts:
        """The facts a turn of `conversation` (in `state`) is decided on, at `now`."""
        return self._facts(
            account,
            debtor,
            conversation.locale,
            conversation.channel,
            now,
            state.first_communication,
        )

    def guard_text(
        self,
        text: str,
        state: ConversationState,
        facts: AccountFacts,
        reveals_debt: bool = False,
        source: Literal["template", "human"] = "human",
    ) -> GuardResult:
        """The guard's verdict on `text` said now, in this conversation (bot or person)."""
        return self.guard.check(
            Utterance(
                text=text,
                language="zh" if facts.locale.startswith("zh") else "en",
                verified=state.verified,
                reveals_debt=reveals_debt,
                source=source,
                jurisdiction=facts.jurisdiction,
                region=facts.region,
                account_flags=frozenset(state.flags),
                debt_words=(facts.creditor, money(facts.balance, facts.currency, facts.locale)),
            )
        )

    async def human_message(
        self, conversation_id: str, text: str | None, by: str, template_id: str | None = None
    ) -> tuple[Message, GuardResult]:
        conversation = await self._load(conversation_id)
        _typed_channel(conversation)
        async with self._session_lock(conversation.session_id):
            conversation = await self._load(conversation_id)
            if conversation.ended_at is not None:
                raise Conflict("conversation_ended", "this conversation has ended")
            _refuse_unless_holder(conversation, by)  # before the guard: nothing logged
            state = ConversationState.model_validate(conversation.state)
            facts = await self.facts_for(conversation)
            message, reveals_debt = self._compose(conversation, state, facts, text, template_id)
            verdict = self.guard_text(message.text, state, facts, reveals_debt)
            if not verdict.allowed:
                await self._record(
                    conversation.id,
                    "guard.blocked",
                    {"source": "human", "by": by, "text": message.text, "rules": verdict.rule_ids},
                )
                await self._announce(
                    conversation,
                    [
                        {
                            "type": "alert",
                            "conversation_id": conversation.id,
                            "kind": "blocked_phrase",
                        }
                    ],
                )
                raise InvalidInput(
                    "blocked_by_guard",
                    "the guard blocked this message; it was not sent",
                    rules=verdict.rule_ids,
                )
            now = self.clock()
            body = message.model_dump(mode="json")
            guard = verdict.model_dump(mode="json")
            try:
                async with self.store.write() as session:
                    chain = await AuditChain.open(session)
                    locked = await _for_update(session, conversation.id)
                    _refuse_unless_holder(locked, by)  # another replica's takeover since
                    seq = await repository.last_turn_seq(session, locked.id) + 1
                    session.add(
                        Turn(
                            conversation_id=locked.id,
                            seq=seq,
                            role="human",
                            text=message.text,
                            created_at=now,
                            decision={"message": body, "by": by},
                            guard=guard,
                        )
                    )
                    chain.append(
                        "turn.outbound",
                        locked.id,
                        {"turn": seq, "message": body, "guard": guard, "by": by},
                    )
                    locked.updated_at = now
                    await chain.close()
            except SQLAlchemyError as exc:
                raise _unavailable(exc, conversation.id) from exc
        event = turn_event(conversation, seq, "human", message.text, state, now, message=message)
        await self._announce(conversation, [event], to_session=True)
        return message, verdict

    def _compose(
        self,
        conversation: Conversation,
        state: ConversationState,
        facts: AccountFacts,
        text: str | None,
        template_id: str | None,
    ) -> tuple[Message, bool]:
        if template_id is None:
            if not text:
                raise InvalidInput("empty_text", "send `text` or `template_id`")
            return Message(role="human", text=text, template_id="human", tone=Tone.neutral), False
        policy_id = conversation.policy_id
        if template_id not in self.dialogue.templates.ids(conversation.locale):
            raise InvalidInput("unknown_template", f"no template {template_id!r}")
        tone = self.dialogue.tone_for(policy_id, state, None, facts)
        rendered = self.dialogue.render_for(policy_id, state, facts, template_id, tone)
        message = Message(
            role="human",
            text=rendered.text,
            template_id=rendered.template_id,
            tone=rendered.tone,
            template_version=rendered.template_version,
            template_hash=rendered.template_hash,
        )
        return message, rendered.reveals_debt

    async def _idle_holder(self, conversation: Conversation, now: dt.datetime) -> str | None:
        """Who holds `conversation`, if they have left a debtor turn unanswered for longer
        than `takeover_idle` (a closed browser, a collector called away): the conversation
        then goes back to the bot, at the debtor's next turn or in the idle round
        (`answer_waiting`), whichever comes first. None otherwise."""
        if conversation.controlled_by is None or self.takeover_idle is None:
            return None
        async with self.store.read() as session:
            waiting = await repository.waiting_since(session, [conversation.id])
        return self._holder_if_idle(conversation, waiting.get(conversation.id), now)

    def _holder_if_idle(
        self, conversation: Conversation, waiting_since: dt.datetime | None, now: dt.datetime
    ) -> str | None:
        """The holder, if the debtor has waited on them past the limit."""
        if waiting_since is None or not waited_too_long(waiting_since, now, self.takeover_idle):
            return None
        return conversation.controlled_by

    async def set_control(
        self, conversation_id: str, username: str | None, by: str, overrides: bool = False
    ) -> None:
        """Take over (`username`) or hand back (None); waits for a turn in flight.

        A conversation another person holds can be taken from them or handed back only
        with `overrides` (a supervisor's barge-in): two collectors never both think they
        hold it, and a stale panel cannot hand back a colleague's conversation."""
        conversation = await self._load(conversation_id)
        if username is not None:
            _typed_channel(conversation)
        async with self._session_lock(conversation.session_id):
            try:
                async with self.store.write() as session:
                    # The audit head first, then the conversation: the order every
                    # writer uses, so two writers never wait on each other in a cycle.
                    chain = await AuditChain.open(session)
                    locked = await _for_update(session, conversation_id)
                    if locked.ended_at is not None and username is not None:
                        raise Conflict("conversation_ended", "this conversation has ended")
                    holder = locked.controlled_by
                    if not overrides:
                        _refuse_unless_holder(locked, by)
                    locked.controlled_by = username
                    locked.updated_at = self.clock()
                    append_control(chain, locked.id, username, by, holder)
                    await chain.close()
            except SQLAlchemyError as exc:
                raise _unavailable(exc, conversation_id) from exc
        await self._announce(conversation, [control_event(conversation_id, username)])

    async def wrapup(
        self, conversation_id: str, code: str, summary: str | None, by: str
    ) -> dict[str, Any]:
        """Save the wrap-up code and summary; this also ends the conversation and
        releases control (the case is closed on our side)."""
        if code not in WRAPUP_CODES:
            raise InvalidInput("invalid_code", f"code must be one of {', '.join(WRAPUP_CODES)}")
        now = self.clock()
        record = {"code": code, "summary": summary, "by": by, "at": now.isoformat()}
        conversation = await self._load(conversation_id)
        async with self._session_lock(conversation.session_id):
            try:
                async with self.store.write() as session:
                    chain = await AuditChain.open(session)
                    locked = await _for_update(session, conversation_id)
                    locked.wrapup = record
                    locked.controlled_by = None
                    locked.updated_at = now
                    chain.append("conversation.wrapup", locked.id, record)
                    ended = locked.ended_at is None
                    if ended:
                        state = ConversationState.model_validate(locked.state)
                        state.ended = True
                        locked.state = state.model_dump(mode="json")
                        locked.ended_at = now
                        chain.append(
                            "conversation.ended",
                            locked.id,
                            {"step": state.step, "reason": "wrapup"},
                        )
                    await chain.close()
            except SQLAlchemyError as exc:
                raise _unavailable(exc, conversation_id) from exc
        events: list[Event] = [{"type": "wrapup", "conversation_id": conversation_id, **record}]
        if ended:
            events.append(ended_event(conversation_id))
        await self._announce(conversation, events)
        return record

    async def _load(self, conversation_id: str) -> Conversation:
        async with self.store.read() as session:
            conversation = await session.get(Conversation, conversation_id)
        if conversation is None:
            raise NotFound("conversation_not_found", f"no conversation {conversation_id!r}")
        return conversation

    async def _record(self, conversation_id: str, kind: str, payload: dict[str, Any]) -> None:
        try:
            async with self.store.write() as session:
                chain = await AuditChain.open(session)
                chain.append(kind, conversation_id, payload)
                await chain.close()
        except SQLAlchemyError as exc:
            raise _unavailable(exc, conversation_id) from exc


def waited_too_long(since: dt.datetime, now: dt.datetime, limit: dt.timedelta | None) -> bool:
    """The idle rule: a debtor message unanswered since `since` has waited past `limit`
    (None: no limit) at `now`."""
    return limit is not None and now - since > limit


def _typed_channel(conversation: Conversation) -> None:
    # A person's typed words reach a chat widget; on a call nobody would speak them and the
    # caller would hear silence, so voice calls use the policy's own hand-off (a transfer).
    if conversation.channel != "chat":
        raise Conflict(
            "channel_not_supported", f"a person can take over chat, not {conversation.channel}"
        )


def append_control(
    chain: AuditChain,
    conversation_id: str,
    controlled_by: str | None,
    by: str,
    previous: str | None,
    **details: str,
) -> None:
    """The chain's record of who holds a conversation now, who changed it, who held it."""
    payload = {"controlled_by": controlled_by, "by": by, "previous": previous, **details}
    chain.append("conversation.control", conversation_id, payload)


def _refuse_unless_holder(conversation: Conversation, by: str) -> None:
    """409 when someone other than `by` has taken the conversation over."""
    holder = conversation.controlled_by
    if holder is not None and holder != by:
        raise Conflict(
            "controlled_by_other",
            f"{holder} has taken this conversation over",
            controlled_by=holder,
        )


async def _for_update(session: Any, conversation_id: str) -> Conversation:
    found: Conversation = (
        await session.execute(
            select(Conversation).where(Conversation.id == conversation_id).with_for_update()
        )
    ).scalar_one()
    return found


def _unavailable(exc: Exception, conversation_id: str) -> Unavailable:
    log_event(
        log, "turn_not_logged", logging.ERROR, conversation_id=conversation_id, error=repr(exc)
    )
    return Unavailable("store_unavailable", "the change could not be logged; nothing was done")
