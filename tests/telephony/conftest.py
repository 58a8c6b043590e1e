"""Telephony fixtures: an app with a Twilio auth token, and signed webhook posts."""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from twilio.request_validator import RequestValidator

from agent.app import create_app
from agent.settings import Settings
from tests.conftest import fixed_clock
from tests.databases import fresh_database_url

TOKEN = "test-auth-token-0123456789"
ACCOUNT_SID = "AC" + "0" * 32
BASE = "http://test"
US_PHONE = "+12125550142"
CN_PHONE = "+8613800138000"
OUR_NUMBER = "+18005550100"


@contextlib.asynccontextmanager
async def telephony_app(kind: str, tmp_path: Path) -> AsyncIterator[FastAPI]:
    """An app with telephony settings on a fresh `kind` database, its lifespan started."""
    async with fresh_database_url(kind, tmp_path) as url:
        application = create_app(telephony_settings(tmp_path, database_url=url), clock=fixed_clock)
        async with application.router.lifespan_context(application):
            yield application


def telephony_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": "",
        "log_format": "console",
        "environment": "test",
        "twilio_auth_token": TOKEN,
        "twilio_account_sid": ACCOUNT_SID,
    }
    return Settings(**{**values, **overrides})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return telephony_settings(tmp_path)


def sign(url: str, params: dict[str, str], token: str = TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, params))


async def post_signed(
    client: httpx.AsyncClient,
    path: str,
    params: dict[str, str],
    *,
    signed_base: str = BASE,
    token: str = TOKEN,
) -> httpx.Response:
    """Post a form as the gateway would, signed over `signed_base + path`."""
    headers = {"X-Twilio-Signature": sign(signed_base + path, params, token)}
    return await client.post(path, data=params, headers=headers)


def call_params(sid: str = "CA" + "1" * 32, **extra: str) -> dict[str, str]:
    return {
        "CallSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": US_PHONE,
        "To": OUR_NUMBER,
        "CallStatus": "in-progress",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def twiml(response: httpx.Response) -> ET.Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.text)
    assert root.tag == "Response"
    return root


def spoken(root: ET.Element) -> str:
    return " ".join(say.text or "" for say in root.iter("Say"))
