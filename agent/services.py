"""The service's parts, built once (by the app's lifespan or by a CLI command)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from agent.campaigns.engine import CampaignEngine
from agent.campaigns.service import Campaigns
from agent.compliance.contact_service import ContactService
from agent.compliance.guard import Guard
from agent.compliance.packs import PackLibrary
from agent.dialogue.manager import DialogueManager
from agent.dialogue.policy import load_policies
from agent.dialogue.templates import TemplateLibrary
from agent.events import EventBus, build_event_bus
from agent.logs import log_event
from agent.nlp.analyzer import Analyzer, build_analyzer
from agent.payments.texting import PaymentLinkTexter
from agent.pipeline import Clock, TurnPipeline, system_clock
from agent.settings import Settings
from agent.store.seed import seed_demo
from agent.store.store import Store
from agent.telephony.calls import CallRegistry
from agent.voice.engines import VoiceEngines

log = logging.getLogger("agent.services")


@dataclass
class Services:
    settings: Settings
    store: Store
    analyzer: Analyzer
    dialogue: DialogueManager
    pipeline: TurnPipeline
    packs: PackLibrary
    contacts: ContactService
    calls: CallRegistry
    voice: VoiceEngines
    # Live events for the assist panel and chat sockets (AGENT_REDIS_URL: across replicas).
    events: EventBus
    campaigns: Campaigns
    dialing: CampaignEngine


def load_dialogue(settings: Settings) -> DialogueManager:
    """Policies and templates; raises ConfigError (file:line) when either is wrong."""
    templates = TemplateLibrary(settings.templates_dir)
    policies = load_policies(settings.policies_dir)
    if settings.default_policy not in policies:
        raise ValueError(
            f"AGENT_DEFAULT_POLICY {settings.default_policy!r} not in {sorted(policies)}"
        )
    return DialogueManager(policies, templates)


async def build_services(settings: Settings, clock: Clock = system_clock) -> Services:
    # Everything that reads configuration is built first, so a bad file fails
    # start-up before any connection is opened.
    dialogue = load_dialogue(settings)
    packs = PackLibrary()
    guard = Guard()
    store = await Store.open(settings.database_url, echo=settings.database_echo)
    if settings.seed_demo_data:
        added = await seed_demo(store, settings.environment)
        if added:
            log_event(log, "demo_accounts_seeded", count=added)
    # AGENT_ANALYZER: the fine-tuned model (built on first start if missing) or the lexicon.
    analyzer = await build_analyzer(settings)
    events = await build_event_bus(settings.redis_url)
    contacts = ContactService(store, packs)
    pipeline = TurnPipeline(
        store,
        analyzer,
        dialogue,
        guard,
        packs,
        policy_id=settings.default_policy,
        business_name=settings.business_name,
        callback_number=settings.callback_number,
        clock=clock,
        events=events,
        payment_links=settings.payment_link_templates,
        link_texter=PaymentLinkTexter(contacts, settings, clock),
        takeover_idle=(
            dt.timedelta(seconds=settings.takeover_idle_seconds)
            if settings.takeover_idle_seconds > 0
            else None
        ),
    )
    calls = CallRegistry(store, contacts, pipeline, settings, clock)
    # Speech engines load lazily (a Vosk model takes seconds); the TTS worker starts now.
    voice = VoiceEngines(settings)
    campaigns = Campaigns(store, packs, settings, set(dialogue.policies), clock)
    dialing = CampaignEngine(store, contacts, calls, settings, clock)
    return Services(
        settings,
        store,
        analyzer,
        dialogue,
        pipeline,
        packs,
        contacts,
        calls,
        voice,
        events,
        campaigns,
        dialing,
    )
