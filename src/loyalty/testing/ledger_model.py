"""The ledger state machine's own model (:mod:`loyalty.testing.stateful`): each member's lots,
holds and totals, worked out the simple way, for the engine's answers to be held against."""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

from loyalty.lots import Balance

__all__ = ["LIFETIME", "PENDING", "LedgerModel", "ModelHold", "ModelLot"]

#: How long the machine's program keeps purchase points pending, and how long any lot lives.
PENDING, LIFETIME = timedelta(days=7), timedelta(days=20)


@attrs.define
class ModelHold:
    member: str
    points: int
    taken: list[tuple[ModelLot, int]]
    expires_at: datetime
    status: str = "open"


@attrs.define
class ModelLot:
    """The model's lot: what is left of one credit, and its dates."""

    remaining: int
    expires_at: datetime
    vests_at: datetime | None = None


class LedgerModel:
    """Each member's lots, spent soonest-expiring first (ties: oldest first), as the engine must."""

    def __init__(self) -> None:
        self.lots: dict[str, list[ModelLot]] = {}
        self.earned: dict[str, int] = {}
        self.spent: dict[str, int] = {}
        self.expired: dict[str, int] = {}
        self.holds: dict[str, ModelHold] = {}
        self.taken: dict[str, int] = {}
        self.taken_for: dict[str, int] = {}
        #: Points each member sent to others and received from them.
        self.sent: dict[str, int] = {}
        self.received: dict[str, int] = {}

    def enroll(self, member: str) -> None:
        for tally in (self.lots, self.earned, self.spent, self.expired, self.taken, self.sent, self.received):
            tally.setdefault(member, 0 if tally is not self.lots else [])  # type: ignore[arg-type]

    def credit(self, member: str, points: int, at: datetime, *, pending: bool) -> ModelLot | None:
        if not points:
            return None
        lot = ModelLot(points, at + LIFETIME, at + PENDING if pending else None)
        self.lots[member].append(lot)
        self.earned[member] += points
        return lot

    def take_back(self, member: str, points: int, own: ModelLot | None, now: datetime) -> int:
        """Take up to ``points``: the purchase's own lot, then pending lots, then available ones."""
        usable = [lot for lot in self.lots[member] if lot.remaining and lot.expires_at > now]
        pending = [lot for lot in usable if lot.vests_at is not None and lot.vests_at > now]
        order = sorted(
            usable,
            key=lambda lot: (
                lot is not own,
                lot not in pending,
                lot.expires_at,
                self.lots[member].index(lot),
            ),
        )
        taken = 0
        for lot in order:
            share = min(points - taken, lot.remaining)
            lot.remaining -= share
            taken += share
        self.taken[member] += taken
        return taken

    def expire(self, member: str, now: datetime) -> int:
        """Write off the member's lots due at ``now``; the number of lots (one expiry entry each)."""
        due = [lot for lot in self.lots[member] if lot.remaining and lot.expires_at <= now]
        for lot in due:
            self.expired[member] += lot.remaining
            lot.remaining = 0
        return len(due)

    def usable(self, member: str, now: datetime, *, pending: bool) -> list[ModelLot]:
        lots = [lot for lot in self.lots[member] if lot.remaining and lot.expires_at > now]
        vested = [lot for lot in lots if lot.vests_at is None or lot.vests_at <= now]
        waiting = [lot for lot in lots if lot not in vested] if pending else []
        return sorted(vested, key=lambda lot: lot.expires_at) + sorted(
            waiting, key=lambda lot: lot.expires_at
        )

    def debit(self, member: str, points: int, now: datetime, *, pending: bool) -> list[tuple[ModelLot, int]]:
        """Take ``points`` out of the lots in spending order; the (lot, points) pairs taken."""
        taken: list[tuple[ModelLot, int]] = []
        for lot in self.usable(member, now, pending=pending):
            share = min(points, lot.remaining)
            if share:
                lot.remaining -= share
                points -= share
                taken.append((lot, share))
        assert points == 0
        return taken

    def transfer(self, sender: str, receiver: str, points: int, now: datetime) -> int:
        """Send ``points`` as a redemption spends them; the receiver gets a lot per run of lots
        that expire together. Returns the receiver's new lots (one entry each)."""
        runs: list[ModelLot] = []
        for lot, share in self.debit(sender, points, now, pending=False):
            if runs and runs[-1].expires_at == lot.expires_at:
                runs[-1].remaining += share
            else:
                runs.append(ModelLot(share, lot.expires_at))
        self.lots[receiver] += runs
        self.sent[sender] += points
        self.received[receiver] += points
        return len(runs)

    def merge(self, survivor: str, absorbed: str) -> tuple[int, int]:
        """Move every open lot of ``absorbed`` to ``survivor``, each a lot of its own with its
        date; its points past their date written off first. Returns the points and lots moved."""
        moved = [lot for lot in self.lots[absorbed] if lot.remaining]
        points = sum(lot.remaining for lot in moved)
        for lot in moved:
            self.lots[survivor].append(ModelLot(lot.remaining, lot.expires_at))
            lot.remaining = 0
        self.sent[absorbed] += points
        self.received[survivor] += points
        return points, len(moved)

    def blocked(self, member: str, now: datetime) -> bool:
        """Whether a merge must refuse to absorb ``member``: a hold still open after those due
        end, or points still pending that are not past their date."""
        held = any(
            h.member == member and h.status == "open" and h.expires_at > now for h in self.holds.values()
        )
        return held or any(
            lot.remaining and lot.expires_at > now and lot.vests_at is not None and lot.vests_at > now
            for lot in self.lots[member]
        )

    def hold(self, key: str, member: str, points: int, now: datetime, ttl: timedelta) -> None:
        self.holds[key] = ModelHold(member, points, self.debit(member, points, now, pending=False), now + ttl)

    def give_back(self, hold: ModelHold, points: int) -> None:
        for lot, taken in reversed(hold.taken):
            share = min(points, taken)
            lot.remaining += share
            points -= share

    def held(self, member: str) -> int:
        return sum(
            hold.points for hold in self.holds.values() if hold.member == member and hold.status == "open"
        )

    def expire_holds(self, member: str, now: datetime) -> list[ModelHold]:
        """End the member's holds whose time ran out, giving their points back."""
        due = [
            h
            for h in self.holds.values()
            if h.member == member and h.status == "open" and h.expires_at <= now
        ]
        for hold in due:
            self.give_back(hold, hold.points)
            hold.status = "expired"
        return due

    def balance(self, member: str, now: datetime) -> Balance:
        available = sum(lot.remaining for lot in self.usable(member, now, pending=False))
        total = sum(lot.remaining for lot in self.lots[member])
        pending = sum(lot.remaining for lot in self.usable(member, now, pending=True)) - available
        return Balance(available, pending, total - available - pending, self.held(member))
