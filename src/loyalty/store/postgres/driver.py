"""What the PostgreSQL adapter needs of psycopg: importing it on demand, its errors as the
engine's, the values PostgreSQL text cannot hold, and an entry's values as its statements bind them."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from loyalty.chains import content_digest
from loyalty.errors import InvalidInput, StorageError, TransientStorageError
from loyalty.ledger import Posting
from loyalty.lots import opens
from loyalty.store.rows import draws_text, dump_json, offset_of, redates_text, rules_text, shares_text
from loyalty.tallies import Tally

if TYPE_CHECKING:
    import psycopg

    Connection = psycopg.Connection[tuple[Any, ...]]

DEFAULT_SCHEMA = "loyalty"
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
INSTALL_HINT = "pip install 'loyalty-engine[postgres]'"

ZERO = Tally()
BEGIN_READ = b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
BEGIN_WRITE = b"BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE"
UNIQUE_VIOLATION = "23505"
SERIALIZATION_FAILURE = "40001"
DEADLOCK_DETECTED = "40P01"
# invalid_sql_statement_name: a statement prepared on the connection is gone from its server
# session (DEALLOCATE ALL, DISCARD ALL, a pooler handing it another session). It failed before it
# ran; the store replaces the connection (session_reset), so a retry finds them prepared again.
INVALID_STATEMENT_NAME = "26000"
# feature_not_supported, of which only "cached plan must not change result type": a table a
# statement prepared on the connection reads was changed under it (another process's migration).
# Replaced like a reset session, the retry prepares it afresh. The function raising it is matched
# as well as the message, which the server's lc_messages may translate.
FEATURE_NOT_SUPPORTED = "0A000"
STALE_PLAN = "cached plan must not change result type"
STALE_PLAN_FUNCTION = "RevalidateCachedQuery"
# A duplicate key here means another transaction won a race for the same
# member, idempotency key, program version or member's key: a retry will see the winner and
# answer from it.
RACED_TABLES = frozenset(
    {"members", "operations", "program_versions", "holds", "referral_codes", "identifiers"}
)


def import_driver() -> None:
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError as exc:
        raise StorageError(
            None, f"the PostgreSQL store needs psycopg 3 and psycopg-pool: {INSTALL_HINT} ({exc})"
        ) from exc


def translate(exc: psycopg.Error) -> StorageError:
    if (
        exc.sqlstate in (SERIALIZATION_FAILURE, DEADLOCK_DETECTED, INVALID_STATEMENT_NAME)
        or (exc.sqlstate == UNIQUE_VIOLATION and exc.diag.table_name in RACED_TABLES)
        or _stale_plan(exc)
    ):
        return TransientStorageError(None, f"postgresql: {exc}")
    return StorageError(None, f"postgresql: {exc}")


def _stale_plan(exc: psycopg.Error) -> bool:
    return exc.sqlstate == FEATURE_NOT_SUPPORTED and (
        exc.diag.message_primary == STALE_PLAN or exc.diag.source_function == STALE_PLAN_FUNCTION
    )


def _driver_error(exc: BaseException | None) -> Any:
    """``exc`` if it is the driver's, else the driver's error it was translated from (or ``None``)."""
    if exc is not None and not hasattr(exc, "sqlstate"):
        return exc.__cause__
    return exc


def session_reset(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or the driver's error it was translated from) says a prepared statement
    is gone from the connection's server session, or its plan stale: the connection is no use
    any more."""
    error = _driver_error(exc)
    if getattr(error, "sqlstate", None) is None:
        return False
    return bool(error.sqlstate == INVALID_STATEMENT_NAME or _stale_plan(error))


def behind_pooler(exc: BaseException) -> StorageError | None:
    """The error for ``exc`` raised in the first unit of work of a connection that has just
    prepared its statements, if it says one is not found there (``None`` otherwise).

    Nothing of the store's ran on the connection in between to deallocate them: its server
    session is not the one they were prepared on. Every new connection would fare alike, so this
    is not retried."""
    error = _driver_error(exc)
    if getattr(error, "sqlstate", None) != INVALID_STATEMENT_NAME:
        return None
    return StorageError(
        "url",
        f"postgresql: {error}, on a connection that had just prepared it: a pooler in transaction "
        "mode (PgBouncer's pool_mode = transaction) appears to be between the store and the server, "
        "running each transaction on another server session; open the store with prepare=off "
        "(postgresql://...?prepare=off)",
    )


def pg_text(field: str, value: str) -> str:
    """Refuse, naming the field, the strings PostgreSQL text cannot hold (the driver would say only how)."""
    if "\x00" in value:
        raise InvalidInput(field, "PostgreSQL text cannot hold NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(field, "must be valid Unicode (no unpaired surrogates)") from None
    return value


def pg_json(field: str, value: Any) -> str:
    # dump_json escapes NUL as \u0000 but passes lone surrogates through.
    return pg_text(field, dump_json(value))


def entry_values(posting: Posting, tallies: str | None) -> dict[str, Any]:
    """The values of an entry's statement (``append`` and ``append_numbered`` in queries), with
    the member row's ``tallies`` text when the unit of work changed them."""
    version = posting.program_version
    rules = rules_text(posting.rules)
    return {
        "member_id": pg_text("member_id", posting.member_id),
        "kind": posting.kind.value,
        "points": posting.points,
        "occurred_at": posting.occurred_at,
        "occurred_offset": offset_of(posting.occurred_at),
        "recorded_at": posting.recorded_at,
        "recorded_offset": offset_of(posting.recorded_at),
        "source_id": pg_text("source_id", posting.source_id),
        "reason": pg_text("reason", posting.reason),
        "actor": None if posting.actor is None else pg_text("actor", posting.actor),
        "rule": rules,
        "program_version": None if version is None else pg_text("program_version", version),
        "vests_at": posting.vests_at,
        "expires_at": posting.expires_at,
        "draws": draws_text(posting.draws),
        "rolling": posting.rolling,
        "redates": redates_text(posting.redates),
        "rule_shares": shares_text(posting),
        "opens": opens(posting),
        "tallies": tallies,
        "digest": content_digest(posting),
    }
