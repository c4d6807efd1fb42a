"""How a purchase or event earns points: the program's rules, evaluated by pure functions.

Rules run in a fixed order: spend rules, then multipliers (on the points the
lines have by then), then fixed bonuses; within each, higher ``priority``
first, then as listed. A rule flagged ``stop`` that fires skips every rule
after it; of the rules sharing an exclusive ``group`` only the one giving the
most points is kept. Caps and budgets then trim what a rule gives. The exact
total is rounded once (or per line) into the program's integer units.

What a rule needs to know about the past (visits so far, points a capped rule
gave this month, what is left of a campaign budget, a carried fraction) comes
in as *tallies* read by the engine; the evaluation returns the tally changes
it implies, so the engine can write them in the same unit of work.

>>> from datetime import datetime, timezone
>>> from decimal import ROUND_FLOOR, Decimal
>>> from loyalty.program import EarnRate, Program
>>> from loyalty.purchases import Line, Purchase
>>> from loyalty.rules import Multiplier
>>> program = Program("Club", "EUR", rate=EarnRate(1, Decimal("1.00")),
...                   rules=[Multiplier(id="cake-x2", name="Cake week", factor=2, categories=["cake"])])
>>> sale = Purchase("T1-42", "M1", datetime(2024, 3, 1, 9, 30, tzinfo=timezone.utc),
...                 [Line("coffee", 2, Decimal("3.40")), Line("tart", 1, Decimal("4.15"), category="cake")],
...                 "EUR")
>>> receipt = earn(program, sale)
>>> receipt.points
15
>>> print(receipt.render())
Purchase T1-42: 10.95 EUR
  base (1 point per 1.00 EUR on coffee 6.80) +6.80
  base (1 point per 1.00 EUR on tart 4.15)   +4.15
  Cake week (x2 on tart)                     +4.15
  rounding (floor)                           -0.10
  points earned                                 15
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from types import MappingProxyType
from typing import Any

import attrs

from loyalty.blocks import count_blocks
from loyalty.checks import MAX_POINTS
from loyalty.compiled import Selection
from loyalty.conditions import (
    birthday_in,
    lines_reason,
    member_reason,
    place_reason,
    properties_reason,
    when_reason,
)
from loyalty.earning_keys import (
    _EPOCH,
    Event,
    _birthday_key,
    _birthday_year,
    _budget_key,
    _cap_key,
    _limit_key,
    _stamps_key,
    carry_key,
    redeemed_key,
    tally_keys,
    visits_key,
)
from loyalty.errors import CurrencyMismatch, PointsOverflow
from loyalty.habits import seen_key
from loyalty.members import Member
from loyalty.money import CURRENCY_MINOR_UNITS, EXACT, Money
from loyalty.program import EventCombination, Program, RoundPer, TaxBasis
from loyalty.purchases import Purchase
from loyalty.receipts import Contribution, Receipt, Skipped
from loyalty.rules import (
    BirthdayBonus,
    EventRule,
    FirstPurchase,
    Multiplier,
    ProductBonus,
    PurchaseBonus,
    Rule,
    Scope,
    SpendRule,
    StampCard,
    UnitBonus,
)
from loyalty.tallies import Tally

__all__ = ["Evaluation", "Event", "earn", "evaluate", "evaluate_event", "tally_keys"]

_ZERO = Decimal(0)
_ONE = Decimal(1)
_NO_TALLY = Tally()
_ONE_VISIT = Tally(1, _ZERO)
_TOLERANCE = Decimal("1E-18")


@attrs.frozen
class Evaluation:
    """A receipt and the tally changes that recording it implies."""

    receipt: Receipt
    tallies: Mapping[str, Tally]


def _redeemed_reason(days: int, context: _Context, at: datetime) -> str | None:
    last = context.tally(redeemed_key(context.subject.member_id)).points
    if not last:
        return f"only for members who redeemed in the last {days} days; never redeemed"
    when = _EPOCH + timedelta(microseconds=int(last))
    if when > at:
        # Only the latest redemption is kept: one after this (late) purchase says nothing of before.
        return f"only for members who redeemed in the last {days} days; the last was after this purchase"
    if at - when > timedelta(days=days):
        return f"only for members who redeemed in the last {days} days; last on {when.date().isoformat()}"
    return None


def _absence_reason(days: int, context: _Context, at: datetime) -> str | None:
    last = context.tally(seen_key(context.subject.member_id)).points
    if not last:
        return f"only for members back after {days} days away; no earlier visit"
    away = at - (_EPOCH + timedelta(microseconds=int(last)))
    if away < timedelta(days=days):
        return f"only for members back after {days} days away; last visit {away.days} days before"
    return None


# -- evaluation ------------------------------------------------------------------------------


@attrs.frozen
class _Outcome:
    """What one rule would give, before it is kept."""

    rule: Rule
    contributions: tuple[Contribution, ...]
    total: Decimal
    tallies: Mapping[str, Tally]


class _Context:
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
        self.breakdown: list[Contribution] = []
        self.skipped: list[Skipped] = []
        self.deltas: dict[str, Tally] = {}
        # Rules cut by a cap under per-line rounding: their rows round as one
        # purchase-level group, so lines rounded up cannot carry them past the cap.
        self.trimmed: set[str] = set()
        if isinstance(subject, Purchase):
            exclusive = program.tax is TaxBasis.EXCLUSIVE
            self.basis = [
                EXACT.subtract(line.amount, line.tax) if exclusive and line.tax else line.amount
                for line in subject.lines
            ]
            self.line_points = [_ZERO] * len(subject.lines)
            self.every_line = list(range(len(subject.lines)))

    def tally(self, key: str) -> Tally:
        return self.tallies.get(key, _NO_TALLY)

    def skip(self, rule: Rule, reason: str) -> None:
        if self.explain:
            self.skipped.append(Skipped(rule.id, rule.title, reason))

    def keep(self, outcome: _Outcome) -> None:
        self.breakdown += outcome.contributions
        for contribution in outcome.contributions:
            if contribution.line is not None:
                self.line_points[contribution.line] = EXACT.add(
                    self.line_points[contribution.line], contribution.points
                )
        _merge(self.deltas, outcome.tallies)


def _sum(values: Iterable[Decimal]) -> Decimal:
    # Always in the exact context: the caller's may trap or round.
    total = _ZERO
    add = EXACT.add
    for value in values:
        total = add(total, value)
    return total


def _points(contributions: Iterable[Contribution]) -> Decimal:
    total = _ZERO
    add = EXACT.add
    for contribution in contributions:
        total = add(total, contribution.points)
    return total


def _merge(into: dict[str, Tally], deltas: Mapping[str, Tally]) -> None:
    for key, delta in deltas.items():
        old = into.get(key, _NO_TALLY)
        into[key] = Tally.of(old.count + delta.count, EXACT.add(old.points, delta.points))


def evaluate(
    program: Program,
    purchase: Purchase,
    *,
    member: Member | None = None,
    tallies: Mapping[str, Tally] | None = None,
    explain: bool = False,
    balance_before: int | None = None,
) -> Evaluation:
    """Points ``purchase`` earns under ``program`` given the member's ``tallies``. Writes nothing.

    With ``explain`` every rule of the program is looked at, and those that
    give nothing are listed in ``receipt.skipped`` with their reason;
    without it, only the rules that can apply to the purchase's lines are.
    """
    if purchase.currency != program.currency:
        raise CurrencyMismatch(
            "currency",
            f"purchase is in {purchase.currency} but program {program.name!r} runs in {program.currency}",
        )
    index = program.index
    selection = index.select(purchase)
    # An explanation walks the rules by their lines only, so each rule left out gives its own reason.
    rules = index.candidates(purchase.lines) if explain else selection.rules
    context = _Context(program, purchase, member, tallies or {}, explain, selection)
    _run(context, rules, best_of=False)
    if explain:
        # The other rules cannot apply to these lines; each still says why not.
        chosen = set(map(id, rules))
        for rule in program.index.ordered:
            if id(rule) not in chosen:
                reason = _apply(context, rule)
                context.skip(rule, reason if isinstance(reason, str) else lines_reason(rule))
        position = program.index.position
        context.skipped.sort(key=lambda skipped: position.get(skipped.rule, len(position)))
        for rule in program.index.ordered_events:
            context.skip(rule, f"only for event {rule.event}")
    visits = visits_key(purchase.member_id)
    context.deltas[visits] = _ONE_VISIT  # no rule writes this key
    return _finish(context, purchase.id, purchase.total, None, balance_before)


def earn(
    program: Program,
    purchase: Purchase,
    *,
    member: Member | None = None,
    tallies: Mapping[str, Tally] | None = None,
    balance_before: int | None = None,
    explain: bool = False,
) -> Receipt:
    """The receipt of :func:`evaluate`; with ``balance_before`` its ``balance_after`` is filled in."""
    return evaluate(
        program, purchase, member=member, tallies=tallies, explain=explain, balance_before=balance_before
    ).receipt


def evaluate_event(
    program: Program,
    event: Event,
    *,
    member: Member | None = None,
    tallies: Mapping[str, Tally] | None = None,
    explain: bool = False,
    balance_before: int | None = None,
) -> Evaluation:
    """Points ``event`` earns: the program's event rules for its name, summed or best-of."""
    selection = program.index.select(event)
    rules: Sequence[Rule] = program.index.ordered_events if explain else selection.rules
    context = _Context(program, event, member, tallies or {}, explain, selection)
    _run(context, rules, best_of=program.events is EventCombination.BEST)
    if explain:
        for rule in program.index.ordered:
            context.skip(rule, "only for purchases")
    return _finish(context, event.id, None, event.name, balance_before)


def _run(context: _Context, rules: Sequence[Rule], *, best_of: bool) -> None:
    """Apply ``rules`` in order, honouring stop flags and exclusive groups.

    A group is decided where its last member comes up, so every member is
    evaluated after everything ranked before it (a grouped multiplier sees
    every spend rule). Members ranked after a stop that fired are out.
    """
    last: dict[str, int] = {}
    for i, rule in enumerate(rules):
        group = _BEST if best_of else rule.group
        if group is not None:
            last[group] = i
    contenders: dict[str, list[Rule]] = {}
    stopped_by: Rule | None = None
    for i, rule in enumerate(rules):
        group = _BEST if best_of else rule.group
        if stopped_by is not None:
            context.skip(rule, f"stopped by {stopped_by.title}")
            continue
        if group is None:
            outcome = _apply(context, rule)
            if isinstance(outcome, str):
                context.skip(rule, outcome)
                continue
            context.keep(outcome)
        else:
            contenders.setdefault(group, []).append(rule)
            if i != last[group]:
                continue
            winner = _best_of_group(
                context, contenders.pop(group), "best-of" if best_of else f"group {group}"
            )
            if winner is None:
                continue
            outcome = winner
        # "Stop" only when the rule actually gave points.
        if outcome.rule.stop and outcome.total > 0:
            stopped_by = outcome.rule
            # Groups still waiting for a later member are decided among those before the stop.
            for group, members in contenders.items():
                _best_of_group(context, members, "best-of" if best_of else f"group {group}")
            contenders.clear()


_BEST = "\x00best"


def _best_of_group(context: _Context, members: list[Rule], label: str) -> _Outcome | None:
    """Keep the group member giving the most points (the first on a tie); explain the others."""
    outcomes = [(rule, _apply(context, rule)) for rule in members]
    best: _Outcome | None = None
    for _, outcome in outcomes:
        if isinstance(outcome, _Outcome) and (best is None or outcome.total > best.total):
            best = outcome
    for rule, outcome in outcomes:
        if isinstance(outcome, str):
            context.skip(rule, outcome)
        elif outcome is not best:
            assert best is not None
            verdict = "gives more" if best.total > outcome.total else "gives as much and comes first"
            context.skip(rule, f"{label}: {best.rule.title} {verdict} ({_plain(best.total)})")
            if isinstance(rule, StampCard):
                # A visit counts on the card even when another rule of its group wins;
                # its cap and budget are not touched, as it gave nothing.
                key = _stamps_key(rule, context.subject.member_id)
                _merge(context.deltas, {key: outcome.tallies[key]})
    if best is None:
        return None
    context.keep(best)
    return best


def _apply(context: _Context, rule: Rule) -> _Outcome | str:
    """What ``rule`` would give now, or why it gives nothing."""
    subject = context.subject
    local = context.selection.local(rule) if rule._local else subject.at
    if rule._timed:
        reason = when_reason(rule, local)
        if reason:
            return reason
    if rule._segmented:
        reason = member_reason(rule, context.member)
        if reason:
            return reason
        if rule.redeemed_within_days is not None:
            reason = _redeemed_reason(rule.redeemed_within_days, context, subject.at)
            if reason:
                return reason
        if rule.absent_days is not None:
            reason = _absence_reason(rule.absent_days, context, subject.at)
            if reason:
                return reason
    if isinstance(subject, Purchase):
        if rule._placed:
            reason = place_reason(rule, subject.store_id, subject.channel, subject.terminal_id)
            if reason:
                return reason
        if isinstance(rule, EventRule):
            return f"only for event {rule.event}"
        lines = subject.lines
        if rule._lined:
            matches = rule._matches
            matching = [i for i, line in enumerate(lines) if matches(line)]
            if not matching:
                return lines_reason(rule)
        else:
            matching = context.every_line
        if rule.min_amount is not None or rule.min_quantity is not None:
            reason = _minimum_reason(context, rule, matching)
            if reason:
                return reason
        result = _give(context, rule, matching, local)
    else:
        if not isinstance(rule, EventRule):
            return "only for purchases"
        if rule.event != subject.name:
            return f"only for event {rule.event}"
        reason = place_reason(rule, None, None, None) or properties_reason(
            rule.properties, subject.properties
        )
        if reason:
            return reason
        result = _give_event(context, rule, local)
    if isinstance(result, str):
        return result
    contributions, deltas = result
    if not rule._limited:
        total = _points(contributions)
        return _Outcome(rule, tuple(contributions), total, deltas)
    return _capped(context, rule, local, contributions, deltas)


def _minimum_reason(context: _Context, rule: Rule, matching: list[int]) -> str | None:
    if rule.min_amount is None and rule.min_quantity is None:
        return None
    assert isinstance(context.subject, Purchase)
    lines = context.subject.lines
    chosen = matching if rule.minimum_scope is Scope.LINES else range(len(lines))
    where = " on the matching lines" if rule.minimum_scope is Scope.LINES else ""
    if rule.min_amount is not None:
        amount = _sum(context.basis[i] for i in chosen)
        if amount < rule.min_amount:
            return f"minimum order {rule.min_amount} not met{where}: {amount}"
    if rule.min_quantity is not None:
        quantity = _sum(Decimal(lines[i].quantity) for i in chosen)
        if quantity < rule.min_quantity:
            return f"minimum quantity {rule.min_quantity} not met{where}: {quantity}"
    return None


_Given = tuple[list[Contribution], dict[str, Tally]] | str


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


def _give(context: _Context, rule: Rule, matching: list[int], local: datetime) -> _Given:
    """The kind-specific part: what a purchase rule gives on its matching lines."""
    subject = context.subject
    assert isinstance(subject, Purchase)
    lines, name, currency = subject.lines, rule.title, subject.currency
    out: list[Contribution] = []
    deltas: dict[str, Tally] = {}
    if isinstance(rule, SpendRule):
        # A slip shows points as the program does (scale 2: 100 is "1.00 point").
        figure = context.program.format_points(rule.points)
        unit = "point" if Decimal(figure) == 1 else "points"
        prefix = f"{figure} {unit} per {rule.per} {currency} on "
        if rule.whole_blocks:
            return _blocks(context, rule, matching, prefix)
        basis_of, exact_rate, rid, multiply = context.basis, rule.rate, rule.id, EXACT.multiply
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
            detail = f"{prefix}{lines[i].sku} {_as_money(basis, currency)}"
            out.append(Contribution(rid, name, raw, detail, i))
    elif isinstance(rule, Multiplier):
        for i in matching:
            had = context.line_points[i]
            factor = rule.factor
            if factor is None:
                value = lines[i].labels.get(rule.label or "")
                factor = rule.factors.get(value) if value is not None else None
                if factor is None:
                    continue
            if not had or factor == _ONE:
                continue
            extra = EXACT.multiply(had, EXACT.subtract(factor, _ONE))
            out.append(Contribution(rule.id, name, extra, f"x{factor} on {lines[i].sku}", i))
        if not out:
            return "no points on the matching lines to multiply"
    elif isinstance(rule, UnitBonus):
        for i in matching:
            units = int(lines[i].quantity)  # whole units: 2.5 kg is 2 units
            if units:
                points = Decimal(rule.points * units)  # exact: an int
                figure = context.program.format_points(rule.points)
                out.append(Contribution(rule.id, name, points, f"{figure} x {units} {lines[i].sku}", i))
        if not out:
            return "no whole unit on the matching lines"
    elif isinstance(rule, PurchaseBonus | ProductBonus):
        what = "purchase" if isinstance(rule, PurchaseBonus) else f"bought {lines[matching[0]].sku}"
        out.append(Contribution(rule.id, name, Decimal(rule.points), what))
    elif isinstance(rule, FirstPurchase):
        before = context.tally(visits_key(subject.member_id)).count
        if before:
            return f"not the member's first purchase ({before} before)"
        out.append(Contribution(rule.id, name, Decimal(rule.points), "first purchase"))
    elif isinstance(rule, StampCard):
        key = _stamps_key(rule, subject.member_id)
        visit = context.tally(key).count + 1
        deltas[key] = Tally(1, _ZERO)
        if visit % rule.every:
            # The stamp is still collected: the caller keeps the delta only if the rule is kept,
            # so a visit that earns no bonus yet is returned as a zero contribution.
            out.append(Contribution(rule.id, name, _ZERO, f"stamp {visit % rule.every} of {rule.every}"))
        else:
            out.append(
                Contribution(rule.id, name, Decimal(rule.points), f"visit {visit}: every {rule.every}th")
            )
    elif isinstance(rule, BirthdayBonus):
        return _birthday(context, rule, local)
    else:  # pragma: no cover - every purchase rule kind is handled above
        raise AssertionError(f"unhandled rule kind {type(rule).__name__}")
    return out, deltas


def _blocks(context: _Context, rule: SpendRule, matching: list[int], prefix: str) -> _Given:
    """A whole-block spend rule: its blocks' points, one row per line by its share of them."""
    subject = context.subject
    assert isinstance(subject, Purchase)
    currency, lines = subject.currency, subject.lines
    counted = count_blocks(rule.points, rule.per, context.basis, matching)
    total = _as_money(counted.amount, currency)
    if not counted.blocks:
        return f"no whole {rule.per} {currency} in {total}"
    many = "block" if counted.blocks == 1 else "blocks"
    out = [
        Contribution(
            rule.id,
            rule.title,
            share,
            f"{prefix}{lines[i].sku} {_as_money(context.basis[i], currency)}, "
            f"{counted.blocks} whole {many} in {total}",
            i,
        )
        for i, share in counted.shares
    ]
    return out, {}


def _birthday(context: _Context, rule: BirthdayBonus, local: datetime) -> _Given:
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
    return [Contribution(rule.id, rule.title, Decimal(rule.points), detail)], {key: Tally(1, _ZERO)}


def _give_event(context: _Context, rule: EventRule, local: datetime) -> _Given:
    deltas: dict[str, Tally] = {}
    if rule.limit is not None:
        assert rule.limit_period is not None
        key = _limit_key(rule, local, context.subject.member_id)
        if context.tally(key).count >= rule.limit:
            per = "ever" if rule.limit_period.value == "ever" else f"per {rule.limit_period.value}"
            return f"limit of {rule.limit} {per} reached"
        deltas[key] = Tally(1, _ZERO)
    return [Contribution(rule.id, rule.title, Decimal(rule.points), rule.event)], deltas


def _capped(
    context: _Context,
    rule: Rule,
    local: datetime,
    contributions: list[Contribution],
    deltas: dict[str, Tally],
) -> _Outcome | str:
    """Apply the rule's caps and budget to what it would give."""
    total = _points(contributions)
    allowed, notes = total, []
    member_id = context.subject.member_id
    cap_key = _cap_key(rule, local, member_id) if rule.cap is not None else None
    budget_key = _budget_key(rule) if rule.budget is not None else None
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
                notes.append(f"cap of {text}: {_plain(left)} left")
        if budget_key is not None:
            assert rule.budget is not None
            left = EXACT.subtract(Decimal(rule.budget), context.tally(budget_key).points)
            if left <= 0:
                return f"campaign budget of {rule.budget} used up"
            if allowed > left:
                allowed = left
                notes.append(f"campaign budget of {rule.budget}: only {_plain(left)} left")
    if allowed < total:
        per_line = context.program.round_per is RoundPer.LINE
        if per_line:
            context.trimmed.add(rule.id)
        contributions = contributions + _trim(rule, contributions, allowed, total, "; ".join(notes), per_line)
    deltas = dict(deltas)
    if allowed > 0:
        if cap_key is not None:
            deltas[cap_key] = Tally(0, allowed)
        if budget_key is not None:
            deltas[budget_key] = Tally(0, allowed)
    return _Outcome(rule, tuple(contributions), allowed, MappingProxyType(deltas))


def _trim(
    rule: Rule,
    contributions: list[Contribution],
    allowed: Decimal,
    total: Decimal,
    note: str,
    per_line: bool,
) -> list[Contribution]:
    """The negative rows that bring a rule down to ``allowed``.

    Spread over the lines that gained from the rule, pro rata, so later
    multipliers read capped lines; one purchase-level row when the program
    rounds per line (a cut spread as fractions would be rounded away) or the
    rule gave nothing per line.
    """
    cut = EXACT.subtract(total, allowed)
    gains = [c for c in contributions if c.line is not None and c.points > 0]
    if per_line or not gains or any(c.line is None and c.points for c in contributions):
        return [Contribution(rule.id, rule.title, EXACT.minus(cut), note)]
    base = _points(gains)
    rows, given = [], _ZERO
    for n, c in enumerate(gains):
        share = (
            EXACT.subtract(cut, given)
            if n == len(gains) - 1
            else EXACT.divide(EXACT.multiply(cut, c.points), base)
        )
        given = EXACT.add(given, share)
        rows.append(Contribution(rule.id, rule.title, EXACT.minus(share), note, c.line))
    return rows


def _finish(
    context: _Context, source_id: str, amount: Any, event: str | None, balance_before: int | None
) -> Evaluation:
    program = context.program
    member_id = context.subject.member_id
    carried_in = context.tally(carry_key(member_id)).points if program.carry else _ZERO
    mode = program.rounding.decimal_mode
    if program.round_per is RoundPer.LINE:
        groups: dict[int | None, Decimal] = {}
        trimmed = context.trimmed
        for c in context.breakdown:
            line = None if c.rule in trimmed else c.line
            groups[line] = EXACT.add(groups.get(line, _ZERO), c.points)
        groups[None] = EXACT.add(groups.get(None, _ZERO), carried_in)
        units = 0
        for key, value in groups.items():
            whole, groups[key] = _rounded(value, mode)
            units += whole
        exact_total = _sum(groups.values()) if len(groups) > 1 else next(iter(groups.values()))
    else:
        # One group, the whole purchase: the common case, without the bookkeeping of groups.
        units, exact_total = _rounded(EXACT.add(_points(context.breakdown), carried_in), mode)
    # No rule takes points away on balance: a total below zero can only be rounding.
    units = max(0, units)
    if units > MAX_POINTS:
        raise PointsOverflow("lines", f"the purchase would earn {units} units, beyond the 64-bit range")
    adjustment = EXACT.subtract(Decimal(units), exact_total)
    carried_out = EXACT.minus(adjustment) if program.carry else _ZERO
    if program.carry and carried_out != carried_in:
        _merge(context.deltas, {carry_key(member_id): Tally.of(0, EXACT.subtract(carried_out, carried_in))})
    # Positional, in the fields' order (source_id, member_id, occurred_at, amount, points,
    # breakdown, rounding, rounding_adjustment, balance_after, skipped, program_version, scale,
    # carried_in, carried_out, event): made on every purchase.
    receipt = Receipt(
        source_id,
        member_id,
        context.subject.at,
        amount,
        units,
        tuple(context.breakdown),
        program.rounding,
        adjustment,
        None if balance_before is None else balance_before + units,
        tuple(context.skipped),
        program.version,
        program.scale,
        carried_in,
        carried_out,
        event,
    )
    return Evaluation(receipt, MappingProxyType(context.deltas))


def _rounded(value: Decimal, mode: str) -> tuple[int, Decimal]:
    """``value`` (exact points) in whole points by ``mode``, and the exact value it is taken to
    be (itself, or the whole point it is within 10**-18 of)."""
    # An inexact division (1 point per 3.00) leaves 1/3 + 1/3 + 1/3 at
    # 0.99...9, not 1: a value within 10**-18 of a whole point is that point.
    nearest = value.to_integral_value(context=EXACT)
    if nearest != value and EXACT.abs(EXACT.subtract(value, nearest)) <= _TOLERANCE:
        value = nearest
    # Purchase-level rows can be negative (a cap's cut when rounding per
    # line, a carried deficit): round those down, so no cap is exceeded.
    rounding = mode if value >= 0 else ROUND_FLOOR
    return int(value.to_integral_value(rounding=rounding, context=EXACT)), value


def _plain(value: Decimal) -> str:
    return str(int(value)) if value == value.to_integral_value() else str(value)
