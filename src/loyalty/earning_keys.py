"""What an evaluation reads and is about (:mod:`loyalty.earning`): the non-purchase :class:`Event`,
and the tally keys a purchase or event reads and writes, found before the store is asked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType

import attrs

from loyalty.checks import check_aware, check_id, validates
from loyalty.compiled import Selection
from loyalty.conditions import (
    birthday_in,
)
from loyalty.errors import InvalidInput
from loyalty.habits import micros, seen_key
from loyalty.members import AttributeValue, Member
from loyalty.program import Program
from loyalty.purchases import Purchase
from loyalty.returns import owed_key
from loyalty.rules import (
    BirthdayBonus,
    EventRule,
    Rule,
    StampCard,
)

_NO_PROPERTIES: Mapping[str, AttributeValue] = MappingProxyType({})


def _freeze_properties(value: Mapping[str, AttributeValue] | None) -> Mapping[str, AttributeValue]:
    if value is None:
        return _NO_PROPERTIES
    if not isinstance(value, Mapping):
        raise InvalidInput("properties", f"must be a mapping, not {type(value).__name__}")
    for key, item in value.items():
        check_id("properties", key)
        if not isinstance(item, str | int | bool):
            raise InvalidInput(f"properties[{key!r}]", f"must be str, int or bool, not {type(item).__name__}")
        if isinstance(item, str):
            check_id(f"properties[{key!r}]", item)
    return MappingProxyType(dict(sorted(value.items())))


@attrs.frozen
class Event:
    """Something a member did that is not a purchase (``survey_completed``), at the till's time."""

    id: str = attrs.field(validator=validates(check_id, "id"))
    member_id: str = attrs.field(validator=validates(check_id, "member_id"))
    name: str = attrs.field(validator=validates(check_id, "name"))
    at: datetime = attrs.field(validator=validates(check_aware, "at"))
    properties: Mapping[str, AttributeValue] = attrs.field(
        default=None, converter=_freeze_properties, hash=False
    )


# -- tally keys ------------------------------------------------------------------------------
# Member ids come last: they are the only part that may contain the separator.


#: The event an enrollment is: event rules for it are a sign-up bonus, paid by
#: :meth:`loyalty.Engine.enroll` itself (a till may not record it).
ENROLLED = "enrolled"


def visits_key(member_id: str) -> str:
    return f"visits|{member_id}"


def carry_key(member_id: str) -> str:
    return f"carry|{member_id}"


def _cap_key(rule: Rule, local: datetime, member_id: str) -> str:
    assert rule.cap_period is not None
    return f"cap|{rule.id}|{rule.cap_period.key(local)}|{member_id}"


def budget_key(rule: Rule) -> str:
    return f"budget|{rule.id}"


def _stamps_key(rule: Rule, member_id: str) -> str:
    return f"stamps|{rule.id}|{member_id}"


def _birthday_key(rule: Rule, year: int, member_id: str) -> str:
    return f"birthday|{rule.id}|{year}|{member_id}"


def _limit_key(rule: EventRule, local: datetime, member_id: str) -> str:
    assert rule.limit_period is not None
    return f"events|{rule.id}|{rule.limit_period.key(local)}|{member_id}"


def tally_keys(
    program: Program, subject: Purchase | Event, member: Member | None, *, explain: bool = False
) -> tuple[list[str], list[str]]:
    """The tallies evaluating ``subject`` reads: (the member's own, those shared by all members).

    The member's own tallies are protected by the lock the engine already
    holds on the member's balance; shared ones (campaign budgets) must be
    read for update. With ``explain``, those the explanation's rules read too.
    """
    own: list[str] = []
    shared: list[str] = []
    member_id = subject.member_id
    selection = program.index.select(subject)
    rules: Sequence[Rule] = selection.rules
    if isinstance(subject, Purchase):
        own.append(visits_key(member_id))
        if explain:
            rules = program.index.candidates(subject.lines)
    if program.carry:
        own.append(carry_key(member_id))
    for rule in rules:
        if rule.cap is not None:
            own.append(_cap_key(rule, selection.local(rule), member_id))
        if rule.budget is not None:
            shared.append(budget_key(rule))
        if isinstance(rule, StampCard):
            own.append(_stamps_key(rule, member_id))
        elif isinstance(rule, BirthdayBonus) and member is not None and member.birthday is not None:
            year = _birthday_year(selection, rule, member.birthday)
            if year is not None:
                own.append(_birthday_key(rule, year, member_id))
        elif isinstance(rule, EventRule) and rule.limit is not None:
            own.append(_limit_key(rule, selection.local(rule), member_id))
        if rule.redeemed_within_days is not None:
            own.append(redeemed_key(member_id))
        if rule.absent_days is not None:
            own.append(seen_key(member_id))
    return own, shared


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def redeemed_key(member_id: str) -> str:
    """The tally whose points are the time of the member's last redemption, in microseconds since 1970."""
    return f"redeemed|{member_id}"


def epoch_micros(at: datetime) -> int:
    """``at`` as whole microseconds since 1970 (UTC), exactly."""
    return micros(at)


def _birthday_year(selection: Selection, rule: BirthdayBonus, birthday: date) -> int | None:
    """The year whose birthday window holds the subject's day, once per purchase and rule."""
    key = (rule.id, birthday)
    memo = selection.birthdays
    if key in memo:
        return memo[key]
    today = selection.local(rule).date()
    found = None
    for year in (today.year, today.year - 1, today.year + 1):
        day = birthday_in(year, birthday)
        if day - timedelta(days=rule.days_before) <= today <= day + timedelta(days=rule.days_after):
            found = year
            break
    memo[key] = found
    return found


def member_keys(program: Program, member_id: str, years: Sequence[int]) -> list[str]:
    """The member's own tallies ``program``'s rules read outside a period (visits, carried
    fractions, stamps, last redemption and visit), its birthday bonuses of ``years`` and the
    points returns left it owing (collected from its later earnings): what an export carries so
    that the member is paid no first-purchase or birthday bonus twice, and still owes its debt."""
    keys = [visits_key(member_id), carry_key(member_id), redeemed_key(member_id), seen_key(member_id)]
    keys.append(owed_key(member_id))
    for rule in program.rules:
        if isinstance(rule, StampCard):
            keys.append(_stamps_key(rule, member_id))
        elif isinstance(rule, BirthdayBonus):
            keys.extend(_birthday_key(rule, year, member_id) for year in years)
    return keys


def member_kind(key: str) -> str:
    """The kind of a member's own tally (``visits``, ``stamps``...): its key's first part."""
    return key.split("|", 1)[0]


#: The kinds of :func:`member_keys`: the only tallies an import writes for a member.
MEMBER_KINDS = frozenset({"visits", "carry", "redeemed", "seen", "stamps", "birthday", "owed"})
