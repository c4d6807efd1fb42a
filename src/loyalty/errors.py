"""One error tree for everything the engine refuses.

Every error names the field (or configuration path) at fault in ``.field`` so a
POS can map it back to its own form or message, and every error is raised
*before* anything is written: a caller that catches a :class:`LoyaltyError`
knows the store is exactly as it was.

>>> try:
...     raise InvalidAmount("lines[0].unit_price", "must be a Decimal, not float")
... except LoyaltyError as exc:
...     print(exc.field, "|", exc)
lines[0].unit_price | lines[0].unit_price: must be a Decimal, not float
"""

from __future__ import annotations

import errno
import os

__all__ = [
    "AlreadyReturned",
    "BeforeEnrollment",
    "BeforeItsStart",
    "ConcurrencyError",
    "ConfigError",
    "CurrencyMismatch",
    "HoldEnded",
    "HoldExpired",
    "IdempotencyConflict",
    "IdentifierReplaced",
    "IdentifierTaken",
    "InsufficientPoints",
    "InvalidAmount",
    "InvalidDatetime",
    "InvalidId",
    "InvalidInput",
    "InvalidPoints",
    "InvalidQuantity",
    "LoyaltyError",
    "MemberAlreadyEnrolled",
    "MemberErased",
    "MemberNotActive",
    "MergeBlocked",
    "MissingExtra",
    "MissingFile",
    "PointsOverflow",
    "RedemptionLimit",
    "ReferralCodeTaken",
    "StorageError",
    "TillTimeAhead",
    "TransientStorageError",
    "UnknownCurrency",
    "UnknownHold",
    "UnknownIdentifier",
    "UnknownMember",
    "UnknownPurchase",
    "UnknownReferralCode",
    "UnknownReward",
    "UnknownTerminal",
    "UnknownTier",
    "UnknownVoucher",
    "VoucherEnded",
    "VoucherExpired",
    "VoucherNotOwned",
]


class LoyaltyError(Exception):
    """Base of every error this library raises on purpose.

    ``field`` names what was wrong (``"lines[1].quantity"``, ``"member_id"``);
    it is ``None`` only for errors that are not about one input, such as a
    storage failure.
    """

    def __init__(self, field: str | None, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)


class InvalidInput(LoyaltyError, ValueError):
    """An argument has the wrong type or an impossible value."""


class ConfigError(InvalidInput):
    """A program configuration with problems: ``problems`` lists every ``(path, message)``.

    All problems are collected before raising, so a merchant fixes a file in
    one pass; ``field`` is the first path.

    >>> error = ConfigError([("rules[2].factor", "must not be negative, got -1"), ("scale", "must be 0-6")])
    >>> print(error)
    2 problems in the program:
      rules[2].factor: must not be negative, got -1
      scale: must be 0-6
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = tuple(problems)
        lines = [f"  {path}: {message}" if path else f"  {message}" for path, message in self.problems]
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the program:"
        Exception.__init__(self, "\n".join([head, *lines]))
        self.field = self.problems[0][0] if self.problems else None
        self.message = str(self)


class MissingFile(InvalidInput, FileNotFoundError):
    """A program (or other document) file that does not exist: ``field`` is its path as given,
    and so is ``filename``, as for any :class:`FileNotFoundError`."""

    def __init__(self, path: str, message: str = "no such file") -> None:
        super().__init__(path, message)
        self.errno = errno.ENOENT
        self.strerror = os.strerror(errno.ENOENT)
        self.filename = path

    def __str__(self) -> str:
        # As every LoyaltyError reads, not OSError's "[Errno 2] ...".
        return f"{self.field}: {self.message}"


class InvalidAmount(InvalidInput):
    """Money that is a float, bool, NaN, infinite, negative or otherwise unusable."""


class InvalidDatetime(InvalidInput):
    """A naive datetime (no timezone), or not a datetime at all."""


class TillTimeAhead(InvalidDatetime):
    """A till's time further ahead of the engine's clock than the program's
    ``time_guards.max_lead_minutes`` allows: a till whose clock is wrong, or a date typed wrong."""


class BeforeEnrollment(InvalidDatetime):
    """Activity dated before the member enrolled, under ``time_guards.before_enrollment = "refuse"``
    (the default; ``"accept"`` for an import of old history)."""


class BeforeItsStart(InvalidDatetime):
    """A use or void of a voucher, or a capture or release of a hold, dated before the voucher was
    issued or the hold placed by more than ``time_guards.max_lead_minutes``: two tills' clocks may
    differ by that much (a fast till's voucher used at once on a right one), not by more."""


class InvalidQuantity(InvalidInput):
    """A zero, negative, non-finite or float quantity."""


class InvalidPoints(InvalidInput):
    """Points that are not a positive (or non-zero, for adjustments) integer in range."""


class InvalidId(InvalidInput):
    """An id that is empty, too long, not a string or holds control characters."""


class UnknownCurrency(InvalidInput):
    """A currency code that is not an active ISO 4217 code."""


class CurrencyMismatch(InvalidInput):
    """Money in one currency used where another currency is required."""


class UnknownMember(LoyaltyError, LookupError):
    """The member id is not enrolled in this store."""


class UnknownIdentifier(UnknownMember):
    """No member has the key (:mod:`loyalty.identifiers`): never given, removed, or not the
    member's when a command names both. A kind of :class:`UnknownMember`."""


class IdentifierTaken(LoyaltyError):
    """The key is another member's: a key finds one member."""


class IdentifierReplaced(LoyaltyError):
    """The card was replaced by another (:meth:`loyalty.Engine.replace_card`): under the program's
    ``identifiers.lost_card = "refuse"`` it finds no one, and it is never given again."""


class MemberAlreadyEnrolled(LoyaltyError):
    """An enrollment for a member id that is already enrolled with other details."""


class MemberNotActive(LoyaltyError):
    """A command the member's status does not allow: a suspended member earning or spending, a
    closed one doing anything new (:class:`loyalty.members.MemberStatus`). ``status`` says which."""

    def __init__(self, field: str | None, message: str, *, status: str) -> None:
        super().__init__(field, message)
        self.status = status


class MemberErased(LoyaltyError):
    """A command on a member whose personal data was erased (:meth:`loyalty.Engine.erase`), or
    the retry of one of its commands kept before the erasure. ``member_id`` names the member."""

    def __init__(self, field: str | None, message: str, *, member_id: str) -> None:
        super().__init__(field, message)
        self.member_id = member_id


class MergeBlocked(LoyaltyError):
    """A merge the absorbed member's points do not allow yet (:mod:`loyalty.merges`): open holds,
    unused vouchers, points still pending (a return could take them back), or points owed from a
    return, or points still arriving for it. ``blocking`` says which: ``holds``, ``vouchers``,
    ``pending``, ``owed`` or ``arriving``."""

    def __init__(self, field: str | None, message: str, *, blocking: str) -> None:
        super().__init__(field, message)
        self.blocking = blocking


class InsufficientPoints(LoyaltyError):
    """A redemption or negative adjustment larger than the available balance.

    ``available`` is the balance when the request was decided and ``requested``
    the points asked for; a retry with the same id raises the same error with
    the same figures, even after the balance has grown.
    """

    def __init__(self, field: str | None, message: str, *, available: int, requested: int) -> None:
        super().__init__(field, message)
        self.available = available
        self.requested = requested


class RedemptionLimit(InsufficientPoints):
    """A redemption or hold the program's redemption limits leave no room for (see
    :mod:`loyalty.redemption`): ``limit`` names which (``per_day``, ``per_purchase``,
    ``basket``, ``same_purchase``) and ``available`` is what it still allows. Declined
    like a short balance: a retry with the same id is declined alike.
    """

    def __init__(
        self, field: str | None, message: str, *, available: int, requested: int, limit: str, detail: str = ""
    ) -> None:
        super().__init__(field, message, available=available, requested=requested)
        self.limit = limit
        #: What the message quotes besides the figures (a purchase's total, for ``basket``).
        self.detail = detail


class UnknownHold(LoyaltyError, LookupError):
    """The hold id names no hold in this store."""


class UnknownPurchase(LoyaltyError, LookupError):
    """The purchase id names no recorded purchase."""


class UnknownReferralCode(LoyaltyError, LookupError):
    """The referral code names no member's code."""


class ReferralCodeTaken(LoyaltyError):
    """The referral code is another member's, or the member already has a different one."""


class UnknownTier(LoyaltyError, LookupError):
    """The tier id names no tier of the program (or the program has no tiers)."""


class AlreadyReturned(LoyaltyError):
    """Everything the purchase had has already been returned (a second void, say)."""


class HoldEnded(LoyaltyError):
    """The hold has already ended (captured, released or expired) and cannot end again.

    ``status`` is how it ended.
    """

    def __init__(self, field: str | None, message: str, *, status: str) -> None:
        super().__init__(field, message)
        self.status = status


class HoldExpired(HoldEnded):
    """The hold's time ran out on the engine clock: it can no longer be captured."""


class UnknownReward(LoyaltyError, LookupError):
    """The reward id names no reward of the catalogue, or none on offer at the request's time."""


class UnknownTerminal(LoyaltyError, LookupError):
    """The terminal id names no terminal ever granted an offline allowance (:mod:`loyalty.offline`)."""


class UnknownVoucher(LoyaltyError, LookupError):
    """The code names no voucher in this store."""


class VoucherEnded(LoyaltyError):
    """The voucher has already ended (used, voided, expired or revoked). ``status`` is how."""

    def __init__(self, field: str | None, message: str, *, status: str) -> None:
        super().__init__(field, message)
        self.status = status


class VoucherExpired(VoucherEnded):
    """The voucher's time ran out on the engine clock: it can no longer be used."""


class VoucherNotOwned(LoyaltyError):
    """The voucher is another member's."""


class PointsOverflow(LoyaltyError, OverflowError):
    """A balance would leave the signed 64-bit range that every adapter stores."""


class IdempotencyConflict(LoyaltyError):
    """An idempotency key was reused for a different request.

    ``field`` names the first field that differs from the original request
    (``"kind"`` when the key was used for another kind of command).
    """


class MissingExtra(LoyaltyError, ImportError):
    """A feature whose optional dependencies are not installed: ``field`` names the extra
    (``report``), and the message the ``pip install`` that adds it."""


class StorageError(LoyaltyError):
    """The storage backend failed; the unit of work was rolled back."""


class ConcurrencyError(StorageError):
    """Concurrent writers kept colliding and the bounded retries ran out."""


class TransientStorageError(StorageError):
    """A write lost a race (serialization failure, deadlock, duplicate key).

    Adapters raise it after rolling back; the engine retries the whole command
    a bounded number of times and raises :class:`ConcurrencyError` after that.
    """
