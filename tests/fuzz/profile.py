"""One Hypothesis profile for every fuzz test: derandomized (the same examples every run,
so CI is reproducible), no deadline (the CI machine is shared), no example database.

AGENT_FUZZ_EXAMPLES raises the number of examples for a longer local run, e.g.
`AGENT_FUZZ_EXAMPLES=5000 .venv/bin/pytest tests/fuzz`."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("AGENT_FUZZ_EXAMPLES", "200"))

FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
