"""Earning: purchases and events, recorded or quoted.

A recorded purchase reads one snapshot under the member's lock (balance,
what it owes, tallies, tier state, referral: :class:`loyalty.recording.Snapshot`),
has the domain decide everything it writes (:func:`loyalty.recording.plan_earning`),
and writes that plan in one place with the operation a retry replays.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from loyalty import codec
from loyalty.earning import Event, evaluate, evaluate_event, tally_keys
from loyalty.earning_keys import ENROLLED, visits_key
from loyalty.errors import InvalidInput
from loyalty.habits import month_key, seen_key, spent_key
from loyalty.ledger import Entry
from loyalty.members import AttributeValue, Member, MemberStatus
from loyalty.program import Program
from loyalty.purchases import Purchase
from loyalty.receipts import Receipt
from loyalty.recording import EarningPlan, ReferralSnapshot, Snapshot, TierSnapshot, plan_earning
from loyalty.referrals import Referral, ReferralState, cap_key
from loyalty.returns import debt_key, owed_key
from loyalty.service import erasure_parts, locks, postings, referral_parts, tiering
from loyalty.service.context import Context
from loyalty.service.idempotency import Command
from loyalty.store import Operation, UnitOfWork
from loyalty.tallies import Tally
from loyalty.tier_decisions import as_tier, decide
from loyalty.versions import in_force

__all__ = [
    "check_purchase",
    "evaluate_readonly",
    "record",
    "record_purchase",
    "record_till_event",
    "request_of_event",
]


def check_purchase(purchase: object) -> Purchase:
    """``purchase`` if it is a :class:`~loyalty.purchases.Purchase` (checked when it was made)."""
    if not isinstance(purchase, Purchase):
        raise InvalidInput("purchase", f"must be a Purchase, not {type(purchase).__name__}")
    return purchase


def record_purchase(ctx: Context, purchase: Purchase) -> Receipt:
    """Earn points for a purchase (see :meth:`loyalty.Engine.record_purchase`)."""
    check_purchase(purchase)
    command = Command(purchase.id, "purchase", codec.purchase_request(purchase))
    return record(ctx, purchase, command, "purchase")


def record_till_event(ctx: Context, event: Event | Receipt) -> Receipt:
    """Earn points for a non-purchase event made by :func:`till_event` (see
    :meth:`loyalty.Engine.record_event`)."""
    if isinstance(event, Receipt):
        return event
    command = Command(event.id, "event", request_of_event(event))
    return record(ctx, event, command, f"event {event.name}")


def till_event(
    ctx: Context,
    id: str,
    member_id: str,
    name: str,
    at: datetime,
    properties: Mapping[str, AttributeValue] | None,
) -> Event | Receipt:
    """An event a till records; not an enrollment, which :meth:`loyalty.Engine.enroll` records.

    An enrollment event a till recorded before the engine paid sign-up rules itself is a retry:
    its original receipt, as for any id already recorded."""
    event = Event(id, member_id, name, at, properties)
    if event.name != ENROLLED:
        return event
    command = Command(event.id, "event", request_of_event(event))
    replay = ctx.runner.read(command.replay)
    if replay is not None:
        return codec.receipt_from_result(replay.result)
    raise InvalidInput(
        "name", f"{ENROLLED!r} is recorded by Engine.enroll, which pays the sign-up rules once"
    )


def request_of_event(event: Event) -> dict[str, Any]:
    """An event's canonical request, compared when its id comes back."""
    return {
        "member_id": event.member_id,
        "name": event.name,
        "at": event.at.isoformat(),
        "properties": dict(event.properties),
    }


def _read(
    uow: UnitOfWork,
    program: Program,
    subject: Purchase | Event,
    member: Member | None,
    month: str | None = None,
) -> tuple[dict[str, Tally], list[str]]:
    """The tallies an evaluation of ``subject`` reads, with what returns left the member owing and,
    for a purchase, its habits (first and last visit, the ``month``'s spend); and the keys of
    those the rules read (what a return evaluates the purchase again with)."""
    own, shared = tally_keys(program, subject, member)
    rules_read = own + shared
    own.append(debt_key(subject.member_id))
    own.append(owed_key(subject.member_id))
    if isinstance(subject, Purchase):
        # (The month's spend is read with the rest so the adapter need not read it to add to it.)
        if month is None:
            month = month_key(subject.at.astimezone(program.zone))
        own.append(seen_key(subject.member_id))
        own.append(spent_key(subject.member_id, month))
    # The member's own tallies are already guarded by the lock on its balance.
    tallies = uow.tallies(own)
    if shared:
        tallies = {**tallies, **uow.tallies(shared, for_update=True)}
    return tallies, rules_read


def _referral(
    ctx: Context, uow: UnitOfWork, program: Program, purchase: Purchase, read: Mapping[str, Tally]
) -> ReferralSnapshot | None:
    """What a referee's first purchase needs of its pending referral: the referrer's status and
    (for the identity attribute) member, read without its lock, since the purchase writes none
    of its rows (its bonus is its own part: :mod:`loyalty.service.referral_parts`), but under
    its hold; and its rewarded referrals in the cap's period, under the cap's lock, so that two
    referees' first purchases never both take its last place.

    The status is read after the hold (:meth:`~loyalty.store.ErasureRole.keep_named`), and the
    purchase's entries are numbered after that (PostgreSQL draws no number with the lock of a
    member with a pending referral): a change of the referrer's status waits for the hold
    (:func:`loyalty.service.locks.lock_status`), or the hold for it. So the change either
    committed before the read, which sees it, and read a ``ledger_seq`` below this purchase's
    entries, or it reads one at or above them: a history export, which places the change by that
    number, puts the two in the order the bonus was decided in, and its import decides alike."""
    terms = program.referrals
    visits = read.get(visits_key(purchase.member_id))
    if terms is None or (visits is not None and visits.count):
        return None
    referral = _held(ctx, uow, purchase.member_id)
    if referral is None:
        return None
    rewarded = 0
    if terms.cap is not None and terms.cap_period is not None:
        counted = cap_key(terms.cap_period.key(purchase.at.astimezone(program.zone)), referral.referrer)
        rewarded = uow.tallies([counted], for_update=True)[counted].count
    referee = uow.member(purchase.member_id)
    assert referee is not None  # it has a balance
    referrer = uow.member(referral.referrer) if terms.identity is not None else None
    # Under the hold: the status a change that held the referrer first left (see above).
    status = uow.member_status(referral.referrer)
    return ReferralSnapshot(referral, referee, referrer, rewarded, status)


def _held(ctx: Context, uow: UnitOfWork, referee: str) -> Referral | None:
    """The referee's pending referral, its referrer held (see :func:`_referral`)."""
    referral = _pending(ctx, uow, referee)
    for _ in range(referral_parts.MERGES):
        if referral is None:
            return None
        # The bonuses name the referrer (the referee's entry, the record owing it its part): held
        # against its erasure and a change of its status until this commits, or, erased since the
        # read, read again renamed (that erasure's part for this referee written first).
        if not uow.keep_named(referral.referrer):
            return _pending(ctx, uow, referee, erased=True)
        # A merge that closed the referrer after its status was read, before the hold (on
        # PostgreSQL the status is read first without a lock): its survivor is the referrer now,
        # held in turn. Without this the bonus went to nobody (a closed referrer earns none).
        if uow.member_status(referral.referrer) is not MemberStatus.CLOSED:
            return referral
        survivor = referral_parts.merged_into(uow, referral.referrer)
        if survivor is None:
            return referral  # closed by a change of status: no bonus, as decided from it
        referral = attrs.evolve(referral, referrer=survivor)
    return referral


def _pending(ctx: Context, uow: UnitOfWork, referee: str, *, erased: bool = False) -> Referral | None:
    """The referee's pending referral, naming the member to reward now (see :func:`_referral`)."""
    referral = erasure_parts.referral_of(ctx, uow, referee, erased=erased)
    if referral is None or referral.state is not ReferralState.PENDING:
        return None
    if uow.member_status(referral.referrer) is MemberStatus.CLOSED:
        # A merge closed the referrer and has yet to move this row (each referee's is its own
        # part, after the survivor's): the survivor is the referrer, as once the row moved.
        survivor = referral_parts.merged_into(uow, referral.referrer)
        if survivor is not None:
            referral = attrs.evolve(referral, referrer=survivor)
    return referral


def _snapshot(
    ctx: Context,
    uow: UnitOfWork,
    program: Program,
    subject: Purchase | Event,
    reason: str,
    locked: int | None,
) -> tuple[Snapshot, dict[str, tuple[int, str]]]:
    """Everything recording ``subject`` decides on, read under the member's lock, or with the
    balance ``locked`` already.
    Points past their date under an inactivity policy are written off first, as maintenance
    would have."""
    purchase = subject if isinstance(subject, Purchase) else None
    balance = locks.lock(uow, subject.member_id) if locked is None else locked
    locks.allowed(uow, subject.member_id, locks.EARN)
    # The member's enrollment came with its lock (on PostgreSQL in the same round trip): the
    # guard costs no read of its own.
    ctx.enrolled_by(uow, subject.member_id, subject.at)
    now = ctx.now()
    rolls = program.expiry.rolls
    if rolls:
        balance = postings.keep_active(uow, program, subject, now)
    current = tiering.tiered_now(ctx, uow)
    needs_member = program.index.needs_member or current is not None
    member = uow.member(subject.member_id) if needs_member else None
    tier = None
    seen = member
    if current is not None and current.tiers is not None and member is not None:
        settled = tiering.settled(uow, current, current.tiers, member, now)
        tier = TierSnapshot(
            current,
            settled,
            tiering.measure_settled(uow, current, current.tiers, member, settled, now),
            tiering.progress_settled(uow, current.tiers, member.id, settled),
        )
        seen = as_tier(member, settled.state.tier)
    month = None if purchase is None else month_key(purchase.at.astimezone(program.zone))
    read, rules_read = _read(uow, program, subject, seen, month)
    # Lots roll under the purchase's version (its points) or the one in force (tier bonuses).
    rolls = rolls or (current is not None and current.expiry.rolls)
    account = postings.read_account(uow, subject.member_id, rolls=rolls, balance=balance, read=read)
    referral = (
        None
        if purchase is None or program.referrals is None
        else _referral(ctx, uow, program, purchase, read)
    )
    versions = ctx.programs.known()
    snapshot = Snapshot(subject, program, versions, now, account, member, read, reason, tier, referral, month)
    return snapshot, _kept(read, rules_read)


def _kept(read: Mapping[str, Tally], rules_read: list[str]) -> dict[str, tuple[int, str]]:
    """The tallies a return evaluates the purchase again with: those its rules read, not zero.

    (What returns left the member owing, the month's spend and the first and last visit are
    read for the purchase's own writes; a rule that reads the visits, with ``absent_days``,
    names them among its keys. Keeping only the rest keeps about 100 bytes less per purchase.
    A return's lines are some of the purchase's, so its rules are some of the purchase's.
    Pairs as tuples: the same JSON array in a database, and in memory a tuple of plain values
    is one object fewer for the garbage collector to walk than a list.)
    """
    kept = {}
    for name in rules_read:
        t = read[name]
        if t.count or t.points:
            kept[name] = (t.count, str(t.points))
    return kept


def record(ctx: Context, subject: Purchase | Event, command: Command, reason: str) -> Receipt:
    """Record a purchase or event under the version of its time: read, decide, write once."""
    ctx.till_time("at", subject.at, command.key)
    program = ctx.programs.at(subject.at)

    # What the referrer is owed, if this is a referee's first purchase: its own part, after.
    owed: list[Operation] = []

    def run(uow: UnitOfWork) -> Receipt:
        ctx.programs.begin()
        owed.clear()
        # A command locks its own member only (a referrer's bonus is its own part): it can do
        # so with its lookup.
        replay, locked = command.replay_and_lock(uow, subject.member_id)
        if replay is None and locked is None:
            raise locks.unknown(uow, subject.member_id)
        if replay is not None:
            if isinstance(subject, Purchase):
                # A retry finishes the referrer's part a crash left unwritten (one read more, on
                # a retry only).
                half = referral_parts.unfinished(uow, subject.id)
                if half is not None:
                    owed.append(half)
            # The original receipt, even if the program has changed since.
            return codec.receipt_from_result(replay.result)
        # This engine's versions are stored with the command's own writes (a refused command
        # stores none), and the ones other engines stored are known before any date is decided.
        ctx.programs.store_in(uow)
        snapshot, kept, decided, entries, receipt = _earn_in(ctx, uow, program, subject, reason, locked)
        result = codec.receipt_result(receipt, occurred_at=command.request["at"])
        # What a return needs to recompute the purchase as it was: its lot, the tallies
        # and the member it was evaluated with (only tallies that are not zero: a missing
        # one reads as zero, and this is on every purchase).
        result["lot"] = None if decided.lot is None else entries[decided.lot].seq
        # (Pairs as tuples: the same JSON array in a database, and in memory a tuple of plain
        # values is one object fewer for the garbage collector to walk than a list.)
        result["context"] = kept
        if decided.member is not None:
            result["member"] = codec.member_record(decided.member)
        if not entries and isinstance(subject, Purchase):
            # No entry places it in the ledger's commit order for a history export: the ledger's
            # last entry then, read under the member's lock, as a status change keeps it
            # (loyalty.service.history_export). Only here: the purchases that earned something
            # are placed by their entries. (Its record is of layout 4: loyalty.records.)
            result["ledger_seq"] = uow.last_seq()
        # Recorded at the instant the entries were (read once, in the snapshot).
        command.remember(uow, result, snapshot.now)
        if decided.bonus is not None:
            owed.append(referral_parts.owe(uow, decided.bonus, snapshot.now))
        uow.commit()
        return receipt

    receipt = command.run(ctx.runner, run)
    ctx.programs.committed()
    for half in owed:
        referral_parts.finish(ctx, half)
    return receipt


def _earn_in(
    ctx: Context,
    uow: UnitOfWork,
    program: Program,
    subject: Purchase | Event,
    reason: str,
    locked: int | None,
) -> tuple[Snapshot, dict[str, tuple[int, str]], EarningPlan, list[Entry], Receipt]:
    """Read, decide and write what ``subject`` earns, in the caller's unit of work; the receipt
    shows where a balance metric took its member."""
    snapshot, kept = _snapshot(ctx, uow, program, subject, reason, locked)
    decided = plan_earning(snapshot)
    entries = postings.apply(uow, decided.plan)
    if decided.tier_state is not None:
        uow.put_tier_state(decided.tier_state)
    if decided.referral is not None:
        referee = None if decided.referee_lot is None else entries[decided.referee_lot].seq
        # The referrer's lot is its own part's (referral_parts.paid_lot): not in the referee's row.
        uow.put_referral(attrs.evolve(decided.referral, referee_lot=referee))
    return snapshot, kept, decided, entries, _follow_balances(ctx, uow, snapshot, decided.receipt, entries)


def _follow_balances(
    ctx: Context, uow: UnitOfWork, snapshot: Snapshot, receipt: Receipt, entries: list[Entry]
) -> Receipt:
    """Under a balance metric, every member whose balance the purchase moved follows it (an
    entry bonus or a referral bonus can lift a member further than the points earned did);
    the receipt shows where its member ended."""
    if not ctx.programs.may_follow_balance:
        return receipt  # no version follows balances (as follow_balance finds, without the set)
    member_id = snapshot.subject.member_id
    members = {member_id, *(entry.member_id for entry in entries)}
    followed = tiering.follow_balance(ctx, uow, members, source=snapshot.subject.id, at=snapshot.now)
    mine = followed.get(member_id)
    tiers = None if snapshot.tier is None else snapshot.tier.current.tiers
    if mine is None or not (mine.moved or mine.bonus) or tiers is None or snapshot.tier is None:
        return receipt
    up = tiers.position(mine.state.tier) > tiers.position(snapshot.tier.settled.state.tier)
    return attrs.evolve(
        receipt,
        tier_reached=mine.state.tier if up else None,
        tier_bonus=receipt.tier_bonus + mine.bonus,
        balance_after=uow.balance(member_id),
    )


def earn_on_enrollment(ctx: Context, uow: UnitOfWork, member_id: str, at: datetime) -> None:
    """Pay the sign-up rules (event rules for :data:`~loyalty.earning_keys.ENROLLED`) of the version in
    force at ``at`` to the member just added in ``uow``, with the enrollment's own writes: both
    or neither. Before the program's first version there is nothing to pay."""
    # Read in this unit of work: a second one could wait on the connection this one holds.
    versions = ctx.programs.in_uow(uow)
    first = versions[0].effective_from
    if first is not None and at < first:
        return
    program = in_force(versions, at)
    # Its id is the entry's source: "enrolled" on the member's own ledger says it all, and a
    # member id at the length limit leaves no room for more.
    event = Event(ENROLLED, member_id, ENROLLED, at)
    if not program.index.select(event).rules:
        return
    ctx.programs.store_in(uow)
    _earn_in(ctx, uow, program, event, f"event {ENROLLED}", None)


def evaluate_readonly(ctx: Context, subject: Purchase | Event, *, explain: bool) -> Receipt:
    """What recording ``subject`` would give now, writing nothing (see :meth:`loyalty.Engine.quote`
    and :meth:`loyalty.Engine.explain_event`)."""
    if not isinstance(subject, Event):
        check_purchase(subject)
    program = ctx.programs.at(subject.at)
    return ctx.runner.read(lambda uow: _evaluate_in(ctx, uow, program, subject, explain=explain))


def _evaluate_in(
    ctx: Context, uow: UnitOfWork, program: Program, subject: Purchase | Event, *, explain: bool
) -> Receipt:
    """:func:`evaluate_readonly` in the read-only unit of work ``uow``."""
    if isinstance(subject, Event):
        command = Command(subject.id, "event", request_of_event(subject))
    else:
        command = Command(subject.id, "purchase", codec.purchase_request(subject))
    replay = command.replay(uow)
    if replay is not None:
        return codec.receipt_from_result(replay.result)
    purchase = subject
    balance = uow.balance(purchase.member_id)
    if balance is None:
        raise locks.unknown(uow, purchase.member_id)
    locks.allowed(uow, purchase.member_id, locks.EARN)
    current = tiering.tiered_now(ctx, uow)
    needs_member = explain or program.index.needs_member or current is not None
    member = uow.member(purchase.member_id) if needs_member else None
    tier = None
    if current is not None and member is not None:
        assert current.tiers is not None
        now = ctx.now()
        settled = tiering.settled(uow, current, current.tiers, member, now)
        state = settled.state
        read, _ = _read(uow, program, purchase, as_tier(member, state.tier))
        measure = tiering.measure_settled(uow, current, current.tiers, member, settled, now)
        decided = decide(
            program,
            current,
            purchase,
            member,
            read=read,
            balance=balance,
            state=state,
            now=now,
            measure=measure,
            progress=tiering.progress_settled(uow, current.tiers, member.id, settled),
        )
        if not explain:
            return attrs.evolve(decided.receipt, balance_after=None)
        member = decided.member
        tier = decided.receipt
    own, shared = tally_keys(program, purchase, member, explain=explain)
    tallies = uow.tallies([*own, *shared]) if own or shared else {}
    if isinstance(purchase, Event):
        receipt = evaluate_event(program, purchase, member=member, tallies=tallies, explain=explain).receipt
    else:
        receipt = evaluate(program, purchase, member=member, tallies=tallies, explain=explain).receipt
    if tier is None:
        return receipt
    return attrs.evolve(receipt, tier=tier.tier, tier_reached=tier.tier_reached, tier_bonus=tier.tier_bonus)
