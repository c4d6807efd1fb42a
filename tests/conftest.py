"""Shared test setup: Hypothesis profiles, assertion rewriting, the PostgreSQL DSN."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

pytest.register_assert_rewrite("loyalty.testing")

# A modest default keeps .ci/run fast; HYPOTHESIS_PROFILE=stress digs deeper.
settings.register_profile("default", max_examples=60, deadline=None)
settings.register_profile(
    "stress",
    max_examples=2000,
    stateful_step_count=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
