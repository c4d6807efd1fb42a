"""The ledger state machine with rewards bought as vouchers, used, voided and expired.

>>> from loyalty.store.memory import MemoryStore
>>> rewards_machine(MemoryStore).__name__
'RewardsMachine'

It is :func:`loyalty.testing.stateful.ledger_machine`'s machine (every rule and
check of it) with a catalogue in its program and four more rules: buying a
reward (declined on a short balance, refused for an unknown member or one not
active), retrying the purchase, using a voucher and voiding one, while time
passes and maintenance expires the vouchers left unused. After every step,
besides the ledger machine's checks (balances and lots equal the ledger and
the model, no point created or lost), every member's vouchers are the
model's, and the points of the vouchers bought and not voided are the
points their ``redeem`` entries took, less what voids gave back.

Use it as ``TestMyStoreRewards = rewards_machine(factory).TestCase``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import attrs
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from loyalty.engine import Engine
from loyalty.errors import (
    InsufficientPoints,
    MemberNotActive,
    UnknownMember,
    VoucherEnded,
    VoucherExpired,
)
from loyalty.ledger import EntryKind
from loyalty.members import MemberStatus
from loyalty.rewards import Gives, Reward
from loyalty.store import Store
from loyalty.testing.ledger_model import ModelLot
from loyalty.testing.stateful import MEMBERS, PROGRAM, ledger_machine
from loyalty.vouchers import Voucher, VoucherStatus

__all__ = ["rewards_machine"]

#: A reward most members can afford, and one that takes saving up; both short-lived.
CATALOGUE = (
    Reward(id="coffee", name="A coffee", cost=30, gives=Gives.PRODUCT, sku="coffee", valid_for_days=5),
    Reward(id="hamper", name="A hamper", cost=400, gives=Gives.VOUCHER, valid_for_days=15),
)
COSTS = {reward.id: reward for reward in CATALOGUE}
REWARDS_PROGRAM = attrs.evolve(PROGRAM, rewards=CATALOGUE)


@attrs.define
class _Bought:
    """A voucher bought, with what the model knows of it."""

    key: str
    member: str
    reward: str
    at: datetime
    voucher: Voucher
    taken: list[tuple[ModelLot, int]]
    status: str = "issued"


def rewards_machine(store_factory: Callable[[], Store]) -> type[RuleBasedStateMachine]:
    """A state machine class whose every run starts from ``store_factory()``."""
    base = ledger_machine(store_factory)

    class RewardsMachine(base):  # type: ignore[valid-type,misc]
        bought = Bundle("bought")

        def __init__(self) -> None:
            super().__init__()
            self.engine = Engine(REWARDS_PROGRAM, self.store, clock=lambda: self.clock)
            self.vouchers: dict[str, _Bought] = {}

        def _status(self, member: str) -> MemberStatus:
            return self.status.get(member, MemberStatus.ACTIVE)  # type: ignore[no-any-return]

        def _blocked(self, member: str) -> bool:
            # An unused voucher still valid holds points drawn from the member's lots, which a
            # void would give back to lots the merge had emptied.
            return super()._blocked(member) or any(
                made.member == member and made.status == "issued" and self.clock < made.voucher.expires_at
                for made in self.vouchers.values()
            )

        @rule(target=bought, member=st.sampled_from(MEMBERS), reward=st.sampled_from(sorted(COSTS)))
        def buy_reward(self, member: str, reward: str) -> _Bought | None:
            key = self._key()
            if member not in self.balances:
                with pytest.raises(UnknownMember):
                    self.engine.redeem_reward(member, reward, id=key, at=self.clock)
                return None
            if self._refused(member):
                with pytest.raises(MemberNotActive):
                    self.engine.redeem_reward(member, reward, id=key, at=self.clock)
                return None
            self._expire(member)  # a debit writes off what is past its date first
            cost = COSTS[reward].cost
            if cost > self.model.balance(member, self.clock).available:
                with pytest.raises(InsufficientPoints):
                    self.engine.redeem_reward(member, reward, id=key, at=self.clock)
                return None
            voucher = self.engine.redeem_reward(member, reward, id=key, at=self.clock)
            assert (voucher.member_id, voucher.reward_id, voucher.points) == (member, reward, cost)
            assert voucher.expires_at == self.clock + timedelta(days=COSTS[reward].valid_for_days)
            taken = self.model.debit(member, cost, self.clock, pending=False)
            self.model.spent[member] += cost
            self.balances[member] -= cost
            self.entries[member] += 1
            made = _Bought(key, member, reward, self.clock, voucher, taken)
            self.vouchers[voucher.code] = made
            return made

        @rule(made=bought)
        def buy_again(self, made: _Bought | None) -> None:
            if made is None:
                return
            again = self.engine.redeem_reward(made.member, made.reward, id=made.key, at=made.at)
            assert again == made.voucher  # the voucher as issued, whatever became of it

        def _ended(self, made: _Bought) -> type[Exception] | None:
            if made.status != "issued":
                return VoucherEnded
            if self.clock >= made.voucher.expires_at:
                return VoucherExpired
            return None

        @rule(made=bought)
        def use(self, made: _Bought | None) -> None:
            if made is None:
                return
            key = self._key()
            code = made.voucher.code
            refusal = MemberNotActive if self._refused(made.member) else self._ended(made)
            if refusal is not None:
                with pytest.raises(refusal) as info:
                    self.engine.use_voucher(code, id=key, at=self.clock, member_id=made.member)
                assert getattr(info.value, "field", None) == "code"
                return
            used = self.engine.use_voucher(code, id=key, at=self.clock, member_id=made.member)
            assert (used.status, used.ended_at) == (VoucherStatus.USED, self.clock)
            made.status = "used"

        @rule(made=bought)
        def void(self, made: _Bought | None) -> None:
            if made is None:
                return
            key = self._key()
            closed = self._status(made.member) is MemberStatus.CLOSED
            refusal = MemberNotActive if closed else self._ended(made)
            if refusal is not None:
                with pytest.raises(refusal):
                    self.engine.void_voucher(made.voucher.code, id=key, at=self.clock)
                return
            voided = self.engine.void_voucher(made.voucher.code, id=key, at=self.clock)
            assert voided.status is VoucherStatus.VOIDED
            made.status = "voided"
            for lot, share in made.taken:  # back to the very lots, with their own dates
                lot.remaining += share
            self.model.spent[made.member] -= voided.points
            self.balances[made.member] += voided.points
            self.entries[made.member] += 1

        @rule()
        def maintenance(self) -> None:
            due = [
                made
                for made in self.vouchers.values()
                if made.status == "issued" and made.voucher.expires_at <= self.clock
            ]
            super().maintenance()
            for made in due:
                made.status = "expired"  # no points come back

        @invariant()
        def vouchers_agree(self) -> None:
            for member in self.balances:
                found = {voucher.code: voucher.status.value for voucher in self.engine.vouchers(member)}
                assert found == {
                    code: made.status for code, made in self.vouchers.items() if made.member == member
                }
                # What vouchers hold is what their entries took, less what voids gave back.
                history = self.engine.history(member)
                codes = {made.key for made in self.vouchers.values() if made.member == member}
                spent = -sum(e.points for e in history if e.kind is EntryKind.REDEEM and e.source_id in codes)
                back = sum(
                    made.voucher.points
                    for made in self.vouchers.values()
                    if made.member == member and made.status == "voided"
                )
                kept = sum(
                    made.voucher.points
                    for made in self.vouchers.values()
                    if made.member == member and made.status != "voided"
                )
                assert spent - back == kept

    RewardsMachine.__name__ = RewardsMachine.__qualname__ = "RewardsMachine"
    return RewardsMachine
