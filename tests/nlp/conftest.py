"""Fixtures shared by the classifier tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.nlp.classifier import ensure_model
from agent.settings import Settings


@pytest.fixture(scope="module")
def model_dir() -> Path:
    """The built model (AGENT_MODEL_DIR), built now if missing."""
    return ensure_model(Settings(analyzer="model"))
