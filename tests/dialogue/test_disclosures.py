"""Required disclosures: given before the balance, first vs later, recording consent."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import httpx

from agent.compliance.packs import PackLibrary
from agent.dialogue.manager import AccountFacts, DialogueManager
from agent.dialogue.policy import load_policies
from agent.dialogue.templates import TemplateLibrary
from agent.domain import AnalysisContext, Tone
from agent.nlp.analyzer import analyze_with_lexicon
from agent.settings import Settings

SETTINGS = Settings()
MINI_MIRANDA = (
    "This is an attempt to collect a debt and any information obtained "
    "will be used for that purpose."
)
LATER_NOTICE = "This communication is from a debt collector."


def facts(**changes: object) -> AccountFacts:
    base = AccountFacts(
        account_ref="DEMO-US-001",
        given_name="Alex",
        date_of_birth=dt.date(1985, 4, 12),
        creditor="Northwind Bank",
        balance=Decimal("1240.50"),
        currency="USD",
        jurisdiction="US",
        days_past_due=64,
        locale="en-US",
        channel="chat",
        today=dt.date(2026, 11, 28),
        business_name="Tact Services",
        callback_number="+1 800 555 0100",
        region="NY",
        required_disclosures=PackLibrary().resolve("US", "NY").disclosures_before_balance,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def manager() -> DialogueManager:
    return DialogueManager(
        load_policies(SETTINGS.policies_dir), TemplateLibrary(SETTINGS.templates_dir)
    )


def say(dm: DialogueManager, state, text: str, account: AccountFacts):  # type: ignore[no-untyped-def]
    analysis = analyze_with_lexicon(
        text, AnalysisContext(today=account.today, locale=account.locale)
    )
    return dm.respond("collections_default", state, analysis, account)


def test_greeting_gives_ai_and_recording_and_verification_gives_mini_miranda() -> None:
    dm, account = manager(), facts()
    state, _ = dm.begin("collections_default", account, [])
    assert state.disclosures == ["ai", "recording"]
    state, decision = say(dm, state, "April 12 1985", account)
    texts = [m.text for m in decision.messages]
    assert MINI_MIRANDA in texts[0]
    assert set(state.disclosures) >= {"ai", "recording", "mini_miranda"}
    assert state.step == "offer_options"


def test_later_conversations_use_the_debt_collector_notice() -> None:
    dm, account = manager(), facts(first_communication=False)
    state, _ = dm.begin("collections_default", account, [])
    state, decision = say(dm, state, "April 12 1985", account)
    assert LATER_NOTICE in decision.messages[0].text
    assert MINI_MIRANDA not in decision.messages[0].text


def test_a_missing_disclosure_is_given_before_the_balance() -> None:
    dm, account = manager(), facts()
    state, _ = dm.begin("collections_default", account, [])
    # As if the greeting had not disclosed anything (e.g. a channel with its own greeting).
    state.disclosures = []
    state, decision = say(dm, state, "April 12 1985", account)
    ids = [m.template_id for m in decision.messages]
    assert ids.index("ai_recording_notice") < ids.index("balance")
    assert ids.index("collection_disclosure") < ids.index("balance")


def test_all_party_consent_state_by_voice_asks_before_the_balance() -> None:
    pack = PackLibrary().resolve("US", "CA")
    required = (*pack.disclosures_before_balance, "recording_consent")
    assert pack.needs_recording_consent("CA", "voice") and not pack.needs_recording_consent(
        "NY", "voice"
    )
    dm, account = manager(), facts(region="CA", channel="voice", required_disclosures=required)
    state, _ = dm.begin("collections_default", account, [])
    state, decision = say(dm, state, "April 12 1985", account)
    assert state.step == "recording_consent"
    assert "balance" not in [m.template_id for m in decision.messages]
    state, decision = say(dm, state, "yes that's fine", account)
    assert state.step == "offer_options" and "recording_consent" in state.disclosures
    assert decision.messages[0].template_id == "balance"


def test_refused_recording_consent_hands_off_without_the_balance() -> None:
    pack = PackLibrary().resolve("US", "CA")
    required = (*pack.disclosures_before_balance, "recording_consent")
    dm, account = manager(), facts(region="CA", channel="voice", required_disclosures=required)
    state, _ = dm.begin("collections_default", account, [])
    state, _ = say(dm, state, "April 12 1985", account)
    state, decision = say(dm, state, "no", account)
    assert state.step == "handoff" and "recording_refused" in state.flags
    assert "balance" not in [m.template_id for m in decision.messages]


async def test_second_chat_on_an_account_gets_the_later_notice(client: httpx.AsyncClient) -> None:
    for expected in (MINI_MIRANDA, LATER_NOTICE):
        session = (
            await client.post("/v1/chat/sessions", json={"account_ref": "DEMO-US-001"})
        ).json()
        reply = await client.post(
            f"/v1/chat/sessions/{session['session_id']}/messages", json={"text": "April 12 1985"}
        )
        assert expected in reply.json()["messages"][0]["text"]


def test_voicemail_holds_only_the_permitted_items() -> None:
    library = TemplateLibrary(SETTINGS.templates_dir)
    context = {
        "given_name": "Alex",
        "business_name": "Tact Services",
        "callback_number": "+1 800 555 0100",
    }
    for locale in ("en-US", "en-GB", "zh-CN"):
        text = library.render("voicemail", locale, Tone.neutral, context).text
        assert "Alex" in text and "Tact Services" in text and "+1 800 555 0100" in text
        for word in ("debt", "balance", "owe", "Northwind", "collect", "欠款", "还款", "催收"):
            assert word not in text.lower()
        leftover = text
        for item in context.values():
            leftover = leftover.replace(item, "")
        # What is left is greeting and request-to-reply wording only.
        assert len(leftover) < 80
