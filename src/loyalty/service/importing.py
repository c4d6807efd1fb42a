"""Bulk import: a history (:mod:`loyalty.history`) applied in batches, each event as one engine call.

Each event runs through the very use case its engine method runs (enroll, record a
purchase, a return, a redemption...), so its outcome is the one that call would
give with the engine's clock at the event's own time (when that is earlier): the same
locks, idempotency records, caps and budgets, tier moves and outbox events, and the
points pending, spendable or expired then, however late the import runs. What
changes is the unit of work: a batch of events shares one, committed once at its
end, where each use case would have committed its own. Commands a
use case runs in the batch see the batch's earlier writes, as they would have
seen them committed.

An event that fails (an unknown member, a short balance, a conflicting id...)
rolls its whole batch back; the events before it are applied again as a batch,
and the failing one alone, through the engine's own path, so it ends exactly as
a single call would have ended (a declined redemption keeps its decline). No event
type needs a unit of its own otherwise: a batch ends early only where an id comes
back within it.

The events' own ids make the import idempotent: an event already recorded is a
retry of itself, replayed and counted as ``already``; an enrollment is recorded
once per member. A run stopped half-way resumes where it stopped when run again
on the same file, and running a file twice writes nothing new.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Literal, TypeVar

import attrs

from loyalty import codec, history
from loyalty.checks import check_id
from loyalty.errors import InvalidInput, LoyaltyError, StorageError
from loyalty.history import Enrollment, Referred, Sale
from loyalty.service import purchases, replaying
from loyalty.service.context import Context
from loyalty.service.idempotency import Command
from loyalty.service.running import Runner
from loyalty.store import UnitOfWork

__all__ = ["ImportSummary", "OnError", "Rejected", "import_events"]

T = TypeVar("T")

#: What an import does with a bad record: stop there, or skip it and go on.
OnError = Literal["stop", "skip"]

#: The most events one unit of work may hold.
MAX_BATCH = 100_000


@attrs.frozen
class Rejected:
    """A record not applied: its ``line`` (counted from 1), the ``field`` at fault (``None``
    when the error names none), the ``reason`` and the error's class; ``text`` is the line
    as read (for a rejects file)."""

    line: int
    field: str | None
    reason: str
    error: str
    text: str
    type: str = "unknown"

    def __str__(self) -> str:
        where = f"line {self.line}: {self.field}" if self.field else f"line {self.line}"
        return f"{where}: {self.reason}"


@attrs.frozen
class ImportSummary:
    """What an import did, by record type: ``applied`` (new), ``already`` (recorded before:
    replayed, nothing written) and ``rejected``; ``stopped`` is the bad record a stopping
    run ended at, and ``lines`` how many lines were read."""

    applied: Mapping[str, int]
    already: Mapping[str, int]
    rejected: Mapping[str, int]
    lines: int
    stopped: Rejected | None = None

    @property
    def total_applied(self) -> int:
        return sum(self.applied.values())

    @property
    def total_already(self) -> int:
        return sum(self.already.values())

    @property
    def total_rejected(self) -> int:
        return sum(self.rejected.values())


class _Deferred:
    """A batch's unit of work as its commands see it: their commits wait for the batch's end."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def __getattr__(self, name: str) -> Any:
        # Kept on the instance: the next look-up of a method is an ordinary attribute.
        value = getattr(self._uow, name)
        self.__dict__[name] = value
        return value

    def commit(self) -> None:
        """The batch commits once, when every event in it is applied."""


@attrs.frozen
class _InBatch(Runner):
    """Runs every command and query in the batch's unit of work, once: the batch retries."""

    uow: UnitOfWork

    def read(self, query: Callable[[UnitOfWork], T]) -> T:
        return query(self.uow)

    def run(self, command: Callable[[UnitOfWork], T], what: object = "a unit of work") -> T:
        return command(self.uow)


def _key(event: history.Event) -> tuple[str, str]:
    """What makes an event a retry of another: an enrollment's member, a referral's referee, any
    other's id."""
    if isinstance(event, Enrollment | Referred):
        return (type(event).__name__, event.member_id)
    return ("id", event.id)


def _seen(uow: UnitOfWork, event: history.Event) -> bool:
    """Whether the event was recorded before (running it again replays it, writing nothing).

    The key is checked as the command checks it before it is looked up: a store may refuse a
    text its own way (SQLite and PostgreSQL a lone surrogate, PostgreSQL a NUL), which would end
    the import instead of rejecting the record."""
    if isinstance(event, Enrollment):
        return uow.member(check_id("member_id", event.member_id)) is not None
    if isinstance(event, Referred):
        return uow.referral(check_id("member_id", event.member_id)) is not None
    return uow.operation(check_id("id", event.id)) is not None


class _RecordClock:
    """The engine's clock as an import runs each record: the record's own time (``at``) when that
    is earlier, so that what points were pending, spendable or expired is judged then, as the
    first store judged it, however late the import runs (a lot that vested or expired since
    must not change what a redemption, transfer, merge or reward drew). Set once a record, read
    by every command of it (one clock for the import: no context made again per record)."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.at: datetime | None = None

    def __call__(self) -> datetime:
        now, at = self.clock(), self.at
        return now if at is None or at >= now else at


def _at_its_time(ctx: Context, event: history.Event) -> None:
    """Set the import's clock to ``event``'s time; not for what is open now, made for its time
    from the import on (an open voucher, an open hold), nor for a time the command will refuse."""
    clock = ctx.runner.clock
    if not isinstance(clock, _RecordClock):
        return
    at: object = event.at
    if isinstance(event, history.OpenVoucher | history.OpenHold) or (
        isinstance(event, history.HeldPoints) and event.captured is None
    ):
        at = None
    clock.at = at if isinstance(at, datetime) and at.tzinfo is not None else None


def _applied(ctx: Context, event: history.Event, seen: Callable[[history.Event], bool]) -> bool:
    """Apply ``event``, at its own time (:func:`_at_its_time`); whether it was recorded before
    (``seen`` asks the store, except for a purchase, whose own look-up under the member's lock
    says so: no read more per purchase)."""
    _at_its_time(ctx, event)
    if isinstance(event, Sale):
        purchase = purchases.check_purchase(event.purchase)
        command = Command(purchase.id, "purchase", codec.purchase_request(purchase))
        purchases.record(ctx, purchase, command, "purchase")
        return command.retried
    was = seen(event)
    if was and isinstance(event, Enrollment) and event.referred_by is None:
        # A history export links referrals after the enrollments (a ``referral`` record): run
        # again, the enrollment says the referral it has by now, or it would disagree with it.
        found = ctx.runner.read(lambda uow: uow.referral(event.member_id))
        event = event if found is None else attrs.evolve(event, referred_by=found.code)
    # A file run again: an erased member's own enrollment and referral, as imported, are repeats
    # (its status record came after them), not commands on an erased member (refused).
    if not (was and _repeat_of_erased(ctx, event)):
        replaying.apply(ctx, event)
    return was


def _repeat_of_erased(ctx: Context, event: history.Event) -> bool:
    """Whether ``event``, recorded before, is an erased member's own enrollment or referral as
    imported (:func:`loyalty.service.replaying.erased_repeat`): a repeat, not a command on it."""
    if not isinstance(event, Enrollment | Referred):
        return False
    return ctx.runner.read(functools.partial(replaying.erased_repeat, event=event))


# -- reading the source ------------------------------------------------------------------------

#: A record as read: its line number, the event (or why it could not be read) and its text.
_Item = tuple[int, history.Event | Rejected, str]


def _rejected(number: int, exc: LoyaltyError, text: str, kind: str) -> Rejected:
    field = exc.field
    prefix = f"line {number}"
    # A reading error names its line in the field ("line 7: lines[1].quantity"): the line is kept apart.
    if field is not None and field.startswith(prefix):
        field = field[len(prefix) :].lstrip(": ") or None
    return Rejected(number, field, exc.message, type(exc).__name__, text, kind)


def _kind_of(text: str) -> str:
    """The ``type`` a line that could not be read says it has, if any (to count it by)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or JSON no reader here takes
        return "unknown"
    kind = data.get("type") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) and kind in history.TYPE_OF.values() else "unknown"


def _items(source: Iterable[str | history.Event]) -> Iterator[_Item]:
    """Each record of ``source`` (lines of a file, or records) with its line number (its position)."""
    for number, item in enumerate(source, start=1):
        if isinstance(item, str):
            try:
                event = history.parse(number, item)
            except InvalidInput as exc:
                yield number, _rejected(number, exc, item.rstrip("\n"), _kind_of(item)), item
                continue
            if event is not None:
                yield number, event, item.rstrip("\n")
        elif isinstance(item, tuple(history.TYPE_OF)):
            yield number, item, _text_of(item)
        else:
            raise InvalidInput(
                f"line {number}", f"must be a line of text or a history record, not {type(item).__name__}"
            )


def _text_of(item: history.Event) -> str:
    """A record as its line of the format, for a reject; one the format cannot write (a
    ``Decimal`` where points are an int) as its ``repr``: the engine refuses it, naming the field,
    as it refuses the same value in a call."""
    try:
        return "".join(history.write([item])).rstrip("\n")
    except (TypeError, ValueError):
        return repr(item)


# -- applying ----------------------------------------------------------------------------------


class _Counts:
    """What the import has done so far (a summary is made of it after each batch)."""

    def __init__(self) -> None:
        self.applied: Counter[str] = Counter()
        self.already: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.lines = 0
        self.stopped: Rejected | None = None

    def summary(self) -> ImportSummary:
        return ImportSummary(
            dict(self.applied), dict(self.already), dict(self.rejected), self.lines, self.stopped
        )


#: A batch: each event with its line number and text.
_Batch = list[tuple[int, history.Event, str]]


def _in_batch(ctx: Context, uow: UnitOfWork, batch: _Batch) -> tuple[list[bool], int, LoyaltyError | None]:
    """Apply ``batch`` in ``uow`` and commit it; or, at the first event that fails, stop with
    nothing committed. Returns whether each event was seen before, and where it stopped and why."""
    deferred: Any = _Deferred(uow)
    runner = ctx.runner
    # The import's context, guards and all (it accepts activity before enrollment), run in the batch.
    inside = attrs.evolve(ctx, runner=_InBatch(runner.store, runner.clock, runner.max_attempts, deferred))
    seen = []
    for i, (_, event, _) in enumerate(batch):
        try:
            seen.append(_applied(inside, event, functools.partial(_seen, uow)))
        except StorageError:
            raise
        except LoyaltyError as exc:
            return seen[:i], i, exc
    uow.commit()
    return seen, len(batch), None


def _flush(
    ctx: Context, batch: _Batch, counts: _Counts, on_error: OnError, reject: Callable[[Rejected], None]
) -> bool:
    """Apply ``batch``; ``False`` if a bad event stopped the import (``on_error="stop"``)."""
    start = 0
    while start < len(batch):
        end = len(batch)
        while True:
            part = batch[start:end]
            seen, done, failed = _run_batch(ctx, part)
            if failed is None or not done:
                break
            # Rolled back: the events before the failing one go again, as a batch of their own.
            end = start + done
        _count(counts, batch[start : start + done], seen)
        start += done
        if failed is None:
            continue
        bad = _alone(ctx, batch[start], counts, reject)
        if bad is not None and on_error == "stop":
            counts.stopped = bad
            return False
        start += 1
    return True


def _run_batch(ctx: Context, part: _Batch) -> tuple[list[bool], int, LoyaltyError | None]:
    def command(uow: UnitOfWork) -> tuple[list[bool], int, LoyaltyError | None]:
        return _in_batch(ctx, uow, part)

    return ctx.runner.run(command, "an import batch")


def _alone(
    ctx: Context, item: tuple[int, history.Event, str], counts: _Counts, reject: Callable[[Rejected], None]
) -> Rejected | None:
    """Apply an event that failed in a batch alone, through its engine method's own path: it ends
    exactly as that call ends (a declined redemption keeps its decline), or it succeeds. Returns
    why it was rejected, if it was."""
    number, event, text = item
    counts.lines = number
    kind = history.TYPE_OF[type(event)]
    try:
        was = _applied(ctx, event, lambda event: ctx.runner.read(functools.partial(_seen, event=event)))
    except StorageError:
        raise
    except LoyaltyError as exc:
        bad = _rejected(number, exc, text, kind)
        counts.rejected[kind] += 1
        reject(bad)
        return bad
    (counts.already if was else counts.applied)[kind] += 1
    return None


def _count(counts: _Counts, batch: _Batch, seen: list[bool]) -> None:
    for (number, event, _), was in zip(batch, seen, strict=True):
        (counts.already if was else counts.applied)[history.TYPE_OF[type(event)]] += 1
        counts.lines = number


def import_events(
    ctx: Context,
    source: Iterable[str | history.Event],
    *,
    batch_size: int,
    on_error: OnError,
    on_reject: Callable[[Rejected], None] | None,
    progress: Callable[[ImportSummary], None] | None,
) -> ImportSummary:
    """Apply every record of ``source`` (see :meth:`loyalty.Engine.import_events`)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 0 < batch_size <= MAX_BATCH:
        raise InvalidInput("batch_size", f"must be an int from 1 to {MAX_BATCH}, got {batch_size!r}")
    if on_error not in ("stop", "skip"):
        raise InvalidInput("on_error", f"must be 'stop' or 'skip', got {on_error!r}")
    if isinstance(source, str | bytes):
        raise InvalidInput("source", "must be lines (an open file) or records, not one string")
    reject = on_reject if on_reject is not None else _nothing
    # Old history: a member's first recorded activity may predate the enrollment the old
    # system kept (a card issued later, a migration date), whatever the tills' guards say.
    ctx = ctx.accepting_old_history()
    ctx = attrs.evolve(ctx, runner=attrs.evolve(ctx.runner, clock=_RecordClock(ctx.runner.clock)))
    # Stored once, first: a batch rolled back must not leave the engine thinking them stored.
    ctx.programs.all(write=True)
    counts = _Counts()
    batch: _Batch = []
    keys: set[tuple[str, str]] = set()
    for number, item, text in _items(source):
        if isinstance(item, Rejected):
            # The events before it are applied first: a stopping run stops right there.
            if not _flush(ctx, batch, counts, on_error, reject):
                return counts.summary()
            batch, keys = [], set()
            counts.rejected[item.type] += 1
            counts.lines = number
            reject(item)
            if on_error == "stop":
                counts.stopped = item
                return counts.summary()
            continue
        key = _key(item)
        if key in keys or len(batch) >= batch_size:
            # An id back within a batch is its own retry: it runs after the first is committed.
            if not _flush(ctx, batch, counts, on_error, reject):
                return counts.summary()
            batch, keys = [], set()
            if progress is not None:
                progress(counts.summary())
        batch.append((number, item, text))
        keys.add(key)
    if not _flush(ctx, batch, counts, on_error, reject):
        return counts.summary()
    summary = counts.summary()
    if progress is not None:
        progress(summary)
    return summary


def _nothing(rejected: Rejected) -> None:
    """Where rejects go when nobody asked for them (they are counted in the summary)."""
