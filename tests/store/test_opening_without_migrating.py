"""Opening a store without migrating (``open_store(url, migrate=False)``): a store that is there
and current opens; anything else is refused, naming the URL, and nothing is created or written."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

import loyalty.store
from loyalty import Engine, Program, StorageError, open_store
from loyalty.store import Store, memory
from loyalty.store.sqlite import SCHEMA_VERSION, SQLiteStore
from tests.sqlite_files import previous_schema_file, schema_version_of

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def test_a_missing_sqlite_file_is_refused_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    with pytest.raises(StorageError, match="no SQLite file") as info:
        open_store(f"sqlite:///{path}", migrate=False)
    assert info.value.field == "url"
    assert not path.exists()


def test_an_empty_file_is_refused_and_left_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with pytest.raises(StorageError, match="holds no loyalty store"):
        open_store(f"sqlite:///{path}", migrate=False)
    assert path.stat().st_size == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"]  # no -wal, no -shm


def test_a_file_of_something_else_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    path.write_text("not a database at all, just text\n" * 200)
    with pytest.raises(StorageError, match="holds no loyalty store"):
        open_store(f"sqlite:///{path}", migrate=False)
    assert path.read_text().startswith("not a database")


def test_an_older_sqlite_file_is_refused_and_not_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "older.db"
    previous_schema_file(path)
    with pytest.raises(StorageError, match=f"schema version {SCHEMA_VERSION - 1}; .* uses {SCHEMA_VERSION}"):
        open_store(f"sqlite:///{path}", migrate=False)
    assert schema_version_of(path) == SCHEMA_VERSION - 1
    open_store(f"sqlite:///{path}").close()  # opening with migrate (the default) upgrades it
    assert schema_version_of(path) == SCHEMA_VERSION


def test_a_current_sqlite_file_opens_and_serves_reads_and_writes(tmp_path: Path) -> None:
    path = tmp_path / "current.db"
    SQLiteStore(path).close()
    with open_store(f"sqlite:///{path}", migrate=False) as store:
        engine = Engine(Program("Shop", "EUR"), store)
        engine.enroll("M1", at=T0)
        assert engine.balance("M1").available == 0
    path.unlink()
    for leftover in tmp_path.iterdir():
        leftover.unlink()  # the WAL's files
    with pytest.raises(StorageError):
        open_store(f"sqlite:///{path}", migrate=False)
    assert not path.exists()


def test_the_memory_store_has_nothing_to_create_and_opens() -> None:
    with open_store("memory://", migrate=False) as store:
        assert isinstance(store, memory.MemoryStore)


@pytest.fixture
def plain_adapter(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """An adapter of someone else's under ``plain://`` whose factory takes only the URL."""
    opened: list[str] = []

    def open_plain(url: str) -> Store:
        opened.append(url)
        return memory.MemoryStore()

    monkeypatch.setattr(loyalty.store, "_load", lambda target: open_plain)
    monkeypatch.setitem(loyalty.store._BUILTIN, "plain", "tests:unused")
    return opened


def test_an_adapter_that_cannot_promise_to_create_nothing_is_refused(plain_adapter: list[str]) -> None:
    with pytest.raises(StorageError, match="'plain' adapter cannot open a store without creating") as info:
        open_store("plain://x", migrate=False)
    assert info.value.field == "url"
    assert plain_adapter == []
    open_store("plain://x").close()
    assert plain_adapter == ["plain://x"]
