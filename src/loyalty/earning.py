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

from loyalty.checks import MAX_POINTS
from loyalty.conditions import (
    lines_reason,
    member_reason,
    place_reason,
    properties_reason,
    when_reason,
)
from loyalty.earning_gives import Context, Outcome, capped, give, give_event, merge, plain, rows_points
from loyalty.earning_keys import (
    _EPOCH,
    Event,
    _stamps_key,
    carry_key,
    redeemed_key,
    tally_keys,
    visits_key,
)
from loyalty.errors import CurrencyMismatch, PointsOverflow
from loyalty.habits import seen_key
from loyalty.members import Member
from loyalty.money import EXACT
from loyalty.program import EventCombination, Program, RoundPer
from loyalty.purchases import Purchase
from loyalty.receipts import Receipt
from loyalty.rules import EventRule, Rule, Scope, StampCard
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


def _redeemed_reason(days: int, context: Context, at: datetime) -> str | None:
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


def _absence_reason(days: int, context: Context, at: datetime) -> str | None:
    last = context.tally(seen_key(context.subject.member_id)).points
    if not last:
        return f"only for members back after {days} days away; no earlier visit"
    away = at - (_EPOCH + timedelta(microseconds=int(last)))
    if away < timedelta(0):
        # Only the latest visit is kept: one after this (late) purchase says nothing of before.
        return f"only for members back after {days} days away; the last visit was after this purchase"
    if away < timedelta(days=days):
        return f"only for members back after {days} days away; last visit {away.days} days before"
    return None


# -- evaluation ------------------------------------------------------------------------------


def _sum(values: Iterable[Decimal]) -> Decimal:
    # Always in the exact context: the caller's may trap or round.
    total = _ZERO
    add = EXACT.add
    for value in values:
        total = add(total, value)
    return total


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
    context = Context(program, purchase, member, tallies or {}, explain, selection)
    _run(context, rules, best_of=False)
    if explain:
        # The other rules cannot apply to these lines; each still says why not.
        chosen = set(map(id, rules))
        for rule in program.index.ordered:
            if id(rule) not in chosen:
                reason = _apply(context, rule)
                why = reason if isinstance(reason, str) else lines_reason(rule, purchase.lines)
                context.skip(rule, why)
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
    context = Context(program, event, member, tallies or {}, explain, selection)
    _run(context, rules, best_of=program.events is EventCombination.BEST)
    if explain:
        for rule in program.index.ordered:
            context.skip(rule, "only for purchases")
    return _finish(context, event.id, None, event.name, balance_before)


def _run(context: Context, rules: Sequence[Rule], *, best_of: bool) -> None:
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


def _best_of_group(context: Context, members: list[Rule], label: str) -> Outcome | None:
    """Keep the group member giving the most points (the first on a tie); explain the others."""
    outcomes = [(rule, _apply(context, rule)) for rule in members]
    best: Outcome | None = None
    for _, outcome in outcomes:
        if isinstance(outcome, Outcome) and (best is None or outcome.total > best.total):
            best = outcome
    for rule, outcome in outcomes:
        if isinstance(outcome, str):
            context.skip(rule, outcome)
        elif outcome is not best:
            assert best is not None
            verdict = "gives more" if best.total > outcome.total else "gives as much and comes first"
            context.skip(rule, f"{label}: {best.rule.title} {verdict} ({plain(best.total)})")
            if isinstance(rule, StampCard):
                # A visit counts on the card even when another rule of its group wins;
                # its cap and budget are not touched, as it gave nothing.
                key = _stamps_key(rule, context.subject.member_id)
                merge(context.deltas, {key: outcome.tallies[key]})
    if best is None:
        return None
    context.keep(best)
    return best


def _apply(context: Context, rule: Rule) -> Outcome | str:
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
                return lines_reason(rule, lines)
        else:
            matching = context.every_line
        if rule.min_amount is not None or rule.min_quantity is not None:
            reason = _minimum_reason(context, rule, matching)
            if reason:
                return reason
        result = give(context, rule, matching, local)
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
        result = give_event(context, rule, local)
    if isinstance(result, str):
        return result
    rows, deltas = result
    if not rule._limited:
        return Outcome(rule, rows, rows_points(rows), deltas)
    return capped(context, rule, local, rows, deltas)


def _minimum_reason(context: Context, rule: Rule, matching: list[int]) -> str | None:
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


def _finish(
    context: Context, source_id: str, amount: Any, event: str | None, balance_before: int | None
) -> Evaluation:
    program = context.program
    member_id = context.subject.member_id
    carried_in = context.tally(carry_key(member_id)).points if program.carry else _ZERO
    mode = program.rounding.decimal_mode
    if program.round_per is RoundPer.LINE:
        groups: dict[int | None, Decimal] = {}
        trimmed = context.trimmed
        for rule, _, points, _, line in context.breakdown:
            key = None if rule in trimmed else line
            groups[key] = EXACT.add(groups.get(key, _ZERO), points)
        groups[None] = EXACT.add(groups.get(None, _ZERO), carried_in)
        units = 0
        for key, value in groups.items():
            whole, groups[key] = _rounded(value, mode)
            units += whole
        exact_total = _sum(groups.values()) if len(groups) > 1 else next(iter(groups.values()))
    else:
        # One group, the whole purchase: the common case, without the bookkeeping of groups.
        units, exact_total = _rounded(EXACT.add(rows_points(context.breakdown), carried_in), mode)
    # No rule takes points away on balance: a total below zero can only be rounding.
    units = max(0, units)
    if units > MAX_POINTS:
        raise PointsOverflow("lines", f"the purchase would earn {units} units, beyond the 64-bit range")
    adjustment = EXACT.subtract(Decimal(units), exact_total)
    carried_out = EXACT.minus(adjustment) if program.carry else _ZERO
    if program.carry and carried_out != carried_in:
        merge(context.deltas, {carry_key(member_id): Tally.of(0, EXACT.subtract(carried_out, carried_in))})
    # The breakdown stays rows until a caller reads it (a recorded purchase keeps the rows as
    # text; most callers read the points only).
    receipt = Receipt.of_rows(
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
