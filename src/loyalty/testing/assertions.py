"""Assertions for a merchant's tests that fail readably: expected against actual, and why.

The plugin (:mod:`loyalty.testing.plugin`) registers this module for pytest's
assertion rewriting, so a failure shows the figures compared as well as the
receipt's rule-by-rule explanation:

>>> from datetime import UTC, datetime
>>> from decimal import Decimal
>>> from loyalty import Engine, Line, Program, Purchase, open_store
>>> t = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
>>> engine = Engine(Program("Club", "EUR"), open_store("memory://"), clock=lambda: t)
>>> _ = engine.enroll("M1", at=t)
>>> receipt = engine.record_purchase(Purchase("P1", "M1", t, [Line("cake", 3, Decimal("4.15"))], "EUR"))
>>> assert_points(receipt, 12)
>>> assert_points(receipt, 13)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
AssertionError: points of P1: expected 13, got 12
...Purchase P1: 12.45 EUR
...base (1 point per 1 EUR on cake 12.45)...
>>> assert_balance(engine, "M1", available=12, pending=0)
>>> assert_balance(engine, "M1", available=10)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
AssertionError: balance of M1: expected {'available': 10}, got {'available': 12}...
"""

from __future__ import annotations

from decimal import Decimal

from loyalty.engine import Engine
from loyalty.lots import Balance
from loyalty.receipts import Receipt

__all__ = ["assert_balance", "assert_points"]


def assert_points(receipt: Receipt, expected: int, *, rules: dict[str, Decimal | int] | None = None) -> None:
    """The receipt earned ``expected`` points (and, for each of ``rules``, that rule gave those).

    The failure message carries the receipt's explanation; pass the receipt of
    ``engine.explain(purchase)`` to see, too, the rules that gave nothing and why.
    """
    explanation = receipt.render(width=72)
    assert receipt.points == expected, (
        f"points of {receipt.source_id}: expected {expected}, got {receipt.points}\n{explanation}"
    )
    if rules is not None:
        actual = {rule: receipt.points_of(rule) for rule in rules}
        wanted = {rule: Decimal(points) for rule, points in rules.items()}
        assert actual == wanted, f"points by rule of {receipt.source_id}\n{explanation}"


def assert_balance(engine: Engine, member_id: str, **expected: int) -> None:
    """The member's points by state: ``available``, ``pending``, ``overdue``, ``held`` (those given)."""
    balance = engine.balance(member_id)
    unknown = sorted(set(expected) - set(Balance.__annotations__))
    assert not unknown, f"no such state of a balance: {', '.join(unknown)}"
    actual = {state: getattr(balance, state) for state in expected}
    assert actual == expected, f"balance of {member_id}: expected {expected}, got {actual}"
