"""loyalty-engine: an embeddable, explainable loyalty engine for point-of-sale software.

>>> import loyalty
>>> sorted(loyalty.__all__)[:4]
['Clock', 'ConcurrencyError', 'Contribution', 'CurrencyMismatch']
"""

from loyalty.earning import Event, earn
from loyalty.engine import Clock, Engine
from loyalty.errors import (
    ConcurrencyError,
    CurrencyMismatch,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidAmount,
    InvalidDatetime,
    InvalidId,
    InvalidInput,
    InvalidPoints,
    InvalidQuantity,
    LoyaltyError,
    MemberAlreadyEnrolled,
    PointsOverflow,
    StorageError,
    TransientStorageError,
    UnknownCurrency,
    UnknownMember,
)
from loyalty.ledger import Entry, EntryKind, Posting, balance_of
from loyalty.members import Member
from loyalty.money import Money
from loyalty.program import EarnRate, Program, Rounding
from loyalty.purchases import Line, Purchase
from loyalty.receipts import Contribution, Receipt, Skipped
from loyalty.store import Operation, Store, UnitOfWork, open_store

__version__ = "0.1.0"

__all__ = [
    "Clock",
    "ConcurrencyError",
    "Contribution",
    "CurrencyMismatch",
    "EarnRate",
    "Engine",
    "Entry",
    "EntryKind",
    "Event",
    "IdempotencyConflict",
    "InsufficientPoints",
    "InvalidAmount",
    "InvalidDatetime",
    "InvalidId",
    "InvalidInput",
    "InvalidPoints",
    "InvalidQuantity",
    "Line",
    "LoyaltyError",
    "Member",
    "MemberAlreadyEnrolled",
    "Money",
    "Operation",
    "PointsOverflow",
    "Posting",
    "Program",
    "Purchase",
    "Receipt",
    "Rounding",
    "Skipped",
    "StorageError",
    "Store",
    "TransientStorageError",
    "UnitOfWork",
    "UnknownCurrency",
    "UnknownMember",
    "__version__",
    "balance_of",
    "earn",
    "open_store",
]
