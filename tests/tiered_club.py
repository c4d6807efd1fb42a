"""The tiered club the tier tests share: Member, Silver from 500, Gold from 1,500, in Amsterdam;
and its yearly tiers, reviewed on 1 January."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from loyalty import Program, Tier, Tiers

AMS = ZoneInfo("Europe/Amsterdam")
LEVELS = [
    Tier(id="member", name="Member"),
    Tier(id="silver", name="Silver", threshold=500, multiplier=Decimal("1.25"), bonus=50),
    Tier(id="gold", name="Gold", threshold=1500, multiplier=Decimal("1.5"), bonus=200),
]


#: The Tiers options of calendar years reviewed on 1 January (for :func:`club` or :func:`yearly`).
YEARLY: dict[str, Any] = {
    "window": "calendar_year",
    "downgrade": "review",
    "review": "fixed",
    "review_on": "01-01",
}


def yearly(**options: Any) -> Tiers:
    """The club's tiers over calendar years, reviewed on 1 January; ``options`` for the Tiers."""
    return Tiers(levels=LEVELS, **YEARLY, **options)


def club(**options: Any) -> Program:
    """The club with ``options`` for its Tiers; ``program=`` gives the Program's own options."""
    extra = options.pop("program", {})
    return Program("Club", "EUR", timezone="Europe/Amsterdam", tiers=Tiers(levels=LEVELS, **options), **extra)
