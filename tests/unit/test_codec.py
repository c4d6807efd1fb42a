"""The idempotency records' codec: canonical decimals, and where two requests first differ."""

from __future__ import annotations

import pytest

from loyalty.codec import canonical, canonical_decimal, first_difference


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("2.50", "2.5", True),
        ("-0", "0", True),
        ("1E+2", "100", True),
        ("1.01", "1.010", True),
        ("1.01", "1.1", False),
    ],
)
def test_canonical_decimal(a: str, b: str, same: bool) -> None:
    assert (canonical_decimal(a) == canonical_decimal(b)) is same


def test_first_difference_names_the_path() -> None:
    old = canonical({"at": "2024-01-01T10:00:00+01:00", "lines": [{"quantity": "1.0"}]})
    assert (
        first_difference(old, canonical({"at": "2024-01-01T09:00:00+00:00", "lines": [{"quantity": "1"}]}))
        is None
    )
    assert (
        first_difference(old, canonical({"at": "2024-01-01T10:00:00+00:00", "lines": [{"quantity": "1"}]}))
        == "at"
    )
    assert first_difference(old, canonical({"at": "2024-01-01T09:00:00Z", "lines": [{"quantity": "2"}]})) == (
        "lines[0].quantity"
    )
    assert first_difference(old, canonical({"at": "2024-01-01T09:00:00Z", "lines": []})) == "lines[0]"
