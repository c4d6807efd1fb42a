"""A short history of every kind of record a what-if replays, for the what-if tests."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from loyalty import Line, Purchase
from loyalty.history import Adjustment, CustomEvent, Enrollment, Event, Redemption, Sale, SaleReturn
from loyalty.returns import Return, Returned

AT = datetime.fromisoformat("2024-03-01T09:00:00+01:00")


def sale(id: str, member: str, at: datetime, *lines: Line) -> Sale:
    return Sale(Purchase(id, member, at, list(lines), "EUR"))


def every_kind() -> list[Event]:
    """Two enrollments, sales (a cake in the bakery category), a return of the wine, a
    redemption, an adjustment, a custom event, and a sale 45 days on."""
    day = timedelta(days=1)
    return [
        Enrollment("E1", "M1", AT),
        Enrollment("E2", "M2", AT, date(1990, 5, 1)),
        sale("P1", "M1", AT + timedelta(hours=1), Line("cake", 3, Decimal("4.15"), "bakery")),
        sale("P2", "M2", AT + day, Line("milk", 2, Decimal("2.50")), Line("wine", 1, Decimal("20.00"))),
        SaleReturn("M2", Return("R1", "P2", AT + 2 * day, (Returned("wine", 1),))),
        Redemption("X1", "M1", 10, AT + 4 * day),
        Adjustment("J1", "M2", -3, AT + 5 * day, "double scan", "staff-1"),
        CustomEvent("S1", "M1", "survey_completed", AT + 6 * day, {"survey": "spring"}),
        sale("P3", "M2", AT + 45 * day, Line("milk", 1, Decimal("1.00"))),
    ]
