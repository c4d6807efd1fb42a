"""loyalty-engine: an embeddable, explainable loyalty engine for point-of-sale software.

>>> import loyalty
>>> sorted(loyalty.__all__)[:4]
['AlreadyReturned', 'Balance', 'BirthdayBonus', 'Clawback']

The library logs through the standard :mod:`logging` module, under the
``loyalty`` logger, and configures nothing itself (``docs/logging.md``).
"""

import logging

# The converter gives every result its to_dict/from_dict (loyalty.json_form) as it loads: loaded
# here, with the package, whichever module a caller imports.
from loyalty import codec as _codec  # noqa: F401
from loyalty.earning import Event, earn
from loyalty.engine import Clock, Engine, Maintenance
from loyalty.errors import (
    AlreadyReturned,
    ConcurrencyError,
    ConfigError,
    CurrencyMismatch,
    HoldEnded,
    HoldExpired,
    IdempotencyConflict,
    IdentifierReplaced,
    IdentifierTaken,
    InsufficientPoints,
    InvalidAmount,
    InvalidDatetime,
    InvalidId,
    InvalidInput,
    InvalidPoints,
    InvalidQuantity,
    LoyaltyError,
    MemberAlreadyEnrolled,
    MemberNotActive,
    MergeBlocked,
    MissingExtra,
    MissingFile,
    PointsOverflow,
    RedemptionLimit,
    ReferralCodeTaken,
    StorageError,
    TransientStorageError,
    UnknownCurrency,
    UnknownHold,
    UnknownIdentifier,
    UnknownMember,
    UnknownPurchase,
    UnknownReferralCode,
    UnknownReward,
    UnknownTier,
    UnknownVoucher,
    VoucherEnded,
    VoucherExpired,
    VoucherNotOwned,
)
from loyalty.expiry import EndOf, Expiry, ExpiryPolicy
from loyalty.holds import Hold, HoldStatus
from loyalty.identifiers import Identifier, IdentifierKind, Identifiers, IdentifierStatus, LostCard
from loyalty.ledger import Entry, EntryKind, Posting, balance_of
from loyalty.lots import Balance, DrawOrder, Lot
from loyalty.members import Member, MemberStatus
from loyalty.merges import Merge
from loyalty.money import Money
from loyalty.outbox import DomainEvent, EventKind
from loyalty.program import EarnRate, EventCombination, Program, Rounding, RoundPer, TaxBasis
from loyalty.purchases import Line, Purchase
from loyalty.receipts import Contribution, Receipt, Skipped
from loyalty.referrals import Referral, ReferralReport, Referrals, ReferralState
from loyalty.returns import Clawback, Return, Returned, ReturnPolicy, ReturnReceipt
from loyalty.rewards import Gives, Reward
from loyalty.rules import (
    BirthdayBonus,
    EventRule,
    FirstPurchase,
    Multiplier,
    Period,
    ProductBonus,
    PurchaseBonus,
    Rule,
    Scope,
    SpendRule,
    StampCard,
    UnitBonus,
)
from loyalty.store import Operation, Store, UnitOfWork, open_store
from loyalty.tiers import Downgrade, Metric, ReviewDate, Tier, Tiers, TierState, TierStatus, Upgrade, Window
from loyalty.transfers import Transfer
from loyalty.vouchers import Voucher, VoucherStatus

__version__ = "0.1.0"

# As libraries do: without a handler of the application's, records go nowhere (not to
# logging's last-resort handler on stderr), whatever their level.
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "AlreadyReturned",
    "Balance",
    "BirthdayBonus",
    "Clawback",
    "Clock",
    "ConcurrencyError",
    "ConfigError",
    "Contribution",
    "CurrencyMismatch",
    "DomainEvent",
    "Downgrade",
    "DrawOrder",
    "EarnRate",
    "EndOf",
    "Engine",
    "Entry",
    "EntryKind",
    "Event",
    "EventCombination",
    "EventKind",
    "EventRule",
    "Expiry",
    "ExpiryPolicy",
    "FirstPurchase",
    "Gives",
    "Hold",
    "HoldEnded",
    "HoldExpired",
    "HoldStatus",
    "IdempotencyConflict",
    "Identifier",
    "IdentifierKind",
    "IdentifierReplaced",
    "IdentifierStatus",
    "IdentifierTaken",
    "Identifiers",
    "InsufficientPoints",
    "InvalidAmount",
    "InvalidDatetime",
    "InvalidId",
    "InvalidInput",
    "InvalidPoints",
    "InvalidQuantity",
    "Line",
    "LostCard",
    "Lot",
    "LoyaltyError",
    "Maintenance",
    "Member",
    "MemberAlreadyEnrolled",
    "MemberNotActive",
    "MemberStatus",
    "Merge",
    "MergeBlocked",
    "Metric",
    "MissingExtra",
    "MissingFile",
    "Money",
    "Multiplier",
    "Operation",
    "Period",
    "PointsOverflow",
    "Posting",
    "ProductBonus",
    "Program",
    "Purchase",
    "PurchaseBonus",
    "Receipt",
    "RedemptionLimit",
    "Referral",
    "ReferralCodeTaken",
    "ReferralReport",
    "ReferralState",
    "Referrals",
    "Return",
    "ReturnPolicy",
    "ReturnReceipt",
    "Returned",
    "ReviewDate",
    "Reward",
    "RoundPer",
    "Rounding",
    "Rule",
    "Scope",
    "Skipped",
    "SpendRule",
    "StampCard",
    "StorageError",
    "Store",
    "TaxBasis",
    "Tier",
    "TierState",
    "TierStatus",
    "Tiers",
    "Transfer",
    "TransientStorageError",
    "UnitBonus",
    "UnitOfWork",
    "UnknownCurrency",
    "UnknownHold",
    "UnknownIdentifier",
    "UnknownMember",
    "UnknownPurchase",
    "UnknownReferralCode",
    "UnknownReward",
    "UnknownTier",
    "UnknownVoucher",
    "Upgrade",
    "Voucher",
    "VoucherEnded",
    "VoucherExpired",
    "VoucherNotOwned",
    "VoucherStatus",
    "Window",
    "__version__",
    "balance_of",
    "earn",
    "open_store",
]
