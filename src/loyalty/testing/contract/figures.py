"""Part of the store contract (:class:`~loyalty.testing.contract.StoreContract`).

Period totals added up in the store."""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest

from loyalty.engine import Engine
from loyalty.errors import InvalidInput
from loyalty.program import Program
from loyalty.purchases import Line, Purchase
from loyalty.rules import Multiplier, PurchaseBonus
from loyalty.store import Store
from loyalty.testing.contract._base import CET, DAY, T0, ContractBase, adjust_posting


class FiguresContract(ContractBase):
    """Period totals added up in the store."""

    def test_period_totals_add_up_the_ledger_and_the_purchases(self, store: Store) -> None:
        before, start, end = T0, T0 + 10 * DAY, T0 + 20 * DAY
        clock = [before]
        engine = Engine(Program("Contract", "EUR"), store, clock=lambda: clock[0])
        for member_id in ("A", "B", "C"):
            engine.enroll(member_id, at=before)
        for key, member_id, day, amount in (
            ("P1", "A", 1, "10.00"),
            ("P2", "B", 2, "20.50"),
            ("P3", "A", 11, "30.25"),
            ("P4", "C", 12, "7.00"),
            ("P5", "C", 25, "99.00"),  # after the period
        ):
            clock[0] = T0.astimezone(CET) + day * DAY
            engine.record_purchase(Purchase(key, member_id, clock[0], [Line("x", 1, Decimal(amount))], "EUR"))
        engine.enroll("late", at=end + DAY)  # enrolled after the period: not counted
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

    def test_period_totals_add_up_each_rules_points(self, store: Store) -> None:
        rules = [
            Multiplier(id="x2", name="Double cake", factor=2, categories=["cake"]),
            PurchaseBonus(id="bonus", name="Visit bonus", points=3),
        ]
        clock = [T0]
        engine = Engine(Program("Contract", "EUR", rules=rules), store, clock=lambda: clock[0])
        engine.enroll("A", at=T0)
        for key, day, line in (
            ("P1", 1, Line("cake", 1, Decimal("4.50"), "cake")),  # base 4.5, x2 4.5, bonus 3: 5, 4, 3
            ("P2", 2, Line("tea", 1, Decimal("10.00"))),  # base 10, bonus 3
            ("P3", 12, Line("tea", 1, Decimal("50.00"))),  # after the period
        ):
            clock[0] = T0 + day * DAY  # the till is online: the engine's clock agrees
            engine.record_purchase(Purchase(key, "A", clock[0], [line], "EUR"))
        with store.unit_of_work() as uow:
            # Entries of one rule, of several with their shares and without (kept before shares).
            uow.append(attrs.evolve(adjust_posting("A", 7, "S1", at=T0 + DAY), rules=("solo",)))
            uow.append(
                attrs.evolve(adjust_posting("A", 6, "S2", at=T0 + DAY), rules=("a", "b"), shares=(4, 2))
            )
            uow.append(attrs.evolve(adjust_posting("A", 9, "S3", at=T0 + DAY), rules=("a", "c")))
            uow.commit()
        for shares in ((1, 2), (2,), (True, True)):
            with pytest.raises(InvalidInput, match="shares"), store.unit_of_work() as uow:
                uow.append(attrs.evolve(adjust_posting("A", 2, "S4"), rules=("a", "b"), shares=shares))
        with store.unit_of_work(readonly=True) as uow:
            totals = uow.period_totals(T0, T0 + 10 * DAY, T0 - 10 * DAY)
        assert totals.by_rule == {"base": 15, "x2": 4, "bonus": 6, "solo": 7, "a": 4, "b": 2}
        assert totals.by_kind == {"earn": 25, "adjust": 22}
