"""The CLI tests' working directory."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from loyalty import Engine, Line, Purchase, open_store
from tests.cli.helpers import CLUB, CORNER, VERSIONS, sample

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding corner.toml, versions.toml and basket.json."""
    (tmp_path / "corner.toml").write_text(CORNER, encoding="utf-8")
    (tmp_path / "versions.toml").write_text(VERSIONS, encoding="utf-8")
    (tmp_path / "basket.json").write_text(json.dumps(sample()), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An SQLite store, club.db, holding two members' purchases and a correction (three entries),
    its URL in LOYALTY_STORE_URL."""
    path = tmp_path / "club.db"
    url = f"sqlite:///{path}"
    with Engine(CLUB, open_store(url), clock=lambda: T0) as engine:
        for member_id in ("M1", "M2"):
            engine.enroll(member_id, at=T0)
        engine.record_purchase(Purchase("T1", "M1", T0, [Line("cake", 1, Decimal("4.15"))], "EUR"))
        engine.record_purchase(Purchase("T2", "M2", T0, [Line("tart", 1, Decimal("12.00"))], "EUR"))
        engine.adjust("M1", -2, id="A1", reason="goodwill reversed", actor="clerk-7", at=T0)
    monkeypatch.setenv("LOYALTY_STORE_URL", url)
    return path
