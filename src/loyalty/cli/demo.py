"""``loyalty demo``: a year of a shop's seeded traffic through an example program, told to its merchant."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import attrs

from loyalty import codec, report_html
from loyalty.cli import demo_words
from loyalty.cli.examples import program_file
from loyalty.cli.programs import program_versions
from loyalty.cli.progress import Advance, progress
from loyalty.engine import Engine
from loyalty.errors import InsufficientPoints, InvalidInput, MissingExtra
from loyalty.figures import Figures
from loyalty.habits import AtRiskReport
from loyalty.history import Sale
from loyalty.program import Program
from loyalty.receipts import Receipt
from loyalty.referrals import ReferralReport
from loyalty.reporting import of_store
from loyalty.store import Store, open_store
from loyalty.traffic import DEFAULT_START, Join, Night, Persona, Redeem, Traffic, year

DEFAULT_PROGRAM = "grocer-club"
_SHOWN_EVERY = 200  # events between progress updates: the bar costs nothing next to the replay
_AT_RISK_SHOWN = 8
_REFERRERS_SHOWN = 5
_FRIENDS_SHOWN = 4


class _ReplayClock:
    """The engine's clock during a replay: the time of the event being replayed.

    This keeps ``recorded_at`` monotonic and the whole database identical from
    run to run, as if every event reached the engine the moment it happened.
    """

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _demo_path(requested: Path | None, force: bool) -> Path:
    if requested is None:
        # Left in place on purpose: the point of the demo is a file to look into afterwards.
        return Path(tempfile.mkdtemp(prefix="loyalty-demo-")) / "demo.db"
    path = requested.expanduser().resolve()
    # The path becomes part of an sqlite:/// URL, where these would start a query or fragment.
    if any(ch in str(path) for ch in "?#"):
        raise InvalidInput("--db", f"the path must not contain ? or #: {path}")
    if path.is_dir():
        raise InvalidInput("--db", f"{path} is a directory; name a file inside it")
    if not path.parent.is_dir():
        raise InvalidInput("--db", f"directory {path.parent} does not exist")
    if path.exists() and path.stat().st_size > 0:
        if not force:
            raise InvalidInput("--db", f"{path} already exists and is not empty; pass --force to replace it")
        # The WAL and shared-memory files belong to the old database and would corrupt the new one.
        for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)
    return path


@attrs.define
class _Replay:
    """What the replay did that the store does not say by itself."""

    receipt: Receipt | None = None
    declined: int = 0  # rewards asked for that the balance did not cover
    maintenance: Counter[str] = attrs.field(factory=Counter)
    purchases: int = 0
    seconds: float = 0.0


def _showcase(traffic: Traffic) -> int | None:
    """The sale whose explanation the demo prints: a regular's last small basket of the year with
    fruit or vegetables (a rule that doubles them; a short receipt), else the last sale."""
    sales = [n for n, event in enumerate(traffic.events) if isinstance(event, Sale)]
    for index in reversed(sales):
        event = traffic.events[index]
        assert isinstance(event, Sale)
        lines = event.purchase.lines
        if (
            traffic.personas[event.member_id] is Persona.REGULAR
            and len(lines) <= 4
            and any(line.category == "fruit-veg" for line in lines)
        ):
            return index
    return sales[-1] if sales else None


def _replay(engine: Engine, clock: _ReplayClock, traffic: Traffic, advance: Advance) -> _Replay:
    done = _Replay()
    shown = _showcase(traffic)
    codes: dict[str, str] = {}
    started = time.perf_counter()
    for index, event in enumerate(traffic.events):
        if index and not index % _SHOWN_EVERY:
            advance(_SHOWN_EVERY)
        clock.now = event.at
        if isinstance(event, Join):
            code = None
            if event.referred_by is not None:
                friend = event.referred_by
                if friend not in codes:
                    # The member's number as its code: the same codes, and so the same store, every run.
                    codes[friend] = engine.referral_code(friend, code=friend)
                code = codes[friend]
            engine.enroll(event.member_id, at=event.at, referred_by=code)
        elif isinstance(event, Sale):
            if index == shown:
                # Explained before it is recorded: a recorded sale's explanation has no skipped rules.
                done.receipt = engine.explain(event.purchase)
            engine.record_purchase(event.purchase)
            done.purchases += 1
        elif isinstance(event, Redeem):
            # The till offers the reward only when the member can have it.
            try:
                engine.redeem(event.member_id, event.points, id=event.id, at=event.at, reason="reward")
            except InsufficientPoints:
                done.declined += 1
        elif isinstance(event, Night):
            ran = engine.run_due(event.at)
            done.maintenance.update({k: v for k, v in attrs.asdict(ran).items() if isinstance(v, int)})
    advance(len(traffic.events) % _SHOWN_EVERY)
    done.seconds = time.perf_counter() - started
    return done


@attrs.frozen
class _Story:
    """Everything the demo prints, read back from the engine's own queries at the year's end."""

    program: Program
    traffic: Traffic
    replay: _Replay
    at_risk: AtRiskReport
    referrals: list[ReferralReport]
    year: Figures
    halves: Figures  # the second half of the year, its retention against the first
    tiers: dict[str, str]
    balances: dict[str, int]
    html: Path | None


def _read_back(engine: Engine, store: Store, traffic: Traffic, replay: _Replay, html: Path | None) -> _Story:
    program = engine.program_at(traffic.end - timedelta(microseconds=1))
    start, end = traffic.start, traffic.end
    # The second half starts at a midnight, as `loyalty report --from DATE` reads a date.
    half = timedelta(days=(end.date() - start.date()).days // 2)
    middle = datetime.combine(start.date() + half, datetime.min.time(), start.tzinfo)
    referrers = sorted({e.referred_by for e in traffic.events if isinstance(e, Join) and e.referred_by})
    tiers = {}
    if program.tiers is not None:
        tiers = {member: engine.tier(member).tier.id for member in traffic.personas}
    if html is not None:
        with progress("demo: drawing the HTML report"):
            report_html.write(of_store(engine, store, start, end), html)
    return _Story(
        program,
        traffic,
        replay,
        engine.at_risk(end),
        [engine.referrals(member) for member in referrers],
        engine.figures(start, end, point_value=program.redemption.point_value),
        engine.figures(middle, end, point_value=program.redemption.point_value),
        tiers,
        {member: engine.balance(member).available for member in traffic.personas},
        html,
    )


def _html_path(args: argparse.Namespace, path: Path) -> Path | None:
    """Where the HTML report goes: next to the store, when the report extra is there and it is wanted."""
    if args.no_html:
        return None
    try:
        report_html.require()
    except MissingExtra:
        return None
    return path.with_suffix(".html")


def demo(args: argparse.Namespace) -> int:
    source = program_file(args.program)
    versions = program_versions(source)
    if versions[-1].currency != "EUR":
        raise InvalidInput("--program", f"the demo's shop sells in EUR, not {versions[-1].currency}")
    path = _demo_path(args.db, args.force)
    # A program that starts later than the traffic's default first day starts the traffic with it.
    first = versions[0].effective_from
    start = DEFAULT_START if first is None else max(DEFAULT_START, first.astimezone(versions[0].zone).date())
    traffic = year(
        members=args.members, seed=args.seed, start=start, days=7 * args.weeks, tz=versions[-1].timezone
    )
    clock = _ReplayClock(traffic.events[0].at)
    store = open_store(f"sqlite:///{path}?synchronous={args.synchronous}")
    try:
        engine = Engine(versions, store, clock=clock)
        weeks = f"{args.weeks} week{'s' * (args.weeks != 1)}"
        with progress(f"demo: {weeks} at {versions[-1].name}", len(traffic.events)) as advance:
            replay = _replay(engine, clock, traffic, advance)
        clock.now = traffic.end
        story = _read_back(engine, store, traffic, replay, _html_path(args, path))
    finally:
        store.close()
    if args.json:
        print(json.dumps(_document(story, path, source), ensure_ascii=False))
    else:
        _tell(story, path, args)
    return 0


def _document(story: _Story, path: Path, source: Path) -> dict[str, object]:
    receipt = story.replay.receipt
    return {
        "store": f"sqlite:///{path}",
        "program": story.program.name,
        "program_file": str(source),
        "members": len(story.traffic.personas),
        "personas": {member: persona.value for member, persona in story.traffic.personas.items()},
        "purchases": story.replay.purchases,
        "receipt": None if receipt is None else {"member_id": receipt.member_id, **receipt.to_dict()},
        "at_risk": [
            {**codec.unstructure(found), "words": demo_words.drifting(found)}
            for found in story.at_risk.at_risk
        ],
        "referrals": [
            {
                "member_id": report.member_id,
                "points": report.points,
                "referred": [codec.unstructure(referral) for referral in report.referred],
            }
            for report in story.referrals
        ],
        "figures": codec.unstructure(story.year),
        "second_half": codec.unstructure(story.halves),
        "tiers": story.tiers,
        "balances": story.balances,
        "maintenance": dict(story.replay.maintenance),
        "declined_redemptions": story.replay.declined,
        "html": None if story.html is None else str(story.html),
        "elapsed_seconds": round(story.replay.seconds, 3),
    }


def _indented(text: str) -> str:
    return "\n".join(f"  {line}" if line else line for line in text.splitlines())


def _tell(story: _Story, path: Path, args: argparse.Namespace) -> None:
    program, traffic, replay = story.program, story.traffic, story.replay
    points = program.format_points
    first, last = traffic.start.date(), (traffic.end - timedelta(days=1)).date()
    weeks = f"{args.weeks} week{'s' * (args.weeks != 1)}"
    print(f"{program.name}: {weeks} of {len(traffic.personas)} members (seed {args.seed})")
    print()
    print("The program")
    print(_indented(demo_words.describe(program)))
    if replay.receipt is not None:
        receipt = replay.receipt
        at = receipt.occurred_at.astimezone(program.zone)
        print()
        print(f"A receipt, explained: {receipt.member_id} on {at:%Y-%m-%d at %H:%M}")
        print(_indented(receipt.render(width=60)))
    print()
    _tell_at_risk(story)
    print()
    _tell_referrals(story)
    print()
    year, halves = story.year, story.halves
    lost = halves.active_before - halves.retained
    lifetime = halves.lifetime_value
    outstanding = points(year.outstanding)
    if year.liability is not None:
        outstanding += f", a liability of {year.liability}"
    rows = [
        ("members", f"{year.members} ({year.active} shopped this year)"),
        ("retention", f"{demo_words.percent(halves.retention_rate)} of the first half's shoppers came back"),
        ("members lost", f"{lost} shopped in the first half, not in the second"),
        ("lifetime value", "-" if lifetime is None else f"{lifetime} a member, estimated"),
        ("purchases", f"{year.purchases}, {year.spend} spent"),
        ("points issued", points(year.issued)),
        ("points redeemed", f"{points(year.redeemed)} ({replay.declined} rewards refused: too few points)"),
        ("points expired", points(year.expired)),
        ("breakage", f"{demo_words.percent(year.breakage_rate)} of the points that ended expired unused"),
        ("points outstanding", outstanding),
    ]
    if story.tiers:
        counts = Counter(story.tiers.values())
        assert program.tiers is not None
        shares = [f"{tier.name or tier.id} {counts[tier.id]}" for tier in program.tiers.levels]
        moves = replay.maintenance["tier_changes"]
        rows.append(("members per tier", f"{', '.join(shares)} ({moves} moved down at reviews)"))
    span = "The year" if args.weeks == 52 else f"The {args.weeks} weeks"
    _rows(f"{span}, {first} to {last}", rows)
    by_rule = []
    for rule in year.by_rule:
        value = points(rule.issued)
        if rule.budget is not None and rule.budget_spent is not None:
            value += f" (of a budget of {points(rule.budget)}, {points(rule.budget_spent)} spent)"
        by_rule.append((demo_words.rule_name(program, rule.rule, rule.name), value))
    if by_rule:
        print()
        _rows("Points per rule: what each cost", by_rule)
    print()
    to = last.isoformat()
    rows = [
        ("store", str(path)),
        ("report", f"loyalty report sqlite:///{path} --from {first} --to {to} --html report.html"),
    ]
    if story.html is not None:
        rows.append(("HTML report", str(story.html)))
    elif not args.no_html:
        rows.append(("HTML report", f"needs the report extra: {report_html.INSTALL_HINT}"))
    _rows("Where it is", rows)
    if args.storage_details:
        print()
        _tell_storage(story, path, args)


def _rows(heading: str, rows: Sequence[tuple[str, str]]) -> None:
    width = max(len(label) for label, _ in rows)
    print(heading)
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value}")


def _tell_at_risk(story: _Story) -> None:
    found = story.at_risk
    judged = found.checked - len(found.no_baseline)
    print(f"Members at risk of leaving: {len(found.at_risk)} of the {judged} with a habit to judge by")
    ranked = sorted(found.at_risk, key=lambda risk: (-risk.baseline_spend, risk.member_id))
    levels = story.program.tiers.levels if story.program.tiers is not None else ()
    names = {tier.id: tier.name or tier.id for tier in levels}
    for risk in ranked[:_AT_RISK_SHOWN]:
        tier = names.get(story.tiers.get(risk.member_id, ""))
        who = risk.member_id if tier is None else f"{risk.member_id} ({tier})"
        print(f"  {who}: {'; '.join(demo_words.drifting(risk))}")
    if len(ranked) > _AT_RISK_SHOWN:
        print(f"  and {len(ranked) - _AT_RISK_SHOWN} more, who spent less before")
    offers = [rule for rule in story.program.rules if rule.absent_days is not None]
    if offers:
        words = "; ".join(demo_words.rule_words(rule, story.program.currency) for rule in offers)
        print(f"  What the program offers them: {words}")
    else:
        print("  The program has no win-back offer: a rule with absent_days would make one")


def _tell_referrals(story: _Story) -> None:
    reports = [report for report in story.referrals if report.referred]
    friends = [referral for report in reports for referral in report.referred]
    rewarded = [referral for referral in friends if referral.state.value == "rewarded"]
    to_members = sum(referral.referrer_points for referral in friends)
    to_friends = sum(referral.referee_points for referral in friends)
    print(
        f"Referrals: {len(reports)} members brought {len(friends)} friends, {len(rewarded)} rewarded: "
        f"{story.program.format_points(to_members)} points to the members, "
        f"{story.program.format_points(to_friends)} to the friends"
    )
    ranked = sorted(reports, key=lambda report: (-len(report.referred), report.member_id))
    for report in ranked[:_REFERRERS_SHOWN]:
        brought = ", ".join(
            referral.referee
            + ("" if referral.state.value == "rewarded" else f" (not rewarded: {referral.reason})")
            for referral in report.referred[:_FRIENDS_SHOWN]
        )
        if len(report.referred) > _FRIENDS_SHOWN:
            brought += f" and {len(report.referred) - _FRIENDS_SHOWN} more"
        earned = story.program.format_points(report.points)
        print(f"  {report.member_id} brought {brought}; earned {earned} points")
    if len(ranked) > _REFERRERS_SHOWN:
        print(f"  and {len(ranked) - _REFERRERS_SHOWN} more members who brought a friend")


def _tell_storage(story: _Story, path: Path, args: argparse.Namespace) -> None:
    replay = story.replay
    durability = (
        "every commit fsynced: survives a power loss"
        if args.synchronous == "full"
        else "commits survive an application crash, not a power loss; --synchronous full for that"
    )
    rate = f"{replay.purchases / replay.seconds:.0f}" if replay.seconds else "n/a"
    done = replay.maintenance
    _rows(
        "Storage",
        [
            ("SQLite", f"synchronous={args.synchronous} ({durability})"),
            ("open it again", f'loyalty.open_store("sqlite:///{path}")'),
            (
                "events replayed",
                f"{len(story.traffic.events)} in {replay.seconds:.2f} s ({rate} purchases/s)",
            ),
            (
                "maintenance",
                f"{done['expired_lots']} lots expired ({done['expired_points']} points), "
                f"{done['tier_reviews']} tier reviews, {done['tier_changes']} tier changes",
            ),
        ],
    )
