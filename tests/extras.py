"""Optional parts the tests need: a missing one skips its tests, with the reason shown, except
under ``CI``, where it is a broken pipeline and fails them (as tests.pg does for PostgreSQL)."""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so these tests must run)")
    pytest.skip(reason)


def need(module: str) -> None:
    """Skip (fail under CI) unless ``module``, of the ``dev`` extra, is installed."""
    if importlib.util.find_spec(module) is None:
        _missing(f"{module} is not installed: pip install -e '.[dev]'")


def need_matplotlib() -> None:
    """Skip (fail under CI) unless the ``report`` extra's matplotlib is installed."""
    need("matplotlib")


def chromium() -> str:
    """The Chromium executable; skips (fails under CI) without one."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        _missing("no Chromium on the PATH: apt-get install chromium (.ci/run does)")
    assert found is not None
    return found
