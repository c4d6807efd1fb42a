"""The storage adapter contract, as a pytest mixin every adapter adopts.

An adapter passes when a subclass of :class:`StoreContract` that provides the
``store_factory`` fixture passes. Our three adapters adopt it like this::

    import pytest
    from loyalty.store.sqlite import SQLiteStore
    from loyalty.testing.contract import StoreContract

    class TestSQLiteStore(StoreContract):
        @pytest.fixture
        def store_factory(self, tmp_path):
            return lambda: SQLiteStore(tmp_path / "loyalty.db")

``store_factory`` returns a function that opens a *new handle* on one fresh,
empty storage location each time it is called; the suite closes the handles it
opens. Set ``durable = False`` for a store that does not outlive its handle
(such a store's factory returns the same instance every time) and
``concurrent = False`` for one that cannot be shared between threads.

The mixin's name does not start with ``Test``, so pytest never collects it on
its own. Call :func:`pytest.register_assert_rewrite` on this module (our
conftest does) to get pytest's detailed assertion messages from it.
"""

from __future__ import annotations

from loyalty.testing.contract._base import HOSTILE_STRINGS, T0
from loyalty.testing.contract.chains import ChainsContract
from loyalty.testing.contract.durability import DurabilityContract
from loyalty.testing.contract.engine import EngineContract
from loyalty.testing.contract.erasure import ErasureContract
from loyalty.testing.contract.erasure_ids import ErasureIdsContract
from loyalty.testing.contract.erasure_parts import ErasurePartsContract
from loyalty.testing.contract.figures import FiguresContract
from loyalty.testing.contract.holds import HoldsContract
from loyalty.testing.contract.identifiers import IdentifiersContract
from loyalty.testing.contract.ledger_feed import LedgerFeedContract
from loyalty.testing.contract.lots import LotsContract
from loyalty.testing.contract.members import MembersContract
from loyalty.testing.contract.no_entry import NoEntryContract
from loyalty.testing.contract.offline import OfflineContract
from loyalty.testing.contract.operations import OperationsContract
from loyalty.testing.contract.outbox import OutboxContract
from loyalty.testing.contract.programs import ProgramsContract
from loyalty.testing.contract.referrals import ReferralsContract
from loyalty.testing.contract.tallies import TalliesContract
from loyalty.testing.contract.tiers import TiersContract
from loyalty.testing.contract.units import UnitOfWorkContract
from loyalty.testing.contract.vouchers import VouchersContract
from loyalty.testing.contract_reads import ReadsContract

__all__ = ["HOSTILE_STRINGS", "T0", "StoreContract"]


class StoreContract(
    ReadsContract,
    MembersContract,
    LotsContract,
    TiersContract,
    FiguresContract,
    ReferralsContract,
    IdentifiersContract,
    OutboxContract,
    LedgerFeedContract,
    ChainsContract,
    HoldsContract,
    VouchersContract,
    OfflineContract,
    UnitOfWorkContract,
    OperationsContract,
    NoEntryContract,
    TalliesContract,
    ProgramsContract,
    DurabilityContract,
    EngineContract,
    ErasureContract,
    ErasureIdsContract,
    ErasurePartsContract,
):
    """Mixin with the tests every storage adapter must pass: one mixin per part of the port,
    composed (an adapter author can run one part alone by adopting its mixin)."""
