"""The example programs in examples/ load, round-trip, and earn what their comments promise.

What each program promises its members is told as scenario files in examples/scenarios/
(``*.loyalty.toml``), which the test kit's plugin runs as tests; what a scenario cannot say (a
receipt's layout, a stamp's detail, forty members sharing a budget, the version a purchase was
earned under) is checked here. Every test runs the real engine on a memory store with a fixed
clock; the figures are exact. The sample baskets in examples/baskets are parsed with
``basket()``, which follows the format documented in examples/README.md (the
format ``loyalty quote PROGRAM BASKET.json`` reads).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from loyalty import Engine, Line, Program, Purchase, Receipt, cli, open_store
from loyalty.cli import basket_from_json
from loyalty.config import load_programs, programs_from_dict, programs_to_dict
from loyalty.errors import ConfigError, InvalidAmount
from loyalty.members import AttributeValue
from tests.paths import EXAMPLES

BASKETS = EXAMPLES / "baskets"
README = EXAMPLES / "README.md"
PROGRAMS = sorted(path.name for path in EXAMPLES.iterdir() if path.suffix in (".toml", ".json"))
SAMPLES = sorted(path.name for path in BASKETS.glob("*.json"))

CLOCK = datetime(2024, 3, 1, tzinfo=UTC)  # when the members of these tests enrolled
#: The engine's own clock: after every sale here (they are dated up to July 2024), as a till's
#: time may not run ahead of it (``time_guards``); it only stamps ``recorded_at``.
NOW = datetime(2024, 8, 1, tzinfo=UTC)
A_YEAR_BEFORE = datetime(2023, 3, 1, tzinfo=UTC)  # when the regular customers of these tests enrolled
D = Decimal


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# -- the basket format ----------------------------------------------------------------------


class Basket(NamedTuple):
    """A sample basket: the purchase, and what the quote assumes about its member."""

    purchase: Purchase
    birthday: date | None
    attributes: Mapping[str, AttributeValue]
    visits: int = 0


_BASKET_KEYS = {"id", "member_id", "at", "currency", "store_id", "terminal_id", "channel", "lines", "member"}
_LINE_KEYS = {"sku", "quantity", "unit_price", "category", "labels", "discount", "tax"}
_MEMBER_KEYS = {"birthday", "attributes", "visits"}


def _known(data: object, keys: set[str], where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: must be an object")
    unknown = sorted(set(data) - keys)
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r}")
    return data


def _money(value: object, field: str) -> Decimal:
    # Strings only: a JSON number would arrive as a float, and 0.1 + 0.2 is no way to count money.
    if not isinstance(value, str):
        raise InvalidAmount(field, f'must be a string such as "3.40", not {type(value).__name__}')
    try:
        return Decimal(value)
    except InvalidOperation:
        raise InvalidAmount(field, f"not a decimal number: {value!r}") from None


def _quantity(value: object, field: str) -> int | Decimal:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _money(value, field)
    raise InvalidAmount(field, f'must be an int or a decimal string such as "0.452", not {value!r}')


def basket(data: object) -> Basket:
    """A basket JSON document (already parsed) as a Purchase; unknown keys are refused."""
    doc = _known(data, _BASKET_KEYS, "basket")
    lines = []
    for i, raw in enumerate(doc["lines"]):
        item = _known(raw, _LINE_KEYS, f"lines[{i}]")
        lines.append(
            Line(
                item["sku"],
                _quantity(item["quantity"], f"lines[{i}].quantity"),
                _money(item["unit_price"], f"lines[{i}].unit_price"),
                category=item.get("category"),
                labels=item.get("labels"),
                discount=_money(item.get("discount", "0"), f"lines[{i}].discount"),
                tax=_money(item.get("tax", "0"), f"lines[{i}].tax"),
            )
        )
    purchase = Purchase(
        doc.get("id", "quote"),
        doc["member_id"],
        datetime.fromisoformat(doc["at"]),
        lines,
        doc["currency"],
        store_id=doc.get("store_id"),
        terminal_id=doc.get("terminal_id"),
        channel=doc.get("channel"),
    )
    member = _known(doc.get("member", {}), _MEMBER_KEYS, "member")
    birthday = date.fromisoformat(member["birthday"]) if "birthday" in member else None
    return Basket(purchase, birthday, member.get("attributes", {}), member.get("visits", 0))


def read_basket(name: str) -> Basket:
    return basket(json.loads((BASKETS / name).read_text(encoding="utf-8")))


# -- engines --------------------------------------------------------------------------------


def program(name: str) -> Program:
    path = EXAMPLES / name
    return Program.from_json(path) if path.suffix == ".json" else Program.from_toml(path)


def engine(*programs: Program, members: tuple[str, ...] = ("M1",)) -> Engine:
    running = Engine(
        programs[0] if len(programs) == 1 else programs, open_store("memory://"), clock=lambda: NOW
    )
    for member in members:
        running.enroll(member, at=CLOCK)
    return running


def sale(pid: str, when: str, *lines: Line, member: str = "M1", **fields: Any) -> Purchase:
    return Purchase(pid, member, at(when), lines, "EUR", **fields)


def reasons(receipt: Receipt) -> dict[str, str]:
    return {skipped.rule: skipped.reason for skipped in receipt.skipped}


# -- every example --------------------------------------------------------------------------


def test_the_examples_are_all_here() -> None:
    assert PROGRAMS == [
        "bookshop.json",
        "coffee-shop.toml",
        "fashion-store.toml",
        "grocer-club.toml",
        "grocer.toml",
        "hotel.toml",
        "versions.toml",
    ]
    assert [Path(name).stem for name in SAMPLES] == [Path(name).stem for name in PROGRAMS]
    assert README.is_file()


@pytest.mark.parametrize("name", [name for name in PROGRAMS if name != "versions.toml"])
def test_each_example_loads_and_round_trips(name: str) -> None:
    loaded = program(name)
    assert Program.from_dict(loaded.to_dict()) == loaded
    assert Program.from_dict(json.loads(json.dumps(loaded.to_dict()))) == loaded


def test_the_versions_example_needs_load_programs_and_round_trips() -> None:
    with pytest.raises(ConfigError) as info:
        Program.from_toml(EXAMPLES / "versions.toml")
    assert info.value.field == "versions"
    versions = load_programs(EXAMPLES / "versions.toml")
    assert [(v.version, v.effective_from) for v in versions] == [
        ("2024-01", None),
        ("2024-07", at("2024-07-01T00:00:00+02:00")),
    ]
    assert programs_from_dict(programs_to_dict(versions)) == versions


@pytest.mark.parametrize("name", [name for name in PROGRAMS if name.endswith(".toml")])
def test_each_toml_example_opens_with_a_comment_header(name: str) -> None:
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    header = text[: text.index("\n\n")].splitlines()
    assert len(header) >= 5 and all(line.startswith("#") for line in header)


# -- the sample baskets ---------------------------------------------------------------------


QUOTES = {
    "bookshop.json": 57,
    "coffee-shop.json": 89,
    "fashion-store.json": 6196,  # 61.96 points at scale 2
    "grocer-club.json": 116,
    "grocer.json": 152,
    "hotel.json": 537,
    "versions.json": 10,
}


@pytest.mark.parametrize("name", SAMPLES)
def test_each_basket_parses_and_quotes_exactly(name: str) -> None:
    sample = read_basket(name)
    assert sample.purchase.lines and sample.purchase.at.tzinfo is not None
    (source,) = [other for other in PROGRAMS if Path(other).stem == Path(name).stem]
    running = Engine(load_programs(EXAMPLES / source), open_store("memory://"), clock=lambda: NOW)
    # A regular customer, as a basket's member is: enrolled well before its birthday's cool-off.
    running.enroll(
        sample.purchase.member_id, at=A_YEAR_BEFORE, birthday=sample.birthday, attributes=sample.attributes
    )
    quoted = running.quote(sample.purchase)
    assert quoted.points == QUOTES[name]
    recorded = running.record_purchase(sample.purchase)
    assert (recorded.points, recorded.breakdown) == (quoted.points, quoted.breakdown)
    # examples/README.md lists what each basket earns.
    assert f"| `{name}` | {quoted.shown_points()} |" in README.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", SAMPLES)
def test_loyalty_quote_reads_each_basket_as_this_helper_does_and_prints_its_figure(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.loads((BASKETS / name).read_text(encoding="utf-8"))
    mine, theirs = basket(data), basket_from_json(data)
    assert theirs.purchase == mine.purchase
    assert (theirs.member.birthday, theirs.member.attributes, theirs.visits) == (
        mine.birthday,
        mine.attributes,
        mine.visits,
    )
    (source,) = [other for other in PROGRAMS if Path(other).stem == Path(name).stem]
    assert cli.main(["quote", str(EXAMPLES / source), str(BASKETS / name)]) == 0
    out = capsys.readouterr().out
    shown = re.search(r"^  points earned +([\d.]+)$", out, re.MULTILINE)
    points = load_programs(EXAMPLES / source)[-1].format_points(QUOTES[name])  # 6196 at scale 2 is 61.96
    assert shown is not None and shown[1] == points


def test_the_readme_basket_parses() -> None:
    (block,) = re.findall(r"```json\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    sample = basket(json.loads(block))
    assert [line.quantity for line in sample.purchase.lines] == [2, D("0.452")]
    assert dict(sample.purchase.lines[0].labels) == {"size": "large"}
    assert basket_from_json(json.loads(block)).purchase == sample.purchase


def test_the_coffee_basket_reads_every_field() -> None:
    sample = read_basket("coffee-shop.json")
    purchase = sample.purchase
    assert (purchase.id, purchase.member_id, purchase.currency) == ("JORDAAN-T1-000042", "M1", "EUR")
    assert (purchase.store_id, purchase.terminal_id, purchase.channel) == ("jordaan", "T1", "pos")
    assert purchase.at == datetime(2024, 3, 5, 14, 10, tzinfo=UTC)
    latte = purchase.lines[0]
    assert (latte.sku, latte.quantity, latte.unit_price, latte.category) == ("latte", 2, D("3.40"), "coffee")
    assert (latte.discount, latte.tax, latte.amount) == (D("0.50"), D("0.52"), D("6.30"))
    assert purchase.total.amount == D("8.40")
    assert (sample.birthday, dict(sample.attributes)) == (date(1990, 3, 4), {"segment": "student"})


def test_weighed_quantities_are_decimal_strings() -> None:
    cheese = read_basket("grocer.json").purchase.lines[4]
    assert (cheese.sku, cheese.quantity, cheese.amount) == ("cheese-gouda-old", D("0.452"), D("6.73480"))


def test_a_basket_without_the_optional_keys() -> None:
    sample = basket(
        {
            "member_id": "M1",
            "at": "2024-03-05T15:10:00Z",
            "currency": "EUR",
            "lines": [{"sku": "latte", "quantity": "1", "unit_price": "3.40"}],
        }
    )
    assert sample.purchase.id == "quote"
    assert (sample.purchase.store_id, sample.purchase.channel, sample.birthday) == (None, None, None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lines": [{"sku": "latte", "quantity": 1, "unit_price": 3.4}]}, "unit_price"),
        ({"lines": [{"sku": "latte", "quantity": 1.5, "unit_price": "3.40"}]}, "quantity"),
        ({"lines": [{"sku": "latte", "quantity": 1, "unit_price": "3.40", "price": "1"}]}, "'price'"),
        ({"total": "3.40"}, "'total'"),
    ],
)
def test_a_bad_basket_is_refused(change: dict[str, Any], message: str) -> None:
    good = {"member_id": "M1", "at": "2024-03-05T15:10:00+01:00", "currency": "EUR"}
    with pytest.raises((ValueError, InvalidAmount), match=message):
        basket({**good, "lines": [{"sku": "latte", "quantity": 1, "unit_price": "3.40"}], **change})


# -- coffee shop ----------------------------------------------------------------------------


class TestCoffeeShop:
    program = program("coffee-shop.toml")

    @staticmethod
    def latte(quantity: int = 1) -> Line:
        return Line("latte", quantity, D("3.40"), category="coffee")

    def test_the_tenth_coffee_visit_earns_the_stamp_bonus(self) -> None:
        shop = engine(self.program)
        cappuccino = Line("cappuccino", 1, D("3.10"), category="coffee")
        points = [
            shop.record_purchase(sale(f"V{day}", f"2024-03-{day:02d}T08:30:00+01:00", cappuccino)).points
            for day in range(4, 14)
        ]
        # Visit 1: 3 + 25 welcome; visits 2-9: 3; visit 10: 3 + 30 stamp bonus.
        assert points == [28, 3, 3, 3, 3, 3, 3, 3, 3, 33]
        assert shop.balance("M1").available == 85
        tenth = shop.history("M1")[-1]
        assert tenth.rules == ("base", "coffee-card")

    def test_a_visit_without_coffee_collects_no_stamp(self) -> None:
        shop = engine(self.program)
        croissant = Line("croissant", 1, D("2.10"), category="food")
        shop.record_purchase(sale("P1", "2024-03-04T08:30:00+01:00", croissant))
        food_only = shop.explain(sale("P2", "2024-03-05T08:30:00+01:00", croissant))
        assert reasons(food_only)["coffee-card"] == "no line with category coffee"
        # Two coffees in one visit are one stamp.
        visit = shop.quote(sale("P3", "2024-03-05T08:30:00+01:00", self.latte(2), croissant))
        assert [c.detail for c in visit.breakdown if c.rule == "coffee-card"] == ["stamp 1 of 10"]

    def test_joining_the_week_before_ones_birthday_pays_from_next_year(self) -> None:
        shop = engine(self.program, members=())
        shop.enroll("M1", at=at("2024-03-01T10:00:00+01:00"), birthday=date(1990, 3, 8))
        birthday = shop.explain(sale("P1", "2024-03-08T09:00:00+01:00", self.latte()))
        assert birthday.points == 3 + 25
        assert reasons(birthday)["birthday"] == "enrolled on 2024-03-01: no bonus before 2024-05-30"
        # (Nothing was recorded: a year on it is still the member's first purchase, hence the 25.)
        assert shop.quote(sale("P2", "2025-03-08T09:00:00+01:00", self.latte())).points == 3 + 25 + 50

    def test_a_changed_birthday_waits_90_days(self) -> None:
        changed = at("2024-03-01T10:00:00+01:00")
        # The change counts from when the engine heard of it: its clock then.
        shop = Engine(self.program, open_store("memory://"), clock=lambda: changed)
        shop.enroll("M1", at=CLOCK, birthday=date(1985, 11, 20))
        shop.update_member("M1", id="U1", at=changed, birthday=date(1985, 3, 6))
        moved = shop.explain(sale("P1", "2024-03-06T09:00:00+01:00", self.latte()))
        assert moved.points == 3 + 25
        assert reasons(moved)["birthday"] == "birthday changed on 2024-03-01: no bonus before 2024-05-30"
        assert shop.quote(sale("P2", "2025-03-06T09:00:00+01:00", self.latte())).points == 3 + 25 + 50


# -- grocer ---------------------------------------------------------------------------------


class TestGrocer:
    program = program("grocer.toml")
    saturday = "2024-03-09T10:30:00+01:00"

    def test_own_brand_triples_up_to_60_extra_points_a_purchase(self) -> None:
        shop = engine(self.program)
        beans = Line("freshway-beans-1kg", 4, D("12.50"), category="coffee", labels={"brand": "freshway"})
        receipt = shop.quote(sale("P1", self.saturday, beans))
        assert (receipt.points, receipt.points_of("own-brand-x3")) == (110, D(60))  # 50 + (100 capped at 60)
        assert "FreshWay brand x3 (capped at 60 per purchase)" in receipt.render(width=120)
        small = shop.quote(
            sale("P2", self.saturday, Line("freshway-pasta", 3, D("0.99"), labels={"brand": "freshway"}))
        )
        assert (small.points, small.points_of("own-brand-x3")) == (8, D("5.94"))  # 2.97 x 3 = 8.91
        # Own-brand fruit is fresh produce: x2, not x6.
        bananas = Line("freshway-bananas", 1, D("2.00"), category="fruit-veg", labels={"brand": "freshway"})
        assert shop.quote(sale("P3", self.saturday, bananas)).points == 4

    def test_the_oat_drink_launch_once_per_member_within_its_budget(self) -> None:
        members = tuple(f"C{n:02d}" for n in range(41))
        shop = engine(self.program, members=members)
        oat = Line("8712345678906", 1, D("2.29"), category="dairy-alternatives")
        got = [shop.record_purchase(sale(f"P-{m}", self.saturday, oat, member=m)).points for m in members]
        assert got == [52] * 40 + [2]  # 2.29 earns 2, the first 40 members 50 more: 2,000 points
        spent = shop.explain(sale("P-last", self.saturday, oat, member="C40"))
        assert reasons(spent)["oat-drink-launch"] == "campaign budget of 2000 used up"
        again = shop.explain(sale("P-again", self.saturday, oat, member="C00"))
        assert reasons(again)["oat-drink-launch"] == "cap of 50/ever reached"
        may = shop.explain(sale("P-may", "2024-05-01T10:00:00+02:00", oat, member="C40"))
        assert reasons(may)["oat-drink-launch"] == "ended on 2024-04-30"


# -- hotel ----------------------------------------------------------------------------------


class TestHotel:
    program = program("hotel.toml")
    checkout = "2024-05-12T11:00:00+01:00"

    def stay(self, pid: str, nights: int, channel: str = "ota") -> Purchase:
        # 106.00 a night with 6.00 VAT, plus the city tax of 4.00 a night.
        room = Line("room-night", nights, D("106.00"), category="room", tax=D(6 * nights))
        city_tax = Line("city-tax", nights, D("4.00"), category="city-tax")
        return sale(pid, self.checkout, room, city_tax, channel=channel)

    def test_a_night_earns_more_in_a_longer_stay(self) -> None:
        hotel = engine(self.program)
        per_night = {}
        for nights in (1, 2, 3, 6, 7, 10):
            points = hotel.quote(self.stay(f"S{nights}", nights)).points
            assert points % nights == 0
            per_night[nights] = points // nights
        # 100 a night (the price without VAT and city tax), +25 from 2 nights, +50 from 7.
        assert per_night == {1: 100, 2: 125, 3: 125, 6: 125, 7: 150, 10: 150}

    def test_the_length_of_stay_rules_are_exclusive(self) -> None:
        hotel = engine(self.program)
        one = hotel.explain(self.stay("S1", 1))
        assert reasons(one)["multi-night"] == "minimum quantity 2 not met on the matching lines: 1"
        week = hotel.explain(self.stay("S7", 7))
        assert week.rules == ("stay", "long-stay")
        assert reasons(week)["multi-night"] == "group length-of-stay: Long stay gives more (350)"

    def test_nights_on_several_rate_lines_add_up(self) -> None:
        hotel = engine(self.program)
        weekend = Line("room-night", 1, D("127.20"), category="room", tax=D("7.20"))
        weekday = Line("room-night", 1, D("106.00"), category="room", tax=D("6.00"))
        breakfast = Line("breakfast", 2, D("16.95"), category="restaurant", tax=D("3.90"))
        receipt = hotel.quote(sale("S1", self.checkout, weekend, weekday, breakfast, channel="direct"))
        # 120 + 100 + 30 on the stay, 2 x 25 for the two nights, 100 for booking direct.
        assert (receipt.points, receipt.points_of("multi-night")) == (400, D(50))


# -- fashion store --------------------------------------------------------------------------


class TestFashionStore:
    program = program("fashion-store.toml")
    tuesday = "2024-03-05T14:00:00+01:00"

    @staticmethod
    def item(sku: str, price: str, color: str, collection: str = "ss24") -> Line:
        return Line(sku, 1, D(price), labels={"color": color, "collection": collection})

    def test_points_are_kept_to_the_hundredth_rounded_half_up(self) -> None:
        shop = engine(self.program)
        first = shop.record_purchase(sale("P1", self.tuesday, self.item("dress", "49.95", "green")))
        # 4.995 rounds half up to 5.00, and the welcome gift adds 5.
        assert (first.points, first.shown_points(), first.rounding_adjustment) == (1000, "10.00", D("0.5"))
        assert "points earned                              10.00" in first.render()
        assert shop.balance("M1").available == 1000  # hundredths, as every figure of the program


# -- versions -------------------------------------------------------------------------------


class TestVersions:
    versions = load_programs(EXAMPLES / "versions.toml")

    def test_each_purchase_earns_under_the_version_of_its_own_time(self) -> None:
        bakery = engine(*self.versions)
        loaf = Line("sourdough", 1, D("2.40"), category="bread")
        june = bakery.record_purchase(sale("P1", "2024-06-30T17:00:00+02:00", loaf))
        july = [
            bakery.record_purchase(sale(pid, when, loaf))
            for pid, when in [
                ("P2", "2024-07-01T07:30:00+02:00"),
                ("P3", "2024-07-01T17:30:00+02:00"),
                ("P4", "2024-07-02T07:30:00+02:00"),
            ]
        ]
        # June floors every purchase; July carries the cents: 2.40, 2.80, 3.20 -> 2, 2, 3, 0.20 kept.
        assert (june.points, june.program_version) == (2, "2024-01")
        assert [(r.points, r.program_version, r.carried_out) for r in july] == [
            (2, "2024-07", D("0.40")),
            (2, "2024-07", D("0.80")),
            (3, "2024-07", D("0.20")),
        ]
        # A sale made offline just before midnight on 30 June, sent later, earns under June's rules.
        late = bakery.record_purchase(sale("P0", "2024-06-30T23:59:00+02:00", loaf))
        assert (late.points, late.program_version, late.carried_in) == (2, "2024-01", D(0))
        assert [(e.points, e.program_version) for e in bakery.history("M1")] == [
            (2, "2024-01"),
            (2, "2024-07"),
            (2, "2024-07"),
            (3, "2024-07"),
            (2, "2024-01"),
        ]
