"""Shared test setup: Hypothesis profiles, assertion rewriting, the PostgreSQL DSN, a store per adapter."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from loyalty.store import Store, open_store
from tests.adapters import ADAPTERS, fresh_store
from tests.pg import drop_spare_schemas
from tests.postgres_share import ENV, in_share, parse_share

# The plugin (loyalty.testing.plugin, loaded by addopts or its entry point) registers the kit's
# modules for assertion rewriting; pytester runs the plugin's own tests in a fresh project.
pytest_plugins = ["pytester"]

# A modest default keeps .ci/run fast; HYPOTHESIS_PROFILE=stress digs deeper.
settings.register_profile("default", max_examples=25, deadline=None)
settings.register_profile(
    "stress",
    max_examples=2000,
    stateful_step_count=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# .ci/mutation.py's: each mutant's verdict must be the same on every run (no random draws, no
# example database replaying an earlier mutant's failure) and hundreds of mutants run the tests.
settings.register_profile("mutation", max_examples=10, derandomize=True, database=None, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(params=ADAPTERS)
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh store on each adapter in turn (PostgreSQL: a schema of its own, dropped after)."""
    with fresh_store(request.param, tmp_path) as store:
        yield store


@pytest.fixture
def store() -> Iterator[Store]:
    """A fresh in-memory store (test modules that need another kind define their own)."""
    store = open_store("memory://")
    yield store
    store.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``LOYALTY_TEST_POSTGRES_SHARE`` (``.ci/run``'s), only this version's share of the
    PostgreSQL tests (:mod:`tests.postgres_share`); the others are deselected, not skipped."""
    text = os.environ.get(ENV)
    if not text:
        return
    share = parse_share(text)
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        theirs = item.get_closest_marker("postgres") is not None and not in_share(item.nodeid, share)
        (dropped if theirs else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The PostgreSQL schemas kept for reuse between tests are dropped when the run ends."""
    drop_spare_schemas()
