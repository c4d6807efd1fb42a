"""The erasure's plan (loyalty.erasure.plan_erasure), from plain values."""

from __future__ import annotations

from datetime import UTC, date, datetime

import attrs

from loyalty import codec
from loyalty.chains import text_digest
from loyalty.erasure import ERASED, Record, erased_by, partners, plan_erasure
from loyalty.ledger import Entry, EntryKind
from loyalty.members import Member, MemberStatus
from loyalty.outbox import DomainEvent, EventKind

T = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
ANN = Member("M1", T, date(1980, 5, 17), {"email": "ann@example.com"}, birthday_changed_at=T)


def _entry(seq: int, kind: EntryKind, reason: str, actor: str | None = None) -> Entry:
    return Entry(seq, "M1", kind, 5, 5 * seq, T, T, f"S{seq}", reason, actor)


def test_the_member_keeps_its_id_and_enrollment_and_loses_its_details() -> None:
    member = plan_erasure(ANN, [], [], [], key="E1").member
    assert (member.id, member.enrolled_at) == ("M1", T)
    assert (member.birthday, dict(member.attributes), member.birthday_changed_at) == (None, {}, None)
    assert member.status is MemberStatus.ERASED


def test_the_text_a_caller_wrote_is_erased_and_the_engines_is_kept_with_every_digest() -> None:
    entries = [
        _entry(1, EntryKind.EARN, "purchase"),
        _entry(2, EntryKind.ADJUST, "for Ann", "clerk Bo"),
        _entry(3, EntryKind.REDEEM, "Ann's gift"),
        _entry(4, EntryKind.TRANSFER, "to Ann's son"),
        _entry(5, EntryKind.EXPIRE, "expiry"),
    ]
    texts = plan_erasure(ANN, entries, [], [], key="E1").texts
    assert [(t.seq, t.reason, t.actor) for t in texts] == [
        (1, "purchase", None),
        (2, ERASED, ERASED),
        (3, ERASED, None),
        (4, ERASED, None),
        (5, "expiry", None),
    ]
    assert [t.kept for t in texts] == [text_digest(e) for e in entries]


def test_a_records_personal_fields_go_and_its_figures_stay_and_it_is_marked() -> None:
    purchase = Record(
        "T1",
        "purchase",
        {"member_id": "M1", "at": "2024-03-01T09:30:00+00:00", "lines": [{"sku": "cake"}]},
        {"amount": {"amount": "12.45", "currency": "EUR"}, "points": 12, "member": {"id": "M1"}},
    )
    key = Record("K1", "identifier_add", {"member_id": "M1", "key": "email:ann@example.com"}, {"value": "x"})
    records = plan_erasure(ANN, [], [purchase, key], [], key="E1").records
    assert records[0].request == {**purchase.request, "erased": "E1", "erased_member": "M1"}
    assert records[0].result == {
        "amount": {"amount": "12.45", "currency": "EUR"},
        "points": 12,
        "member": None,
    }
    assert (records[1].request["key"], records[1].result, erased_by(records[1].request)) == (
        None,
        {"value": None},
        "E1",
    )


def test_a_record_erased_before_is_left_as_it_is() -> None:
    done = Record("K1", "identifier_add", {"member_id": "M1", "key": None, "erased": "E0"}, {})
    assert plan_erasure(ANN, [], [done], [], key="E1").records == ()


def test_only_events_that_may_carry_personal_data_are_rewritten() -> None:
    added = DomainEvent(1, EventKind.IDENTIFIER_ADDED, "M1", T, T, "K1", {"key": "phone:+15550001234"})
    status = DomainEvent(
        2,
        EventKind.MEMBER_STATUS_CHANGED,
        "M1",
        T,
        T,
        "S1",
        {"old": "active", "new": "closed", "reason": "Ann moved", "actor": "Bo"},
    )
    expiring = DomainEvent(3, EventKind.POINTS_EXPIRING, "M1", T, T, "X", {"points": 5})
    events = plan_erasure(ANN, [], [], [added, status, expiring], key="E1").events
    assert [(e.seq, dict(e.data)) for e in events] == [
        (1, {"key": None}),
        (2, {"old": "active", "new": "closed", "reason": None, "actor": None}),
    ]


def test_a_mark_that_is_not_an_erasure_id_is_no_mark() -> None:
    assert erased_by({"erased": True}) is None
    assert erased_by({}) is None


def test_the_entries_a_record_keeps_in_its_result_read_as_erased_entries() -> None:
    sent = codec.unstructure(_entry(4, EntryKind.TRANSFER, "transfer to M2: for Ann's son", "Bo"))
    earned = codec.unstructure(_entry(1, EntryKind.EARN, "purchase"))
    request = {"from_member": "M1", "to_member": "M2", "reason": "for Ann's son"}
    record = Record("X1", "transfer", request, {"sent": sent, "runs": [[5, None, False]]})
    received = Record("X1\x1freceived", "transfer_received", request, {"received": [earned, sent]})
    kept = plan_erasure(ANN, [], [record, received], [], key="E1").records
    assert [
        (kept[0].result["sent"]["reason"], kept[0].result["sent"]["actor"]),
        [(e["reason"], e["actor"]) for e in kept[1].result["received"]],
    ] == [(ERASED, ERASED), [("purchase", None), (ERASED, ERASED)]]
    assert kept[0].result["sent"]["points"] == sent["points"]
    assert kept[0].result["runs"] == [[5, None, False]]


def test_the_other_member_of_a_transfer_loses_its_text_and_keeps_its_digest() -> None:
    request = {"from_member": "M2", "to_member": "M1", "reason": "for Ann"}
    record = Record("X1", "transfer", request, {})
    other = [
        attrs.evolve(
            _entry(7, EntryKind.TRANSFER, "transfer to M1: for Ann"), member_id="M2", source_id="X1"
        ),
        attrs.evolve(_entry(8, EntryKind.ADJUST, "M2's own"), member_id="M2", source_id="X2"),
    ]
    data = {"from_member": "M2", "to_member": "M1", "points": 5, "reason": "for Ann"}
    event = DomainEvent(9, EventKind.POINTS_TRANSFERRED, "M2", T, T, "X1", data)
    unrelated = DomainEvent(10, EventKind.POINTS_TRANSFERRED, "M2", T, T, "X3", data)
    plan = plan_erasure(ANN, [], [record], [], key="E1", others={"M2": (other, [event, unrelated])})
    (counterpart,) = plan.counterparts
    assert counterpart.member_id == "M2"
    assert [(t.seq, t.reason, t.kept) for t in counterpart.texts] == [(7, ERASED, text_digest(other[0]))]
    assert [(e.seq, dict(e.data)) for e in counterpart.events] == [(9, data | {"reason": None})]


def test_a_member_named_in_no_transfer_or_merge_is_no_counterpart() -> None:
    record = Record("U1", "member_update", {"member_id": "M1"}, {})
    sent = Record("X1", "transfer", {"from_member": "M1", "to_member": "M2"}, {})
    assert partners([record, sent], "M1") == {"M2": frozenset({"X1"})}
    others: dict[str, tuple[list[Entry], list[DomainEvent]]] = {
        "M3": ([attrs.evolve(_entry(1, EntryKind.TRANSFER, "x"), member_id="M3")], [])
    }
    assert plan_erasure(ANN, [], [record], [], key="E1", others=others).counterparts == ()


def test_the_free_form_maps_nested_in_the_members_own_records_go_the_others_stay() -> None:
    line = {"sku": "cake", "labels": {"member_id": "M1", "note": "Ann's cake"}}
    own = Record("T1", "purchase", {"member_id": "M1", "lines": [line, {"sku": "tea"}]}, {"points": 5})
    theirs = Record("T2", "purchase", {"member_id": "M2", "lines": [line], "referrer": "M1"}, {})
    old = Record("T0", "purchase", {"member_id": "M1", "lines": [line], "erased": "E0"}, {})
    plan = plan_erasure(ANN, [], [own, old], [], key="E1", pseudonym="P", mentioning=([theirs], []))
    assert plan.records[0].request["lines"] == [{"sku": "cake"}, {"sku": "tea"}]
    # Another member's labels are its own (e4cc212): its id field is renamed, its labels stay.
    renamed = {record.key: record.request for record in plan.renamed}
    assert renamed["T2"] == {**theirs.request, "referrer": "P"}
    # A record of the member's erased before (a version without pseudonyms) loses them now.
    assert renamed["T0"] == {"member_id": "P", "lines": [{"sku": "cake"}], "erased": "E0"}
