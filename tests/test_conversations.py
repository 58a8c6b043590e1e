"""Runs every conversation in tests/conversations/*.yaml through the chat HTTP API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.assist.helpers import sign_in

CASES_DIR = Path(__file__).parent / "conversations"


def _cases() -> list[Any]:
    cases = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text(encoding="utf-8")):
            cases.append(pytest.param(case, id=f"{path.stem}: {case['name']}"))
    return cases


def check(expect: dict[str, Any], body: dict[str, Any], where: str) -> None:
    state, messages = body["state"], body["messages"]
    said = " ".join(m["text"] for m in messages)
    for key in ("step", "verified", "ended", "handoff"):
        if key in expect:
            assert state[key] == expect[key], f"{where}: {key} {state[key]!r}; said: {said}"
    if "tone" in expect:
        assert messages, f"{where}: no message to check the tone of"
        assert messages[-1]["tone"] == expect["tone"], f"{where}: tone; said: {said}"
    for flag in expect.get("flags", []):
        assert flag in state["flags"], f"{where}: flag {flag} missing from {state['flags']}"
    for flag in expect.get("no_flags", []):
        assert flag not in state["flags"], f"{where}: flag {flag} unexpectedly set"
    if "promise" in expect:
        if expect["promise"] is None:
            assert state["promise"] is None, f"{where}: promise {state['promise']}"
        else:
            assert state["promise"] is not None, f"{where}: no promise; said: {said}"
            for field, value in expect["promise"].items():
                actual = state["promise"][field]
                if field == "amount":
                    assert float(actual) == float(value), f"{where}: amount {actual}"
                else:
                    assert actual == value, f"{where}: promise.{field} {actual!r}"
    if "templates" in expect:
        assert [m["template_id"] for m in messages] == expect["templates"], f"{where}: {said}"
    for text in expect.get("says", []):
        assert str(text) in said, f"{where}: {text!r} not in {said!r}"
    for text in expect.get("never_says", []):
        assert str(text).lower() not in said.lower(), f"{where}: {text!r} said in {said!r}"


@pytest.mark.parametrize("case", _cases())
async def test_conversation(client: httpx.AsyncClient, case: dict[str, Any]) -> None:
    if case.get("account_flags"):  # set on the account first, as a compliance officer would
        await sign_in(client, "supervisor@demo")
        for flag in case["account_flags"]:
            response = await client.post(
                f"/v1/accounts/{case['account']}/flags", json={"flag": flag}
            )
            assert response.status_code == 201, response.text
    payload = {"account_ref": case["account"]}
    if "locale" in case:
        payload["locale"] = case["locale"]
    response = await client.post("/v1/chat/sessions", json=payload)
    assert response.status_code == 201, response.text
    body = response.json()
    check(case.get("opening", {}), body, "opening")
    session_id = body["session_id"]
    for index, turn in enumerate(case["turns"], start=1):
        assert isinstance(turn["say"], str), f"quote {turn['say']!r} in the YAML"
        response = await client.post(
            f"/v1/chat/sessions/{session_id}/messages", json={"text": turn["say"]}
        )
        assert response.status_code == 200, response.text
        check(turn.get("expect", {}), response.json(), f"turn {index} ({turn['say']!r})")
