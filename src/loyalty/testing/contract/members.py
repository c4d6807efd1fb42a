"""Part of the store contract (:class:`~loyalty.testing.contract.StoreContract`).

Members, their balances and the ledger's entries."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import attrs
import pytest

from loyalty.checks import MAX_POINTS
from loyalty.errors import (
    InvalidInput,
    StorageError,
)
from loyalty.ledger import EntryKind, Posting, balance_of
from loyalty.members import Member, MemberStatus
from loyalty.store import Store
from loyalty.testing.contract._base import CET, T0, ContractBase, adjust_posting, debit


class MembersContract(ContractBase):
    """Members, their balances and the ledger's entries."""

    def test_unknown_member_has_no_balance(self, store: Store) -> None:
        with store.unit_of_work(readonly=True) as uow:
            assert uow.member("nobody") is None
            assert uow.balance("nobody") is None
            assert uow.history("nobody") == []

    def test_member_ids_page_in_code_point_order(self, store: Store) -> None:
        for member_id in ("b", "a", "B", "ü", "a2"):
            self._enroll(store, member_id)
        with store.unit_of_work(readonly=True) as uow:
            assert uow.member_ids(limit=10) == ["B", "a", "a2", "b", "ü"]
            assert uow.member_ids(after="a", limit=2) == ["a2", "b"]
            assert uow.member_ids(after="ü", limit=5) == []

    def test_member_round_trips(self, store: Store) -> None:
        member = Member(
            "M1",
            datetime(2024, 3, 31, 2, 30, tzinfo=CET),
            date(2000, 2, 29),
            {"segment": "student", "visits": 3, "vip": True},
        )
        with store.unit_of_work() as uow:
            uow.add_member(member)
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            got = uow.member("M1")
            assert uow.balance("M1") == 0
        assert got == member
        assert got is not None and got.enrolled_at.utcoffset() == timedelta(hours=1)

    def test_member_birthday_change_time_round_trips(self, store: Store) -> None:
        changed = datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))
        member = Member("M1", T0, date(1990, 1, 1), birthday_changed_at=changed)
        with store.unit_of_work() as uow:
            uow.add_member(member)
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            got = uow.member("M1")
        assert got == member
        assert got is not None and got.birthday_changed_at is not None
        assert got.birthday_changed_at.utcoffset() == timedelta(hours=-5, minutes=-30)

    def test_update_member_replaces_birthday_and_attributes(self, store: Store) -> None:
        enrolled = datetime(2024, 3, 31, 2, 30, tzinfo=CET)
        member = Member("M1", enrolled, date(2000, 2, 29), {"segment": "student"})
        with store.unit_of_work() as uow:
            uow.add_member(member)
            uow.add_member(Member("M2", T0, date(1980, 5, 5), {"segment": "bystander"}))
            entry = uow.append(adjust_posting("M1", 10, "A1"))
            uow.commit()
        changed = datetime(2024, 6, 1, 14, 0, 5, 123456, tzinfo=timezone(timedelta(hours=-5)))
        updated = attrs.evolve(
            member,
            birthday=date(1999, 12, 31),
            attributes={"segment": "staff", "vip": True, "visits": 7, "note": "'; DROP TABLE members; --"},
            birthday_changed_at=changed,
        )
        with store.unit_of_work() as uow:
            uow.update_member(updated)
            assert uow.member("M1") == updated
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            got = uow.member("M1")
            assert (uow.balance("M1"), uow.history("M1")) == (10, [entry])
            assert uow.member("M2") == Member("M2", T0, date(1980, 5, 5), {"segment": "bystander"})
        assert got == updated
        assert got is not None and got.birthday_changed_at is not None
        assert got.birthday_changed_at.utcoffset() == timedelta(hours=-5)
        assert got.enrolled_at.utcoffset() == timedelta(hours=1)
        cleared = attrs.evolve(updated, birthday=None, attributes={}, birthday_changed_at=None)
        with store.unit_of_work() as uow:
            uow.update_member(cleared)
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.member("M1") == cleared

    def test_a_members_status_is_kept_and_read_with_or_without_its_lock(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            uow.add_member(Member("M1", T0))
            uow.add_member(Member("M2", T0, status=MemberStatus.SUSPENDED))
            assert uow.member_status("M1") is MemberStatus.ACTIVE
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.balance("M1", for_update=True) == 0
            assert uow.member_status("M1") is MemberStatus.ACTIVE
            closed = Member("M1", T0, status=MemberStatus.CLOSED)
            uow.update_member(closed)
            # Asked again in the unit of work that changed it: the new status, not the lock's.
            assert uow.member_status("M1") is MemberStatus.CLOSED
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.member("M1") == closed
            assert uow.member_status("M2") is MemberStatus.SUSPENDED
            assert uow.member_status("nobody") is None
        with store.unit_of_work() as uow:
            assert uow.balance("M2", for_update=True) == 0
            assert uow.member_status("M2") is MemberStatus.SUSPENDED

    def test_a_members_enrollment_time_is_read_with_or_without_its_lock(self, store: Store) -> None:
        enrolled = datetime(2024, 3, 31, 2, 30, tzinfo=CET)
        with store.unit_of_work() as uow:
            uow.add_member(Member("M1", enrolled))
            uow.add_member(Member("M2", T0))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.enrolled_at("M1") == enrolled
            assert uow.enrolled_at("nobody") is None
        with store.unit_of_work() as uow:
            assert uow.operation_and_lock("K1", "M1") == (None, 0)
            got = uow.enrolled_at("M1")
            assert uow.balance("M2", for_update=True) == 0
            assert uow.enrolled_at("M2") == T0
            assert uow.operation_and_lock("K2", "nobody") == (None, None)
            assert uow.enrolled_at("nobody") is None
        # The instant and the till's offset, as the member's own record has them.
        assert got == enrolled and got is not None and got.utcoffset() == timedelta(hours=1)

    def test_update_member_rolls_back(self, store: Store) -> None:
        member = self._enroll(store)
        with store.unit_of_work() as uow:
            uow.update_member(attrs.evolve(member, birthday=date(2001, 1, 1), birthday_changed_at=T0))
        with pytest.raises(RuntimeError), store.unit_of_work() as uow:
            uow.update_member(attrs.evolve(member, attributes={"segment": "vip"}))
            raise RuntimeError("crash between the write and the commit")
        with store.unit_of_work(readonly=True) as uow:
            assert uow.member("M1") == member

    def test_update_of_an_unknown_member_fails(self, store: Store) -> None:
        with pytest.raises(StorageError), store.unit_of_work() as uow:
            uow.update_member(Member("nobody", T0, date(2000, 1, 1)))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.member("nobody") is None

    def test_append_numbers_entries_and_moves_the_balance(self, store: Store) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            first = uow.append(adjust_posting("M1", 40, "a"))
            second = debit(uow, "M1", -15, "b")
            assert uow.balance("M1", for_update=True) == 25
            uow.commit()
        assert second.seq > first.seq
        assert (first.balance_after, second.balance_after) == (40, 25)
        with store.unit_of_work(readonly=True) as uow:
            history = uow.history("M1")
            assert uow.balance("M1") == balance_of(history) == 25
        assert history == [first, second]

    def test_history_pages_with_after_and_limit(self, store: Store) -> None:
        self._enroll(store)
        self._enroll(store, "M2")
        with store.unit_of_work() as uow:
            mine = [uow.append(adjust_posting("M1", n, f"k{n}")) for n in range(1, 8)]
            uow.append(adjust_posting("M2", 99, "other"))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.history("M1", limit=3) == mine[:3]
            assert uow.history("M1", after=mine[2].seq, limit=3) == mine[3:6]
            assert uow.history("M1", after=mine[-1].seq) == []

    def test_entries_keep_their_till_offset_and_both_times(self, store: Store) -> None:
        self._enroll(store)
        local = datetime(2024, 10, 27, 2, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
        # The engine's clock in an offset of its own: kept too (an equal instant is not enough).
        clock = T0.astimezone(timezone(timedelta(hours=1)))
        with store.unit_of_work() as uow:
            uow.append(attrs.evolve(adjust_posting("M1", 5, "late", at=local), recorded_at=clock))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            (entry,) = uow.history("M1")
        with store.unit_of_work(readonly=True) as uow:
            (fed,) = uow.entries()
        for kept in (entry, fed):
            assert kept.occurred_at == local
            assert kept.occurred_at.utcoffset() == timedelta(hours=2)
            assert kept.recorded_at == T0
            assert kept.recorded_at.utcoffset() == timedelta(hours=1)

    def test_entries_keep_their_rules_and_program_version(self, store: Store) -> None:
        self._enroll(store)
        rules = ("base", "double-tuesday", "x2'\";--", "ünï✓🎉")
        with store.unit_of_work() as uow:
            many = uow.append(
                Posting("M1", EntryKind.EARN, 12, T0, T0, "P1", "purchase", None, rules, "2024 'spring' ✓")
            )
            one = uow.append(
                Posting("M1", EntryKind.EARN, 3, T0, T0, "P2", "purchase", None, ("base",), "v1")
            )
            none = debit(uow, "M1", -2, "R1")
            uow.commit()
        assert (many.rules, many.program_version) == (rules, "2024 'spring' ✓")
        assert (one.rules, one.program_version) == (("base",), "v1")
        assert (none.rules, none.program_version) == ((), None)
        with store.unit_of_work(readonly=True) as uow:
            assert uow.history("M1") == [many, one, none]

    @pytest.mark.parametrize("bad", ["two words", "", "tab\there", "new\nline", "nul\x00", "lone \ud800"])
    def test_rule_ids_that_would_not_come_back_whole_are_refused(self, store: Store, bad: str) -> None:
        self._enroll(store)
        with pytest.raises(InvalidInput) as info, store.unit_of_work() as uow:
            uow.append(Posting("M1", EntryKind.EARN, 5, T0, T0, "P1", "purchase", None, ("base", bad)))
            uow.commit()
        assert info.value.field == "rules"
        with store.unit_of_work(readonly=True) as uow:
            assert (uow.balance("M1"), uow.history("M1")) == (0, [])

    def test_balances_stay_exact_at_the_64_bit_edge(self, store: Store) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            uow.append(adjust_posting("M1", MAX_POINTS, "max"))
            debit(uow, "M1", -MAX_POINTS, "back")
            uow.append(adjust_posting("M1", MAX_POINTS - 1, "again"))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.balance("M1") == MAX_POINTS - 1
            assert [e.points for e in uow.history("M1")] == [MAX_POINTS, -MAX_POINTS, MAX_POINTS - 1]

    def test_an_entry_taking_the_balance_past_the_64_bit_edge_is_refused(self, store: Store) -> None:
        # The engine checks first (PointsOverflow); the store refuses too, and changes nothing.
        self._enroll(store)
        with store.unit_of_work() as uow:
            uow.append(adjust_posting("M1", MAX_POINTS, "max"))
            uow.commit()
        with pytest.raises(StorageError), store.unit_of_work() as uow:
            uow.append(adjust_posting("M1", 1, "over"))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert (uow.balance("M1"), [e.points for e in uow.history("M1")]) == (MAX_POINTS, [MAX_POINTS])
            assert [lot.remaining for lot in uow.lots("M1")] == [MAX_POINTS]
