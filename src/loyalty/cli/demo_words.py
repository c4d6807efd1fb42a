"""What ``loyalty demo`` says, in a merchant's words: the program, a member drifting away, a rate.

>>> from decimal import Decimal
>>> from loyalty import Program
>>> from loyalty.rules import PurchaseBonus
>>> back = PurchaseBonus(id="back", name="Welcome back", points=100, absent_days=21)
>>> print(describe(Program("Corner Shop", "EUR", rules=[back])))
Corner Shop (EUR). Members earn 1 point per 1.00 EUR spent; Welcome back: 100 points, on a shop
after 21 days away or more. Points never expire.
>>> percent(Decimal("0.8312"))
'83.1%'
"""

from __future__ import annotations

import textwrap
from decimal import Decimal

from loyalty.expiry import ExpiryPolicy
from loyalty.habits import AtRisk
from loyalty.program import Program
from loyalty.rules import Multiplier, Rule, SpendRule

WIDTH = 100


def percent(value: Decimal | None) -> str:
    """A share as a percentage with one decimal, ``-`` when there is none."""
    return "-" if value is None else f"{value * 100:.1f}%"


def _days(value: Decimal) -> str:
    whole = int(value.to_integral_value())
    return "a day" if whole == 1 else f"{whole} days"


def drifting(found: AtRisk) -> list[str]:
    """Why a member is at risk, in words, from :meth:`~loyalty.Engine.at_risk`'s reasons and figures
    (the reasons say which of the two signs the engine saw; the figures say it in a merchant's words).

    >>> from datetime import datetime, timezone
    >>> seen = datetime(2024, 12, 3, tzinfo=timezone.utc)
    >>> reasons = ("no visit for 24.2 days: 4.0 times the usual 6.1",
    ...            "spends 30.00 a month lately: 70% below the usual 100.00")
    >>> found = AtRisk("M1", reasons, seen, Decimal("24.2"), Decimal("6.1"), Decimal("30"), Decimal("100"))
    >>> for words in drifting(found):
    ...     print(words)
    used to come every 6 days, last seen 24 days ago
    spends 70% less than usual (30.00 a month, was 100.00)
    >>> gone = AtRisk("M2", reasons[1:], seen, Decimal("176"), Decimal("5"), Decimal("0"), Decimal("249.3"))
    >>> drifting(gone)
    ['has spent nothing lately (used to spend 249.30 a month)']
    """
    words = []
    for reason in found.reasons:
        if reason.startswith("no visit") and found.typical_gap_days > 0:
            gap, since = _days(found.typical_gap_days), _days(found.days_since)
            words.append(f"used to come every {gap}, last seen {since} ago")
        elif reason.startswith("spends") and found.baseline_spend > 0:
            recent, usual = found.recent_spend, found.baseline_spend
            fall = ((1 - recent / usual) * 100).quantize(Decimal(1))
            if recent > 0:
                words.append(f"spends {fall}% less than usual ({recent:.2f} a month, was {usual:.2f})")
            else:
                # "spends 100% less" reads as a figure; a merchant says it this way.
                words.append(f"has spent nothing lately (used to spend {usual:.2f} a month)")
        else:
            words.append(reason)
    return words


def _money(value: Decimal, currency: str) -> str:
    return f"{value:.2f} {currency}"


def rule_words(rule: Rule, currency: str) -> str:
    """One rule: what it gives, then on what and when."""
    if isinstance(rule, SpendRule):
        gives = f"{rule.points} point{'s' * (rule.points != 1)} per {_money(rule.per, currency)} spent"
    elif isinstance(rule, Multiplier):
        gives = (
            f"x{rule.factor.normalize():f} points"
            if rule.factor is not None
            else "points multiplied by label"
        )
    else:
        points: int = getattr(rule, "points", 0)
        gives = f"{points} points"
    what = []
    if rule.categories:
        what.append(f"on {', '.join(rule.categories)}")
    if rule.exclude_categories:
        what.append(f"not on {', '.join(rule.exclude_categories)}")
    if rule.min_amount is not None:
        what.append(f"on a shop of {_money(rule.min_amount, currency)} or more")
    if rule.absent_days is not None:
        what.append(f"on a shop after {rule.absent_days} days away or more")
    if rule.days:
        what.append(f"on {' and '.join(day.capitalize() for day in rule.days)}")
    if rule.hours:
        what.append(f"at {' and '.join(rule.hours)}")
    if rule.starts is not None or rule.ends is not None:
        what.append(f"from {rule.starts or 'the start'} to {rule.ends or 'further notice'}")
    if rule.cap is not None and rule.cap_period is not None:
        what.append(f"at most {rule.cap} points a {rule.cap_period.value}")
    if rule.budget is not None:
        what.append(f"while a budget of {rule.budget} points lasts")
    return ", ".join([f"{rule.name or rule.id}: {gives}", *what])


def describe(program: Program) -> str:
    """The program in one paragraph: how points are earned, tiers, expiry, referrals, their worth."""
    currency = program.currency
    earning = []
    if program.rate is not None:
        rate = program.rate
        plural = "s" * (rate.points != 1)
        earning.append(f"{rate.points} point{plural} per {_money(rate.per, currency)} spent")
    earning += [rule_words(rule, currency) for rule in program.rules]
    sentences = [f"{program.name} ({currency}).", f"Members earn {'; '.join(earning) or 'nothing yet'}."]
    if program.tiers is not None:
        tiers = program.tiers
        window = (
            f"over {tiers.months} months" if tiers.months else f"({tiers.window.value.replace('_', ' ')})"
        )
        unit = {"spend": f" {currency}", "points": " points", "visits": " visits"}.get(tiers.metric.value, "")
        levels = [tiers.levels[0].name or tiers.levels[0].id]
        for tier in tiers.levels[1:]:
            extras = []
            if tier.multiplier != 1:
                extras.append(f"x{tier.multiplier.normalize():f} points")
            if tier.bonus:
                extras.append(f"{tier.bonus} points on reaching it")
            level = f"{tier.name or tier.id} from {tier.threshold.normalize():f}{unit}"
            levels.append(level + (f" ({', '.join(extras)})" if extras else ""))
        sentences.append(f"Tiers by {tiers.metric.value} {window}: {', '.join(levels)}.")
    sentences.append(_expiry(program))
    if program.referrals is not None:
        terms = program.referrals
        paid = [f"the member who brought them {terms.referrer_points or terms.referrer_share} points"]
        paid.append(f"the friend {terms.referee_points or terms.referee_share} points")
        when = f" of {_money(terms.min_spend, currency)} or more" if terms.min_spend is not None else ""
        sentences.append(f"A friend's first shop{when} pays {' and '.join(paid)}.")
    if program.redemption.point_value is not None:
        sentences.append(f"A point is worth {_money(program.redemption.point_value, currency)} at the till.")
    return textwrap.fill(" ".join(sentences), WIDTH)


def _expiry(program: Program) -> str:
    expiry = program.expiry
    span = " and ".join(
        f"{n} {unit}{'s' * (n != 1)}" for n, unit in ((expiry.months, "month"), (expiry.days, "day")) if n
    )
    if expiry.policy is ExpiryPolicy.NONE:
        return "Points never expire."
    if expiry.policy is ExpiryPolicy.INACTIVITY:
        return f"Points expire after {span} without a visit."
    if expiry.policy is ExpiryPolicy.LIFETIME:
        return f"Points expire {span or 'at the end of the period'} after they are earned."
    return f"Points expire ({expiry.policy.value})."


def rule_name(program: Program, rule: str, name: str) -> str:
    """What gave the points, for the table of points per rule: a rule's name, or what a tier's or a
    referral's points are for (their entries carry ids such as ``tier-gold:bonus``).

    >>> rule_name(Program("Club", "EUR"), "referral:referee", "referral:referee")
    'Referrals: the friends'
    """
    if rule == "referral:referrer":
        return "Referrals: the members who brought a friend"
    if rule == "referral:referee":
        return "Referrals: the friends"
    tier_id, _, bonus = rule.removeprefix("tier-").partition(":")
    if rule.startswith("tier-") and program.tiers is not None:
        for tier in program.tiers.levels:
            if tier.id == tier_id:
                label = tier.name or tier.id
                return (
                    f"{label}: entry bonus" if bonus else f"{label}: x{tier.multiplier.normalize():f} points"
                )
    return name
