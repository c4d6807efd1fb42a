"""What the engine answers without writing: quotes, explanations, balances, history, figures.

:class:`~loyalty.Engine` inherits these; they live here so that the commands
and the reads each stay a page one can read through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from decimal import Decimal

from loyalty.chains import ChainReport, Head
from loyalty.checks import check_flag
from loyalty.figures import Figures
from loyalty.habits import AtRiskReport
from loyalty.history import Event as HistoryEvent
from loyalty.holds import Hold
from loyalty.identifiers import Identifier
from loyalty.ledger import Entry
from loyalty.lots import Balance, Lot
from loyalty.members import AttributeValue, Member
from loyalty.money import Money
from loyalty.outbox import DomainEvent
from loyalty.purchases import Purchase
from loyalty.receipts import Receipt
from loyalty.redemption import PaymentQuote
from loyalty.referrals import ReferralReport
from loyalty.rewards import Reward
from loyalty.service import (
    allowances,
    auditing,
    guests,
    identifying,
    purchases,
    referring,
    retention,
    rewarding,
    tiering,
    views,
)
from loyalty.service.context import Context
from loyalty.service.history_export import HistoryExport, export_history
from loyalty.tiers import TierStatus
from loyalty.vouchers import Voucher

__all__ = ["EngineReads"]


class EngineReads:
    """The read side of :class:`~loyalty.Engine`: nothing here writes to the store."""

    _ctx: Context

    def rewards(self, member_id: str | None = None) -> list[Reward]:
        """The catalogue's rewards on offer now (the version in force on the engine clock), or,
        with ``member_id``, those its available points pay for."""
        return rewarding.rewards(self._ctx, member_id)

    def voucher(self, code: str) -> Voucher:
        """The voucher of ``code`` as it stands; an unknown code raises
        :class:`~loyalty.errors.UnknownVoucher`."""
        return rewarding.voucher(self._ctx, code)

    def vouchers(self, member_id: str, *, open_only: bool = False) -> list[Voucher]:
        """The member's vouchers, oldest first (only the unused ones with ``open_only``)."""
        return rewarding.vouchers(self._ctx, member_id, open_only=check_flag("open_only", open_only))

    def referrals(self, member_id: str) -> ReferralReport:
        """The member's code, who referred it, whom it referred (each as it stands) and points earned."""
        return referring.report(self._ctx, member_id)

    def quote(self, purchase: Purchase, *, guest: bool = False) -> Receipt:
        """What :meth:`record_purchase` would give now, writing nothing.

        For a purchase already recorded that is its original receipt, as a
        retry would get; a different purchase under a recorded id raises
        :class:`IdempotencyConflict`, as recording it would.

        ``guest=True`` quotes a card that is not enrolled: what the basket
        would earn ``purchase.member_id`` had it enrolled at ``purchase.at``
        (the till's "join now and earn N points"). The member is a new one
        (no attributes or birthday, no visits, none of its own tallies, the
        lowest tier, no referral), so first-purchase rules give and member
        filters see nothing; what all members share (a campaign's budget) is
        read from the store, so a spent budget is not promised. The program
        is the version in force at ``purchase.at``. Nothing is written and the
        purchase's id is neither looked up nor reserved: the sale can be
        recorded under it once the member has enrolled. The receipt has
        ``guest`` set and no ``balance_after``. An enrolled ``member_id``
        raises :class:`InvalidInput` naming it: a guest quote would leave out
        what that member has earned towards (its visits, stamps, tier), so
        it would understate or overstate the points, where a plain quote is exact.
        """
        check_flag("guest", guest)
        if guest:
            return guests.quote_guest(self._ctx, purchase, explain=False)
        return purchases.evaluate_readonly(self._ctx, purchase, explain=False)

    def explain(self, purchase: Purchase, *, guest: bool = False) -> Receipt:
        """:meth:`quote`, plus every rule that gives nothing with its reason in ``receipt.skipped``.

        Reasons are worked out for a purchase not yet recorded; for one
        already recorded the original receipt comes back, with its breakdown.
        ``guest=True`` explains a guest quote (see :meth:`quote`).
        """
        check_flag("guest", guest)
        if guest:
            return guests.quote_guest(self._ctx, purchase, explain=True)
        return purchases.evaluate_readonly(self._ctx, purchase, explain=True)

    def explain_event(
        self,
        member_id: str,
        name: str,
        *,
        id: str,
        at: datetime,
        properties: Mapping[str, AttributeValue] | None = None,
    ) -> Receipt:
        """What :meth:`record_event` would give now, with every rule that gives nothing and its
        reason in ``receipt.skipped`` (a limit reached, another event's rule, a purchase rule),
        writing nothing. For an event already recorded under ``id`` it is the original receipt.
        """
        event = purchases.till_event(self._ctx, id, member_id, name, at, properties)
        if isinstance(event, Receipt):
            return event
        return purchases.evaluate_readonly(self._ctx, event, explain=True)

    def quote_payment(self, member_id: str, amount: Money, *, purchase_id: str | None = None) -> PaymentQuote:
        """How many points pay ``amount`` now, and how many of them the member can use, writing
        nothing (:class:`~loyalty.redemption.PaymentQuote`).

        Needs the program's ``redemption.point_value`` (money per point). With
        ``purchase_id`` (a recorded purchase the points would pay for), what
        was paid for it already, ``per_purchase`` and its total count too. Pay
        with :meth:`redeem` and the same ``purchase_id``.
        """
        return allowances.quote_payment(self._ctx, member_id, amount, purchase_id)

    def balance(self, member_id: str) -> Balance:
        """The member's points now: available, pending and overdue (see :class:`~loyalty.lots.Balance`).

        It costs what is pending or past due, not the member's history: the
        total is maintained and the lots are found through their date indexes.
        Vesting needs no maintenance: a lot is available once its date passes.
        """
        return views.balance(self._ctx, member_id)

    def lots(self, member_id: str) -> list[Lot]:
        """The member's open lots (points not yet spent or expired), by id."""
        return views.lots(self._ctx, member_id)

    def expiring(self, member_id: str, *, within: timedelta) -> list[Lot]:
        """The member's lots that expire after now and no later than ``within`` from now, soonest first.

        For reminders ("120 points expire on 31 March"): each lot's
        ``remaining`` points and ``expires_at``.
        """
        return views.expiring(self._ctx, member_id, within)

    def history(self, member_id: str, *, after: int = 0, limit: int | None = None) -> list[Entry]:
        """The member's ledger entries in recording order, from ``seq > after``, at most ``limit``."""
        return views.history(self._ctx, member_id, after, limit)

    def member(self, member_id: str) -> Member:
        """The enrolled member."""
        return views.member(self._ctx, member_id)

    def find_member(self, key: str) -> Member:
        """The member a card or key finds, ``kind:value`` in any spelling of its normal form
        (``"card:1234 5678"`` finds ``card:12345678``); a suspended or closed member too.

        A key no member has (never given, or removed) raises
        :class:`~loyalty.errors.UnknownIdentifier`, a kind of
        :class:`~loyalty.errors.UnknownMember`; a replaced card raises
        :class:`~loyalty.errors.IdentifierReplaced` unless the program's
        ``[identifiers] lost_card`` is ``"redirect"``, which finds its member. Each names ``key``.
        """
        return identifying.find_member(self._ctx, key)

    def identifiers(self, member_id: str) -> list[Identifier]:
        """The member's cards and keys, active, replaced and removed, in the order given."""
        return identifying.identifiers(self._ctx, member_id)

    def at_risk(
        self,
        now: datetime | None = None,
        *,
        factor: Decimal = Decimal(2),
        drop: Decimal = Decimal("0.5"),
        recent_months: int = 3,
        baseline_months: int = 12,
        min_visits: int = 3,
        page: int = 500,
    ) -> AtRiskReport:
        """Members drifting away at ``now`` (default: the engine clock), each with why and the figures.

        A member is at risk when the time since the last visit is more than
        ``factor`` times its own typical gap between visits, or when it spent
        more than ``drop`` (a share) less per month over the last
        ``recent_months`` (the current one counted for the part that has
        passed) than over the ``baseline_months`` before. Members with fewer
        than ``min_visits`` visits have no baseline: they are listed in
        ``no_baseline``, not judged. Reads every member's habits, ``page``
        members per query (:mod:`loyalty.habits`).
        """
        return retention.at_risk(
            self._ctx,
            now,
            factor=factor,
            drop=drop,
            recent_months=recent_months,
            baseline_months=baseline_months,
            min_visits=min_visits,
            page=page,
        )

    def figures(self, start: datetime, end: datetime, *, point_value: Decimal | None = None) -> Figures:
        """The program's figures for ``[start, end)`` (:mod:`loyalty.figures`), added up in the store.

        Retention compares with the period of the same length just before;
        ``point_value`` (money per point) prices the outstanding points.
        """
        return retention.period_figures(self._ctx, start, end, point_value)

    def events(self, *, after: int = 0, limit: int = 100) -> list[DomainEvent]:
        """Domain events with ``seq > after``, in the order they were committed, at most ``limit``.

        Keep the ``seq`` of the last event handled and pass it as ``after``
        next time: each event is seen once, none is skipped (see
        :mod:`loyalty.outbox`).
        """
        return views.events(self._ctx, after, limit)

    def entries(self, *, after: int = 0, limit: int = 100) -> list[Entry]:
        """Every member's ledger entries with ``seq > after``, in the order they were committed,
        at most ``limit`` (up to 10,000): the ledger feed, for accounting and BI.

        Keep the ``seq`` of the last entry handled and pass it as ``after`` next time: each
        entry is seen once, none is skipped, however late it committed (see ``entries`` of
        :class:`loyalty.store.LedgerRole`). ``entry.to_dict()`` is an entry's JSON form.
        """
        return views.entries(self._ctx, after, limit)

    def last_seq(self) -> int:
        """The highest ledger entry ``seq`` drawn so far (0: none): how far the ledger feed
        (:meth:`entries`) and :meth:`verify` have to read. An upper bound of the entries:
        PostgreSQL draws numbers that a writer rolling back leaves unused.

        >>> from datetime import datetime, timezone
        >>> from loyalty import Engine, Program, open_store
        >>> t = datetime(2024, 3, 1, 9, 30, tzinfo=timezone.utc)
        >>> engine = Engine(Program("Club", "EUR"), open_store("memory://"), clock=lambda: t)
        >>> _ = engine.enroll("M1", at=t)
        >>> engine.last_seq(), engine.adjust("M1", 10, id="A1", at=t, reason="goodwill", actor="ops").seq
        (0, 1)
        >>> engine.last_seq()
        1
        """
        return views.last_seq(self._ctx)

    def export_history(
        self, *, page: int = 500, counts: HistoryExport | None = None
    ) -> Iterator[HistoryEvent]:
        """The store's history as records (:mod:`loyalty.history`) that :meth:`import_events` and
        ``loyalty simulate --history`` read: every member's enrollment, by member id, then the
        purchases, returns, redemptions, adjustments, custom events, opening balances,
        rewards bought, transfers, merges and holds that wrote ledger entries, in commit order, each
        as the command that made it. Read ``page`` members or entries at a time; ``counts`` (a
        :class:`HistoryExport`) tallies what was written and the commands no record type
        describes (see docs/import-export.md)."""
        return export_history(self._ctx, page=page, export=counts)

    def verify(
        self,
        *,
        batch: int = 1000,
        progress: Callable[[int], None] | None = None,
        heads: Iterable[Head] | None = None,
        keep_heads: bool = False,
    ) -> ChainReport:
        """Recompute every member's chain of entry hashes (:mod:`loyalty.chains`) and report every
        broken link, with its member and ``seq``: the proof that no entry was edited, removed,
        inserted or reordered behind the engine's back since it was written (see docs/audit.md).
        Each member row's head must be its last entry, and its balance that entry's
        ``balance_after``.

        ``heads``: the heads :meth:`heads` gave earlier, kept where the database's writers cannot
        change them (:func:`loyalty.chains.read_heads` reads the file ``loyalty verify
        --write-heads`` writes). Each must still be in its member's chain, the entry of its
        ``seq`` there, of that member (or of the pseudonym an erasure gave it since), with that
        link; else a break ``"exported"``: the chain was cut short, rewritten or swapped with
        another since. A bad head raises :class:`~loyalty.errors.InvalidInput` naming it.

        ``keep_heads``: the report's ``heads`` are every member's head as this check read them,
        in the same snapshot as the entries it checked: what to export when the report is ok
        (``loyalty verify --write-heads`` does), with no entry written since slipping in unchecked.

        Time linear in the ledger, reading ``batch`` entries at a time in one read-only unit of
        work; ``progress(n)`` is called after each page of ``n`` entries.

        >>> from datetime import datetime, timezone
        >>> from loyalty import Engine, Program, open_store
        >>> t = datetime(2024, 3, 1, 9, 30, tzinfo=timezone.utc)
        >>> engine = Engine(Program("Club", "EUR"), open_store("memory://"), clock=lambda: t)
        >>> _ = engine.enroll("M1", at=t)
        >>> _ = engine.adjust("M1", 10, id="A1", at=t, reason="goodwill", actor="ops")
        >>> report = engine.verify()
        >>> report.ok, report.entries, report.members
        (True, 1, 1)
        """
        return auditing.verify(self._ctx, batch=batch, progress=progress, heads=heads, keep_heads=keep_heads)

    def heads(self, *, batch: int = 1000) -> list[Head]:
        """Every member's chain head (its last entry's ``seq`` and link, and its balance), in
        member id order, read ``batch`` at a time in one read-only unit of work: what to export
        (:func:`loyalty.chains.write_heads`) and give :meth:`verify` later (see docs/audit.md).

        >>> from datetime import datetime, timezone
        >>> from loyalty import Engine, Program, open_store
        >>> t = datetime(2024, 3, 1, 9, 30, tzinfo=timezone.utc)
        >>> engine = Engine(Program("Club", "EUR"), open_store("memory://"), clock=lambda: t)
        >>> _ = engine.enroll("M1", at=t), engine.enroll("M2", at=t)
        >>> _ = engine.adjust("M1", 10, id="A1", at=t, reason="goodwill", actor="ops")
        >>> [(head.member_id, head.seq, head.balance) for head in engine.heads()]
        [('M1', 1, 10), ('M2', 0, 0)]
        >>> engine.verify(heads=engine.heads()).exported
        1
        """
        return auditing.heads(self._ctx, batch=batch)

    def tier(self, member_id: str) -> TierStatus:
        """Where the member stands in the program's tiers now (:class:`~loyalty.tiers.TierStatus`).

        Reviews that fell due are taken into account even if maintenance has
        not run yet (nothing is written). Raises
        :class:`~loyalty.errors.UnknownTier` if the program has no tiers.
        """
        return tiering.status(self._ctx, member_id)

    def holds(self, member_id: str) -> list[Hold]:
        """The member's open holds, by id."""
        return views.holds(self._ctx, member_id)
