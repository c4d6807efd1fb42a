"""What-if: a history replayed under the current program and a proposed one, side by side.

:func:`simulate` reads a history (:mod:`loyalty.history`, JSON Lines: a file a
store exported, or :mod:`loyalty.simulation`'s traffic) one record at a time and
replays each record through two :class:`~loyalty.Engine` instances, one per
program, each over its own in-memory store (or SQLite file: ``on_disk``) and each with its clock at the
record's time; maintenance (:meth:`~loyalty.Engine.run_due`) runs as each new
day begins, and once more at the end, so points expire and tiers are reviewed
as they would have been. Nothing is written anywhere else.

The result, a :class:`Comparison`, has for each program the period's
:class:`~loyalty.figures.Figures` (points issued, redeemed, expired, taken back,
outstanding, the liability at the value of a point, breakage), the members per
tier, the points each rule gave (what each campaign cost), the redemptions it
declined, and the members who gain or lose most under the proposed program. Those
values, and the side-by-side table :meth:`Comparison.render` draws of them, are
:mod:`loyalty.comparison`'s.

>>> from loyalty import Program
>>> from loyalty.rules import ProductBonus
>>> lines = [
...     '{"type": "enrollment", "id": "E1", "member_id": "M1", "at": "2024-03-01T09:00:00+01:00"}',
...     '{"type": "purchase", "id": "T1", "member_id": "M1", "at": "2024-03-01T09:30:00+01:00",'
...     ' "currency": "EUR", "lines": [{"sku": "cake", "quantity": 3, "unit_price": "4.15"}]}',
...     '{"type": "redemption", "id": "T2", "member_id": "M1", "at": "2024-03-02T10:00:00+01:00",'
...     ' "points": 14}',
... ]
>>> current = Program("Club", "EUR")
>>> cake = ProductBonus(id="cake", name="Cake bonus", points=6, skus=["cake"])
>>> proposed = Program("Club", "EUR", version="2", rules=[cake])
>>> found = simulate(lines, current, proposed)
>>> found.current.figures.issued, found.proposed.figures.issued
(12, 18)
>>> found.current.declined, found.proposed.declined
(1, 0)
>>> [(rule.rule, rule.points) for rule in found.proposed.rules]
[('base', Decimal('12.45')), ('cake', Decimal('6'))]
"""

from __future__ import annotations

import heapq
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import attrs

from loyalty import history
from loyalty.checks import check_aware
from loyalty.comparison import Comparison, MemberChange, Outcome, RulePoints, TierCount
from loyalty.errors import InvalidInput, LoyaltyError
from loyalty.program import Program
from loyalty.whatif_process import (
    Failed,
    Finished,
    NotStarted,
    SecondProcess,
    pipes_are_safe,
    portable,
    stores,
)
from loyalty.whatif_run import EPOCH, RECORDS, Run, Totals, day_of, not_a_record, records

__all__ = ["Comparison", "MemberChange", "Outcome", "RulePoints", "TierCount", "simulate"]

_PROGRESS = 1_000
# Records sent to the second process at a time: about 60 KiB of text, a pipe's buffer.
_CHUNK = 200
# Below these a second process costs more than it saves (it starts in about half a second).
_LARGE_BYTES = 1 << 20
_LARGE_RECORDS = 4_000
_PROPOSED = " (under the proposed program)"
# A container's CPU quota under cgroup v2: "max 100000", or "150000 100000" for 1.5 CPUs.
_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def _changes(
    current: Totals, proposed: Totals, top: int
) -> tuple[tuple[MemberChange, ...], tuple[MemberChange, ...]]:
    """The ``top`` members who gain and lose most, by a heap: ``top`` changes held, not one a member."""

    def changes() -> Iterator[MemberChange]:
        for member in current.earned:
            yield MemberChange(member, current.whole(member), proposed.whole(member))

    def order(change: MemberChange) -> tuple[Decimal, str]:
        return change.difference, change.member_id

    losses = tuple(change for change in heapq.nsmallest(top, changes(), key=order) if change.difference < 0)
    gains = tuple(change for change in heapq.nlargest(top, changes(), key=order) if change.difference > 0)
    return gains, losses


def simulate(
    history_lines: Iterable[str | history.Event],
    current: Program | Sequence[Program],
    proposed: Program | Sequence[Program],
    *,
    point_value: Decimal | None = None,
    until: datetime | None = None,
    top: int = 5,
    progress: Callable[[int], None] | None = None,
    over_time: bool = False,
    on_disk: bool = False,
    parallel: bool | None = None,
) -> Comparison:
    """Replay ``history_lines`` (lines of a history file, or its records) under ``current`` and
    ``proposed`` (a program or its versions) and compare what came of it.

    The history is read one record at a time: a file of any length is never held in memory
    (the two in-memory stores keep what the records wrote, as an engine would). ``until``
    (at or after the last record) runs maintenance up to then, so points that expire after the
    last record but before ``until`` expire too. ``point_value`` prices the outstanding points
    of both programs; by default each program's own ``redemption.point_value``. ``top``
    members who gain and lose most are listed. Times read from text are taken in UTC, the same
    instants (the program's timezone decides days and hours, as always). ``progress``, if given,
    is called with the records replayed so far after every thousand of them. ``over_time``
    adds each program's figures per day, week or month and its members at risk at the end
    (:attr:`Outcome.periods`, :attr:`Outcome.at_risk`: what the HTML report draws).

    Memory: by default each program replays into an in-memory store, which keeps every
    entry and lot the history wrote, so memory grows with the history (about 2.4 KiB a record
    for the two programs); its operation records go to a temporary SQLite file as they are
    written (:mod:`loyalty.store.memory.spilled`). ``on_disk=True`` replays into two SQLite files in a
    temporary folder instead (removed afterwards), the same engine over its own SQLite store:
    the same results, several times slower, with no record kept in Python's memory (what
    the replay keeps itself grows with the members: their running totals).

    Two cores: the two programs' replays share nothing but the records, so with
    ``parallel=True`` the proposed program replays in a second Python process
    (:mod:`loyalty.whatif_process`) while this one replays the current program, and a long
    history takes two thirds to four fifths of the time (on the benchmark's); each process
    holds one program's store. The results
    are the same, and so is the first refusal, raised at its line as one process raises it.
    The history must then be lines of text (a file, or a list of its lines), and the proposed
    program one that a program file can hold. By default (``None``) that is done when it
    pays: a history file of a mebibyte or more, or a list of 4,000 lines or more, on a
    machine with two cores or more, where a second process can be started (and if it cannot,
    the history is read again and replayed in this process). ``parallel=False`` never does.

    A redemption, negative adjustment, reward, transfer or hold a program cannot afford is
    declined and counted (:attr:`Outcome.declined`), as the engine declines it, and so is a merge
    the program does not allow then (:class:`~loyalty.errors.MergeBlocked`: the absorbed member's
    points still pending, say); any other refusal (a purchase of a
    member never enrolled, a malformed record) raises :class:`~loyalty.InvalidInput` naming the
    line and field.
    """
    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise InvalidInput("top", f"must be an int of at least 0, got {top!r}")
    if not isinstance(over_time, bool):
        raise InvalidInput("over_time", f"must be True or False, got {over_time!r}")
    if not isinstance(on_disk, bool):
        raise InvalidInput("on_disk", f"must be True or False, got {on_disk!r}")
    if parallel is not None and not isinstance(parallel, bool):
        raise InvalidInput("parallel", f"must be True, False or None, got {parallel!r}")
    if until is not None:
        check_aware("until", until)
    asked = _Asked(point_value, until, top, progress, over_time)
    with stores(on_disk, 1) as (store,):
        first = Run(current, store)  # the current program's refusal comes first, as below
        if not _in_two(parallel, history_lines, proposed):
            with stores(on_disk, 1) as (other,):
                return _replay((first, Run(proposed, other)), history_lines, asked)
        rewind = _rewinder(history_lines)
        try:
            return _replay_beside(first, proposed, on_disk, history_lines, asked)
        except NotStarted as exc:
            if rewind is None:
                raise RuntimeError(f"{exc}; simulate with parallel=False") from exc
    # The second process could not start (no Python to run it, say): replay it all here.
    rewind()
    with stores(on_disk, 2) as (current_store, proposed_store):
        runs = (Run(current, current_store), Run(proposed, proposed_store))
        return _replay(runs, history_lines, asked)


def _cores() -> int:
    """The cores this process may run on: those it is bound to, fewer where a container's CPU
    quota (cgroup v2's ``cpu.max``) allows fewer whole ones."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = _CPU_MAX.read_text(encoding="ascii").split()[:2]
        if quota != "max":
            cores = min(cores, max(1, int(quota) // int(period)))
    except (OSError, ValueError):  # no such limit here
        pass
    return cores


def _rewinder(source: object) -> Callable[[], object] | None:
    """How to read ``source`` again from where it starts now, or ``None`` if it cannot be:
    a list or tuple of lines, or a text file that can seek."""
    if isinstance(source, list | tuple):
        return lambda: None
    tell, seek, seekable = (getattr(source, name, None) for name in ("tell", "seek", "seekable"))
    if tell is None or seek is None or seekable is None:
        return None
    try:
        if not seekable():
            return None
        where = tell()
    except (OSError, ValueError):  # iterated already (a text file's position is then hidden), or closed
        return None
    return lambda: seek(where)


def _large(source: object) -> bool:
    """Whether ``source`` is a history long enough to be worth a second process: a file of a
    mebibyte or more, or a list of at least 4,000 lines of text."""
    if isinstance(source, list | tuple):
        return len(source) >= _LARGE_RECORDS and all(isinstance(item, str) for item in source)
    fileno = getattr(source, "fileno", None)
    try:
        return fileno is not None and os.fstat(fileno()).st_size >= _LARGE_BYTES
    except (OSError, ValueError):
        return False


def _in_two(parallel: bool | None, source: object, proposed: Program | Sequence[Program]) -> bool:
    """Whether to replay the proposed program in a second process (``parallel``, decided)."""
    if parallel is False:
        return False
    if parallel is True:
        if not pipes_are_safe():
            return False  # a second process's death would end this one: nothing read yet
        if not portable(proposed):
            with stores(False, 1) as (store,):
                Run(proposed, store)  # not a program at all: the engine says what is wrong
            raise InvalidInput(
                "parallel",
                "the proposed program does not reach a second process as itself (it cannot be "
                "written as a program file); simulate with parallel=False",
            )
        return True
    # Automatic: where a second core, a Python to start and a history to read again if the
    # child cannot start are all there, and the history is long enough to gain from it.
    return (
        not getattr(sys, "frozen", False)
        and bool(sys.executable)
        and _cores() >= 2
        and _large(source)
        and _rewinder(source) is not None
        and portable(proposed)
        and pipes_are_safe()
    )


def _wrapped(number: int, exc: LoyaltyError, side: str) -> InvalidInput:
    where = f"line {number}: {exc.field}" if exc.field else f"line {number}"
    return InvalidInput(where, f"{exc.message}{side}")


@attrs.frozen
class _Asked:
    """What the caller asked of the replay besides the history and the programs."""

    point_value: Decimal | None
    until: datetime | None
    top: int
    progress: Callable[[int], None] | None
    over_time: bool


def _replay(runs: tuple[Run, Run], history_lines: Iterable[str | history.Event], asked: _Asked) -> Comparison:
    point_value, until, top, progress, over_time = attrs.astuple(asked, recurse=False)
    start: datetime | None = None
    end: datetime | None = None
    count = 0
    for number, event in records(history_lines):
        at = event.at
        if start is None or at < start:
            start = at
        if end is None or at > end:
            end = at
        day = day_of(at)
        for run in runs:
            try:
                run.at(at, day, enrollment=isinstance(event, history.Enrollment))
                run.apply(event)
            except LoyaltyError as exc:
                raise _wrapped(number, exc, "" if run is runs[0] else _PROPOSED) from exc
        count += 1
        if progress is not None and not count % _PROGRESS:
            progress(count)
    end, start = _until(until, start, end)
    if start is None or end is None:
        empty = [run.outcome(EPOCH, EPOCH, point_value) for run in runs]
        return Comparison(0, None, None, empty[0], empty[1], (), ())
    for run in runs:
        run.at(end, day_of(end))
        run.engine.run_due(end)
    gains, losses = _changes(runs[0].totals(), runs[1].totals(), top)
    return Comparison(
        count,
        start,
        end,
        runs[0].outcome(start, end, point_value, over_time=over_time),
        runs[1].outcome(start, end, point_value, over_time=over_time),
        gains,
        losses,
    )


def _until(
    until: datetime | None, start: datetime | None, end: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """The replay's end and start once ``until`` is applied (it must not be before the last record)."""
    if until is None:
        return end, start
    if end is not None and until < end:
        raise InvalidInput("until", f"must not be before the last record, at {end.isoformat()}")
    return until, until if start is None else start


class _Beside:
    """The current program's replay in this process, beside the proposed one's in a second
    (:class:`~loyalty.whatif_process.SecondProcess`): the records are sent, then replayed here,
    a chunk at a time; the first record either side could not replay ends both."""

    def __init__(self, run: Run, second: SecondProcess, progress: Callable[[int], None] | None) -> None:
        self.run, self.second, self.progress = run, second, progress
        self.start: datetime | None = None
        self.end: datetime | None = None
        self.count = 0
        # The first record this process could not read or replay: its line, then 0 if it
        # could not be read (both programs would stop there) or 1 if the current program
        # could not replay it (the proposed program comes after it on the same line).
        self.failure: tuple[int, int, LoyaltyError] | None = None
        # The record the second process stopped at, once it is known to have stopped.
        self.stopped: Failed | None = None

    def read(self, source: Iterable[str | history.Event]) -> None:
        """Replay ``source`` on both sides, up to its end or the first failure. What reading the
        source, or a line of it, raises besides a refusal (a byte that is not UTF-8, a number of
        5,000 digits) comes after the records read before it: one process would have replayed
        them first, and raised a refusal among them."""
        texts: list[tuple[int, str]] = []
        events: list[tuple[int, history.Event]] = []
        items = iter(source)
        number = 0
        raised: Exception | None = None
        while True:
            try:
                item = next(items)
                number += 1
                event = self._parse(number, item)
            except StopIteration:
                break
            except InvalidInput as exc:
                self.failure = (number, 0, exc)
                break
            except Exception as exc:
                raised = exc
                break
            if event is not None:
                assert isinstance(item, str)
                texts.append((number, item))
                events.append((number, event))
            if len(texts) == _CHUNK:
                if not self._flush(texts, events):
                    return
                texts, events = [], []
        self._flush(texts, events)
        if raised is not None:
            self.raise_first(ask=True)
            raise raised

    @staticmethod
    def _parse(number: int, item: object) -> history.Event | None:
        if isinstance(item, str):
            return history.parse(number, item, utc=True)
        if isinstance(item, RECORDS):
            raise InvalidInput(
                f"line {number}",
                f"must be a line of text to replay in two processes, not {type(item).__name__} "
                "(simulate records given as values with parallel=False)",
            )
        raise not_a_record(number, item)

    def _flush(self, texts: list[tuple[int, str]], events: list[tuple[int, history.Event]]) -> bool:
        """Send a chunk, then replay it here; ``False`` once either side has stopped."""
        if texts and not self.second.send(texts):
            # The child could not replay a record it was sent: replay up to that one here,
            # where the current program may stop first.
            self.stopped = self.second.stop()
            if self.stopped is not None:
                last = self.stopped.line
                events = [(number, event) for number, event in events if number <= last]
        run, progress = self.run, self.progress
        for number, event in events:
            at = event.at
            if self.start is None or at < self.start:
                self.start = at
            if self.end is None or at > self.end:
                self.end = at
            try:
                run.at(at, day_of(at), enrollment=isinstance(event, history.Enrollment))
                run.apply(event)
            except LoyaltyError as exc:
                wrapped = _wrapped(number, exc, "")
                wrapped.__cause__ = exc  # as one process raises it: from the engine's error
                self.failure = (number, 1, wrapped)
                return False
            self.count += 1
            if progress is not None and not self.count % _PROGRESS:
                progress(self.count)
        return self.stopped is None

    def raise_first(self, *, ask: bool = False) -> None:
        """Raise the first failure in the history's order, if either side had one (with ``ask``,
        asking the child whether it had one, though nothing says so yet)."""
        if self.stopped is None and (ask or self.failure is not None or self.second.failed_at is not None):
            self.stopped = self.second.stop()
        first, theirs = self.failure, self.stopped
        if theirs is not None and (first is None or (theirs.line, 2) < first[:2]):
            if theirs.crash:
                where = f"line {theirs.line}" if theirs.line else "at the end of the history"
                raise RuntimeError(
                    f"{where}: the proposed program's replay failed in its process:\n{theirs.message}"
                )
            raise _wrapped(theirs.line, LoyaltyError(theirs.field, theirs.message), _PROPOSED)
        if first is not None:
            raise first[2]


def _replay_beside(
    current: Run,
    proposed: Program | Sequence[Program],
    on_disk: bool,
    history_lines: Iterable[str | history.Event],
    asked: _Asked,
) -> Comparison:
    """:func:`_replay` with the proposed program in a second process. Raises
    :class:`~loyalty.whatif_process.NotStarted` if that process could not start."""
    point_value, until, top, progress, over_time = attrs.astuple(asked, recurse=False)
    second = SecondProcess(proposed, on_disk)
    try:
        beside = _Beside(current, second, progress)
        beside.read(history_lines)
        beside.raise_first()
        try:
            end, start = _until(until, beside.start, beside.end)
        except InvalidInput:
            beside.raise_first(ask=True)  # a record the proposed program refused comes first
            raise
        if start is None or end is None:
            with stores(on_disk, 1) as (store,):
                empty = Run(proposed, store).outcome(EPOCH, EPOCH, point_value)
            return Comparison(0, None, None, current.outcome(EPOCH, EPOCH, point_value), empty, (), ())
        second.end(start, end, point_value, over_time)
        current.at(end, day_of(end))
        current.engine.run_due(end)
        ours = current.outcome(start, end, point_value, over_time=over_time)
        theirs = second.result()
        if isinstance(theirs, Failed):
            beside.stopped = theirs
            beside.raise_first()
        assert isinstance(theirs, Finished)  # a failure was raised
        gains, losses = _changes(current.totals(), theirs.totals, top)
        return Comparison(beside.count, start, end, ours, theirs.outcome, gains, losses)
    finally:
        second.close()
