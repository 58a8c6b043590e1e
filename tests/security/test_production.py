"""Production refuses unsafe configuration at start-up: `agent serve` exits non-zero, the
app's lifespan raises, each problem is named, and nothing has been opened."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.app import create_app
from agent.security.production import (
    UnsafeProductionConfig,
    configuration_problems,
    secret_problem,
)
from agent.settings import Settings
from tests.conftest import fixed_clock, http_client

GOOD_SECRET = "9f0c1e7a3b5d48e2a6c4f1d0b7e93a58"


def production(tmp_path: Path, **overrides: Any) -> Settings:
    """A production configuration that passes; tests break one thing at a time."""
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": "",
        "log_format": "console",
        "environment": "production",
        "analyzer": "lexicon",
        "seed_demo_data": False,
        "payments_webhook_secret": GOOD_SECRET,
        **overrides,
    }
    return Settings(**values)


def test_a_safe_production_configuration_has_no_problems(tmp_path: Path) -> None:
    assert configuration_problems(production(tmp_path)) == []


def test_the_defaults_are_refused_in_production_with_each_problem_named(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="", environment="production")
    problems = configuration_problems(settings)
    assert len(problems) == 2
    assert any("AGENT_SEED_DEMO_DATA" in p for p in problems)
    assert any("AGENT_PAYMENTS_WEBHOOK_SECRET is empty" in p for p in problems)


def test_outside_production_nothing_is_refused(tmp_path: Path) -> None:
    unsafe: dict[str, Any] = {
        "cors_origins": ["*"],
        "database_echo": True,
        "twilio_account_sid": "AC1",
    }
    for environment in ("development", "test"):
        settings = Settings(data_dir=tmp_path, environment=environment, **unsafe)
        assert configuration_problems(settings) == []


@pytest.mark.parametrize(
    "value",
    [
        "changeme",
        "SECRET",
        "test-webhook-secret",
        "demo-agent-pass",
        "demo-webhook-secret-for-the-lender",
        "example-example-example",
        "your_auth_token",
        "12345",
    ],
)
def test_known_default_secrets_are_refused(value: str) -> None:
    problem = secret_problem("AGENT_PAYMENTS_WEBHOOK_SECRET", value)
    assert problem is not None and "known default" in problem


def test_short_and_empty_secrets_are_refused_and_random_ones_pass() -> None:
    assert "is empty" in (secret_problem("X", "") or "")
    assert "7 characters" in (secret_problem("X", "k3Y9zQp") or "")
    assert secret_problem("X", GOOD_SECRET) is None


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"payments_webhook_secret": "test-webhook-secret"}, "AGENT_PAYMENTS_WEBHOOK_SECRET"),
        ({"seed_demo_data": True}, "AGENT_SEED_DEMO_DATA"),
        ({"database_echo": True}, "AGENT_DATABASE_ECHO"),
        ({"cors_origins": ["https://lender.example", "*"]}, "AGENT_CORS_ORIGINS"),
        ({"cors_origins": ["null"]}, "AGENT_CORS_ORIGINS"),
        # Telephony configured, no token: every webhook would be refused.
        ({"twilio_account_sid": "AC0123"}, "AGENT_TWILIO_AUTH_TOKEN is empty"),
        ({"public_base_url": "https://tact.example"}, "AGENT_TWILIO_AUTH_TOKEN is empty"),
        ({"telephony_mode": "stream"}, "AGENT_TWILIO_AUTH_TOKEN is empty"),
        ({"twilio_auth_token": "12345"}, "AGENT_TWILIO_AUTH_TOKEN"),
        (
            {"database_url": "postgresql+asyncpg://tact:postgres@db.internal/tact"},
            "AGENT_DATABASE_URL",
        ),
        ({"redis_url": "redis://:changeme@cache.internal:6379/0"}, "AGENT_REDIS_URL"),
    ],
)
def test_each_unsafe_setting_is_named(
    tmp_path: Path, overrides: dict[str, Any], named: str
) -> None:
    problems = configuration_problems(production(tmp_path, **overrides))
    assert len(problems) == 1
    assert named in problems[0]


def test_chat_only_production_needs_no_twilio_token(tmp_path: Path) -> None:
    # Webhooks are refused (403) while the token is empty; that is safe when unused.
    assert configuration_problems(production(tmp_path, twilio_auth_token="")) == []
    assert configuration_problems(production(tmp_path, twilio_auth_token=GOOD_SECRET)) == []


async def test_the_lifespan_refuses_before_opening_anything(tmp_path: Path) -> None:
    settings = production(tmp_path, seed_demo_data=True, payments_webhook_secret="")
    app = create_app(settings, clock=fixed_clock)
    with pytest.raises(UnsafeProductionConfig) as refused:
        async with app.router.lifespan_context(app):
            pytest.fail("the service started")
    message = str(refused.value)
    assert "AGENT_ENVIRONMENT=production" in message
    assert "AGENT_SEED_DEMO_DATA" in message and "AGENT_PAYMENTS_WEBHOOK_SECRET" in message
    assert len(refused.value.problems) == 2
    assert not (tmp_path / "tact.db").exists()  # no database was created or migrated


async def test_a_safe_production_configuration_serves(tmp_path: Path) -> None:
    app = create_app(production(tmp_path), clock=fixed_clock)
    async with app.router.lifespan_context(app), http_client(app) as client:
        assert (await client.get("/healthz")).status_code == 200
        # No demo data in production.
        created = await client.post("/v1/chat/sessions", json={"account_ref": "DEMO-US-001"})
        assert created.status_code == 404


async def test_demo_users_left_in_the_database_are_refused(tmp_path: Path) -> None:
    # A database seeded in development, then switched to production.
    development = create_app(
        production(tmp_path, environment="development", seed_demo_data=True), clock=fixed_clock
    )
    async with development.router.lifespan_context(development):
        pass
    app = create_app(production(tmp_path), clock=fixed_clock)
    with pytest.raises(UnsafeProductionConfig) as refused:
        async with app.router.lifespan_context(app):
            pytest.fail("the service started")
    named = " ".join(refused.value.problems)
    for username in ("agent@demo", "supervisor@demo", "auditor@demo", "agent@other"):
        assert repr(username) in named


def test_agent_serve_exits_non_zero_naming_each_problem(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "AGENT_ENVIRONMENT": "production",
        "AGENT_DATA_DIR": str(tmp_path),
        "AGENT_CORS_ORIGINS": '["*"]',
        "AGENT_PAYMENTS_WEBHOOK_SECRET": "changeme",
        "AGENT_PORT": "1",  # never reached: a start would fail differently
    }
    env.pop("AGENT_DATABASE_URL", None)
    env.pop("AGENT_SEED_DEMO_DATA", None)
    result = subprocess.run(
        [sys.executable, "-m", "agent", "serve"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "refusing to start with AGENT_ENVIRONMENT=production" in result.stderr
    for named in ("AGENT_SEED_DEMO_DATA", "AGENT_PAYMENTS_WEBHOOK_SECRET", "AGENT_CORS_ORIGINS"):
        assert named in result.stderr
    assert not (tmp_path / "tact.db").exists()


def test_agent_seed_is_refused_in_production(tmp_path: Path) -> None:
    env = {**os.environ, "AGENT_ENVIRONMENT": "production", "AGENT_DATA_DIR": str(tmp_path)}
    env.pop("AGENT_DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "agent", "seed"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "never seeded" in result.stderr
