"""The dialogue manager: runs a compiled policy one debtor turn at a time.

Order of evaluation for a turn (documented for policy authors in the policy file):
1. `interrupts` (in order), then the current step's `on_reply`, then `fallbacks`:
   the first transition whose predicate holds is taken. Predicates see this turn's
   analysis and the state *before* the turn's actions.
2. Its actions run (verify, flag, count, collect_promise, ...).
3. The tone is chosen: the first tone rule that holds, evaluated *after* the
   actions (so `counter.refusals` includes this refusal), unless the step pins one.
4. Messages: the transition's `say`, then either the entered step's `say` (and any
   `next` chain) or, when the turn stays on its step, the step's reprompt.
If nothing matches, the turn stays on its step and the reprompt is said again.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import ROUND_UP, Decimal
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, Field

from agent.dialogue.options import step_options
from agent.dialogue.policy import RESUME, Action, Policy, Step, Transition
from agent.dialogue.templates import Rendered, TemplateLibrary
from agent.domain import Analysis, Cadence, ConversationState, Promise, Tone

MAX_CHAIN = 8  # `next` hops in one turn; the schema cannot express "no cycles"


@dataclass(frozen=True)
class AccountFacts:
    """What the dialogue may know about the account and the debtor."""

    account_ref: str
    given_name: str
    date_of_birth: dt.date
    creditor: str
    balance: Decimal
    currency: str
    jurisdiction: str
    days_past_due: int
    locale: str
    channel: str
    today: dt.date
    business_name: str
    callback_number: str
    region: str | None = None
    # Disclosures the jurisdiction pack requires before the balance is said.
    required_disclosures: tuple[str, ...] = ()
    # False once an earlier conversation gave the collection disclosure (US: later
    # communications say "This communication is from a debt collector").
    first_communication: bool = True
    # The tenant's payment link for this account (chat shows it), and whether a call
    # may promise to text it (voice: a texter is configured).
    payment_link: str | None = None
    text_payment_link: bool = False
    # Account flags under which this jurisdiction stops collecting (the pack's
    # `blocking_flags`: cease, attorney, bankruptcy, a dispute, a pause ...). With
    # one on the account the dialogue asks for nothing, even when the debtor got in touch.
    collection_stops: frozenset[str] = frozenset()


PAYMENTS_PER_YEAR: dict[str, int] = {"week": 52, "fortnight": 26, "month": 12}

# Templates the service says on its own, outside any policy step: checked at start-up
# like the policies' own. `idle_apology`: TurnPipeline.answer_waiting.
CODE_TEMPLATES = frozenset({"idle_apology"})


class Decision(BaseModel):
    policy_id: str
    policy_version: int
    from_step: str
    to_step: str
    rule: str
    actions: list[str] = Field(default_factory=list)
    tone: Tone
    messages: list[Rendered]
    promise_captured: Promise | None = None


class DialogueManager:
    def __init__(self, policies: dict[str, Policy], templates: TemplateLibrary) -> None:
        self.policies = policies
        self.templates = templates
        for policy in policies.values():
            templates.require(policy.templates_used, policy.path)
        templates.require(CODE_TEMPLATES, Path(__file__))

    def begin(
        self, policy_id: str, facts: AccountFacts, flags: list[str]
    ) -> tuple[ConversationState, Decision]:
        policy = self.policies[policy_id]
        state = ConversationState(
            step=policy.start, flags=list(flags), first_communication=facts.first_communication
        )
        turn = _Turn(self, policy, state, facts, None)
        turn.enter(policy.start)
        return state, turn.decision(policy.start, "start", policy.default_tone)

    def respond(
        self,
        policy_id: str,
        state: ConversationState,
        analysis: Analysis,
        facts: AccountFacts,
        raised: frozenset[str] = frozenset(),
    ) -> tuple[ConversationState, Decision]:
        policy = self.policies[policy_id]
        state = state.model_copy(deep=True)
        from_step = state.step
        step = policy.steps[state.step]
        turn = _Turn(self, policy, state, facts, analysis, raised)
        context = turn.context()
        transition = next(
            (
                t
                for t in (*policy.interrupts, *step.transitions, *policy.fallbacks)
                if t.when(context)
            ),
            None,
        )
        if transition is None:
            tone = turn.choose_tone()
            turn.reprompt(step, tone)
            return state, turn.decision(from_step, "no_match", tone)
        for action in transition.actions:
            turn.apply(action)
        tone = turn.choose_tone()
        if transition.say:
            turn.say(transition.say, tone, step)
        if transition.goto:
            target = (
                (state.resume_step or policy.start)
                if transition.goto == RESUME
                else transition.goto
            )
            turn.enter(target, tone)
        elif transition.reprompt or not transition.say:
            turn.reprompt(step, tone)
        return state, turn.decision(from_step, transition.id, tone)

    # -- agent assist: what a human agent may say at this point -------------------------

    def templates_at(
        self,
        policy_id: str,
        step_name: str,
        moment: tuple[ConversationState, AccountFacts, Analysis] | None = None,
    ) -> list[str]:
        """Templates the policy could say from `step_name` on the next turn: the step's
        own, its transitions', and the steps they enter. Interrupts and fallbacks (crisis
        line, cease, ...) only when, at `moment` (state, facts, the debtor's latest
        analysis), their condition holds: a crisis line is no suggestion for anger."""
        policy = self.policies[policy_id]
        step = policy.steps[step_name]
        found: list[str] = [t for t in (step.say, step.reprompt) if t]
        exceptional = [*policy.interrupts, *policy.fallbacks]
        if moment is not None:
            state, facts, analysis = moment
            context = _Turn(self, policy, state.model_copy(deep=True), facts, analysis).context()
            exceptional = [t for t in exceptional if t.when(context)]
        for transition in (*step.transitions, *exceptional):
            if transition.say:
                found.append(transition.say)
            target = policy.steps.get(transition.goto or "")
            if target is not None and target.say:
                found.append(target.say)
        return list(dict.fromkeys(found))

    def tone_for(
        self,
        policy_id: str,
        state: ConversationState,
        analysis: Analysis | None,
        facts: AccountFacts,
    ) -> Tone:
        """The tone the policy would choose now (the step's own, or the tone rules)."""
        policy = self.policies[policy_id]
        step = policy.steps.get(state.step)
        if step is not None and step.tone is not None:
            return step.tone
        return _Turn(self, policy, state.model_copy(deep=True), facts, analysis).choose_tone()

    def render_for(
        self,
        policy_id: str,
        state: ConversationState,
        facts: AccountFacts,
        template_id: str,
        tone: Tone,
    ) -> Rendered:
        """Render a template with the same context the policy would use."""
        turn = _Turn(self, self.policies[policy_id], state.model_copy(deep=True), facts, None)
        return self.templates.render(template_id, facts.locale, tone, turn.render_context())


class _Turn:
    """The working set of one decision: state being changed and messages said."""

    def __init__(
        self,
        manager: DialogueManager,
        policy: Policy,
        state: ConversationState,
        facts: AccountFacts,
        analysis: Analysis | None,
        raised: frozenset[str] = frozenset(),
    ) -> None:
        self.manager = manager
        self.raised = raised
        self.policy = policy
        self.state = state
        self.facts = facts
        self.analysis = analysis
        self.messages: list[Rendered] = []
        self.actions: list[str] = []
        self.promise_captured: Promise | None = None

    # -- predicates -------------------------------------------------------------------

    def cadence(self) -> Cadence:
        """How often the plan on the table falls due: as this turn says, else as said
        before, else monthly."""
        entities = self.analysis.entities if self.analysis else None
        said = entities.every if entities else None
        return said or cast(Cadence, self.state.slots.get("every", "month"))

    def min_installment(self) -> Decimal:
        """The smallest instalment the policy allows, per instalment of the current cadence:
        a weekly or fortnightly one must come to the monthly minimum over a year."""
        share = self.facts.balance * self.policy.plan_min_installment_share
        spread = self.facts.balance / self.policy.plan_max_months
        per_year = PAYMENTS_PER_YEAR[self.cadence()]
        monthly = max(share, spread)
        return (monthly * 12 / per_year).quantize(Decimal("0.01"), rounding=ROUND_UP)

    def promise_amount(self) -> Decimal | None:
        entities = self.analysis.entities if self.analysis else None
        if entities and entities.amount:
            return entities.amount.value
        if entities and entities.full_amount:
            return self.facts.balance
        slot = self.state.slots.get("amount")
        return Decimal(slot) if slot else None

    def promise_date(self) -> dt.date | None:
        entities = self.analysis.entities if self.analysis else None
        if entities and entities.date and entities.date >= self.facts.today:
            return entities.date
        slot = self.state.slots.get("date")
        return dt.date.fromisoformat(slot) if slot else None

    def context(self) -> dict[str, Any]:
        analysis = self.analysis
        entities = analysis.entities if analysis else None
        return {
            "intent": {i.value: True for i in analysis.intents} if analysis else {},
            "cue": dict.fromkeys(analysis.cues, True) if analysis else {},
            "emotion": analysis.emotion.value if analysis else None,
            "language": analysis.language if analysis else None,
            "flag": dict.fromkeys(self.state.flags, True),
            "raised": dict.fromkeys(self.raised, True),
            "counter": dict(self.state.counters),
            "slot": dict(self.state.slots),
            "entity": {
                "amount": entities.amount.value if entities and entities.amount else None,
                "date": entities.date if entities else None,
                "birth_date": entities.birth_date if entities else None,
                "full_amount": bool(entities and entities.full_amount),
                "every": entities.every if entities else None,
            },
            "promise": {
                "amount": self.promise_amount(),
                "date": self.promise_date(),
                "pending": self.state.promise is not None and not self.state.promise.confirmed,
            },
            "plan": {
                "min_installment": self.min_installment(),
                "max_months": self.policy.plan_max_months,
            },
            "account": {
                "balance": self.facts.balance,
                "jurisdiction": self.facts.jurisdiction,
                "days_past_due": self.facts.days_past_due,
                "on_hold": bool(self.on_hold()),
            },
            "verified": self.state.verified,
            "step": self.state.step,
            "channel": self.facts.channel,
            "dob_matches": bool(entities and entities.birth_date == self.facts.date_of_birth),
        }

    def on_hold(self) -> list[str]:
        """The flags that stop collection on this account, if any."""
        return [f for f in self.state.flags if f in self.facts.collection_stops]

    def choose_tone(self) -> Tone:
        context = self.context()
        for rule in self.policy.tone_rules:
            if rule.when(context):
                return rule.tone
        return self.policy.default_tone

    # -- actions ----------------------------------------------------------------------

    def apply(self, action: Action) -> None:
        state = self.state
        self.actions.append(action.name if action.arg is None else f"{action.name} {action.arg}")
        match action.name, action.arg:
            case "verify", _:
                state.verified = True
            case "flag", str(flag):
                state.add_flag(flag)
            case "count", str(name):
                state.counters = {**state.counters, name: state.count(name) + 1}
            case "reset", str(name):
                state.counters = {**state.counters, name: 0}
            case "collect_promise" | "collect_plan", _:
                self._collect("plan" if action.name == "collect_plan" else "single")
            case "hold_promise", _:
                state.promise = self._pending()
            case "confirm_promise", _ if state.promise is not None:
                state.promise = state.promise.model_copy(update={"confirmed": True})
                self.promise_captured = state.promise
                state.slots = {}
            case "clear_promise", _:
                state.promise = None
                state.slots = {k: v for k, v in state.slots.items() if k not in ("amount", "date")}
            case "save_text", str(name):
                state.slots = {
                    **state.slots,
                    name: (self.analysis.text if self.analysis else "")[:500],
                }
            case "remember_step", _:
                state.resume_step = state.step
            case "disclose", str(name):
                self._disclosed((name,))

    def _collect(self, kind: str) -> None:
        slots = dict(self.state.slots)
        # Once the debtor has asked for a plan, amounts they give are instalments.
        slots["kind"] = "plan" if kind == "plan" else slots.get("kind", "single")
        amount, date = self.promise_amount(), self.promise_date()
        entities = self.analysis.entities if self.analysis else None
        if entities and entities.every:  # "20 a week": a recurring offer is a plan
            slots["kind"], slots["every"] = "plan", entities.every
        if amount is not None:
            slots["amount"] = str(amount)
        if date is not None:
            slots["date"] = date.isoformat()
        self.state.slots = slots

    def _pending(self) -> Promise | None:
        slots = self.state.slots
        if "amount" not in slots or "date" not in slots:
            return None
        amount = Decimal(slots["amount"])
        kind = slots.get("kind", "single")
        every = cast(Cadence, slots.get("every", "month"))
        installments = 1
        if kind == "plan" and amount > 0:
            # At most as many instalments as fall due in the policy's longest plan.
            most = math.ceil(self.policy.plan_max_months * PAYMENTS_PER_YEAR[every] / 12)
            installments = min(math.ceil(self.facts.balance / amount), most)
        return Promise(
            amount=amount,
            currency=self.facts.currency,
            date=dt.date.fromisoformat(slots["date"]),
            kind="plan" if kind == "plan" else "single",
            installments=installments,
            every=every if kind == "plan" else "month",
        )

    # -- messages ---------------------------------------------------------------------

    def enter(self, step_name: str, tone: Tone | None = None) -> None:
        for _ in range(MAX_CHAIN):
            step = self.policy.steps[step_name]
            if step.requires_disclosures:
                divert = self._give_missing_disclosures(step, tone or self.policy.default_tone)
                if divert is not None and divert != step_name:
                    step_name = divert
                    continue
            self.state.step = step_name
            self.state.options = step_options(step_name, self.facts.locale)
            self.state.ended = self.state.ended or step.end
            self.state.handoff = step.handoff
            if step.say:
                self.say(step.say, tone or self.policy.default_tone, step)
            if step.next is None:
                return
            step_name = step.next
        raise RuntimeError(f"policy {self.policy.id}: `next` chain longer than {MAX_CHAIN}")

    def missing_disclosures(self) -> list[str]:
        return [d for d in self.facts.required_disclosures if d not in self.state.disclosures]

    def _give_missing_disclosures(self, step: Step, tone: Tone) -> str | None:
        """Say each missing disclosure before `step`, or return the step that must run
        first (one needing an answer, or the policy's fallback when a disclosure
        cannot be given): the debt is never discussed without them."""
        for name in self.missing_disclosures():
            how = self.policy.disclosures.get(name)
            if how is not None and how.step is not None:
                return how.step
            if how is not None and how.say is not None:
                self.say(how.say, tone, step)
        if self.missing_disclosures():
            self.actions.append("disclosure_missing " + ",".join(self.missing_disclosures()))
            return self.policy.disclosure_fallback
        return None

    def _disclosed(self, names: tuple[str, ...]) -> None:
        new = [n for n in names if n not in self.state.disclosures]
        if new:
            self.state.disclosures = [*self.state.disclosures, *new]

    def reprompt(self, step: Step, tone: Tone) -> None:
        template = step.reprompt or step.say
        if template:
            self.say(template, tone, step)

    def say(self, template_id: str, tone: Tone, step: Step) -> None:
        used = step.tone or tone
        rendered = self.manager.templates.render(
            template_id, self.facts.locale, used, self.render_context()
        )
        self.messages.append(rendered)
        self._disclosed(rendered.discloses)

    def render_context(self) -> dict[str, Any]:
        facts = self.facts
        pending = self.state.promise
        return {
            "given_name": facts.given_name,
            "business_name": facts.business_name,
            "callback_number": facts.callback_number,
            "creditor": facts.creditor,
            "balance": facts.balance,
            "currency": facts.currency,
            "days_past_due": facts.days_past_due,
            "jurisdiction": facts.jurisdiction,
            "region": facts.region,
            "first_communication": facts.first_communication,
            "channel": facts.channel,
            "verified": self.state.verified,
            "promise": pending.model_dump() if pending else None,
            "missing": [k for k in ("amount", "date") if k not in self.state.slots],
            "plan_min_installment": self.min_installment(),
            "plan_cadence": self.cadence(),
            "plan_max_months": self.policy.plan_max_months,
            "flags": list(self.state.flags),
            "on_hold": self.on_hold(),
            "payment_link": facts.payment_link,
            "text_payment_link": facts.text_payment_link,
        }

    def decision(self, from_step: str, rule: str, tone: Tone) -> Decision:
        return Decision(
            policy_id=self.policy.id,
            policy_version=self.policy.version,
            from_step=from_step,
            to_step=self.state.step,
            rule=rule,
            actions=self.actions,
            tone=tone,
            messages=self.messages,
            promise_captured=self.promise_captured,
        )


def transition_ids(policy: Policy) -> list[str]:
    """Every transition id, for coverage reports in tests."""
    ids: list[Transition] = [*policy.interrupts, *policy.fallbacks]
    for step in policy.steps.values():
        ids.extend(step.transitions)
    return [t.id for t in ids]
