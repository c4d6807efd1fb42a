"""What the published package says of itself: its licence, the Pythons it runs on, what it needs."""

from __future__ import annotations

import tomllib

from tests.paths import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_the_mit_licence_ships_with_the_package() -> None:
    assert PROJECT["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License\n")


def test_the_pythons_ci_runs_on_are_declared() -> None:
    assert PROJECT["requires-python"] == ">=3.11"
    for version in ("3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {version}" in PROJECT["classifiers"]


def test_windows_tills_get_a_time_zone_database() -> None:
    assert "tzdata; sys_platform == 'win32'" in PROJECT["dependencies"]
