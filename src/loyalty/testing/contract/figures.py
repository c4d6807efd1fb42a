"""Part of the store contract (:class:`~loyalty.testing.contract.StoreContract`).

Period totals added up in the store."""

from __future__ import annotations

from decimal import Decimal

from loyalty.engine import Engine
from loyalty.program import Program
from loyalty.purchases import Line, Purchase
from loyalty.store import Store
from loyalty.testing.contract._base import CET, DAY, T0, ContractBase


class FiguresContract(ContractBase):
    """Period totals added up in the store."""

    def test_period_totals_add_up_the_ledger_and_the_purchases(self, store: Store) -> None:
        before, start, end = T0, T0 + 10 * DAY, T0 + 20 * DAY
        clock = [before]
        engine = Engine(Program("Contract", "EUR"), store, clock=lambda: clock[0])
        for member_id in ("A", "B", "C"):
            engine.enroll(member_id, at=before)
        engine.enroll("late", at=end + DAY)  # enrolled after the period: not counted
        for key, member_id, day, amount in (
            ("P1", "A", 1, "10.00"),
            ("P2", "B", 2, "20.50"),
            ("P3", "A", 11, "30.25"),
            ("P4", "C", 12, "7.00"),
            ("P5", "C", 25, "99.00"),  # after the period
        ):
            clock[0] = T0.astimezone(CET) + day * DAY
            engine.record_purchase(Purchase(key, member_id, clock[0], [Line("x", 1, Decimal(amount))], "EUR"))
        engine.redeem("A", 5, id="R1", at=T0 + 13 * DAY)
        with store.unit_of_work(readonly=True) as uow:
            totals = uow.period_totals(start, end, before)
        assert totals.by_kind == {"earn": 37, "redeem": -5}
        assert (totals.outstanding, totals.members, totals.purchases, totals.spend) == (
            62,
            3,
            2,
            Decimal("37.25"),
        )
        assert (totals.active, totals.active_before, totals.retained) == (2, 2, 1)

    def test_period_totals_add_up_what_transfers_credited(self, store: Store) -> None:
        clock = [T0]
        engine = Engine(Program("Contract", "EUR"), store, clock=lambda: clock[0])
        for member_id in ("A", "B"):
            engine.enroll(member_id, at=T0)
        engine.adjust("A", 50, id="J1", at=T0, reason="welcome", actor="crm")
        for key, day, points in (("X1", 1, 30), ("X2", 2, 5), ("X3", 12, 7)):
            clock[0] = T0 + day * DAY
            engine.transfer("A", "B", points, id=key, at=clock[0])
        with store.unit_of_work(readonly=True) as uow:
            totals = uow.period_totals(T0 + DAY, T0 + 10 * DAY, T0)
        # The net of the period's transfer entries is nothing; what they credited is 35.
        assert (totals.by_kind, totals.transferred, totals.outstanding) == ({"transfer": 0}, 35, 50)
