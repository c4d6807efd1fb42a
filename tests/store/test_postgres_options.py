"""Opening a PostgreSQL store: the URL's schema and pool options, the driver, an unreachable server."""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest

from loyalty.errors import InvalidInput, StorageError
from loyalty.store import open_store
from loyalty.store.postgres import PostgresStore, open_postgres
from tests.pg import postgres_dsn, schema_of

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("schema", ["x; DROP", "Upper", "a" * 64, "", "1abc", "sch-ema", 'x"y', "ünï", "a.b"])
def test_schema_names_are_validated_before_connecting(schema: str) -> None:
    with pytest.raises(InvalidInput) as info:
        PostgresStore("postgresql://nobody@192.0.2.1/none", schema=schema)
    assert info.value.field == "schema"


def test_schema_name_from_the_url_is_validated() -> None:
    with pytest.raises(InvalidInput) as info:
        open_store("postgresql://nobody@192.0.2.1/none?schema=x%3B%20DROP")
    assert info.value.field == "schema"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("pool_min=-1", "pool_min"),
        ("pool_max=0", "pool_max"),
        ("pool_min=5&pool_max=2", "pool_max"),
        ("pool_timeout=soon", "pool_timeout"),
        ("pool_timeout=0", "pool_timeout"),
    ],
)
def test_pool_options_are_validated(query: str, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        open_postgres(f"postgresql://nobody@192.0.2.1/none?{query}")
    assert info.value.field == field


def test_options_are_taken_from_the_url_and_the_rest_goes_to_libpq(schema_url: str) -> None:
    store = open_store(f"{schema_url}&pool_min=2&pool_max=3&application_name=loyalty-test")
    try:
        assert isinstance(store, PostgresStore)
        assert store.schema == schema_of(schema_url)
        with store.unit_of_work(readonly=True) as uow:
            assert uow.balance("nobody") is None
        stats = store._pool.get_stats()
        assert (stats["pool_min"], stats["pool_max"]) == (2, 3)
        with psycopg.connect(postgres_dsn()) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'loyalty-test'"
            ).fetchone()
        assert row is not None and row[0] >= 2
    finally:
        store.close()


def test_a_missing_driver_raises_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes `import psycopg` raise ImportError, as if it were not installed.
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(StorageError, match=r"loyalty-engine\[postgres\]"):
        open_store("postgresql://nobody@192.0.2.1/none")


def test_importing_loyalty_does_not_import_the_driver() -> None:
    code = "import sys, loyalty, loyalty.store.postgres; sys.exit('psycopg' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_an_unreachable_server_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match="postgresql"):
        open_postgres("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1&pool_timeout=1")


@pytest.mark.parametrize("value", ["", "yes", "true", "1", "OFF", "of"])
def test_the_prepare_option_is_on_or_off(value: str) -> None:
    with pytest.raises(InvalidInput, match="prepare: must be on or off") as info:
        open_postgres(f"postgresql://nobody@192.0.2.1/none?prepare={value}")
    assert info.value.field == "prepare"


def test_the_prepare_argument_is_a_bool() -> None:
    with pytest.raises(InvalidInput) as info:
        PostgresStore("postgresql://nobody@192.0.2.1/none", prepare="off")  # type: ignore[arg-type]
    assert info.value.field == "prepare"
