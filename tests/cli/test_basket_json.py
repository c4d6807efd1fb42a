"""basket_from_json, the CLI's basket reader: a purchase, a member and visits, or an error naming a field."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

import loyalty
from loyalty import Program
from loyalty.cli import Basket, basket_from_json
from loyalty.earning import evaluate
from loyalty.errors import (
    CurrencyMismatch,
    InvalidAmount,
    InvalidDatetime,
    InvalidId,
    InvalidInput,
    InvalidQuantity,
    UnknownCurrency,
)
from tests.cli.helpers import CORNER, sample, with_line


def test_basket_from_json_builds_the_purchase_and_member() -> None:
    basket = basket_from_json(
        sample(
            terminal_id="T2",
            channel="web",
            lines=[
                {
                    "sku": "apples",
                    "quantity": "1.250",
                    "unit_price": "2.00",
                    "labels": {"color": "red"},
                    "discount": "0.50",
                    "tax": "0.10",
                }
            ],
            member={"birthday": "1990-03-04", "attributes": {"segment": "student", "age": 19, "vip": True}},
        )
    )
    assert isinstance(basket, Basket)
    purchase, member, visits = basket
    assert (purchase.id, purchase.member_id, purchase.currency) == ("S01-T2-000123", "M1", "EUR")
    assert purchase.at == datetime(2024, 3, 5, 15, 10, tzinfo=timezone(timedelta(hours=1)))
    assert (purchase.store_id, purchase.terminal_id, purchase.channel) == ("S01", "T2", "web")
    (line,) = purchase.lines
    assert (line.sku, line.quantity, line.unit_price) == ("apples", Decimal("1.250"), Decimal("2.00"))
    assert (line.discount, line.tax, dict(line.labels)) == (
        Decimal("0.50"),
        Decimal("0.10"),
        {"color": "red"},
    )
    assert str(purchase.total) == "2.00 EUR"
    assert member.id == "M1" and member.birthday == date(1990, 3, 4)
    assert dict(member.attributes) == {"age": 19, "segment": "student", "vip": True}
    assert visits == 0
    assert basket.tallies == {"visits|M1": loyalty.store.Tally(0)}


def test_basket_from_json_defaults() -> None:
    basket = basket_from_json(
        {"member_id": "M1", "at": "2024-03-05T14:10:00Z", "currency": "EUR",
         "lines": [{"sku": "latte", "quantity": 1, "unit_price": "3.40", "category": None}],
         "member": {"visits": 4}}
    )  # fmt: skip
    assert basket.purchase.id == "quote"
    assert basket.purchase.store_id is None and basket.purchase.lines[0].category is None
    assert basket.member.birthday is None and not basket.member.attributes
    assert basket.visits == 4 and basket.tallies == {"visits|M1": loyalty.store.Tally(4)}
    assert basket_from_json(sample(member=None)).visits == 0
    # A regular member unless the basket says when it enrolled (a birthday cool-off counts from then).
    assert basket.member.enrolled_at.year == 1900
    joined = basket_from_json(sample(member={"enrolled_at": "2024-03-01T10:00:00+01:00"}))
    assert joined.member.enrolled_at == datetime(2024, 3, 1, 9, tzinfo=UTC)


PRICE = "lines[0].unit_price"
JOINED = "member.enrolled_at"


@pytest.mark.parametrize(
    ("data", "error", "field", "message"),
    [
        ([], InvalidInput, None, "the basket must be a JSON object, not list"),
        (sample(at=None), InvalidInput, "at", "missing"),
        (sample(colour="red"), InvalidInput, "colour", "unknown key (the keys are member_id, at, "),
        (sample(store="S1"), InvalidInput, "store", "unknown key (did you mean 'store_id'?)"),
        (sample(member_id=7), InvalidId, "member_id", "must be a string, not int"),
        (sample(id=""), InvalidId, "id", "must not be empty"),
        (sample(channel=["web"]), InvalidId, "channel", "must be a string, not list"),
        (sample(at=1709647800), InvalidDatetime, "at", "must be an ISO 8601 string such as"),
        (sample(at="2024-03-05"), InvalidDatetime, "at", "must carry a UTC offset"),
        (sample(at="0001-01-01T00:00:00+01:00"), InvalidDatetime, "at", "must lie in the years 1900"),
        (sample(currency="EUX"), UnknownCurrency, "currency", "'EUX' is not an active ISO 4217"),
        (sample(member={"enrolled_at": "2031-01-01T00:00:00Z"}), InvalidDatetime, JOINED, "must not be aft"),
        (sample(member={"enrolled_at": "2024-03-01"}), InvalidDatetime, JOINED, "must carry a UTC offset"),
        (sample(currency="Eur"), UnknownCurrency, "currency", "'Eur': ISO 4217 codes are upper case"),
        (sample(lines=[]), InvalidInput, "lines", "a purchase needs at least one line (empty basket)"),
        (sample(lines={"sku": "latte"}), InvalidInput, "lines", "must be a list of line objects, not dict"),
        (sample(lines=["latte"]), InvalidInput, "lines[0]", "must be a JSON object, not str"),
        (with_line(unit_price=None), InvalidInput, "lines[0].unit_price", "missing"),
        (with_line(price="3.40"), InvalidInput, "lines[0].price", "unknown key (did you mean 'unit_pr"),
        (with_line(unit_price=3.4), InvalidAmount, PRICE, 'must be a string such as "3.40", not float'),
        (with_line(unit_price=3), InvalidAmount, PRICE, 'must be a string such as "3.40", not int'),
        (with_line(unit_price="3.40 EUR"), InvalidAmount, PRICE, "must be an amount such as"),
        (with_line(unit_price="NaN"), InvalidAmount, PRICE, "must be an amount such as"),
        (with_line(unit_price="-1"), InvalidAmount, PRICE, "must not be negative, got -1"),
        (with_line(discount=0.5), InvalidAmount, "lines[0].discount", "not float"),
        (with_line(discount="9.00"), InvalidAmount, "lines[0].discount", "must not exceed the line amount"),
        (with_line(tax="7.00"), InvalidAmount, "lines[0].tax", "must not exceed the amount paid"),
        (with_line(quantity=1.5), InvalidQuantity, "lines[0].quantity", "not float"),
        (with_line(quantity=True), InvalidQuantity, "lines[0].quantity", "not bool"),
        (with_line(quantity="two"), InvalidQuantity, "lines[0].quantity", "got 'two'"),
        (with_line(quantity=-2), InvalidQuantity, "lines[0].quantity", "must be positive, got -2"),
        (with_line(sku=""), InvalidId, "lines[0].sku", "must not be empty"),
        (with_line(category=5), InvalidId, "lines[0].category", "must be a string, not int"),
        (with_line(labels={"color": 1}), InvalidInput, "lines[0].labels['color']", "must be a str, not int"),
        (with_line(labels=["red"]), InvalidInput, "lines[0].labels", "must be a mapping of str to str"),
        (sample(member=[]), InvalidInput, "member", "must be a JSON object, not list"),
        (sample(member={"birthday": "04/03/1990"}), InvalidInput, "member.birthday", "must be a date such"),
        (sample(member={"birthday": "1990-02-30"}), InvalidInput, "member.birthday", "must be a date such"),
        (sample(member={"visits": 1.0}), InvalidInput, "member.visits", "(an int >= 0), got 1.0"),
        (sample(member={"attributes": {"age": 1.5}}), InvalidInput, "member.attributes['age']", "not float"),
        (sample(member={"attributes": "student"}), InvalidInput, "member.attributes", "must be a mapping"),
        (sample(member={"tier": "gold"}), InvalidInput, "member.tier", "unknown key"),
    ],
)  # fmt: skip
def test_basket_from_json_refuses_bad_fields_by_path(
    data: Any, error: type[InvalidInput], field: str | None, message: str
) -> None:
    with pytest.raises(error) as caught:
        basket_from_json(data)
    assert type(caught.value) is error
    assert caught.value.field == field
    assert caught.value.message.startswith(message) or message in caught.value.message


def test_basket_from_json_leaves_the_program_to_the_evaluation() -> None:
    # A basket knows no program: a currency other than the program's is refused when it is evaluated.
    basket = basket_from_json(sample(currency="USD"))
    with pytest.raises(CurrencyMismatch):
        evaluate(Program.from_toml(CORNER), basket.purchase, member=basket.member, tallies=basket.tallies)
