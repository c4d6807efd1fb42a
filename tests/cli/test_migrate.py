"""loyalty migrate creates or upgrades a store; the commands on existing data do neither."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg
import pytest

from loyalty.store.sqlite import SCHEMA_VERSION
from tests.cli.helpers import run_cli, tree_of
from tests.pg import postgres_dsn
from tests.sqlite_files import previous_schema_file, schema_version_of


@pytest.mark.parametrize(
    "command",
    [
        ["report", "--from", "2024-03-01T00:00:00+00:00", "--to", "2024-04-01T00:00:00+00:00"],
        ["member", "show", "M1"],
        ["member", "history", "M1"],
        ["events"],
        ["run-due", "--program", "corner.toml"],
    ],
)
def test_the_commands_on_existing_data_refuse_an_older_store_and_leave_it(
    files: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    path = files / "older.db"
    previous_schema_file(path)
    before = tree_of(files)
    status, out, err = run_cli(capsys, *command, "--store", f"sqlite:///{path}")
    assert status == 3, err
    assert f"schema version {SCHEMA_VERSION - 1}" in err and "loyalty migrate" in err
    assert out == ""
    assert tree_of(files) == before
    assert schema_version_of(path) == SCHEMA_VERSION - 1


def test_loyalty_migrate_upgrades_an_older_store_and_says_to_what(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = files / "older.db"
    previous_schema_file(path)
    url = f"sqlite:///{path}"
    assert run_cli(capsys, "migrate", "--store", url) == (0, f"{url}: schema version {SCHEMA_VERSION}\n", "")
    assert schema_version_of(path) == SCHEMA_VERSION
    # The guide shows the same session, so it names this version too.
    guide = (Path(__file__).parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    assert f"sqlite:///club.db: schema version {SCHEMA_VERSION}\n" in guide
    status, out, _ = run_cli(capsys, "member", "history", "M1", "--store", url)
    assert status == 2 and out == ""  # opens now; there is no such member
    status, out, _ = run_cli(capsys, "migrate", "--store", url, "--json")
    assert (status, json.loads(out)) == (0, {"store": url, "schema_version": SCHEMA_VERSION})


def test_loyalty_migrate_creates_a_new_store(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = files / "new.db"
    status, out, _ = run_cli(capsys, "migrate", "--store", f"sqlite:///{path}")
    assert status == 0 and out.endswith(f"schema version {SCHEMA_VERSION}\n")
    assert schema_version_of(path) == SCHEMA_VERSION


@pytest.mark.postgres
def test_a_report_on_a_mistyped_postgresql_schema_creates_nothing(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = f"typo_{uuid.uuid4().hex}"
    dsn = postgres_dsn()
    url = f"{dsn}{'&' if '?' in dsn else '?'}schema={schema}"
    period = ["--from", "2024-03-01T00:00:00+00:00", "--to", "2024-04-01T00:00:00+00:00"]
    status, out, err = run_cli(capsys, "report", "--store", url, *period)
    assert status == 3 and out == ""
    assert f"schema {schema!r} holds no loyalty store" in err
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone() is None
