"""Domain events for integrations: a transactional outbox.

A change that matters outside the engine (a member's tier changed, a hold
expired, points are about to expire) writes a :class:`DomainEvent` in the
same unit of work as the change itself, so an event exists exactly when its
change does: a command that fails leaves neither. Events are numbered by
``seq`` in the order their units of work committed, so a POS or CRM that
reads them with :meth:`loyalty.Engine.events` and keeps the last ``seq`` it
handled as its cursor sees each one once, in order, and never misses one
that committed late.

>>> from datetime import datetime, timezone
>>> t = datetime(2024, 3, 1, 9, 30, tzinfo=timezone.utc)
>>> event = NewEvent(EventKind.HOLD_EXPIRED, "M1", t, t, "S1-T4-0007", {"hold_id": "H7", "points": 150})
>>> event.recorded(12).seq, event.recorded(12).data["points"]
(12, 150)
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

import attrs

from loyalty.json_form import JsonForm

__all__ = ["DomainEvent", "EventKind", "NewEvent"]


class EventKind(enum.Enum):
    #: The tier in force moved: ``data`` has ``old``, ``new``, ``earned`` and ``reason``.
    TIER_CHANGED = "tier_changed"
    #: A hold's time ran out and its points went back: ``hold_id`` and ``points``.
    HOLD_EXPIRED = "hold_expired"
    #: A member's points expire within the program's ``remind_days``: ``points``, ``expires_at``, ``lots``.
    POINTS_EXPIRING = "points_expiring"
    #: A referee's first purchase rewarded its referrer (the event's member): ``referee``,
    #: ``purchase_id``, ``referrer_points``, ``referee_points``, ``vests_at``.
    REFERRAL_REWARDED = "referral_rewarded"
    #: The qualifying purchase came back and both bonuses were taken back: ``referee``,
    #: ``purchase_id``, ``return_id``, ``referrer_points``, ``referee_points``.
    REFERRAL_REVOKED = "referral_revoked"
    #: :meth:`loyalty.Engine.announce_at_risk` found the member drifting away: ``reasons``,
    #: ``last_visit``, ``days_since``, ``typical_gap_days``, ``recent_spend``, ``baseline_spend``.
    MEMBER_AT_RISK = "member_at_risk"
    #: :meth:`loyalty.Engine.change_status` suspended, reinstated, closed or reopened the member:
    #: ``old``, ``new`` (``active``, ``suspended``, ``closed``), ``reason`` and ``actor``; and
    #: ``ledger_seq``, the ledger's last entry ``seq`` then (:meth:`loyalty.store.LedgerRole.last_seq`;
    #: absent from events written by earlier releases and from a merge's closing), where a
    #: history export places the change among the entries.
    MEMBER_STATUS_CHANGED = "member_status_changed"
    #: :meth:`loyalty.Engine.transfer` moved points from the member (the sender) to another:
    #: ``from_member``, ``to_member``, ``points`` (stored units) and ``reason``.
    POINTS_TRANSFERRED = "points_transferred"
    #: :meth:`loyalty.Engine.add_identifier` (or an enrollment with ``identifiers``) gave the
    #: member a card or key: ``key`` (``kind:value``, in normal form).
    IDENTIFIER_ADDED = "identifier_added"
    #: :meth:`loyalty.Engine.replace_card` replaced the member's card: ``old`` and ``new`` (keys).
    IDENTIFIER_REPLACED = "identifier_replaced"
    #: :meth:`loyalty.Engine.remove_identifier` took a key off the member: ``key``.
    IDENTIFIER_REMOVED = "identifier_removed"
    #: :meth:`loyalty.Engine.redeem_reward` bought a reward (:mod:`loyalty.vouchers`): ``code``,
    #: ``reward_id``, ``points``, ``expires_at`` and ``purchase_id`` (bought against, or None).
    VOUCHER_ISSUED = "voucher_issued"
    #: The voucher was used at the till: ``code``, ``reward_id`` and ``purchase_id`` (used on, or None).
    VOUCHER_USED = "voucher_used"
    #: The merchant voided the voucher and its points came back: ``code``, ``reward_id``, ``points``.
    VOUCHER_VOIDED = "voucher_voided"
    #: The voucher's time ran out unused (no points back): ``code``, ``reward_id``, ``points``.
    VOUCHER_EXPIRED = "voucher_expired"
    #: The purchase it was bought against came back in full, and its points with it: ``code``,
    #: ``reward_id``, ``points``, ``return_id``.
    VOUCHER_REVOKED = "voucher_revoked"
    #: :meth:`loyalty.Engine.merge_members` merged the member (the absorbed one, now closed) into
    #: another: ``survivor``, ``absorbed``, ``points`` (stored units), ``lots``, ``keys`` (the keys
    #: that now find the survivor), ``referrals`` (the referees now the survivor's) and ``reason``.
    MEMBER_MERGED = "member_merged"
    #: :meth:`loyalty.Engine.erase` erased the member's personal data, here and in the events
    #: before this one: a consumer erases what it copied. ``data`` has ``ledger_seq`` (see
    #: ``member_status_changed``), no personal data.
    MEMBER_ERASED = "member_erased"


def _frozen(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


@attrs.frozen
class NewEvent:
    """An event the engine asks the store to add to the outbox (the store numbers it)."""

    kind: EventKind
    member_id: str
    occurred_at: datetime
    recorded_at: datetime
    source_id: str
    #: JSON-ready facts about the change (strings, numbers, booleans, None).
    data: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen, hash=False)

    def recorded(self, seq: int) -> DomainEvent:
        return DomainEvent(
            seq, self.kind, self.member_id, self.occurred_at, self.recorded_at, self.source_id, self.data
        )


@attrs.frozen
class DomainEvent(JsonForm):
    """An event in the outbox. ``seq`` orders events as their units of work committed."""

    seq: int
    kind: EventKind
    member_id: str
    occurred_at: datetime
    recorded_at: datetime
    source_id: str
    data: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen, hash=False)
