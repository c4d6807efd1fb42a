"""The purchase path's instants, months, time checks and hand-made values, worked out with less
work: each gives what the plain form it replaced gives (docs/performance.md, "Fewer
instructions on the purchase path")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty import chains
from loyalty.checks import MAX_YEAR, MIN_YEAR, check_aware
from loyalty.errors import InvalidDatetime, TillTimeAhead
from loyalty.habits import micros, month_key
from loyalty.ledger import Entry, EntryKind, Posting
from loyalty.lots import Lot
from loyalty.program import Rounding
from loyalty.receipts import Receipt
from loyalty.tallies import Tally
from loyalty.time_guards import TimeGuards, check_lead

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ZONES = [UTC, ZoneInfo("Europe/Amsterdam"), ZoneInfo("Pacific/Kiritimati"), ZoneInfo("America/St_Johns")]
SECONDS, MICROSECONDS = st.integers(-86_399, 86_399), st.sampled_from([0, 1, 999_999])
OFFSETS = st.builds(timedelta, seconds=SECONDS, microseconds=MICROSECONDS)
INSTANTS = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.sampled_from(ZONES)
) | st.builds(
    lambda at, offset: at.replace(tzinfo=timezone(offset)),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    OFFSETS,
)


@given(INSTANTS)
def test_microseconds_since_1970_are_the_timedelta_division(at: datetime) -> None:
    exact = (at - EPOCH) // timedelta(microseconds=1)
    assert micros(at) == chains._micros(at) == exact


@given(OFFSETS | st.builds(timedelta, days=st.integers(-2, 2), microseconds=st.integers(0, 999_999)))
def test_an_offset_in_seconds_is_the_floor_of_the_timedelta_division(offset: timedelta) -> None:
    at = datetime(2024, 3, 1, tzinfo=timezone(offset)) if abs(offset) < timedelta(days=1) else None
    if at is not None:
        assert chains._offset(at) == offset // timedelta(seconds=1)
    assert chains._offset(datetime(2024, 3, 1)) == 0  # naive: no offset


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
def test_a_month_key_is_the_padded_year_and_month(local: datetime) -> None:
    assert month_key(local) == f"{local.year:04d}-{local.month:02d}"


def _checked_before(value: datetime) -> bool:
    """Whether check_aware accepted ``value`` before the wall clock's year was read first."""
    offset = value.utcoffset()
    if offset is None or offset.microseconds:
        return False
    try:
        year = value.astimezone(UTC).year
    except (OverflowError, ValueError):
        year = 0
    return MIN_YEAR <= year <= MAX_YEAR


def _accepted(at: datetime) -> bool:
    try:
        return check_aware("at", at) is at
    except InvalidDatetime:
        return False


@given(INSTANTS)
def test_an_instant_is_accepted_as_the_utc_year_alone_decided(at: datetime) -> None:
    assert _accepted(at) == _checked_before(at)


@pytest.mark.parametrize(
    "at",
    [
        datetime(MIN_YEAR, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),  # 1899 in UTC
        datetime(MIN_YEAR, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
        datetime(MAX_YEAR, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-1))),  # 9999 in UTC
        datetime(MAX_YEAR, 12, 31, 22, tzinfo=timezone(timedelta(hours=-1))),
        datetime(MIN_YEAR - 1, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-1))),  # 1900 in UTC
    ],
)
def test_instants_at_the_bounds_are_decided_by_their_utc_year(at: datetime) -> None:
    assert _accepted(at) == _checked_before(at)


@pytest.mark.parametrize("minutes", [0, 1, 15, 10_080])
def test_the_lead_bound_is_the_programs_minutes_each_time_asked(minutes: int) -> None:
    guards, now = TimeGuards(max_lead_minutes=minutes), datetime(2024, 3, 1, tzinfo=UTC)
    for _ in range(2):  # the bound made, then the one kept
        check_lead(guards, now + timedelta(minutes=minutes), now)
        with pytest.raises(TillTimeAhead):
            check_lead(guards, now + timedelta(minutes=minutes, microseconds=1), now)


@given(st.integers(-(10**6), 10**6), st.decimals(-(10**12), 10**12, places=4))
def test_a_tally_made_without_its_init_is_the_tally_of_its_values(count: int, points: Decimal) -> None:
    made, plain = Tally.of(count, points), Tally(count, points)
    assert type(made) is Tally and made == plain and hash(made) == hash(plain) and repr(made) == repr(plain)
    assert made + made == Tally(2 * count, points + points)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        made.count = 0  # type: ignore[misc]


def test_a_receipt_made_of_rows_sets_every_field_attrs_knows() -> None:
    # of_rows sets each slot through its own setter: a field added to Receipt must be set there too.
    at = datetime(2024, 3, 1, tzinfo=UTC)
    zero = Decimal(0)
    floor = Rounding.FLOOR
    made = Receipt.of_rows("T1", "M1", at, None, 3, (), floor, zero, None, (), "1", 0, zero, zero, None)
    assert {field.name: getattr(made, field.name) for field in attrs.fields(Receipt)} == attrs.asdict(
        Receipt("T1", "M1", at, None, 3, (), floor, zero, program_version="1"), recurse=False
    )


@pytest.mark.parametrize("cls", [Posting, Entry, Lot])
def test_a_posting_an_entry_and_a_lot_have_nothing_their_init_would_check_or_convert(cls: type) -> None:
    # Posting.earned and .recorded and Lot.opened_by set the slots as they come: only while
    # __init__ does no more.
    fields = attrs.fields(cls)
    assert all(field.validator is None and field.converter is None for field in fields)
    assert not any(isinstance(field.default, attrs.Factory) for field in fields)  # type: ignore[arg-type]
    assert not hasattr(cls, "__attrs_post_init__") and not hasattr(cls, "__attrs_pre_init__")


def test_a_recorded_entry_and_the_lot_it_opens_are_the_values_their_classes_make() -> None:
    t = datetime(2024, 3, 1, 9, 30, tzinfo=ZoneInfo("Europe/Amsterdam"))
    posting = Posting(
        "M1", EntryKind.EARN, 40, t, t + timedelta(seconds=1), "T1-1", "purchase", "till-3", ("a", "b"), "v2",
        vests_at=t + timedelta(days=14), expires_at=t + timedelta(days=365), draws=((3, -2),), rolling=True,
        redates=((4, None),), shares=(30, 10),
    )  # fmt: skip
    entry = posting.recorded(7, 55)
    values = {field.name: getattr(posting, field.name) for field in attrs.fields(Posting)}
    del values["shares"]  # (the entry does not carry them)
    made = Entry(7, balance_after=55, **values)
    assert type(entry) is Entry and entry == made and hash(entry) == hash(made) and repr(entry) == repr(made)
    assert attrs.asdict(entry, recurse=False) == attrs.asdict(made, recurse=False)
    lot = Lot.opened_by(entry, 7, 38)
    plain = Lot(7, "M1", 38, 38, t, entry.vests_at, entry.expires_at, True)
    assert type(lot) is Lot and lot == plain and hash(lot) == hash(plain) and repr(lot) == repr(plain)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        entry.points = 0  # type: ignore[misc]


def test_an_earned_posting_is_the_posting_its_class_makes() -> None:
    t = datetime(2024, 3, 1, 9, 30, tzinfo=ZoneInfo("Europe/Amsterdam"))
    later = t + timedelta(days=365)
    earned = Posting.earned("M1", 40, t, t, "T1", "purchase", ("a", "b"), "v2", t, later, (30, 10))
    made = Posting(
        "M1", EntryKind.EARN, 40, t, t, "T1", "purchase", None, ("a", "b"), "v2", t, later, shares=(30, 10)
    )
    assert (
        type(earned) is Posting
        and earned == made
        and hash(earned) == hash(made)
        and repr(earned) == repr(made)
    )
    assert attrs.asdict(earned, recurse=False) == attrs.asdict(made, recurse=False)
