"""The committed training data: its checks pass, and no seed group is in both files."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

from agent.settings import PROJECT_ROOT

DATA = PROJECT_ROOT / "data"


def _stats() -> ModuleType:
    spec = importlib.util.spec_from_file_location("data_stats", DATA / "stats.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_committed_data_passes_its_checks_and_every_row_has_a_group() -> None:
    train, test = _load(DATA / "train.jsonl"), _load(DATA / "test.jsonl")
    assert _stats().check(train, test) == []
    assert all(isinstance(r["group"], str) and r["group"] for r in train + test)


def test_the_checks_catch_a_seed_group_in_both_files() -> None:
    train, test = _load(DATA / "train.jsonl"), _load(DATA / "test.jsonl")
    leaked = {**train[0], "id": "en-999999", "text": "a brand new line", "group": test[0]["group"]}
    problems = _stats().check([*train, leaked], test)
    assert problems == [f"seed group in train and test {test[0]['group']!r}"]
