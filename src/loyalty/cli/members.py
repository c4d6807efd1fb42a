"""``loyalty member show|history`` and ``loyalty events``: looking things up in a store, writing nothing;
``loyalty member merge``: two members found to be one person merged into one."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from loyalty import codec
from loyalty.cli.stores import engine_on, existing_store, store_url
from loyalty.cli.tables import print_rows
from loyalty.engine import Engine
from loyalty.errors import InvalidInput
from loyalty.program import Program


def _print_json(data: Any) -> None:
    print(json.dumps(codec.unstructure(data), ensure_ascii=False))


def _check_lookup(args: argparse.Namespace) -> None:
    """An ID or a --key, not both: refused before the store is opened."""
    if (args.member_id is None) == (args.key is None):
        raise InvalidInput("member_id", "give the member's ID or --key KEY, one of the two")


def _member_id(engine: Engine, args: argparse.Namespace) -> str:
    """The member the lookup names: by its id, or the member its ``--key`` finds."""
    if args.key is None:
        member_id: str = args.member_id
        return member_id
    return engine.find_member(args.key).id


def show(args: argparse.Namespace) -> int:
    _check_lookup(args)
    with existing_store(store_url(args.store)) as store:
        engine, program = engine_on(store, args.program)
        member_id = _member_id(engine, args)
        member = engine.member(member_id)
        balance = engine.balance(member_id)
        tier = engine.tier(member_id) if program.tiers is not None else None
        expiring = engine.expiring(member_id, within=timedelta(days=args.expiring_days))
        holds = engine.holds(member_id)
        vouchers = engine.vouchers(member_id, open_only=True)
    if args.json:
        shown = {"member": member, "balance": balance, "tier": tier, "expiring": expiring, "holds": holds}
        _print_json({**shown, "vouchers": vouchers})
        return 0
    points = program.format_points
    rows = [
        ("available", points(balance.available)),
        ("pending", points(balance.pending)),
        ("overdue", points(balance.overdue)),
        ("held", points(balance.held)),
    ]
    if tier is not None:
        rows.append(("tier", f"{tier.tier.name or tier.tier.id} since {tier.since.isoformat()}"))
        following, needed = tier.next, tier.to_next
        if following is not None and needed is not None:
            rows.append((f"to {following.name or following.id}", f"{needed} more ({tier.metric.value})"))
    print_rows(f"Member {member.id}, enrolled {member.enrolled_at.isoformat()}", rows)
    print(f"  expiring within {args.expiring_days} days:" + ("" if expiring else " none"))
    for lot in expiring:
        assert lot.expires_at is not None  # expiring lots have a date
        print(f"    {points(lot.remaining)} on {lot.expires_at.isoformat()}")
    print("  open holds:" + ("" if holds else " none"))
    for hold in holds:
        print(f"    {hold.id}: {points(hold.points)} until {hold.expires_at.isoformat()}")
    print("  open vouchers:" + ("" if vouchers else " none"))
    for voucher in vouchers:
        print(f"    {voucher.code}: {voucher.reward_id} until {voucher.expires_at.isoformat()}")
    return 0


def history(args: argparse.Namespace) -> int:
    _check_lookup(args)
    with existing_store(store_url(args.store)) as store:
        engine, program = engine_on(store, args.program)
        member_id = _member_id(engine, args)
        entries = engine.history(member_id, after=args.after, limit=args.limit)
    if args.json:
        _print_json(entries)
        return 0
    if not entries:
        print(f"Member {member_id}: no entries after {args.after}")
        return 0
    print(f"Member {member_id}: entries {entries[0].seq} to {entries[-1].seq}")
    for entry in entries:
        print(
            f"  {entry.seq:>8}  {entry.occurred_at.isoformat()}  {entry.kind.value:<8}"
            f" {_signed(program, entry.points):>10} -> {program.format_points(entry.balance_after):>10}"
            f"  {entry.source_id}: {entry.reason}"
        )
    return 0


def merge(args: argparse.Namespace) -> int:
    with existing_store(store_url(args.store)) as store:
        engine, program = engine_on(store, args.program)
        at = args.at if args.at is not None else datetime.now(UTC)
        made = engine.merge_members(args.survivor, args.absorbed, id=args.id, at=at, reason=args.reason)
    if args.json:
        _print_json(made)
        return 0
    lots = sum(1 for entry in made.received if entry.kind.value == "merge" and entry.points > 0)
    # One word for the months of spend carried: "spend", not a line per month.
    carried = sorted({"spend" if item.what.startswith("spend ") else item.what for item in made.carried})
    print_rows(
        f"Merged {made.absorbed} into {made.survivor} ({made.id}): {made.absorbed} is closed",
        [
            ("points", f"{program.format_points(made.points)} in {lots} lots"),
            (f"{made.survivor}'s balance", program.format_points(made.survivor_balance)),
            ("keys", ", ".join(made.keys) or "none"),
            ("referrals", ", ".join(made.referrals) or "none"),
            ("carried", ", ".join(carried) or "nothing"),
        ],
    )
    return 0


def erase(args: argparse.Namespace) -> int:
    with existing_store(store_url(args.store)) as store:
        engine, _ = engine_on(store, args.program)
        at = args.at if args.at is not None else datetime.now(UTC)
        erased = engine.erase(args.member_id, id=args.id, at=at, reason=args.reason, actor=args.actor)
    if args.json:
        _print_json(erased)
        return 0
    print_rows(
        f"Erased {erased.member_id} ({args.id}) at {erased.erased_at.isoformat()}",
        [
            ("entries", f"{erased.entries} (their text)"),
            ("records", str(erased.records)),
            ("events", str(erased.events)),
            ("keys", f"{erased.identifiers} removed"),
            ("kept as", erased.pseudonym),
        ],
    )
    return 0


def events(args: argparse.Namespace) -> int:
    with existing_store(store_url(args.store)) as store:
        engine, _ = engine_on(store, args.program)
        found = engine.events(after=args.after, limit=args.limit)
    if args.json:
        _print_json(found)
        return 0
    if not found:
        print(f"no events after {args.after}")
    for event in found:
        data = json.dumps(dict(event.data), ensure_ascii=False, sort_keys=True)
        when = event.recorded_at.isoformat()
        print(f"{event.seq:>8}  {when}  {event.kind.value}  {event.member_id}  {data}")
    return 0


def _signed(program: Program, units: int) -> str:
    shown = program.format_points(units)
    return shown if units < 0 else f"+{shown}"
