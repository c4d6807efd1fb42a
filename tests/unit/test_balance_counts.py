"""``loyalty.lots.counted_balance``: the ``Balance`` the adapters' balance reads make without
attrs' ``__init__``, the same value in every way."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.lots import Balance, counted_balance

COUNTS = st.integers(-(10**18), 10**18)


def test_a_balance_has_nothing_its_init_would_check_or_convert() -> None:
    # counted_balance sets the slots as they come: it may only while __init__ does no more.
    fields = attrs.fields(Balance)
    assert [field.name for field in fields] == ["available", "pending", "overdue", "held"]
    assert all(field.validator is None and field.converter is None for field in fields)
    assert not any(isinstance(field.default, attrs.Factory) for field in fields)  # type: ignore[arg-type]
    assert not hasattr(Balance, "__attrs_post_init__") and not hasattr(Balance, "__attrs_pre_init__")


@given(COUNTS, COUNTS, COUNTS, COUNTS)
def test_a_counted_balance_is_the_balance_of_its_counts(
    available: int, pending: int, overdue: int, held: int
) -> None:
    made = Balance(available, pending, overdue, held)
    counted = counted_balance(available, pending, overdue, held)
    assert type(counted) is Balance
    assert counted == made and hash(counted) == hash(made) and repr(counted) == repr(made)
    assert counted.to_dict() == made.to_dict() and counted.total == made.total
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        counted.held = 0  # type: ignore[misc]
