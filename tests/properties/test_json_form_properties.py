"""Generated results read back equal from their JSON form, after a trip through ``json``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

from loyalty import earn
from loyalty.holds import Hold, HoldStatus
from loyalty.ledger import Entry, EntryKind
from loyalty.lots import Balance
from loyalty.members import Member
from loyalty.program import Program
from loyalty.purchases import Purchase
from loyalty.receipts import Receipt
from loyalty.testing.strategies import members, programs, purchases

# Fixed offsets: an instant in a zone's gap or fold never compares equal across zones (PEP 495),
# so the strategies' named zones are checked field by field in _round_trip.
_OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
_TIMES = st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=_OFFSETS)
_IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,20}", fullmatch=True)
_POINTS = st.integers(-(2**63) + 1, 2**63 - 1)
_DRAWS = st.lists(st.tuples(st.integers(1, 10**9), st.integers(-(10**9), -1)), max_size=4).map(tuple)

entries = st.builds(
    Entry,
    seq=st.integers(1, 2**63 - 1),
    member_id=_IDS,
    kind=st.sampled_from(EntryKind),
    points=_POINTS,
    balance_after=_POINTS,
    occurred_at=_TIMES,
    recorded_at=_TIMES,
    source_id=_IDS,
    reason=st.text(max_size=40),
    actor=st.none() | _IDS,
    rules=st.lists(_IDS, max_size=3).map(tuple),
    program_version=st.none() | _IDS,
    vests_at=st.none() | _TIMES,
    expires_at=st.none() | _TIMES,
    draws=_DRAWS,
    rolling=st.booleans(),
    redates=st.lists(st.tuples(st.integers(1, 10**9), st.none() | _TIMES), max_size=3).map(tuple),
)
holds = st.builds(
    Hold,
    id=_IDS,
    member_id=_IDS,
    points=st.integers(1, 10**12),
    draws=_DRAWS,
    held_at=_TIMES,
    expires_at=_TIMES,
    status=st.sampled_from(HoldStatus),
    captured=st.integers(0, 10**12),
    ended_at=st.none() | _TIMES,
)
balances = st.builds(Balance, _POINTS, _POINTS, _POINTS, _POINTS)


def _round_trip(value: Any) -> None:
    data = value.to_dict()
    assert json.loads(json.dumps(data)) == data
    back = type(value).from_dict(json.loads(json.dumps(data)))
    assert back.to_dict() == data
    # A time comes back as the same wall time and offset, in a fixed-offset zone.
    times = {
        field.name: getattr(value, field.name)
        for field in attrs.fields(type(value))
        if isinstance(getattr(value, field.name), datetime)
    }
    for name, at in times.items():
        again = getattr(back, name)
        assert (again.replace(tzinfo=None), again.utcoffset()) == (at.replace(tzinfo=None), at.utcoffset())
    assert attrs.evolve(back, **times) == value


@given(programs(), purchases(), st.booleans())
def test_a_receipt_reads_back_equal(program: Program, purchase: Purchase, explain: bool) -> None:
    receipt = earn(program, purchase, explain=explain, balance_before=0)
    _round_trip(receipt)
    assert Receipt.from_dict(receipt.to_dict()).render() == receipt.render()


@given(st.one_of(members(), entries, holds, balances))
def test_a_member_entry_hold_or_balance_reads_back_equal(value: Member | Entry | Hold | Balance) -> None:
    _round_trip(value)


@given(_TIMES)
def test_every_time_is_written_with_its_offset(at: datetime) -> None:
    text = Hold("H", "M", 1, (), at, at).to_dict()["held_at"]
    assert datetime.fromisoformat(text).utcoffset() == at.utcoffset()
    assert datetime.fromisoformat(text).astimezone(UTC) == at.astimezone(UTC)
