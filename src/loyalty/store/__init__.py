"""The storage port: what the engine needs from a database, and nothing more.

An adapter provides a :class:`Store` whose :meth:`Store.unit_of_work` yields a
:class:`UnitOfWork`: one atomic transaction that is rolled back unless
:meth:`UnitOfWork.commit` is called, and also when the block raises. The
engine runs every command inside exactly one unit of work.

Adapters are chosen by URL scheme with :func:`open_store`:

>>> store = open_store("memory://")
>>> with store.unit_of_work() as uow:
...     print(uow.balance("nobody"))
None
>>> store.close()

Third-party adapters register a factory under the ``loyalty.stores``
entry-point group (``scheme = "package.module:factory"``); the factory takes
the URL and returns a :class:`Store`.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from importlib import import_module
from importlib.metadata import entry_points
from inspect import Parameter, signature
from types import TracebackType
from typing import Any, Protocol, Self

import attrs

from loyalty.errors import InvalidInput, StorageError
from loyalty.figures import PeriodTotals
from loyalty.holds import Hold, HoldStatus
from loyalty.identifiers import Identifier
from loyalty.lots import Balance, Lot
from loyalty.members import Member, MemberStatus
from loyalty.outbox import DomainEvent, NewEvent
from loyalty.referrals import Referral
from loyalty.store.erasure_role import ErasureRole
from loyalty.store.identifier_role import IdentifiersRole
from loyalty.store.ledger_role import LedgerRole
from loyalty.store.offline_role import OfflineRole
from loyalty.store.voucher_role import VouchersRole
from loyalty.tallies import Tally
from loyalty.tiers import TierState

__all__ = [
    "DEFAULT_URL",
    "MAX_TALLY_KEY_LENGTH",
    "Balance",
    "Closing",
    "DomainEvent",
    "ErasureRole",
    "Hold",
    "HoldsRole",
    "Identifier",
    "IdentifiersRole",
    "LedgerRole",
    "Lot",
    "MembersRole",
    "OfflineRole",
    "Operation",
    "OperationsRole",
    "OutboxRole",
    "ProgramsRole",
    "ReferralsRole",
    "ReportsRole",
    "Store",
    "StoreFactory",
    "StoredProgram",
    "TalliesRole",
    "Tally",
    "TierState",
    "TiersRole",
    "UnitOfWork",
    "VouchersRole",
    "check_deltas",
    "check_json",
    "check_rules",
    "check_shares",
    "check_tally_key",
    "open_store",
    "program_order",
]

#: Where :func:`open_store` keeps data when no URL is given and
#: ``LOYALTY_STORE_URL`` is not set: an SQLite file in the working directory.
DEFAULT_URL = "sqlite:///loyalty.db"

JSON = dict[str, Any]


@attrs.frozen
class Operation:
    """A command the engine has decided, kept under the POS's idempotency key.

    ``request`` is the command's canonical form, compared field by field when
    the key comes back; ``result`` is what the command returned (or why it was
    declined), replayed verbatim on a retry.
    """

    key: str
    kind: str
    request: JSON
    result: JSON
    recorded_at: datetime


#: Tally keys are strings of at most this many characters.
MAX_TALLY_KEY_LENGTH = 600


@attrs.frozen
class StoredProgram:
    """A program version the engine has run, kept so old purchases can be evaluated with its rules."""

    #: The program's version label, unique in a store.
    version: str
    #: Aware; ``None`` means in force since the beginning.
    effective_from: datetime | None
    #: The program's ``to_dict()`` form (JSON-serialisable).
    body: JSON
    recorded_at: datetime


def program_order(program: StoredProgram) -> tuple[bool, datetime | None, str]:
    """The order of :meth:`UnitOfWork.program_versions`: ``effective_from`` (``None`` first), version."""
    return (program.effective_from is not None, program.effective_from, program.version)


def _has_surrogate(value: str) -> bool:
    return not value.isascii() and any("\ud800" <= ch <= "\udfff" for ch in value)


def check_tally_key(key: object) -> str:
    """A tally key every adapter can store: a string of at most 600 characters, no NUL, valid Unicode."""
    if not isinstance(key, str):
        raise InvalidInput("key", f"a tally key must be a string, not {type(key).__name__}")
    if len(key) > MAX_TALLY_KEY_LENGTH:
        raise InvalidInput(
            "key", f"a tally key must be at most {MAX_TALLY_KEY_LENGTH} characters, got {len(key)}"
        )
    # (The surrogate scan inline, and only for non-ASCII keys: this runs on every purchase.)
    if "\x00" in key or (not key.isascii() and any("\ud800" <= ch <= "\udfff" for ch in key)):
        raise InvalidInput("key", "a tally key must not contain NUL characters or lone surrogates")
    return key


def check_deltas(deltas: Mapping[str, Tally]) -> None:
    """What ``add_tallies`` is given must map tally keys to :class:`Tally` values."""
    for key, delta in deltas.items():
        check_tally_key(key)
        if not isinstance(delta, Tally):
            raise InvalidInput("deltas", f"must map keys to Tally, not {type(delta).__name__}")


def check_json(field: str, value: Mapping[str, Any]) -> dict[str, Any]:
    """``value`` as every adapter gives it back: JSON (string keys, no NaN), read back."""
    try:
        normal: dict[str, Any] = json.loads(json.dumps(dict(value), allow_nan=False, sort_keys=True))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            field, f"must be JSON data (strings, numbers, booleans, lists, tables): {exc}"
        ) from None
    return normal


def check_rules(rules: Iterable[object]) -> None:
    """Rule ids must be non-empty and free of whitespace, NUL and lone surrogates.

    Adapters may store them joined by single spaces (the SQL ones do), so an
    id that would not come back whole is refused, by every adapter alike.
    """
    if isinstance(rules, str):
        raise InvalidInput("rules", f"must be a tuple of rule ids, not the string {rules!r}")
    for rule in rules:
        if not isinstance(rule, str):
            raise InvalidInput("rules", f"rule ids must be strings, not {type(rule).__name__}")
        if rule.split() != [rule]:
            raise InvalidInput("rules", f"rule ids must be non-empty and contain no whitespace, got {rule!r}")
        if "\x00" in rule or _has_surrogate(rule):
            raise InvalidInput("rules", "rule ids must not contain NUL characters or lone surrogates")


def check_shares(rules: tuple[str, ...], points: int, shares: tuple[int, ...]) -> None:
    """A posting's ``shares`` are none, or one whole number per rule (of two or more distinct
    rules) adding up to its points (:func:`loyalty.ledger.shares_of`)."""
    if not shares:
        return
    if len(rules) < 2 or len(set(rules)) != len(rules) or len(shares) != len(rules):
        raise InvalidInput("shares", f"must give each of two or more distinct rules a share, got {shares!r}")
    if (
        any(isinstance(share, bool) or not isinstance(share, int) for share in shares)
        or sum(shares) != points
    ):
        raise InvalidInput(
            "shares", f"must be whole points adding up to the entry's {points}, got {shares!r}"
        )


class MembersRole(Protocol):
    """Enrolled members: who collects points."""

    def member(self, member_id: str) -> Member | None:
        """The enrolled member, or ``None``."""
        ...

    def member_ids(self, *, after: str = "", limit: int) -> list[str]:
        """Enrolled members' ids above ``after``, in code-point order, at most ``limit`` (for reports).

        A page must cost about ``limit`` ids, not the members before ``after`` (an index in
        code-point order), so paging through every member takes linear time.
        """
        ...

    def add_member(self, member: Member) -> None:
        """Enroll ``member`` with a zero balance (the engine has checked it is new)."""
        ...

    def update_member(self, member: Member) -> None:
        """Replace the stored member's birthday, ``birthday_changed_at``, attributes and status.

        Same id; the engine has checked the member exists (an adapter fails
        with :class:`~loyalty.errors.StorageError` if not). The enrollment
        time and the balance are kept.
        """
        ...

    def member_status(self, member_id: str) -> MemberStatus | None:
        """The member's status, or ``None`` for an unknown member. A command asks it right after
        locking the member's balance, so an adapter may read it with the lock (the SQL adapters
        do) and answer from that; ``self.member(member_id).status`` is a correct implementation.
        """
        ...

    def enrolled_at(self, member_id: str) -> datetime | None:
        """When the member enrolled, or ``None`` for an unknown member: what a command checks its
        ``at`` against under ``time_guards.before_enrollment = "refuse"``, right after locking
        the member's balance, so an adapter may read it with the lock (the SQL adapters do; it
        never changes once enrolled). ``self.member(member_id).enrolled_at`` is a correct
        implementation.
        """
        ...


class HoldsRole(Protocol):
    """Points reserved at the till, each ended exactly once."""

    def add_hold(self, hold: Hold) -> None:
        """Record an open hold (its ``hold`` entry is appended separately); a duplicate id must fail."""
        ...

    def hold(self, hold_id: str) -> Hold | None:
        """The hold recorded under ``hold_id``, open or ended, or ``None``."""
        ...

    def open_holds(self, member_id: str) -> list[Hold]:
        """The member's open holds, by id (an index on the open ones: a read of the balance uses it)."""
        ...

    def due_holds(self, until: datetime, *, limit: int | None = None) -> list[Hold]:
        """Open holds whose ``expires_at <= until``, soonest first, ties by id (an index on the date)."""
        ...

    def end_hold(self, hold_id: str, status: HoldStatus, captured: int, at: datetime) -> Hold:
        """End an open hold, returning it ended. A hold ends exactly once: ending one that is not
        open (or unknown) fails with :class:`~loyalty.errors.StorageError` and changes nothing.
        """
        ...


class TiersRole(Protocol):
    """Members' tier states and the reviews due."""

    def tier_state(self, member_id: str) -> TierState | None:
        """The member's tier state, or ``None`` (a member who never left the lowest tier)."""
        ...

    def put_tier_state(self, state: TierState) -> None:
        """Record the member's tier state, replacing the one stored (the engine holds the member's lock).

        A state for an unknown member fails with :class:`~loyalty.errors.StorageError`.
        """
        ...

    def due_tier_states(self, until: datetime, *, limit: int | None = None) -> list[TierState]:
        """States whose ``due_at <= until``, soonest first, ties by member id.

        Maintenance finds tier reviews through this: an index on ``due_at``,
        so its cost grows with the reviews due, not with the members.
        """
        ...


class ReferralsRole(Protocol):
    """Referral codes and who referred whom."""

    def referral_code(self, member_id: str) -> str | None:
        """The member's referral code, or ``None``."""
        ...

    def code_owner(self, code: str) -> str | None:
        """The member whose referral code ``code`` is (stored normalized), or ``None``."""
        ...

    def add_referral_code(self, member_id: str, code: str) -> None:
        """Give the member ``code``; a code already taken, or a member who has one, must fail."""
        ...

    def referral(self, referee: str) -> Referral | None:
        """The attribution of ``referee`` (one per member, ever), or ``None``."""
        ...

    def referrals_by(self, referrer: str) -> list[Referral]:
        """The attributions naming ``referrer``, by referee id (an index on the referrer)."""
        ...

    def put_referral(self, referral: Referral) -> None:
        """Record a referral, replacing the one of the same referee (the engine holds its lock)."""
        ...


class ReportsRole(Protocol):
    """Figures added up in the store."""

    def period_totals(self, start: datetime, end: datetime, before: datetime) -> PeriodTotals:
        """What :mod:`loyalty.figures` needs for ``[start, end)``, added up in the store (SQL
        aggregates, not every entry loaded): ``before`` starts the period compared for retention.

        Purchases are the operations of kind ``purchase``, at their request's ``at`` (the till's
        time), of the request's ``member_id``, for the result's ``amount.amount``. The period's
        entries (by ``occurred_at``) and purchases must be found through indexes on those
        times, so a day costs a day's rows. ``outstanding`` (every entry before ``end``) may
        be counted from whichever end of the ledger is nearer: the maintained balances less
        the entries from ``end`` on. ``transferred`` is what the period's transfer entries
        credited (their debits mirror it, so transfers move no figure but their own).
        """
        ...


class OutboxRole(Protocol):
    """Domain events, written with the change they announce."""

    def add_event(self, event: NewEvent) -> None:
        """Add a domain event to the outbox, kept only if the unit of work commits.

        Its ``seq`` must follow every event committed before this unit of
        work commits and precede every one committed after, so a reader
        paging by ``seq`` never skips one that committed late (the SQL
        adapters number them at commit, under a lock).
        """
        ...

    def events(self, *, after: int = 0, limit: int | None = None) -> list[DomainEvent]:
        """Committed events with ``seq > after``, by ``seq``, at most ``limit``."""
        ...


class OperationsRole(Protocol):
    """Commands kept under the POS's idempotency keys."""

    def operation(self, key: str) -> Operation | None:
        """The operation recorded under ``key``, or ``None``."""
        ...

    def operation_and_lock(self, key: str, member_id: str) -> tuple[Operation | None, int | None]:
        """:meth:`operation` of ``key`` and :meth:`~MembersRole.balance` of ``member_id`` with
        ``for_update=True`` (``None`` for no such member), in one read where the adapter can:
        how a command that decides on one member's points begins, since it is rarely a retry.

        ``return self.operation(key), self.balance(member_id, for_update=True)`` is a correct
        implementation."""
        ...

    def add_operation(self, operation: Operation) -> None:
        """Record an operation; a second one with the same key must fail (the final arbiter)."""
        ...

    def unreceived_transfers(self, *, limit: int) -> list[Operation]:
        """Transfers half written, for maintenance to finish: the operations of kind
        ``transfer`` whose result has ``runs`` (the sender's part: not a decline, nor a whole
        transfer recorded in one unit of work by an earlier version) and under
        whose key followed by :data:`loyalty.transfers.RECEIVED` nothing is recorded, in key
        order, at most ``limit``."""
        ...

    def unfinished_parts(self, kind: str, *, limit: int) -> list[Operation]:
        """Commands written in parts, half written, for maintenance to finish: the operations of
        ``kind`` (the first part's record, such as a referral reward's
        :data:`~loyalty.referral_bonuses.REFERRER_PART`) under whose key followed by
        :data:`loyalty.transfers.RECEIVED` nothing is recorded, in key order, at most ``limit``."""
        ...

    def purchases_without_entry(self, *, after: Operation | None = None, limit: int) -> list[Operation]:
        """The purchases that wrote no entry (no entry has their key as its ``source_id``: they
        earned nothing), which the ledger feed cannot name, for a history export to slot in
        among the commands it does: the operations of kind ``purchase`` by
        :func:`loyalty.store.no_entry.order`, those after ``after`` (the last one of the page
        before, ``None`` for the first page), at most ``limit``."""
        ...


class TalliesRole(Protocol):
    """Running counts and exact sums under keys (caps, budgets, visits, habits)."""

    def tallies(self, keys: Collection[str], *, for_update: bool = False) -> dict[str, Tally]:
        """The tally for every key in ``keys`` (``Tally()`` for a key never added to).

        ``for_update=True``: the caller will decide a write on these values;
        concurrent writers of the same keys must wait (lock), so a budget
        shared by all members is never overspent. In a read-only unit of work
        it is a plain read.
        """
        ...

    def add_tallies(self, deltas: Mapping[str, Tally]) -> None:
        """Add each delta's count and points to the tally under its key (creating it).

        The sums are exact: the points read back are ``==`` the sum of every
        delta added.
        """
        ...


class ProgramsRole(Protocol):
    """The program versions engines have run."""

    def program_versions(self) -> list[StoredProgram]:
        """Every stored program version, by ``effective_from`` (``None`` first), then ``version``."""
        ...

    def add_program_version(self, program: StoredProgram) -> None:
        """Store a program version; a second one with the same ``version`` must fail."""
        ...


class UnitOfWork(
    MembersRole,
    LedgerRole,
    HoldsRole,
    TiersRole,
    ReferralsRole,
    ReportsRole,
    OutboxRole,
    OperationsRole,
    TalliesRole,
    ProgramsRole,
    IdentifiersRole,
    VouchersRole,
    OfflineRole,
    ErasureRole,
    Protocol,
):
    """One transaction. Nothing it did is visible to others or kept until :meth:`commit`.

    It is every role above and those of :mod:`loyalty.store.ledger_role`,
    :mod:`loyalty.store.identifier_role`, :mod:`loyalty.store.voucher_role`,
    :mod:`loyalty.store.offline_role` and :mod:`loyalty.store.erasure_role`, composed: an
    adapter author can read, implement and test one role at a time.
    """

    def commit(self) -> None:
        """Make everything done in this unit of work durable and visible."""
        ...


class Store(Protocol):
    """A storage adapter: also a context manager that closes it on leaving the block
    (:class:`Closing` gives an adapter that for its ``close``)."""

    def unit_of_work(self, *, readonly: bool = False) -> AbstractContextManager[UnitOfWork]:
        """A new transaction; rolled back on exit unless committed, translating driver errors."""
        ...

    def close(self) -> None:
        """Release connections and files; the store cannot be used afterwards."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class Closing(ABC):
    """``with store:`` for an adapter with a ``close()``: the block gets the store, and the
    store is closed when the block ends, however it ends.

    >>> from loyalty.store.memory import MemoryStore
    >>> with MemoryStore() as store:
    ...     pass
    >>> store.unit_of_work()
    Traceback (most recent call last):
    ...
    loyalty.errors.StorageError: the store is closed
    """

    @abstractmethod
    def close(self) -> None:
        """Release what the object holds; see :meth:`Store.close`."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


#: An adapter's opener: ``factory(url)``. One that can open an existing store without creating
#: or upgrading anything also takes ``migrate=False`` (see :func:`open_store`).
StoreFactory = Callable[..., Store]

_BUILTIN: Mapping[str, str] = {
    "memory": "loyalty.store.memory:open_memory",
    "sqlite": "loyalty.store.sqlite:open_sqlite",
    "postgresql": "loyalty.store.postgres:open_postgres",
    "postgres": "loyalty.store.postgres:open_postgres",
}


def _load(target: str) -> StoreFactory:
    module, _, name = target.partition(":")
    factory: StoreFactory = getattr(import_module(module), name)
    return factory


def open_store(url: str | None = None, *, migrate: bool = True) -> Store:
    """Open the store at ``url``: ``memory://``, ``sqlite:///path.db`` or ``postgresql://...``.

    With no URL, ``LOYALTY_STORE_URL`` is used if set, else :data:`DEFAULT_URL`.
    Opening creates the store (a file, a schema) if it is absent and brings an
    older one up to this version's schema. ``migrate=False`` opens only a store
    that is there and current, and refuses anything else with a
    :class:`~loyalty.errors.StorageError` naming ``url``, writing nothing: what
    a report or a lookup wants. An adapter of someone else's that takes no
    ``migrate`` argument is refused then, as it cannot promise that.
    """
    if url is None:
        url = os.environ.get("LOYALTY_STORE_URL") or DEFAULT_URL
    if not isinstance(url, str) or "://" not in url:
        raise InvalidInput("url", f"expected scheme://..., got {url!r}")
    scheme = url.split("://", 1)[0].lower()
    target = _BUILTIN.get(scheme)
    if target is None:
        for ep in entry_points(group="loyalty.stores"):
            if ep.name == scheme:
                target = ep.value
                break
    if target is None:
        known = ", ".join(sorted({*_BUILTIN, *(ep.name for ep in entry_points(group="loyalty.stores"))}))
        raise InvalidInput("url", f"no storage adapter for scheme {scheme!r} (known: {known})")
    factory = _load(target)
    if migrate:
        return factory(url)
    parameters = signature(factory).parameters.values()
    if not any(p.name == "migrate" or p.kind is Parameter.VAR_KEYWORD for p in parameters):
        raise StorageError("url", f"the {scheme!r} adapter cannot open a store without creating or upgrading")
    return factory(url, migrate=False)
