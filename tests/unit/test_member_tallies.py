"""Which tallies a member's row keeps, and the row's JSON read back exactly (no store)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from loyalty.earning_keys import visits_key
from loyalty.errors import InvalidInput
from loyalty.habits import seen_key, spent_key
from loyalty.merges import merged_key
from loyalty.returns import debt_key, owed_key
from loyalty.store.member_tallies import Row, Rows, checked, own_keys, where
from loyalty.tallies import Tally


def test_the_row_keeps_the_members_own_keys_and_its_months_spend() -> None:
    assert [where(key) for key in own_keys("a|b")] == [
        ("a|b", "visits", None),
        ("a|b", "seen", None),
        ("a|b", "debt", None),
        ("a|b", "owed", None),
        ("a|b", "merged", None),
    ]
    assert own_keys("M") == [visits_key("M"), seen_key("M"), debt_key("M"), owed_key("M"), merged_key("M")]
    assert where(spent_key("2024-03|x", "2024-02")) == ("2024-03|x", "spent", "2024-02")


# The last has digits, but not ASCII ones.
@pytest.mark.parametrize(
    "key",
    [
        "visits|",
        "visits",
        "cap|M",
        "spent|2024-3|M",
        "spent|March-1|M",
        "spent|2024-03|",
        "spent|２０２４-03|M",
    ],
)
def test_other_keys_are_the_tables(key: str) -> None:
    assert where(key) is None


@pytest.mark.parametrize("points", ["0.00", "1E+2", "-0", "0.3333333333333333333333333333", "-1E-30"])
def test_a_rows_values_come_back_as_they_went_in(points: str) -> None:
    row = Row("M", None)
    row.put("seen", None, Tally(3, Decimal(points)))
    row.put("spent", "2024-03", Tally(1, Decimal(points)))
    again = Row.parse(row.text(), "M")
    for got in (again.get("seen", None), again.get("spent", "2024-03")):
        assert got is not None
        assert str(got.points) == points


def test_a_later_month_sends_the_rows_month_to_the_table() -> None:
    rows = Rows()
    rows.loaded("M", '{"spent": ["2024-03", 2, "4.00"]}')
    assert rows.keeps(spent_key("M", "2024-04"))
    assert not rows.keeps(spent_key("M", "2024-02"))
    assert not rows.keeps(spent_key("N", "2024-04"))  # a member this unit of work has not read
    gone, held = rows.put(spent_key("M", "2024-04"), Tally(1, Decimal(1)))
    assert (gone, held) == ((spent_key("M", "2024-03"), Tally(2, Decimal("4.00"))), False)
    assert [row.member_id for row in rows.changed()] == ["M"]
    assert rows.changed() == []


def test_a_count_no_database_column_holds_is_refused() -> None:
    assert checked("k", Tally(2**63 - 1)) == Tally(2**63 - 1)
    with pytest.raises(InvalidInput) as info:
        checked("k", Tally(2**63))
    assert info.value.field == "deltas"
