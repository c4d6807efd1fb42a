"""Drawing points from lots in spending order: soonest-expiring first, read only as far as needed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from loyalty.errors import InsufficientPoints
from loyalty.lots import Lot, draw, draw_from


def test_drawing_from_a_lazy_order_reads_only_the_lots_it_takes() -> None:
    t = datetime(2024, 3, 1, tzinfo=UTC)
    lots = [Lot(n, "M1", 10, 10, t, expires_at=t + timedelta(days=n)) for n in range(1, 6)]
    read: list[int] = []

    def lazily() -> Iterator[Lot]:
        for lot in lots:
            read.append(lot.id)
            yield lot

    assert draw_from(lazily(), 20, 50) == ((1, -10), (2, -10))
    assert read == [1, 2]  # the second lot covers it: the third is never asked for
    assert draw_from(iter(lots), 20, 50) == draw(lots, 20, t)
    with pytest.raises(InsufficientPoints) as info:
        draw_from(lazily(), 20, 15)
    assert (info.value.available, info.value.requested) == (15, 20)
    assert draw_from(lazily(), 0, 0) == ()
