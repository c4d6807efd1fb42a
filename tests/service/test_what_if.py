"""What-if: a history replayed under two programs gives each one's figures, rule costs, tiers and declines."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest

from loyalty import (
    EarnRate,
    Engine,
    Expiry,
    ExpiryPolicy,
    InvalidInput,
    Line,
    Program,
    Purchase,
    open_store,
    whatif_process,
)
from loyalty.history import Enrollment, Event, Redemption, SaleReturn, write
from loyalty.returns import Return, Returned
from loyalty.rewards import Gives, Reward
from loyalty.rules import EventRule, ProductBonus
from loyalty.simulation import generate, to_jsonl
from loyalty.testing.clock import ManualClock
from loyalty.tiers import Tier, Tiers
from loyalty.time_guards import PreEnrollment
from loyalty.whatif import Comparison, MemberChange, RulePoints, simulate
from tests.what_if_history import AT, every_kind, sale

MONTH = Expiry(ExpiryPolicy.LIFETIME, days=30)
CURRENT = Program("Club", "EUR", expiry=MONTH)
BAKERY = ProductBonus(id="bakery", name="Bakery bonus", points=5, categories=["bakery"])
PROPOSED = Program("Club", "EUR", version="2", expiry=MONTH, rules=[BAKERY])
COFFEE = Reward(id="coffee", name="Coffee", cost=10, gives=Gives.PRODUCT, sku="espresso", valid_for_days=30)


def test_a_known_history_gives_the_figures_worked_out_by_hand() -> None:
    found = simulate(write(every_kind()), CURRENT, PROPOSED, point_value=Decimal("0.01"))
    assert (found.records, found.start, found.end) == (9, AT, AT + timedelta(days=45))
    now = found.current.figures
    # P1 12 (12.45 floored), P2 25, P3 1; the wine's 20 come back; M1 spends 10 and M2 loses 3.
    assert (now.issued, now.redeemed, now.taken_back, now.adjusted) == (38, 10, 20, -3)
    # 30 days on, M1's last 2 points (of P1) and M2's last 2 (of P2) expire before P3.
    assert (now.expired, now.outstanding, str(now.liability)) == (4, 1, "0.01 EUR")
    assert now.breakage_rate == Decimal("0.2857")  # 4 expired of the 14 that ended
    assert [(rule.rule, rule.points) for rule in found.current.rules] == [("base", Decimal("38.45"))]
    assert found.current.rounding == Decimal("-0.45")
    assert (found.current.declined, found.current.tiers) == (0, ())
    # Under the proposal the cake also earns the bakery bonus, which M1 keeps until it expires.
    new = found.proposed.figures
    assert (new.issued, new.redeemed, new.expired, new.outstanding) == (43, 10, 9, 1)
    assert found.gains == (MemberChange("M1", Decimal(12), Decimal(17)),)
    assert found.losses == ()


def test_the_proposed_programs_extra_rule_shows_what_it_cost() -> None:
    workload = generate(members=20, purchases=300, seed=5)
    found = simulate(to_jsonl(workload.events), Program("Club", "EUR"), PROPOSED)
    current = {rule.rule: rule.points for rule in found.current.rules}
    proposed = {rule.rule: rule.points for rule in found.proposed.rules}
    assert "bakery" not in current
    bakery_sales = [sale for sale in workload.sales if any(line.category == "bakery" for line in sale.lines)]
    assert proposed.pop("bakery") == 5 * len(bakery_sales) > 0
    assert proposed == current
    extra = found.proposed.figures.issued - found.current.figures.issued
    assert extra == 5 * len(bakery_sales)
    assert sum(change.difference for change in found.gains) <= extra
    assert "bakery (Bakery bonus)" in found.render()


def test_the_same_program_twice_gives_identical_sides() -> None:
    tiers = Tiers(
        levels=[Tier(id="member"), Tier(id="silver", threshold=300), Tier(id="gold", threshold=900)]
    )
    program = Program("Club", "EUR", expiry=MONTH, tiers=tiers)
    workload = generate(members=25, purchases=500, seed=9)
    found = simulate(
        to_jsonl(workload.events), program, program, until=workload.events[-1].at + timedelta(days=90)
    )
    assert found.current == found.proposed
    assert (found.gains, found.losses) == ((), ())
    assert sum(count.members for count in found.current.tiers) == 25
    assert found.current.figures.expired > 0  # the 90 days after the last sale ran maintenance too
    assert Comparison.from_dict(json.loads(json.dumps(found.to_dict()))) == found
    assert simulate(to_jsonl(workload.events), program, program) == simulate(
        to_jsonl(workload.events), program, program
    )


def test_a_redemption_the_proposal_cannot_afford_is_declined_and_counted() -> None:
    stingy = Program("Club", "EUR", version="2", rate=EarnRate(1, Decimal("2.00")), expiry=MONTH)
    found = simulate(every_kind(), CURRENT, stingy)
    assert (found.current.declined, found.current.declined_points) == (0, 0)
    # M1 earns 6 for the cake, short of the 10 it redeems; M2 keeps 2 of 12 after the wine's
    # return, short of the 3 the correction takes.
    assert (found.proposed.declined, found.proposed.declined_points) == (2, 13)
    assert found.proposed.figures.redeemed == 0
    assert found.losses[0] == MemberChange("M1", Decimal(12), Decimal(6))


def test_the_history_is_read_as_it_is_replayed() -> None:
    served: list[int] = []

    def lines() -> Iterator[str]:
        for n, line in enumerate(write(every_kind()), start=1):
            served.append(n)
            yield line
        yield '{"type": "purchase"}'

    with pytest.raises(InvalidInput, match=re.escape("line 10: id: is missing")):
        simulate(lines(), CURRENT, PROPOSED)
    assert served == list(range(1, 10))


def test_a_record_the_engine_refuses_names_its_line() -> None:
    stray = sale("P9", "M9", AT, Line("milk", 1, Decimal("1.00")))
    with pytest.raises(InvalidInput, match=r"^line 3: member_id: .*M9"):
        simulate(["", *write([Enrollment("E1", "M1", AT), stray])], CURRENT, PROPOSED)
    with pytest.raises(InvalidInput, match="line 1: must be a line of text or a history record"):
        simulate([42], CURRENT, PROPOSED)  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="until: must not be before the last record"):
        simulate(every_kind(), CURRENT, PROPOSED, until=AT)
    with pytest.raises(InvalidInput, match="top"):
        simulate(every_kind(), CURRENT, PROPOSED, top=-1)


def test_a_history_with_activity_before_its_members_enrollment_replays() -> None:
    # As an import of the old system stored it (a card issued after the first purchases),
    # although both programs refuse such activity from their tills (the default).
    late: list[Event] = [
        Enrollment("E1", "M1", AT),
        sale("P0", "M1", AT - timedelta(days=3), Line("cake", 2, Decimal("5.00"), "bakery")),
        Redemption("X0", "M1", 4, AT - timedelta(days=2)),
    ]
    assert CURRENT.time_guards.before_enrollment is PreEnrollment.REFUSE
    found = simulate(late, CURRENT, [PROPOSED])
    assert (found.current.figures.issued, found.current.figures.redeemed) == (10, 4)
    assert (found.proposed.figures.issued, found.current.declined) == (15, 0)  # the bakery bonus: 5


def test_an_empty_history_compares_nothing() -> None:
    found = simulate([], CURRENT, PROPOSED)
    assert (found.records, found.start, found.current.figures.issued) == (0, None, 0)
    assert "What-if: 0 records" in found.render()


def test_a_sign_up_bonus_counts_under_its_rule() -> None:
    welcome = EventRule(id="welcome", name="Welcome", event="enrolled", points=50)
    generous = Program("Club", "EUR", version="2", expiry=MONTH, rules=[welcome])
    found = simulate(every_kind(), CURRENT, generous)
    assert found.proposed.rules[0] == RulePoints("welcome", "Welcome", Decimal(100))
    assert found.proposed.figures.issued - found.current.figures.issued == 100
    assert {change.member_id: change.difference for change in found.gains} == {"M1": 50, "M2": 50}


def test_replaying_on_disk_gives_the_same_comparison_as_in_memory() -> None:
    tiers = Tiers(levels=[Tier(id="member"), Tier(id="silver", threshold=300)])
    current = Program("Club", "EUR", expiry=MONTH, tiers=tiers)
    proposed = Program("Club", "EUR", version="2", expiry=MONTH, tiers=tiers, rules=[BAKERY])
    for events in (every_kind(), generate(members=15, purchases=200, seed=3).events):
        end = events[-1].at + timedelta(days=60)
        in_memory = simulate(write(events), current, proposed, until=end, over_time=True)
        on_disk = simulate(write(events), current, proposed, until=end, over_time=True, on_disk=True)
        assert on_disk == in_memory
        assert on_disk.current.figures.issued > 0


def test_operation_records_spilled_to_a_file_replay_as_kept_in_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A repeated id (P1 again: its retry gives back what was recorded) and a return of P1, whose
    # record is in the file by then: each record is written there at once.
    history = every_kind()
    again = SaleReturn("M1", Return("R2", "P1", AT + timedelta(hours=2), (Returned("cake", 1),)))
    events = [*history[:3], history[2], again, *history[3:]]
    monkeypatch.setattr(whatif_process, "SPILL_BATCH", 0)  # every record in memory, as an engine keeps them
    kept = simulate(write(events), CURRENT, PROPOSED)
    monkeypatch.setattr(whatif_process, "SPILL_BATCH", 1)
    spilled = simulate(write(events), CURRENT, PROPOSED)
    assert spilled == kept
    assert spilled.records == len(events)
    # R2 took back points of P1, read from the file.
    assert (
        spilled.current.figures.taken_back
        > simulate(every_kind(), CURRENT, PROPOSED).current.figures.taken_back
    )


def test_on_disk_must_be_a_bool() -> None:
    with pytest.raises(InvalidInput, match="on_disk"):
        simulate([], CURRENT, PROPOSED, on_disk="yes")  # type: ignore[arg-type]


def test_a_line_with_an_array_for_a_text_names_its_line_and_field() -> None:
    good = next(iter(write([sale("P1", "M1", AT, Line("milk", 1, Decimal("1.00")))])))
    bad = good.replace('"milk"', '["milk"]')
    with pytest.raises(InvalidInput, match=r"^line 2: lines\[0\]\.sku: must be a string"):
        simulate([*write([Enrollment("E1", "M1", AT)]), bad], CURRENT, PROPOSED)


@pytest.mark.parametrize("parallel", [False, True], ids=["one process", "two processes"])
def test_a_history_export_with_a_late_enrollment_replays_each_record_at_its_own_time(parallel: bool) -> None:
    # A history export places every enrollment first: the last one, in June, must not date the
    # redemption of February (nor the use of a voucher bought in January) as in June.
    expiry = Expiry(ExpiryPolicy.LIFETIME, months=2)
    program = Program("Cafe", "EUR", expiry=expiry, rewards=[COFFEE])
    clock = ManualClock(AT)
    store = Engine(program, open_store("memory://"), clock=clock)
    store.enroll("A", at=AT)
    clock.now = AT + timedelta(days=1)
    store.record_purchase(Purchase("P1", "A", clock(), [Line("cake", 1, Decimal("100.00"))], "EUR"))
    clock.now = AT + timedelta(days=2)
    voucher = store.redeem_reward("A", "coffee", id="RW1", at=clock())
    clock.now = AT + timedelta(days=3)
    store.use_voucher(voucher.code, id="U1", at=clock(), purchase_id="P1")
    clock.now = AT + timedelta(days=31)
    store.redeem("A", 60, id="R1", at=clock())
    clock.now = AT + timedelta(days=150)
    store.enroll("B", at=clock())
    store.run_due()
    lines = list(write(store.export_history()))
    assert json.loads(lines[1])["member_id"] == "B"  # the enrollments first
    found = simulate(lines, program, program, parallel=parallel)
    kept = store.figures(AT, clock() + timedelta(microseconds=1))
    for side in (found.current, found.proposed):
        assert (side.figures.issued, side.figures.redeemed, side.figures.expired) == (100, 70, 30)
        assert (kept.issued, kept.redeemed, kept.expired) == (100, 70, 30)
        assert side.declined == 0


def test_a_tier_bonus_paid_outside_a_purchase_is_counted_with_the_rules() -> None:
    silver = Tier(id="silver", name="Silver", threshold=60, bonus=5)
    program = Program("Club", "EUR", tiers=Tiers(levels=[Tier(id="member", name="Member"), silver]))
    records: list[Event] = [Enrollment("E1", "M1", AT), Enrollment("E2", "M2", AT)]
    goods = Line("goods", 1, Decimal("40.00"))
    records += [
        sale("P1", "M1", AT + timedelta(days=1), goods),
        sale("P2", "M2", AT + timedelta(days=2), goods),
    ]
    merge = {"type": "merge", "id": "MG", "member_id": "M1", "at": (AT + timedelta(days=3)).isoformat()}
    lines = [*write(records), json.dumps({**merge, "absorbed": "M2", "reason": "one person"})]
    side = simulate(lines, program, program, parallel=False).current
    # The merge's 80 points lift M1 to silver: its bonus is in the figures, and in the what-if's sums.
    assert side.figures.issued == 85 and side.tier_bonus == 5
    assert sum(rule.points for rule in side.rules) + side.rounding + side.tier_bonus == side.figures.issued
