"""Opening an SQLite store from a URL: paths, pragmas and options, the default file, refused URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from loyalty import InvalidInput, open_store
from loyalty.store.sqlite import SQLiteStore


def test_open_store_parses_paths_and_options(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/a.db?synchronous=normal&busy_timeout=2500")
    assert isinstance(store, SQLiteStore)
    assert store.path == tmp_path / "a.db"
    with store._connection() as conn:
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 2500
    store.close()
    full = open_store(f"sqlite:///{tmp_path}/b.db")
    assert isinstance(full, SQLiteStore)
    with full._connection() as conn:
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    full.close()


def test_relative_paths_are_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    open_store("sqlite:///rel.db").close()
    assert (tmp_path / "rel.db").exists()


def test_default_store_is_an_sqlite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOYALTY_STORE_URL", raising=False)
    store = open_store()
    assert isinstance(store, SQLiteStore)
    store.close()
    assert (tmp_path / "loyalty.db").exists()


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("sqlite://", "url"),
        ("sqlite:///:memory:", "url"),
        ("sqlite://host/x.db", "url"),
        ("sqlite:///x.db?synchronous=off", "synchronous"),
        ("sqlite:///x.db?busy_timeout=soon", "busy_timeout"),
        ("sqlite:///x.db?journal=delete", "url"),
        ("mysql://x", "url"),
        ("no-scheme", "url"),
    ],
)
def test_bad_urls_are_refused(url: str, field: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidInput) as info:
        open_store(url)
    assert info.value.field == field
    assert list(tmp_path.iterdir()) == []
