"""The CLI tests' working directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import CORNER, VERSIONS, sample


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding corner.toml, versions.toml and basket.json."""
    (tmp_path / "corner.toml").write_text(CORNER, encoding="utf-8")
    (tmp_path / "versions.toml").write_text(VERSIONS, encoding="utf-8")
    (tmp_path / "basket.json").write_text(json.dumps(sample()), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path
