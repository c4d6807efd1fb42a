"""Fresh stores for tests, by the kind ``--loyalty-store`` names (:mod:`loyalty.testing.plugin`).

>>> with fresh_store(None) as store:
...     type(store).__name__
'MemoryStore'
>>> with fresh_store("mysql://shop") as store:
...     pass
Traceback (most recent call last):
...
loyalty.errors.InvalidInput: --loyalty-store: 'mysql://shop' is not memory, sqlite or a postgresql:// URL
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from loyalty.errors import InvalidInput
from loyalty.store import Store, open_store

__all__ = ["fresh_store"]


@contextmanager
def fresh_store(kind: str | None) -> Iterator[Store]:
    """A new, empty store, closed (and its file or schema removed) on leaving.

    ``kind`` is ``None`` or ``memory`` (a memory store), ``sqlite`` (a file in a new temporary
    directory) or a ``postgresql://`` URL without a schema (a new schema ``loyalty_test_<hex>``,
    dropped after: the URL's user needs the right to create schemas).
    """
    if kind in (None, "", "memory", "memory://"):
        with open_store("memory://") as store:
            yield store
    elif kind in ("sqlite", "sqlite://"):
        with (
            tempfile.TemporaryDirectory(prefix="loyalty-test-") as folder,
            open_store(f"sqlite:///{Path(folder) / 'loyalty.db'}") as store,
        ):
            yield store
    elif kind.startswith(("postgresql://", "postgres://")):
        yield from _fresh_schema(kind)
    else:
        raise InvalidInput("--loyalty-store", f"{kind!r} is not memory, sqlite or a postgresql:// URL")


def _fresh_schema(dsn: str) -> Iterator[Store]:
    if "schema=" in dsn:
        raise InvalidInput("--loyalty-store", "leave the schema out: each test gets a new one")
    from psycopg import connect, sql

    schema = f"loyalty_test_{uuid.uuid4().hex}"
    try:
        with open_store(f"{dsn}{'&' if '?' in dsn else '?'}schema={schema}") as store:
            yield store
    finally:
        base = dsn.split("?", 1)[0]
        with connect(base, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
