"""loyalty-engine: an embeddable, explainable loyalty engine for point-of-sale software.

>>> import loyalty
>>> sorted(loyalty.__all__)[:4]
['AlreadyReturned', 'Balance', 'BirthdayBonus', 'Clawback']

The library logs through the standard :mod:`logging` module, under the
``loyalty`` logger, and configures nothing itself (``docs/logging.md``).
"""

import importlib
import logging
from typing import TYPE_CHECKING, Any

# Names are imported when first used (PEP 562), not with the package: `import loyalty.errors`,
# or pytest loading the test kit's plugin in a merchant's project, does not pay for the engine,
# its rules and its stores. A type checker sees them all as plain imports.
if TYPE_CHECKING:
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
    from loyalty.tiers import (
        Downgrade,
        Metric,
        ReviewDate,
        Tier,
        Tiers,
        TierState,
        TierStatus,
        Upgrade,
        Window,
    )
    from loyalty.transfers import Transfer
    from loyalty.vouchers import Voucher, VoucherStatus

_HOMES: dict[str, str] = {
    "AlreadyReturned": "loyalty.errors",
    "Balance": "loyalty.lots",
    "BirthdayBonus": "loyalty.rules",
    "Clawback": "loyalty.returns",
    "Clock": "loyalty.engine",
    "ConcurrencyError": "loyalty.errors",
    "ConfigError": "loyalty.errors",
    "Contribution": "loyalty.receipts",
    "CurrencyMismatch": "loyalty.errors",
    "DomainEvent": "loyalty.outbox",
    "Downgrade": "loyalty.tiers",
    "DrawOrder": "loyalty.lots",
    "EarnRate": "loyalty.program",
    "EndOf": "loyalty.expiry",
    "Engine": "loyalty.engine",
    "Entry": "loyalty.ledger",
    "EntryKind": "loyalty.ledger",
    "Event": "loyalty.earning",
    "EventCombination": "loyalty.program",
    "EventKind": "loyalty.outbox",
    "EventRule": "loyalty.rules",
    "Expiry": "loyalty.expiry",
    "ExpiryPolicy": "loyalty.expiry",
    "FirstPurchase": "loyalty.rules",
    "Gives": "loyalty.rewards",
    "Hold": "loyalty.holds",
    "HoldEnded": "loyalty.errors",
    "HoldExpired": "loyalty.errors",
    "HoldStatus": "loyalty.holds",
    "IdempotencyConflict": "loyalty.errors",
    "Identifier": "loyalty.identifiers",
    "IdentifierKind": "loyalty.identifiers",
    "IdentifierReplaced": "loyalty.errors",
    "IdentifierStatus": "loyalty.identifiers",
    "IdentifierTaken": "loyalty.errors",
    "Identifiers": "loyalty.identifiers",
    "InsufficientPoints": "loyalty.errors",
    "InvalidAmount": "loyalty.errors",
    "InvalidDatetime": "loyalty.errors",
    "InvalidId": "loyalty.errors",
    "InvalidInput": "loyalty.errors",
    "InvalidPoints": "loyalty.errors",
    "InvalidQuantity": "loyalty.errors",
    "Line": "loyalty.purchases",
    "LostCard": "loyalty.identifiers",
    "Lot": "loyalty.lots",
    "LoyaltyError": "loyalty.errors",
    "Maintenance": "loyalty.engine",
    "Member": "loyalty.members",
    "MemberAlreadyEnrolled": "loyalty.errors",
    "MemberNotActive": "loyalty.errors",
    "MemberStatus": "loyalty.members",
    "Merge": "loyalty.merges",
    "MergeBlocked": "loyalty.errors",
    "Metric": "loyalty.tiers",
    "MissingExtra": "loyalty.errors",
    "MissingFile": "loyalty.errors",
    "Money": "loyalty.money",
    "Multiplier": "loyalty.rules",
    "Operation": "loyalty.store",
    "Period": "loyalty.rules",
    "PointsOverflow": "loyalty.errors",
    "Posting": "loyalty.ledger",
    "ProductBonus": "loyalty.rules",
    "Program": "loyalty.program",
    "Purchase": "loyalty.purchases",
    "PurchaseBonus": "loyalty.rules",
    "Receipt": "loyalty.receipts",
    "RedemptionLimit": "loyalty.errors",
    "Referral": "loyalty.referrals",
    "ReferralCodeTaken": "loyalty.errors",
    "ReferralReport": "loyalty.referrals",
    "ReferralState": "loyalty.referrals",
    "Referrals": "loyalty.referrals",
    "Return": "loyalty.returns",
    "ReturnPolicy": "loyalty.returns",
    "ReturnReceipt": "loyalty.returns",
    "Returned": "loyalty.returns",
    "ReviewDate": "loyalty.tiers",
    "Reward": "loyalty.rewards",
    "RoundPer": "loyalty.program",
    "Rounding": "loyalty.program",
    "Rule": "loyalty.rules",
    "Scope": "loyalty.rules",
    "Skipped": "loyalty.receipts",
    "SpendRule": "loyalty.rules",
    "StampCard": "loyalty.rules",
    "StorageError": "loyalty.errors",
    "Store": "loyalty.store",
    "TaxBasis": "loyalty.program",
    "Tier": "loyalty.tiers",
    "TierState": "loyalty.tiers",
    "TierStatus": "loyalty.tiers",
    "Tiers": "loyalty.tiers",
    "Transfer": "loyalty.transfers",
    "TransientStorageError": "loyalty.errors",
    "UnitBonus": "loyalty.rules",
    "UnitOfWork": "loyalty.store",
    "UnknownCurrency": "loyalty.errors",
    "UnknownHold": "loyalty.errors",
    "UnknownIdentifier": "loyalty.errors",
    "UnknownMember": "loyalty.errors",
    "UnknownPurchase": "loyalty.errors",
    "UnknownReferralCode": "loyalty.errors",
    "UnknownReward": "loyalty.errors",
    "UnknownTier": "loyalty.errors",
    "UnknownVoucher": "loyalty.errors",
    "Upgrade": "loyalty.tiers",
    "Voucher": "loyalty.vouchers",
    "VoucherEnded": "loyalty.errors",
    "VoucherExpired": "loyalty.errors",
    "VoucherNotOwned": "loyalty.errors",
    "VoucherStatus": "loyalty.vouchers",
    "Window": "loyalty.tiers",
    "balance_of": "loyalty.ledger",
    "earn": "loyalty.earning",
    "open_store": "loyalty.store",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        # A submodule reached as an attribute (`loyalty.store` after `import loyalty`).
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})


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
