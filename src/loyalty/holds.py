"""Holds: points reserved at the till, then captured (fully or in part) or released.

A hold takes its points out of the member's lots the moment it is made (a
``hold`` ledger entry with its draws), so they cannot be spent twice. It then
ends exactly once: *captured* (the points are spent; an uncaptured rest goes
back), *released*, or *expired* when its time on the engine clock runs out.
Points that go back return to the very lots they came from, with their own
dates, through a ``release`` entry.

>>> from datetime import datetime, timedelta, timezone
>>> t = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)
>>> hold = Hold("H1", "M1", 100, ((3, -70), (8, -30)), t, t + timedelta(minutes=15))
>>> hold.give_back(60)
((8, 30), (3, 30))
>>> hold.give_back(100)
((8, 30), (3, 70))
"""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

from loyalty.json_form import JsonForm

__all__ = ["Hold", "HoldStatus"]


class HoldStatus(enum.Enum):
    OPEN = "open"
    CAPTURED = "captured"
    RELEASED = "released"
    EXPIRED = "expired"


@attrs.frozen
class Hold(JsonForm):
    """A reservation of ``points`` for member ``member_id``, under the POS's id ``id``.

    ``draws`` are the ``(lot, points)`` pairs the hold took (negative, in
    spending order); ``held_at`` is the till's time and ``expires_at`` the
    engine-clock instant from which it can no longer be captured. Once
    ended, ``captured`` is the points spent and ``ended_at`` the engine time.
    """

    id: str
    member_id: str
    points: int
    draws: tuple[tuple[int, int], ...]
    held_at: datetime
    expires_at: datetime
    status: HoldStatus = HoldStatus.OPEN
    captured: int = 0
    ended_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.status is HoldStatus.OPEN

    def give_back(self, points: int) -> tuple[tuple[int, int], ...]:
        """The (positive) draws that return ``points`` to the lots, the last-drawn first.

        A partial capture spends the points it drew first (the program's draw order), as a
        plain redemption would have, and gives back the rest.
        """
        back: list[tuple[int, int]] = []
        for lot, taken in reversed(self.draws):
            if points == 0:
                break
            share = min(points, -taken)
            back.append((lot, share))
            points -= share
        return tuple(back)

    def ended(self, status: HoldStatus, captured: int, at: datetime) -> Hold:
        return attrs.evolve(self, status=status, captured=captured, ended_at=at)
