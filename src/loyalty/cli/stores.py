"""Opening the store and the program a command works on."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from loyalty.cli.programs import program_versions
from loyalty.engine import Engine
from loyalty.errors import InvalidInput
from loyalty.program import Program
from loyalty.store import Store, open_store

#: Where a command finds its store when ``--store`` is not given.
STORE_VARIABLE = "LOYALTY_STORE_URL"


def store_url(given: str | None) -> str:
    """``--store``, else ``LOYALTY_STORE_URL``: a command on data never guesses a default file."""
    url = given or os.environ.get(STORE_VARIABLE)
    if not url:
        raise InvalidInput("store", f"give --store URL or set {STORE_VARIABLE}")
    return url


@contextmanager
def existing_store(url: str) -> Iterator[Store]:
    """The store at ``url`` for the block, closed after it (with ``close()``: an adapter of
    someone else's need not be a context manager). It is opened without migrating: a missing
    SQLite file, an absent PostgreSQL schema or an older one is refused, and nothing is created
    or upgraded (``loyalty migrate`` does that)."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() == "sqlite" and rest.startswith("/"):
        path = Path(rest[1:].partition("?")[0].partition("#")[0])
        if not path.is_file():
            raise InvalidInput("store", f"no SQLite file at {path}: `loyalty migrate` creates one")
    store = open_store(url, migrate=False)
    try:
        yield store
    finally:
        store.close()


def engine_on(store: Store, program: Path | None) -> tuple[Engine, Program]:
    """An engine on ``store`` with the versions in the ``program`` file, or else the versions
    stored with the data; and the latest of them."""
    with store.unit_of_work(readonly=True) as uow:
        stored = tuple(Program.from_dict(version.body) for version in uow.program_versions())
    if program is not None:
        versions = program_versions(program)
        if stored:
            _check_same_merchant(program, versions[-1], stored[-1])
    elif not stored:
        raise InvalidInput("program", "the store holds no program version: give --program")
    else:
        versions = stored
    engine = Engine(list(versions) if len(versions) > 1 else versions[0], store)
    return engine, versions[-1]


def _check_same_merchant(path: Path, given: Program, stored: Program) -> None:
    """A program file of another program than the store's would report or maintain that merchant's
    data under the wrong rules without a word: refused. A new version of the same program is fine."""
    if (given.name, given.currency) != (stored.name, stored.currency):
        raise InvalidInput(
            "program",
            f"{path} is {given.name!r} ({given.currency}), but the store holds the data of "
            f"{stored.name!r} ({stored.currency})",
        )
