"""Transferring points between members: the sender's part, then the receiver's, each one member's
unit of work (so that, distributed by member, each is a write on one member's shard:
docs/scaling.md).

The sender's part locks the sender, and the receiver, whose status it decides on
(:func:`loyalty.service.locks.lock_giver`). Its past-due points are written off first, as before
any debit; then its lots are read in draw order, as far as the points need (a redemption's
draw: :mod:`loyalty.store.spending`), and :func:`loyalty.transfers.plan_sending` decides its
debit, written with the transfer's event, its day's tally and the command's record under the
caller's id, which keeps the runs of drawn points by date for the receiver's part. A short
balance is declined and the decline kept under the id, as a redemption's is; so is a transfer
beyond the sender's ``redemption.per_day``, which the points sent count toward. The program's
``minimum`` and ``multiple`` apply as to a redemption (bad input); ``per_purchase``,
``same_purchase`` and ``point_value`` concern paying for a purchase, which a transfer is not.

The receiver's part is decided from the sender's record alone (:func:`receive`): it locks the
receiver, credits the runs with their dates (:func:`loyalty.transfers.plan_receiving`), moves its
tier and keeps its own record under the id and :data:`loyalty.transfers.RECEIVED`. Whoever
finds the sender's record without the receiver's finishes it: the transfer itself right after
the sender's part, a retry of the transfer, or :meth:`loyalty.Engine.run_due`. Between the two
commits the points are in neither balance (docs/members.md, "Transfers").

An erased member is credited nothing (:func:`finish`): a receiver erased before its part was
written gets no part (also one no longer under the id the sender's record names: erased by an
erasure that did not see the sender's part, which still names its old id); the points go back
to the sender instead, in a unit of work of the sender's
that keeps the same record the receiver's would have (so only one of them is ever written), with
entries that say why. When the sender was erased too, the points go to neither and the record
says so. A sender erased before the receiver's part leaves the receiver's credit reading
``erased``, as the erasure makes the receiver's entries of a transfer written whole.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from loyalty import codec
from loyalty.checks import check_id, check_points, check_text
from loyalty.errors import InsufficientPoints, MemberErased
from loyalty.ledger import Entry
from loyalty.members import MemberStatus
from loyalty.pseudonyms import pseudonym, renamed
from loyalty.redemption import check_request
from loyalty.service import allowances, locks, postings, tiering
from loyalty.service.context import Context
from loyalty.service.idempotency import Command, insufficient
from loyalty.service.running import Declined
from loyalty.store import Operation, UnitOfWork
from loyalty.store.spending import drawable
from loyalty.transfers import (
    RECEIVED,
    Run,
    Transfer,
    check_parties,
    plan_receiving,
    plan_return,
    plan_sending,
    progress,
)

__all__ = ["finish", "give_back", "receive", "sent_part", "transfer"]

#: The kind of the receiver's record (the sender's is the command's own, ``transfer``).
RECEIVED_KIND = "transfer_received"


@attrs.frozen
class Sent:
    """The sender's part of a transfer, as its record keeps it."""

    operation: Operation
    entry: Entry
    runs: tuple[Run, ...]


def transfer(
    ctx: Context, from_member: str, to_member: str, points: int, *, key: str, at: datetime, reason: str
) -> Transfer:
    """Move ``points`` (stored units) from one member to another (see :meth:`loyalty.Engine.transfer`)."""
    check_id("from_member", from_member)
    check_id("to_member", to_member)
    check_parties(from_member, to_member)
    check_points("points", points)
    check_id("id", key)
    ctx.till_time("at", at, key)
    check_text("reason", reason)
    request = {
        "from_member": from_member,
        "to_member": to_member,
        "points": points,
        "at": at.isoformat(),
        "reason": reason,
    }
    sending = Command(key, "transfer", request)

    def send(uow: UnitOfWork) -> Sent | Transfer | Declined:
        previous = sending.replay(uow)
        if previous is not None:
            if "declined" in previous.result:
                return Declined(insufficient(**previous.result["declined"]))
            if "received" in previous.result:
                # Written whole, in one unit of work, by an earlier version.
                return codec.structure(previous.result, Transfer)
            return sent_part(previous)
        locks.lock_giver(uow, (from_member, "from_member"), (to_member, "to_member"))
        locks.allowed(uow, from_member, locks.SPEND, "from_member")
        locks.allowed(uow, to_member, locks.EARN, "to_member")
        for member_id in sorted((from_member, to_member)):
            ctx.enrolled_by(uow, member_id, at)
        # Points leaving the sender are spent as a redemption's are: its minimum and steps are
        # bad input, its day a limit (the limits on paying for a purchase concern no transfer).
        program = allowances.program_at(ctx, uow, at)
        check_request(program.redemption, points)
        postings.check_room(uow, to_member, points, "the receiver's")
        now = ctx.now()
        # Points past their date cannot be sent: write them off first.
        postings.expire_due(uow, from_member, now, now)
        # Reviews due measure the balance before this write (under a balance metric).
        tiering.follow_balance(ctx, uow, [from_member], source=key, at=now)
        sender = postings.read_account(uow, from_member, rolls=False)
        lots, reach = drawable(uow, from_member, points, now, order=program.expiry.draw)
        try:
            allowances.check_day(uow, program, from_member, points, at)
            plan, runs = plan_sending(
                sender, to_member, points, drawable=lots, reach=reach, key=key, at=at, now=now, reason=reason
            )
        except InsufficientPoints as short:
            return sending.decline(uow, short, now)
        written = postings.apply(uow, plan)
        allowances.count_spent(uow, program, from_member, at, points)
        tiering.follow_balance(ctx, uow, [from_member], source=key, at=now)
        result = {"sent": codec.unstructure(written[0]), "runs": [_run_form(run) for run in runs]}
        operation = Operation(key, "transfer", request, result, now)
        uow.add_operation(operation)
        uow.commit()
        return Sent(operation, written[0], tuple(runs))

    sent = sending.run(ctx.runner, send)
    if isinstance(sent, Transfer):
        return sent
    assert isinstance(sent, Sent)  # a declined part raised in ``run``
    done = finish(ctx, sent, sending)
    if done is None:
        # The points are back with the sender: the transfer did not reach its receiver.
        raise locks.erased(to_member, "to_member")
    return done


def finish(ctx: Context, sent: Sent, what: object) -> Transfer | None:
    """The rest of the transfer whose sender's part is ``sent``: the receiver's part
    (:func:`receive`), or, for a receiver erased before it, the points back to the sender
    (:func:`give_back`), ``None``. Each is one member's unit of work; ``what`` names it in logs."""
    done = ctx.runner.run(lambda uow: receive(ctx, uow, sent), what)
    if done is None:
        ctx.runner.run(lambda uow: give_back(ctx, uow, sent), what)
    return done


def sent_part(operation: Operation) -> Sent:
    """The sender's part of a transfer from its record (which holds no decline)."""
    result = operation.result
    runs = tuple(_run(run) for run in result["runs"])
    return Sent(operation, codec.structure(result["sent"], Entry), runs)


def receive(ctx: Context, uow: UnitOfWork, sent: Sent) -> Transfer | None:
    """The receiver's part of the transfer whose sender's part is ``sent``, written and committed
    in ``uow``, or read back when it was written before: the whole transfer either way. ``None``,
    writing nothing, when the receiver was erased before its part was written (or the points
    went back to the sender for that): :func:`give_back` is then the rest of the transfer."""
    request = _request(uow, sent)
    key, frm, to = sent.operation.key, request["from_member"], request["to_member"]
    # Locked first: whoever else finishes this transfer (a retry, maintenance) holds the same lock,
    # so the record read under it is the last word on whether the part is written. An erasure
    # takes the lock too, and is never undone: a receiver not erased here gets its part.
    try:
        locks.lock(uow, to, "to_member")
    except MemberErased:
        # No member under the id any more: erased after the record was read above, or before, by
        # an erasure that could not see the sender's part (not committed when it searched, so
        # the record still names the receiver by its old id). Erased either way: the points go
        # back (give_back, which names the receiver by its pseudonym), or run_due would raise
        # on this transfer for ever, the points in neither balance.
        return None
    # The receiver's entry and record name the sender: held against its erasure until this
    # commits, or, erased since the read above, read again with the sender renamed.
    if not uow.keep_named(frm):
        request = _request(uow, sent)
        frm = request["from_member"]
    kept = uow.operation(key + RECEIVED)
    if kept is None and uow.member_status(to) is MemberStatus.ERASED:
        return None
    if kept is None:
        received = _credit(ctx, uow, sent, request)
    elif "received" in kept.result:
        received = [codec.structure(entry, Entry) for entry in kept.result["received"]]
    else:
        return None
    return Transfer(key, frm, to, request["points"], sent.entry, tuple(received))


def give_back(ctx: Context, uow: UnitOfWork, sent: Sent) -> None:
    """Instead of the receiver's part, for a receiver erased before it was written: the points
    back with the sender (:func:`loyalty.transfers.plan_return`), under the sender's lock and the
    record the receiver's part would have kept (written once, whoever finishes the transfer). A
    sender erased too is credited nothing: the record says the points went to neither."""
    request = _renamed_receiver(uow, _request(uow, sent))
    key, frm, to = sent.operation.key, request["from_member"], request["to_member"]
    locks.lock(uow, frm, "from_member")
    if uow.operation(key + RECEIVED) is not None:
        return
    now = ctx.now()
    returned: list[Entry] = []
    if uow.member_status(frm) is not MemberStatus.ERASED:
        at = datetime.fromisoformat(request["at"])
        tiering.follow_balance(ctx, uow, [frm], source=key, at=now)
        sender = postings.read_account(uow, frm, rolls=False)
        returned = postings.apply(uow, plan_return(sender, to, sent.runs, key=key, at=at, now=now))
        tiering.follow_balance(ctx, uow, [frm], source=key, at=now)
    result = {"returned": [codec.unstructure(entry) for entry in returned], "receiver_erased": True}
    uow.add_operation(Operation(key + RECEIVED, RECEIVED_KIND, request, result, now))
    uow.commit()


def _request(uow: UnitOfWork, sent: Sent) -> dict[str, Any]:
    """The transfer's request as the store keeps it now: an erasure since the sender's part was
    read renamed the erased member in it to its pseudonym, which is what the rest must name (the
    original id no longer finds the member, and must not be written again)."""
    kept = uow.operation(sent.operation.key)
    return dict((sent.operation if kept is None else kept).request)


def _renamed_receiver(uow: UnitOfWork, request: dict[str, Any]) -> dict[str, Any]:
    """``request`` naming its receiver as the store keeps it: by its pseudonym when it was erased
    by an erasure that did not rename this record (the sender's part, not committed when the
    erasure searched, still names the old id), so that what the give-back writes (its entries'
    reason, its record) does not write the erased id again."""
    to = request["to_member"]
    secret = uow.erasure_secret()
    if secret is None or uow.member_status(to) is not None:
        return request
    hidden = pseudonym(secret, to)
    if uow.member_status(hidden) is not MemberStatus.ERASED:
        return request
    return dict(renamed(request, to, hidden))


def _credit(ctx: Context, uow: UnitOfWork, sent: Sent, request: dict[str, Any]) -> list[Entry]:
    """Write the receiver's part: decided by the sender's part, so nothing here declines."""
    key, frm, to = sent.operation.key, request["from_member"], request["to_member"]
    at = datetime.fromisoformat(request["at"])
    now = ctx.now()
    tiering.follow_balance(ctx, uow, [to], source=key, at=now)
    receiver = postings.read_account(uow, to, rolls=False)
    current = tiering.tiered_now(ctx, uow)
    counted = {}
    if current is not None:
        member = uow.member(to)
        assert member is not None  # it has a balance
        counted = progress(current, member, request["points"], at)
    plan = plan_receiving(
        receiver, frm, sent.runs, key=key, at=at, now=now, reason=request["reason"], counted=counted
    )
    written = postings.apply(uow, plan)
    if current is not None and counted:
        tiering.rise(ctx, uow, current, to, source=key)
    tiering.follow_balance(ctx, uow, [to], source=key, at=now)
    result = {"received": [codec.unstructure(entry) for entry in written]}
    uow.add_operation(Operation(key + RECEIVED, RECEIVED_KIND, request, result, now))
    uow.commit()
    return written


def _run_form(run: Run) -> list[Any]:
    points, expires_at, rolling = run
    return [points, None if expires_at is None else expires_at.isoformat(), rolling]


def _run(form: list[Any]) -> Run:
    points, expires_at, rolling = form
    return points, None if expires_at is None else datetime.fromisoformat(expires_at), rolling
