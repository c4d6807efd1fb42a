"""What the rule tests share: a program of rules, a sale and its lines, and the evaluation of
one with its explanation (the points each rule gave, and why the others gave none)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from loyalty.earning import evaluate
from loyalty.members import Member
from loyalty.program import EarnRate, Program
from loyalty.purchases import Line, Purchase
from loyalty.receipts import Receipt
from loyalty.rules import Rule
from loyalty.tallies import Tally

# Friday 1 March 2024, 09:30 UTC.
T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
D = Decimal


def program(*rules: Rule, rate: EarnRate | None = None, **options: Any) -> Program:
    return Program("Test", "EUR", rate=rate, rules=rules, **options)


def sale(*lines: Line, at: datetime = T0, **fields: Any) -> Purchase:
    return Purchase("S1", "M1", at, lines or (Line("coffee", 1, D("10.00")),), "EUR", **fields)


def line(sku: str, price: str, quantity: int | Decimal = 1, **fields: Any) -> Line:
    return Line(sku, quantity, D(price), **fields)


def run(
    prog: Program,
    purchase: Purchase,
    *,
    member: Member | None = None,
    tallies: Mapping[str, Tally] | None = None,
) -> Receipt:
    return evaluate(prog, purchase, member=member, tallies=tallies, explain=True).receipt


def given(receipt: Receipt) -> dict[str, Decimal]:
    return {rule: receipt.points_of(rule) for rule in receipt.rules}


def reasons(receipt: Receipt) -> dict[str, str]:
    return {s.rule: s.reason for s in receipt.skipped}
