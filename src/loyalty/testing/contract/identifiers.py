"""Part of the store contract (:class:`~loyalty.testing.contract.StoreContract`).

Members' cards and keys (:class:`~loyalty.store.identifier_role.IdentifiersRole`)."""

from __future__ import annotations

import attrs
import pytest

from loyalty.errors import StorageError
from loyalty.identifiers import Identifier, IdentifierKind, IdentifierStatus
from loyalty.store import Store
from loyalty.testing.contract._base import CET, DAY, HOSTILE_STRINGS, T0, ContractBase

CARD, PHONE, EMAIL, OTHER = IdentifierKind


class IdentifiersContract(ContractBase):
    """Members' cards and keys: unique by kind and value, found by key and by member."""

    def test_keys_are_found_by_kind_and_value_and_by_member_in_the_order_given(self, store: Store) -> None:
        self._enroll(store)
        self._enroll(store, "M2")
        email = Identifier(EMAIL, "ann@example.com", "M1", (T0 + DAY).astimezone(CET))
        card = Identifier(CARD, "1234", "M1", T0)
        phone = Identifier(PHONE, "+4412345678", "M2", T0)
        with store.unit_of_work() as uow:
            assert uow.identifier(CARD, "1234") is None and uow.identifiers("M1") == []
            for identifier in (email, card, phone):
                uow.add_identifier(identifier)
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.identifier(CARD, "1234") == card
            found = uow.identifier(EMAIL, "ann@example.com")
            assert found == email and found is not None and found.since.utcoffset() == CET.utcoffset(None)
            # Another kind with the same value is another key.
            assert uow.identifier(OTHER, "1234") is None
            assert uow.identifiers("M1") == [card, email]
            assert uow.identifiers("M2") == [phone]
            assert uow.identifiers("nobody") == []

    def test_a_key_is_recorded_once_whatever_its_status_and_only_for_a_member(self, store: Store) -> None:
        self._enroll(store)
        self._enroll(store, "M2")
        with store.unit_of_work() as uow:
            uow.add_identifier(Identifier(CARD, "1234", "M1", T0, IdentifierStatus.REMOVED))
            uow.commit()
        for identifier in (
            Identifier(CARD, "1234", "M2", T0),
            Identifier(CARD, "5678", "nobody", T0),
        ):
            with pytest.raises(StorageError), store.unit_of_work() as uow:
                uow.add_identifier(identifier)
        with store.unit_of_work() as uow:
            uow.add_identifier(Identifier(CARD, "5678", "M2", T0))  # rolled back
        with store.unit_of_work(readonly=True) as uow:
            assert uow.identifier(CARD, "5678") is None and uow.identifiers("M2") == []
            assert uow.identifiers("M1") == [Identifier(CARD, "1234", "M1", T0, IdentifierStatus.REMOVED)]

    def test_an_update_changes_the_status_or_the_member_and_rolls_back(self, store: Store) -> None:
        self._enroll(store)
        self._enroll(store, "M2")
        card = Identifier(CARD, "1234", "M1", T0)
        with store.unit_of_work() as uow:
            uow.add_identifier(card)
            uow.commit()
        replaced = attrs.evolve(card, status=IdentifierStatus.REPLACED, replaced_by="card:5678")
        with store.unit_of_work() as uow:
            uow.update_identifier(replaced)
            assert uow.identifier(CARD, "1234") == replaced
            uow.commit()
        given_again = Identifier(CARD, "1234", "M2", T0 + DAY)
        with store.unit_of_work() as uow:
            uow.update_identifier(given_again)  # rolled back
            assert uow.identifiers("M2") == [given_again] and uow.identifiers("M1") == []
        with store.unit_of_work(readonly=True) as uow:
            assert uow.identifier(CARD, "1234") == replaced
            assert uow.identifiers("M1") == [replaced] and uow.identifiers("M2") == []
        with store.unit_of_work() as uow:
            uow.update_identifier(given_again)
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.identifiers("M2") == [given_again] and uow.identifiers("M1") == []
        for identifier in (Identifier(CARD, "9999", "M1", T0), attrs.evolve(card, member_id="nobody")):
            with pytest.raises(StorageError), store.unit_of_work() as uow:
                uow.update_identifier(identifier)

    def test_hostile_values_come_back_verbatim(self, store: Store) -> None:
        self._enroll(store)
        others = [Identifier(OTHER, text.strip(), "M1", T0) for text in HOSTILE_STRINGS]
        with store.unit_of_work() as uow:
            for identifier in others:
                uow.add_identifier(identifier)
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert [uow.identifier(OTHER, i.value) for i in others] == others
            assert sorted(uow.identifiers("M1"), key=lambda i: i.value) == sorted(
                others, key=lambda i: i.value
            )
