"""What each kind of rule gives a purchase or an event, as breakdown rows with their explanation.

:mod:`loyalty.earning` decides which rules run and in what order (stop flags,
exclusive groups, rounding); this module is the part each rule kind adds: its
rows (``(rule, name, points, detail, line)``, a
:class:`~loyalty.receipts.Contribution`'s fields in order, made into objects
only when a caller reads the receipt's breakdown), the tally changes it
implies, and the caps and budgets that trim it. A rule that gives nothing
says why, in words a till slip shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from operator import attrgetter

from loyalty.blocks import count_blocks
from loyalty.compiled import Selection
from loyalty.conditions import birthday_in
from loyalty.earning_keys import (
    Event,
    _birthday_key,
    _birthday_year,
    _cap_key,
    _limit_key,
    _stamps_key,
    budget_key,
    visits_key,
)
from loyalty.members import Member
from loyalty.money import CURRENCY_MINOR_UNITS, EXACT, Money
from loyalty.program import Program, RoundPer, TaxBasis
from loyalty.purchases import Purchase
from loyalty.receipts import Row, Skipped
from loyalty.rules import (
    BirthdayBonus,
    EventRule,
    FirstPurchase,
    Multiplier,
    ProductBonus,
    PurchaseBonus,
    Rule,
    SpendRule,
    StampCard,
    UnitBonus,
)
from loyalty.tallies import Tally

__all__ = ["Context", "Outcome", "capped", "give", "give_event", "merge", "plain", "rows_points"]

_ZERO = Decimal(0)
_ONE = Decimal(1)
_NO_TALLY = Tally()
_NO_DELTAS: Mapping[str, Tally] = {}
_AMOUNT = attrgetter("amount")


class Outcome:
    """What one rule would give, before it is kept: its rows, their total and its tally changes."""

    __slots__ = ("rows", "rule", "tallies", "total")

    def __init__(self, rule: Rule, rows: list[Row], total: Decimal, tallies: Mapping[str, Tally]) -> None:
        self.rule = rule
        self.rows = rows
        self.total = total
        self.tallies = tallies


class Context:
    """The evaluation's working state: the subject, the tallies, the points lines have so far."""

    def __init__(
        self,
        program: Program,
        subject: Purchase | Event,
        member: Member | None,
        tallies: Mapping[str, Tally],
        explain: bool,
        selection: Selection,
    ) -> None:
        self.program = program
        self.subject = subject
        self.selection = selection
        self.member = member
        self.tallies = tallies
        self.explain = explain
        self.breakdown: list[Row] = []
        self.skipped: list[Skipped] = []
        self.deltas: dict[str, Tally] = {}
        # Rules cut by a cap under per-line rounding: their rows round as one
        # purchase-level group, so lines rounded up cannot carry them past the cap.
        self.trimmed: set[str] = set()
        if isinstance(subject, Purchase):
            lines = subject.lines
            if program.tax is TaxBasis.EXCLUSIVE:
                subtract = EXACT.subtract
                self.basis = [subtract(line.amount, line.tax) if line.tax else line.amount for line in lines]
            else:
                self.basis = list(map(_AMOUNT, lines))  # (no comprehension's function object)
            self.line_points = [_ZERO] * len(lines)
            self.every_line = list(range(len(lines)))

    def tally(self, key: str) -> Tally:
        return self.tallies.get(key, _NO_TALLY)

    def skip(self, rule: Rule, reason: str) -> None:
        if self.explain:
            self.skipped.append(Skipped(rule.id, rule.title, reason))

    def keep(self, outcome: Outcome) -> None:
        rows = outcome.rows
        self.breakdown += rows
        line_points, add = self.line_points if isinstance(self.subject, Purchase) else None, EXACT.add
        for row in rows:
            line = row[4]
            if line is not None:
                assert line_points is not None  # only a purchase's rows have lines
                line_points[line] = add(line_points[line], row[2])
        if outcome.tallies:
            merge(self.deltas, outcome.tallies)


def rows_points(rows: Iterable[Row]) -> Decimal:
    """The exact sum of the rows' points (in the exact context: the caller's may trap or round)."""
    total = _ZERO
    add = EXACT.add
    for row in rows:
        total = add(total, row[2])
    return total


def merge(into: dict[str, Tally], deltas: Mapping[str, Tally]) -> None:
    """Add ``deltas`` into ``into``, key by key."""
    for key, delta in deltas.items():
        old = into.get(key, _NO_TALLY)
        into[key] = Tally.of(old.count + delta.count, EXACT.add(old.points, delta.points))


def plain(value: Decimal) -> str:
    """A figure of points as a reason shows it: ``12``, ``2.5``."""
    return str(int(value)) if value == value.to_integral_value() else str(value)


Given = tuple[list[Row], Mapping[str, Tally]] | str


def _as_money(amount: Decimal, currency: str) -> str:
    """``amount`` as a slip shows money: as spelled, or rounded half-up to the currency's minor
    unit when finer (1.25 kg at 2.47 is 3.0875 EUR, shown 3.09). (Read off the text, which the
    detail needs anyway: this is once per line of every purchase.)"""
    text = str(amount)
    dot = text.find(".")
    if "E" in text:
        exponent = amount.as_tuple().exponent
        finer = isinstance(exponent, int) and exponent < -CURRENCY_MINOR_UNITS[currency]
    else:
        finer = dot >= 0 and len(text) - dot - 1 > CURRENCY_MINOR_UNITS[currency]
    return str(Money.of(amount, currency).rounded().amount) if finer else text


def give(context: Context, rule: Rule, matching: list[int], local: datetime) -> Given:
    """The kind-specific part: what a purchase rule gives on its matching lines."""
    subject = context.subject
    assert isinstance(subject, Purchase)
    lines, name, currency = subject.lines, rule.title, subject.currency
    out: list[Row] = []
    if isinstance(rule, SpendRule):
        return _spend(context, rule, matching, currency)
    if isinstance(rule, Multiplier):
        listed = earned = 0  # (the matching lines with a factor, and of those, with points)
        for i in matching:
            had = context.line_points[i]
            factor = rule.factor
            if factor is None:
                value = lines[i].labels.get(rule.label or "")
                factor = rule.factors.get(value) if value is not None else None
                if factor is None:
                    continue
            listed += 1
            if not had:
                continue
            earned += 1
            if factor == _ONE:
                continue
            extra = EXACT.multiply(had, EXACT.subtract(factor, _ONE))
            out.append((rule.id, name, extra, f"x{factor} on {lines[i].sku}", i))
        if not out:
            return _not_multiplied(rule, listed, earned)
    elif isinstance(rule, UnitBonus):
        for i in matching:
            units = int(lines[i].quantity)  # whole units: 2.5 kg is 2 units
            if units:
                points = Decimal(rule.points * units)  # exact: an int
                figure = context.program.format_points(rule.points)
                out.append((rule.id, name, points, f"{figure} x {units} {lines[i].sku}", i))
        if not out:
            return "no whole unit on the matching lines"
    elif isinstance(rule, PurchaseBonus | ProductBonus):
        what = "purchase" if isinstance(rule, PurchaseBonus) else f"bought {lines[matching[0]].sku}"
        out.append((rule.id, name, Decimal(rule.points), what, None))
    elif isinstance(rule, FirstPurchase):
        before = context.tally(visits_key(subject.member_id)).count
        if before:
            return f"not the member's first purchase ({before} before)"
        out.append((rule.id, name, Decimal(rule.points), "first purchase", None))
    elif isinstance(rule, StampCard):
        key = _stamps_key(rule, subject.member_id)
        visit = context.tally(key).count + 1
        if visit % rule.every:
            # The stamp is still collected: the caller keeps the delta only if the rule is kept,
            # so a visit that earns no bonus yet is returned as a zero contribution.
            out.append((rule.id, name, _ZERO, f"stamp {visit % rule.every} of {rule.every}", None))
        else:
            every = _ordinal(rule.every)
            out.append((rule.id, name, Decimal(rule.points), f"visit {visit}: every {every}", None))
        return out, {key: Tally.of(1, _ZERO)}
    elif isinstance(rule, BirthdayBonus):
        return _birthday(context, rule, local)
    else:  # pragma: no cover - every purchase rule kind is handled above
        raise AssertionError(f"unhandled rule kind {type(rule).__name__}")
    return out, _NO_DELTAS


def _spend(context: Context, rule: SpendRule, matching: list[int], currency: str) -> Given:
    """A spend rule: a row per matching line, its points at the rule's rate of the line's basis."""
    lines = context.subject.lines  # type: ignore[union-attr]  # a purchase's (give checked)
    prefix = _spend_prefix(context.program, rule, currency)
    if rule.whole_blocks:
        return _blocks(context, rule, matching, prefix)
    basis_of, exact_rate, rid, name, multiply = context.basis, rule.rate, rule.id, rule.title, EXACT.multiply
    out: list[Row] = []
    for i in matching:
        basis = basis_of[i]
        if exact_rate is not None:
            raw = multiply(basis, exact_rate)
            if rule.fractional:
                # 2.00 x 0.5 is 1.000; shown as the money was spelled when that is exact.
                spelled = raw.quantize(basis, context=EXACT)
                if spelled == raw:
                    raw = spelled
        else:
            raw = EXACT.divide(multiply(basis, Decimal(rule.points)), rule.per)
        out.append((rid, name, raw, f"{prefix}{lines[i].sku} {_as_money(basis, currency)}", i))
    return out, _NO_DELTAS


# The beginning of a spend rule's detail, made once per rule, program scale and currency: it is
# the same on every line of every purchase. (Few distinct keys: one per rate a program uses.)
# Keyed by the figures as spelled: 1.00 and 1 are equal and hash alike, but read differently.
_PREFIXES: dict[tuple[str, str, int, str], str] = {}


def _spend_prefix(program: Program, rule: SpendRule, currency: str) -> str:
    """``1 point per 1 EUR on ``: a slip shows points as the program does (scale 2: 100 is
    ``1.00 point``)."""
    key = (str(rule.points), str(rule.per), program.scale, currency)
    prefix = _PREFIXES.get(key)
    if prefix is None:
        figure = program.format_points(rule.points)
        unit = "point" if Decimal(figure) == 1 else "points"
        prefix = _PREFIXES[key] = f"{figure} {unit} per {rule.per} {currency} on "
    return prefix


def _blocks(context: Context, rule: SpendRule, matching: list[int], prefix: str) -> Given:
    """A whole-block spend rule: its blocks' points, one row per line by its share of them."""
    subject = context.subject
    assert isinstance(subject, Purchase)
    currency, lines = subject.currency, subject.lines
    counted = count_blocks(rule.points, rule.per, context.basis, matching)
    total = _as_money(counted.amount, currency)
    if not counted.blocks:
        return f"no whole {rule.per} {currency} in {total}"
    many = "block" if counted.blocks == 1 else "blocks"
    out: list[Row] = [
        (
            rule.id,
            rule.title,
            share,
            f"{prefix}{lines[i].sku} {_as_money(context.basis[i], currency)}, "
            f"{counted.blocks} whole {many} in {total}",
            i,
        )
        for i, share in counted.shares
    ]
    return out, _NO_DELTAS


def _birthday(context: Context, rule: BirthdayBonus, local: datetime) -> Given:
    member = context.member
    if member is None or member.birthday is None:
        return "no birthday on file"
    today = local.date()
    year = _birthday_year(context.selection, rule, member.birthday)
    if year is None:
        window = f"-{rule.days_before}/+{rule.days_after} days"
        return f"not within the birthday window ({member.birthday:%m-%d}, {window})"
    if rule.cooloff_days:
        # A birthday given at enrollment is on file from then: joining the week before one's
        # birthday pays from next year, as moving it does.
        changed = member.birthday_changed_at
        since = member.enrolled_at if changed is None else changed
        until = since.astimezone(local.tzinfo).date() + timedelta(days=rule.cooloff_days)
        if today < until:
            what = "enrolled" if changed is None else "birthday changed"
            return f"{what} on {since.astimezone(local.tzinfo).date()}: no bonus before {until}"
    key = _birthday_key(rule, year, member.id)
    if context.tally(key).count:
        return f"birthday bonus already given for {year}"
    detail = f"birthday {birthday_in(year, member.birthday)}"
    return [(rule.id, rule.title, Decimal(rule.points), detail, None)], {key: Tally.of(1, _ZERO)}


def give_event(context: Context, rule: EventRule, local: datetime) -> Given:
    """What an event rule gives the event, within its limit per period."""
    deltas: dict[str, Tally] = {}
    if rule.limit is not None:
        assert rule.limit_period is not None
        key = _limit_key(rule, local, context.subject.member_id)
        if context.tally(key).count >= rule.limit:
            per = "ever" if rule.limit_period.value == "ever" else f"per {rule.limit_period.value}"
            return f"limit of {rule.limit} {per} reached"
        deltas[key] = Tally.of(1, _ZERO)
    return [(rule.id, rule.title, Decimal(rule.points), rule.event, None)], deltas


def capped(
    context: Context,
    rule: Rule,
    local: datetime,
    rows: list[Row],
    deltas: Mapping[str, Tally],
) -> Outcome | str:
    """Apply the rule's caps and budget to what it would give."""
    total = rows_points(rows)
    allowed, notes = total, []
    member_id = context.subject.member_id
    cap_key = _cap_key(rule, local, member_id) if rule.cap is not None else None
    budgeted = budget_key(rule) if rule.budget is not None else None
    if total > 0:
        if rule.cap_per_purchase is not None and allowed > rule.cap_per_purchase:
            allowed = Decimal(rule.cap_per_purchase)
            notes.append(f"capped at {rule.cap_per_purchase} per purchase")
        if cap_key is not None:
            assert rule.cap is not None and rule.cap_period is not None
            left = EXACT.subtract(Decimal(rule.cap), context.tally(cap_key).points)
            text = f"{rule.cap}/{rule.cap_period.value}"
            if left <= 0:
                return f"cap of {text} reached"
            if allowed > left:
                allowed = left
                notes.append(f"cap of {text}: {plain(left)} left")
        if budgeted is not None:
            assert rule.budget is not None
            left = EXACT.subtract(Decimal(rule.budget), context.tally(budgeted).points)
            if left <= 0:
                return f"campaign budget of {rule.budget} used up"
            if allowed > left:
                allowed = left
                notes.append(f"campaign budget of {rule.budget}: only {plain(left)} left")
    if allowed < total:
        if context.program.round_per is RoundPer.LINE:
            context.trimmed.add(rule.id)
        rows = rows + _trim(rule, rows, allowed, total, "; ".join(notes))
    deltas = dict(deltas)
    if allowed > 0:
        if cap_key is not None:
            deltas[cap_key] = Tally.of(0, allowed)
        if budgeted is not None:
            deltas[budgeted] = Tally.of(0, allowed)
    return Outcome(rule, rows, allowed, deltas)


def _trim(
    rule: Rule,
    rows: list[Row],
    allowed: Decimal,
    total: Decimal,
    note: str,
) -> list[Row]:
    """The negative rows that bring a rule down to ``allowed``.

    Spread over the lines that gained from the rule, pro rata, so later
    multipliers read capped lines, however the program rounds: when it rounds
    per line, a trimmed rule's rows are rounded together as one purchase-level
    group (``Context.trimmed``, :func:`loyalty.earning._finish`), so no share of
    the cut is rounded away line by line. One purchase-level row when the rule
    gave nothing per line.
    """
    cut = EXACT.subtract(total, allowed)
    gains = [row for row in rows if row[4] is not None and row[2] > 0]
    # A rule's rows are all per line or all for the purchase (no kind gives both).
    if not gains:
        return [(rule.id, rule.title, EXACT.minus(cut), note, None)]
    base = rows_points(gains)
    out: list[Row] = []
    given = _ZERO
    for n, row in enumerate(gains):
        share = (
            EXACT.subtract(cut, given)
            if n == len(gains) - 1
            else EXACT.divide(EXACT.multiply(cut, row[2]), base)
        )
        given = EXACT.add(given, share)
        out.append((rule.id, rule.title, EXACT.minus(share), note, row[4]))
    return out


def _not_multiplied(rule: Multiplier, listed: int, earned: int) -> str:
    """Why a multiplier added nothing: no matching line has a listed value of its label, none
    of those has points, or its factor is 1 on those that have."""
    if not listed:
        return f"no line with {rule.label}={'/'.join(rule.factors)}"
    if not earned:
        return "no points on the matching lines to multiply"
    return "a factor of 1 adds nothing"


def _ordinal(number: int) -> str:
    """``number`` as an English ordinal, as a receipt line says it: 1st, 2nd, 3rd, 4th, 11th, 22nd."""
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"
