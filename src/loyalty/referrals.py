"""Referrals: a member's code brings in a friend, and the friend's first purchase rewards both.

A program's :class:`Referrals` says what qualifies (the referee's first
purchase, optionally with a minimum spend and within some days of
enrolling), what each side earns (fixed points, or a share of the
qualifying purchase's points), whether those points wait out the
purchase's return window, how many referrals a referrer may be rewarded
for per period, and which member attribute identifies a person (so nobody
refers themselves under a second card).

Codes are short and read aloud without mistakes: no 0/O, 1/I/L, and
case does not matter.

>>> normalize_code(" ab-cd 2345 ")
'ABCD2345'
>>> len(new_code()), set(new_code()) <= set(ALPHABET)
(8, True)
>>> Referrals(referrer_points=100, referrer_share=Decimal("0.1"))
Traceback (most recent call last):
...
loyalty.errors.InvalidInput: referrer_share: give referrer_points or referrer_share, not both
"""

from __future__ import annotations

import enum
import secrets
from datetime import datetime, tzinfo
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import attrs
from dateutil.relativedelta import relativedelta

from loyalty.checks import accepts, check_id, one_of
from loyalty.errors import InvalidInput
from loyalty.members import Member, MemberStatus, same_value
from loyalty.money import EXACT
from loyalty.rule_fields import as_enum
from loyalty.rules import Period

__all__ = [
    "ALPHABET",
    "Referral",
    "ReferralReport",
    "ReferralState",
    "Referrals",
    "cap_key",
    "first_purchase_verdict",
    "identity_clash",
    "new_code",
    "normalize_code",
    "referrer_left_out",
    "shares",
]

#: The letters and digits a generated code uses: none that read like another (0/O, 1/I/L).
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
#: A merchant's own codes: letters and digits, this long.
MIN_CODE, MAX_CODE = 4, 32


def new_code() -> str:
    """A random code of :data:`CODE_LENGTH` characters from :data:`ALPHABET` (31**8: about 8.5e11)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(code: object, field: str = "code") -> str:
    """A code as stored and compared: upper case, without spaces or hyphens; refused if not a code."""
    if not isinstance(code, str):
        raise InvalidInput(field, f"must be a text, not {type(code).__name__}")
    text = code.replace("-", "").replace(" ", "")
    # ASCII first: upper() would turn "straße" into "STRASSE".
    if not (text.isascii() and text.isalnum() and MIN_CODE <= len(text) <= MAX_CODE):
        raise InvalidInput(
            field, f"a referral code is {MIN_CODE} to {MAX_CODE} letters and digits, got {code!r}"
        )
    return text.upper()


def _optional_points(field: str) -> Any:
    def check(_: Any, __: Any, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**12:
            raise InvalidInput(field, f"must be an int from 0 to 10**12, got {value!r}")

    return accepts(minimum=0, maximum=10**12)(check)


def _optional_share(field: str) -> Any:
    def check(_: Any, __: Any, value: object) -> None:
        if value is None:
            return
        if not isinstance(value, Decimal) or not value.is_finite() or not 0 < value <= 10:
            raise InvalidInput(field, f"must be None or a share above 0 and at most 10, got {value!r}")

    return check


def _optional_int(field: str, low: int, high: int) -> Any:
    def check(_: Any, __: Any, value: object) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidInput(field, f"must be None or an int from {low} to {high}, got {value!r}")

    return accepts(minimum=low, maximum=high)(check)


def _min_spend(_: Any, __: Any, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise InvalidInput("min_spend", f"must be None or a positive amount, got {value!r}")


def _to_decimal(value: Any) -> Any:
    return Decimal(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _to_period(value: Any) -> Any:
    return None if value is None else as_enum(Period, value)


def _check_period(_: Any, __: Any, value: object) -> None:
    if value is not None:
        one_of(Period, "cap_period")(None, None, value)


def _check_identity(_: Any, __: Any, value: object) -> None:
    if value is not None:
        check_id("identity", value)


def _check_pending(_: Any, __: Any, value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidInput("pending", f"must be true or false, got {value!r}")


@attrs.frozen(kw_only=True)
class Referrals:
    """A program's referral terms (see the module's docs). Points are whole points."""

    referrer_points: int = attrs.field(default=0, validator=_optional_points("referrer_points"))
    referrer_share: Decimal | None = attrs.field(
        default=None, converter=_to_decimal, validator=_optional_share("referrer_share")
    )
    referee_points: int = attrs.field(default=0, validator=_optional_points("referee_points"))
    referee_share: Decimal | None = attrs.field(
        default=None, converter=_to_decimal, validator=_optional_share("referee_share")
    )
    min_spend: Decimal | None = attrs.field(default=None, converter=_to_decimal, validator=_min_spend)
    within_days: int | None = attrs.field(default=None, validator=_optional_int("within_days", 1, 3660))
    pending: bool = attrs.field(default=False, validator=_check_pending)
    cap: int | None = attrs.field(default=None, validator=_optional_int("cap", 1, 1_000_000))
    cap_period: Period | None = attrs.field(default=None, converter=_to_period, validator=_check_period)
    identity: str | None = attrs.field(default=None, validator=_check_identity)

    def __attrs_post_init__(self) -> None:
        for side in ("referrer", "referee"):
            if getattr(self, f"{side}_points") and getattr(self, f"{side}_share") is not None:
                raise InvalidInput(f"{side}_share", f"give {side}_points or {side}_share, not both")
        if (self.cap is None) != (self.cap_period is None):
            raise InvalidInput("cap_period", "cap and cap_period go together: referrals per month, ...")

    def bonus(self, side: str, purchase_points: Decimal) -> Decimal:
        """What ``side`` ("referrer" or "referee") earns, in points, on a purchase of ``purchase_points``."""
        share: Decimal | None = getattr(self, f"{side}_share")
        if share is not None:
            return share * purchase_points
        return Decimal(getattr(self, f"{side}_points"))


def cap_key(period: str, referrer: str) -> str:
    """The referrals ``referrer`` was rewarded for in ``period`` (the count; a taken-back one
    counts off), which the program's ``cap`` bounds. ``period`` is the cap period's text
    (:meth:`loyalty.rules.Period.key`: ``2024-03``); the member id comes last, as it alone may
    contain the separator.

    >>> cap_key("2024-03", "M1")
    'referrals|2024-03|M1'
    """
    return f"referrals|{period}|{referrer}"


class ReferralState(enum.Enum):
    """Where a referral stands."""

    #: The referee has not made the qualifying purchase yet.
    PENDING = "pending"
    #: Rewarded, the bonuses still waiting out the qualifying purchase's return window.
    QUALIFIED = "qualified"
    REWARDED = "rewarded"
    #: Not rewarded (or taken back); ``reason`` says why.
    REJECTED = "rejected"


@attrs.frozen
class Referral:
    """One attribution: ``referee`` enrolled with ``referrer``'s ``code``. Points are the program's points.

    ``reason`` says why a rejected one was rejected, or why a rewarded one rewarded the referee
    alone (its referrer could not earn at the qualifying purchase).
    """

    referee: str
    referrer: str
    code: str
    referred_at: datetime
    state: ReferralState = ReferralState.PENDING
    reason: str | None = None
    purchase_id: str | None = None
    referrer_points: int = 0
    referee_points: int = 0
    referrer_lot: int | None = None
    referee_lot: int | None = None
    vests_at: datetime | None = None
    decided_at: datetime | None = None

    @property
    def referrer_rewarded(self) -> bool:
        """Whether the referrer was rewarded for it (counted under its cap, told of it): qualified
        or rewarded, and no ``reason`` saying why its referrer was left out
        (:func:`referrer_left_out`)."""
        return self.state in (ReferralState.QUALIFIED, ReferralState.REWARDED) and self.reason is None

    def at(self, now: datetime) -> Referral:
        """The referral as it stands at ``now``: a qualified one whose window has passed is rewarded."""
        if self.state is ReferralState.QUALIFIED and (self.vests_at is None or now >= self.vests_at):
            return attrs.evolve(self, state=ReferralState.REWARDED)
        return self


@attrs.frozen
class ReferralReport:
    """:meth:`loyalty.Engine.referrals`: a member's code, who referred it, whom it referred.

    ``points`` are what the member earned as a referrer, not
    counting referrals rejected or taken back.
    """

    member_id: str
    code: str | None
    referred_by: Referral | None
    referred: list[Referral]
    points: int


def identity_clash(terms: Referrals | None, referee: Member, referrer: Member | None) -> str | None:
    """Why ``referee`` cannot be ``referrer``'s referral under ``terms``: the same person by the
    identity attribute (an unknown identity clashes with nothing), or ``None``."""
    if terms is None or terms.identity is None:
        return None
    mine = referee.attributes.get(terms.identity)
    theirs = None if referrer is None else referrer.attributes.get(terms.identity)
    if mine is not None and same_value(mine, theirs):
        return f"same {terms.identity} as the referrer"
    return None


def first_purchase_verdict(
    terms: Referrals,
    referee: Member,
    referrer: Member | None,
    amount: Decimal,
    at: datetime,
    zone: tzinfo,
    rewarded_this_period: int,
) -> str | None:
    """Why a referee's first purchase of ``amount`` at ``at`` does not qualify, or ``None``.

    ``rewarded_this_period`` counts the referrer's rewarded referrals in the
    cap's period (ignored without a cap).
    """
    if terms.min_spend is not None and amount < terms.min_spend:
        return f"first purchase of {amount} is below the minimum of {terms.min_spend}"
    if terms.within_days is not None:
        deadline = referee.enrolled_at.astimezone(zone) + relativedelta(days=terms.within_days)
        if at > deadline:
            return f"first purchase more than {terms.within_days} days after enrolling"
    clash = identity_clash(terms, referee, referrer)
    if clash is not None:
        return clash
    if terms.cap is not None and terms.cap_period is not None and rewarded_this_period >= terms.cap:
        return f"the referrer already has {terms.cap} rewarded referrals this {terms.cap_period.value}"
    return None


def referrer_left_out(status: MemberStatus | None) -> str | None:
    """Why a referrer of ``status`` at the qualifying purchase earns no bonus, or ``None``: a
    suspended or closed member earns nothing, and the bonus is not kept for its reinstatement
    (the purchase it rewarded is the referee's, rewarded when it was made).

    >>> referrer_left_out(MemberStatus.SUSPENDED)
    'the referrer was suspended at the qualifying purchase: no referrer bonus, now or later'
    >>> referrer_left_out(MemberStatus.ACTIVE) is None
    True
    """
    if status is None or status is MemberStatus.ACTIVE:
        return None
    return f"the referrer was {status.value} at the qualifying purchase: no referrer bonus, now or later"


def shares(terms: Referrals, purchase_points: int) -> dict[str, int]:
    """What each side (``referee``, ``referrer``) earns on a first purchase that earned
    ``purchase_points``; a share of it is rounded down to whole points.

    >>> shares(Referrals(referrer_points=50, referee_share=Decimal("0.5")), 125)
    {'referee': 62, 'referrer': 50}
    """
    points = Decimal(purchase_points)
    return {
        side: int(terms.bonus(side, points).to_integral_value(rounding=ROUND_FLOOR, context=EXACT))
        for side in ("referee", "referrer")
    }
