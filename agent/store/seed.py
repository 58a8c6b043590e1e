"""The demo accounts of CONTRACT.md, seeded into the embedded default."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

from sqlalchemy import select

from agent.auth.users import UserSpec, seed_users
from agent.logs import log_event
from agent.store.models import Account, Debtor
from agent.store.store import Store

DEMO_TENANT = "demo"
log = logging.getLogger("agent.store.seed")

# Sign-ins for the agent-assist panel; `agent@other` proves tenant isolation.
# Public passwords: never seeded in production (see seed_demo).
DEMO_USERS = [
    UserSpec("agent@demo", "demo-agent-pass", "agent", DEMO_TENANT),
    UserSpec("supervisor@demo", "demo-supervisor-pass", "supervisor", DEMO_TENANT),
    UserSpec("auditor@demo", "demo-auditor-pass", "auditor", DEMO_TENANT),
    UserSpec("agent@other", "demo-other-pass", "agent", "other"),
]

DEMO_ACCOUNTS = [
    {
        "account_ref": "DEMO-US-001",
        "full_name": "Alex Morgan",
        "given_name": "Alex",
        "date_of_birth": dt.date(1985, 4, 12),
        "jurisdiction": "US",
        "region": "NY",
        "timezone": "America/New_York",
        "locale": "en-US",
        "phones": ["+12125550142"],
        "address": {"country": "US", "state": "NY", "city": "New York", "postal_code": "10001"},
        "creditor": "Northwind Bank",
        "balance": Decimal("1240.50"),
        "currency": "USD",
        "days_past_due": 64,
    },
    {
        "account_ref": "DEMO-UK-001",
        "full_name": "Sam Taylor",
        "given_name": "Sam",
        "date_of_birth": dt.date(1979, 11, 30),
        "jurisdiction": "UK",
        "region": None,
        "timezone": "Europe/London",
        "locale": "en-GB",
        "phones": ["+447700900123"],
        "address": {"country": "GB", "city": "Leeds", "postal_code": "LS1 4AP"},
        "creditor": "Albion Finance",
        "balance": Decimal("560.00"),
        "currency": "GBP",
        "days_past_due": 41,
    },
    {
        "account_ref": "DEMO-CN-001",
        "full_name": "张伟",
        "given_name": "张伟",
        "date_of_birth": dt.date(1990, 8, 8),
        "jurisdiction": "CN",
        "region": None,
        "timezone": "Asia/Shanghai",
        "locale": "zh-CN",
        "phones": ["+8613800138000"],
        "address": {"country": "CN", "city": "上海"},
        "creditor": "华信消费金融",
        "balance": Decimal("8600.00"),
        "currency": "CNY",
        "days_past_due": 37,
    },
]


async def seed_demo(store: Store, environment: str = "development") -> int:
    """Insert the demo accounts (and demo users) that are missing; returns how many
    accounts were added. Nothing in production: well-known passwords would be an open
    door and made-up debtors would mix with real ones (the service refuses to start in
    production with AGENT_SEED_DEMO_DATA on; this is the second lock)."""
    if environment == "production":
        log_event(log, "demo_data_refused", logging.WARNING, environment=environment)
        return 0
    users = await seed_users(store, DEMO_USERS)
    if users:
        log_event(log, "demo_users_seeded", count=users)
    added = 0
    async with store.write() as session:
        existing = set((await session.execute(select(Account.account_ref))).scalars())
        for spec in DEMO_ACCOUNTS:
            if spec["account_ref"] in existing:
                continue
            debtor = Debtor(
                tenant=DEMO_TENANT,
                full_name=spec["full_name"],
                given_name=spec["given_name"],
                date_of_birth=spec["date_of_birth"],
                phones=spec["phones"],
                address=spec["address"],
                timezone=spec["timezone"],
                preferred_locale=spec["locale"],
            )
            session.add(debtor)
            await session.flush()
            session.add(
                Account(
                    account_ref=spec["account_ref"],
                    tenant=DEMO_TENANT,
                    debtor_id=debtor.id,
                    creditor=spec["creditor"],
                    balance=spec["balance"],
                    currency=spec["currency"],
                    jurisdiction=spec["jurisdiction"],
                    region=spec["region"],
                    days_past_due=spec["days_past_due"],
                )
            )
            added += 1
    return added
