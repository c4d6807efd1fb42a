"""The tiered club the tier tests share: Member, Silver from 500, Gold from 1,500, in Amsterdam."""

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


def club(**options: Any) -> Program:
    """The club with ``options`` for its Tiers; ``program=`` gives the Program's own options."""
    extra = options.pop("program", {})
    return Program("Club", "EUR", timezone="Europe/Amsterdam", tiers=Tiers(levels=LEVELS, **options), **extra)
