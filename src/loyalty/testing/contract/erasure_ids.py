"""Part of the store contract (:class:`~loyalty.testing.contract.StoreContract`).

An erasure replaces the member id by its pseudonym field by field (:mod:`loyalty.pseudonyms`):
where the store keeps it as a member id, in the ids and reasons the engine made from it, and
nowhere else (another member's SKU, attribute, reason or hold id equal to it stays)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from loyalty.config import program_from_dict
from loyalty.engine import Engine
from loyalty.errors import MemberErased
from loyalty.purchases import Line, Purchase
from loyalty.returns import Return, Returned
from loyalty.store import Store
from loyalty.testing.contract._base import T0, ContractBase

__all__ = [
    "PROGRAM",
    "REFEREE",
    "REFERRER",
    "ErasureIdsContract",
    "everything_kept",
    "write_referral_history",
]

#: Referrals paid on a first purchase of 20.00, tiers by spend reviewed every 90 days, points
#: that expire after six months with a reminder 30 days before: the engine writes the member id
#: into other members' entries (the referral bonus's reason) and makes ids from it (a tier
#: review's, a reminder's).
PROGRAM: dict[str, Any] = {
    "name": "Club",
    "currency": "EUR",
    "expiry": {"policy": "lifetime", "months": 6},
    "remind_days": 30,
    "referrals": {"referrer_points": 200, "referee_points": 100, "min_spend": "20.00", "within_days": 30},
    "tiers": {
        "metric": "spend",
        "window": "rolling",
        "months": 3,
        "downgrade": "review",
        "review": "days",
        "review_days": 90,
        "levels": [{"id": "member", "name": "Member"}, {"id": "silver", "name": "Silver", "threshold": 400}],
    },
}


#: The members :func:`write_referral_history` enrolls: phone numbers, as a till may use.
REFERRER, REFEREE = "+31611111111", "+31622222222"


def write_referral_history(engine: Engine, now: list[datetime]) -> None:
    """:data:`REFERRER` refers :data:`REFEREE`, both buy enough for a tier that a review takes
    away (:data:`PROGRAM`), the referee comes back weekly for two months and then stays away
    (announced at risk), and maintenance runs until both have been reviewed and reminded of
    points expiring: the engine's ``now[0]`` moves on as it goes."""
    engine.enroll(REFERRER, at=T0)
    engine.enroll(REFEREE, at=T0, referred_by=engine.referral_code(REFERRER))
    for member in (REFERRER, REFEREE):
        lines = [Line("basket", 1, Decimal("450"))]
        engine.record_purchase(Purchase(f"till-{member[-2:]}", member, T0, lines, "EUR"))
    for week in range(1, 9):
        now[0] = T0 + timedelta(weeks=week)
        lines = [Line("bread", 1, Decimal("10"))]
        engine.record_purchase(Purchase(f"week-{week}", REFEREE, now[0], lines, "EUR"))
    # Tier reviews (a move down is written under tier-review:<member>:<due>), an at-risk notice
    # (at-risk:<member>:<last visit>) and reminders (remind:<member>:<first expiry>).
    for day in (95, 120, 150, 160, 185):
        now[0] = T0 + timedelta(days=day)
        engine.run_due()
        if day == 120:
            engine.announce_at_risk()


def everything_kept(store: Store, members: list[str]) -> str:
    """What the port gives back about ``members`` and the whole ledger and outbox, as text."""
    with store.unit_of_work(readonly=True) as uow:
        feed = uow.entries(limit=10_000)  # the ledger feed is read first in its unit of work
        kept: list[Any] = [feed, uow.events(limit=10_000)]
        for member in members:
            kept += [
                uow.member(member),
                uow.history(member),
                uow.member_records(member),
                uow.member_events(member),
                uow.referral(member),
                uow.referrals_by(member),
                uow.tier_state(member),
                uow.lots(member),
            ]
        return repr(kept)


class ErasureIdsContract(ContractBase):
    """An erasure renames the member id where it is one, and nowhere else."""

    def test_a_string_equal_to_the_member_id_in_another_field_stays(self, engine: Engine) -> None:
        # Member 1001 is erased; member 2002 bought the SKU "1001", has the attribute "1001",
        # a correction whose reason and actor are "1001" and a hold whose id is "1001".
        engine.enroll("1001", at=T0)
        engine.enroll("2002", at=T0, attributes={"card": "1001"})
        engine.record_purchase(Purchase("T-1", "1001", T0, [Line("cake", 1, Decimal("5"))], "EUR"))
        engine.record_purchase(Purchase("T-2", "2002", T0, [Line("1001", 2, Decimal("3"))], "EUR"))
        engine.adjust("2002", 4, id="fix-2", at=T0, reason="1001", actor="1001")
        engine.hold("2002", 1, id="1001", at=T0, ttl=timedelta(hours=1))
        engine.transfer("2002", "1001", 1, id="send-1", at=T0, reason="1001")
        before = (engine.history("2002"), engine.member("2002"), engine.balance("2002"))
        hidden = engine.erase("1001", id="erase-1", at=T0, reason="GDPR", actor="dpo").pseudonym
        with engine.store.unit_of_work(readonly=True) as uow:
            purchase = uow.operation("T-2")
            hold = uow.hold("1001")
            received = uow.operation("send-1")
        assert purchase is not None and [line["sku"] for line in purchase.request["lines"]] == ["1001"]
        assert purchase.request["member_id"] == "2002"
        assert hold is not None and (hold.id, hold.member_id) == ("1001", "2002")
        assert received is not None and received.request["to_member"] == hidden
        # 2002's own entries keep their text; the transfer's reason, which may name 1001, is erased.
        after = engine.history("2002")
        assert [(e.reason, e.actor) for e in after if e.source_id == "fix-2"] == [("1001", "1001")]
        assert (after[: len(before[0]) - 1], engine.member("2002")) == (before[0][:-1], before[1])
        returned = engine.record_return(Return("R-2", "T-2", T0, (Returned("1001", 1),)))
        assert returned.taken_back > 0
        assert engine.balance("2002").available == before[2].available - returned.taken_back
        assert engine.capture("1001", id="cap-1", at=T0).member_id == "2002"
        with pytest.raises(MemberErased):
            engine.record_purchase(Purchase("T-3", "1001", T0, [Line("cake", 1, Decimal("5"))], "EUR"))
        assert engine.verify().ok

    def test_a_free_form_key_named_like_an_id_field_keeps_its_value(self, engine: Engine) -> None:
        # Member 2002's attributes and event properties are the caller's: keys called "referrer"
        # or "member_id" holding "1001" are no member id, and a retry of 2002's update replays.
        engine.enroll("1001", at=T0)
        engine.enroll("2002", at=T0, attributes={"referrer": "1001"})
        given = {"referrer": "1001", "member_id": "1001"}
        updated = engine.update_member("2002", id="upd-1", at=T0, attributes=given)
        engine.record_event("2002", "survey", id="ev-1", at=T0, properties={"referrer": "1001"})
        events = [e.data for e in engine.events(limit=1000) if e.member_id == "2002"]
        engine.erase("1001", id="erase-1", at=T0, reason="GDPR", actor="dpo")
        assert engine.update_member("2002", id="upd-1", at=T0, attributes=given) == updated
        with engine.store.unit_of_work(readonly=True) as uow:
            update, event = uow.operation("upd-1"), uow.operation("ev-1")
        assert update is not None and update.request["attributes"] == given
        assert event is not None and event.request["properties"] == {"referrer": "1001"}
        assert [e.data for e in engine.events(limit=1000) if e.member_id == "2002"] == events

    def test_a_member_kept_named_is_one_the_store_has_under_the_id(self, engine: Engine) -> None:
        # keep_named holds a member another member's part names; an erased one is not found
        # under its id (the part reads its pseudonym again), nor is an unknown one.
        engine.enroll("1001", at=T0)
        engine.enroll("2002", at=T0)
        hidden = engine.erase("2002", id="erase-2", at=T0, reason="GDPR", actor="dpo").pseudonym
        with engine.store.unit_of_work() as uow:
            assert uow.keep_named("1001") and uow.keep_named(hidden)
            assert not uow.keep_named("2002") and not uow.keep_named("3003")
            assert uow.lock_erasing("1001") == 0 and uow.lock_erasing("2002") is None

    def test_ids_and_reasons_the_engine_made_from_the_member_id_are_renamed(self, store: Store) -> None:
        now = [T0]
        engine = Engine(program_from_dict(PROGRAM), store, clock=lambda: now[0])
        referrer, referee = REFERRER, REFEREE
        write_referral_history(engine, now)
        made = {e.source_id.split(":")[0] for m in (referrer, referee) for e in engine.history(m)}
        made |= {e.source_id.split(":")[0] for e in engine.events(limit=10_000)}
        assert {"tier-review", "remind", "at-risk"} <= made
        bonus = [e.reason for e in engine.history(referrer) if "referral:referrer" in e.rules]
        assert bonus == [f"referral bonus: {referee} made a first purchase"]
        figures = _figures(engine, [referrer, referee])
        report = engine.verify()
        gone = engine.erase(referee, id="erase-1", at=now[0], reason="GDPR", actor="dpo").pseudonym
        assert [e.reason for e in engine.history(referrer) if "referral:referrer" in e.rules] == [
            f"referral bonus: {gone} made a first purchase"
        ]
        first = engine.erase(referrer, id="erase-2", at=now[0], reason="GDPR", actor="dpo").pseudonym
        assert [e.reason for e in engine.history(gone) if "referral:referee" in e.rules] == [
            f"referral bonus: welcome, referred by {first}"
        ]
        kept = everything_kept(store, [first, gone])
        assert referrer not in kept and referee not in kept
        assert all(f"{made}:{gone}:" in kept for made in ("tier-review", "remind", "at-risk"))
        assert _figures(engine, [first, gone]) == figures
        assert engine.verify() == report
        with store.unit_of_work(readonly=True) as uow:
            assert uow.mentioning(referrer) == ([], []) and uow.mentioning(referee) == ([], [])


def _figures(engine: Engine, members: list[str]) -> tuple[Any, ...]:
    week = (T0 - timedelta(days=7), T0 + timedelta(days=200))
    return (*(engine.balance(m) for m in members), engine.figures(*week), _lots(engine, members))


def _lots(engine: Engine, members: list[str]) -> list[tuple[int, int, datetime | None]]:
    return [(lot.id, lot.remaining, lot.expires_at) for m in members for lot in engine.lots(m)]
