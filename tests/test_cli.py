"""The `agent` command, run as a user would (a real subprocess, a real SQLite file)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

AGENT = [sys.executable, "-m", "agent"]


def run(args: list[str], tmp_path: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AGENT_DATA_DIR": str(tmp_path),
        "AGENT_LOG_FORMAT": "console",
        "AGENT_LOG_LEVEL": "WARNING",
    }
    env.pop("AGENT_DATABASE_URL", None)
    return subprocess.run(
        AGENT + args, input=stdin, capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_chat_in_chinese_then_audit_verify_then_tamper(tmp_path: Path) -> None:
    result = run(
        ["chat", "--account", "DEMO-CN-001"], tmp_path, stdin="1990年8月8日\n下周五还两千\n对\n"
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "智能助手" in out and "录音" in out
    assert "promise=2000" in out and "CNY" in out
    assert "step=close_promise" in out

    verified = run(["audit", "verify"], tmp_path)
    assert verified.returncode == 0, verified.stderr
    report = json.loads(verified.stdout)
    assert report["ok"] is True and report["events"] >= 8

    with sqlite3.connect(tmp_path / "tact.db") as db:
        db.execute('UPDATE audit_events SET payload = \'{"text": "edited"}\' WHERE seq = 4')
    broken = run(["audit", "verify"], tmp_path)
    assert broken.returncode == 1
    assert json.loads(broken.stdout)["problems"][0]["seq"] == 4


def test_classify_writes_one_json_object_per_line(tmp_path: Path) -> None:
    result = run(
        ["classify"],
        tmp_path,
        stdin="stop calling me\n别再给我打电话了\n\nI can pay 200 dollars next Friday\n",
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 3
    for row in rows:
        assert set(row) == {"text", "language", "emotion", "emotion_scores", "intents", "entities"}
        assert abs(sum(row["emotion_scores"].values()) - 1.0) < 0.01
    assert "cease_contact" in rows[0]["intents"] and rows[0]["language"] == "en"
    assert "cease_contact" in rows[1]["intents"] and rows[1]["language"] == "zh"
    assert rows[2]["entities"]["amount"]["value"] in ("200", "200.0", 200)


def test_classify_files(tmp_path: Path) -> None:
    source, target = tmp_path / "in.txt", tmp_path / "out.jsonl"
    source.write_text("I have a lawyer now\n我已经申请破产了\n", encoding="utf-8")
    result = run(["classify", "--input", str(source), "--output", str(target)], tmp_path)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [r["intents"] for r in rows] == [["attorney"], ["bankruptcy"]]


@pytest.mark.parametrize("broken", ["predicate", "template"])
def test_serve_refuses_to_start_on_a_bad_policy_or_template(tmp_path: Path, broken: str) -> None:
    root = Path(__file__).resolve().parent.parent
    policies = tmp_path / "policies"
    policies.mkdir()
    text = (root / "dialogue_policies" / "collections_default.yaml").read_text()
    if broken == "predicate":
        text = text.replace('"raised.cease_contact"', '"raised.cease_contact or"', 1)
    else:
        text = text.replace("say: cease_end", "say: cease_ending", 1)
    (policies / "collections_default.yaml").write_text(text)
    env_args = ["serve", "--port", "0"]
    result = subprocess.run(
        AGENT + env_args,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "AGENT_DATA_DIR": str(tmp_path), "AGENT_POLICIES_DIR": str(policies)},
    )
    assert result.returncode == 2
    assert "collections_default.yaml:" in result.stderr
