"""PostgreSQL schema 18: the entries' guard lets an erasure rename its member (member and source
id, named by settings local to its transaction) without DDL; schemas of version 17 upgraded (to
the current schema, whose guard lets the erasure move the entries instead: schema 23)."""

from __future__ import annotations

import pytest

from loyalty import Engine, Program
from loyalty.store.postgres import SCHEMA_VERSION, open_postgres
from loyalty.testing.contract import T0
from tests.old_erasures import erase_again, erase_keeping_the_id
from tests.pg import postgres_dsn, schema_of
from tests.store.test_postgres_migration_23 import erased_once_upgraded
from tests.tampering import as_postgres_schema_17

pytestmark = pytest.mark.postgres


def test_a_version_17_schema_lets_an_erasure_rename_its_member_once_upgraded(schema_url: str) -> None:
    old, fresh = erased_once_upgraded(schema_url, as_postgres_schema_17)
    # Schema 18's guard on update let the rename through; schema 23's is schema 17's again.
    assert "loyalty.erasing" not in old[0]["entries_text_only"] == fresh[0]["entries_text_only"]
    assert old[1] == {"entries_no_delete", "entries_no_truncate", "entries_text_only"}
    assert SCHEMA_VERSION == 23


def test_a_member_erased_by_version_17_keeping_its_id_takes_its_pseudonym_when_erased_again(
    schema_url: str,
) -> None:
    with Engine(Program("Club", "EUR"), open_postgres(schema_url), clock=lambda: T0) as engine:
        erase_keeping_the_id(engine)
    as_postgres_schema_17(postgres_dsn(), schema_of(schema_url))
    with Engine(Program("Club", "EUR"), open_postgres(schema_url), clock=lambda: T0) as engine:
        erase_again(engine)
