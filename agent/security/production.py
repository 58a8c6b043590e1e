"""With AGENT_ENVIRONMENT=production the service refuses to start on a configuration that
is safe on a laptop but not facing the internet: demo data and demo passwords, empty or
well-known webhook secrets, SQL echo (it would log debtors' data), open CORS.

`configuration_problems` reads settings only, so it runs before anything opens;
`database_problems` looks for demo users already in the database (seeded before the
switch to production). `check_production` runs both and raises one error naming every
problem, so an operator fixes them in one go. Called by `agent serve` (exit 2) and by
the app's lifespan (start-up fails), so no other entry point can skip it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from agent.auth.passwords import verify_password_async
from agent.logs import log_event
from agent.settings import Settings
from agent.store.models import User
from agent.store.seed import DEMO_USERS

log = logging.getLogger("agent.security.production")

# Shorter than this is not a random secret (`openssl rand -hex 32` gives 64).
MIN_SECRET_CHARS = 16
# Values seen in docs, tests, examples and tutorials; compared case-insensitively.
KNOWN_SECRETS = frozenset(
    {
        "changeme",
        "change-me",
        "change_me",
        "secret",
        "password",
        "passw0rd",
        "default",
        "example",
        "test",
        "testing",
        "demo",
        "admin",
        "root",
        "postgres",
        "tact",
        "12345",
        "123456",
        "12345678",
        "test-webhook-secret",
        "your_auth_token",
        "your-auth-token",
        "your_webhook_secret",
        "your-webhook-secret",
        *(spec.password for spec in DEMO_USERS),
    }
)
# Prefixes of placeholder values, e.g. "demo-webhook-secret", "changeme-please".
KNOWN_PREFIXES = ("demo", "test", "example", "changeme", "change-me", "your_", "your-")
# Settings whose presence says the Twilio gateway is in use (calls or texts).
TELEPHONY_SETTINGS = (
    "twilio_account_sid",
    "public_base_url",
    "human_queue_number",
    "twilio_sms_from",
)


class UnsafeProductionConfig(RuntimeError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"refusing to start with AGENT_ENVIRONMENT=production:\n{lines}")


def secret_problem(variable: str, value: str) -> str | None:
    """Why `value` is not a usable secret, or None."""
    if not value:
        return f"{variable} is empty"
    folded = value.strip().casefold()
    if folded in KNOWN_SECRETS or folded.startswith(KNOWN_PREFIXES):
        return f"{variable} is a known default/demo value; set a random secret"
    if len(value) < MIN_SECRET_CHARS:
        return f"{variable} is {len(value)} characters; use at least {MIN_SECRET_CHARS} random ones"
    return None


def _url_password(url: str) -> str | None:
    if url.startswith(("postgresql", "sqlite", "mysql")):
        try:
            return make_url(url).password
        except ArgumentError:
            return None
    return urlsplit(url).password


def telephony_in_use(settings: Settings) -> bool:
    return settings.telephony_mode == "stream" or any(
        getattr(settings, name, "") for name in TELEPHONY_SETTINGS
    )


def configuration_problems(settings: Settings) -> list[str]:
    """What production refuses, from the settings alone (empty outside production)."""
    if settings.environment != "production":
        return []
    problems: list[str] = []
    if settings.seed_demo_data:
        problems.append(
            "AGENT_SEED_DEMO_DATA is on: demo accounts would be seeded; set it to false"
        )
    if settings.database_echo:
        problems.append("AGENT_DATABASE_ECHO is on: SQL parameters (debtors' data) would be logged")
    payments = secret_problem("AGENT_PAYMENTS_WEBHOOK_SECRET", settings.payments_webhook_secret)
    if payments:
        problems.append(payments)
    # An empty token refuses every webhook (fail closed), which is safe but means a
    # configured telephony setup cannot work: refuse it when telephony is configured.
    token = settings.twilio_auth_token
    if token or telephony_in_use(settings):
        twilio = secret_problem("AGENT_TWILIO_AUTH_TOKEN", token)
        if twilio and not token:
            twilio += " while telephony is configured: Twilio webhooks cannot be verified"
        if twilio:
            problems.append(twilio)
    if any(origin.strip() in ("*", "null") for origin in settings.cors_origins):
        problems.append(
            'AGENT_CORS_ORIGINS allows any origin ("*" or "null"); list the lender sites'
        )
    for variable, url in (
        ("AGENT_DATABASE_URL", settings.database_url),
        ("AGENT_REDIS_URL", settings.redis_url),
    ):
        password = _url_password(url)
        if password and password.strip().casefold() in KNOWN_SECRETS:
            problems.append(f"{variable} uses a known default password")
    return problems


def _new_sqlite_file(database_url: str) -> bool:
    url = make_url(database_url)
    return url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file()


async def database_problems(settings: Settings) -> list[str]:
    """Demo users whose public password still works (seeded before production)."""
    if settings.environment != "production":
        return []
    if _new_sqlite_file(settings.database_url):
        return []  # a new database: nothing seeded (and nothing created by looking)
    engine = create_async_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            has_users = await connection.run_sync(
                lambda sync: inspect(sync).has_table(User.__tablename__)
            )
            if not has_users:
                return []
            names = [spec.username for spec in DEMO_USERS]
            rows = (
                await connection.execute(
                    select(User.username, User.password_hash).where(User.username.in_(names))
                )
            ).all()
    except (SQLAlchemyError, OSError) as exc:
        # The store reports an unreachable database itself, right after this.
        log_event(log, "production_check_skipped", logging.WARNING, error=type(exc).__name__)
        return []
    finally:
        await engine.dispose()
    passwords = {spec.username: spec.password for spec in DEMO_USERS}
    return [
        f"demo user {username!r} exists with its public password; delete it or change it"
        for username, stored in rows
        if await verify_password_async(stored, passwords[username])
    ]


async def check_production(settings: Settings) -> None:
    """Raise UnsafeProductionConfig naming every problem; a no-op outside production."""
    problems = configuration_problems(settings)
    problems += await database_problems(settings)
    if problems:
        log_event(log, "production_config_refused", logging.ERROR, problems=problems)
        raise UnsafeProductionConfig(problems)
