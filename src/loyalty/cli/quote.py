"""``loyalty quote``: what a basket would earn, rule by rule, under the version in force at its time."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

import attrs

from loyalty import codec
from loyalty.cli.baskets import QUOTE_ID, Basket, basket_from_json, read_basket
from loyalty.cli.programs import program_versions
from loyalty.earning import evaluate
from loyalty.members import Member
from loyalty.purchases import Purchase
from loyalty.versions import in_force


def quote(args: argparse.Namespace) -> int:
    options = {
        "--at": args.at,
        "--member-id": args.member_id,
        "--currency": args.currency,
        "--id": args.id,
        "--store": args.store,
        "--terminal": args.terminal,
        "--channel": args.channel,
    }
    if args.basket is not None:
        if args.lines:
            args.usage("give a basket file or --line options, not both")
        given = [name for name, value in options.items() if value is not None]
        if given:
            args.usage(f"{', '.join(given)}: only with --line (the basket file says this itself)")
    elif not args.lines:
        args.usage("give a basket file (- for standard input) or at least one --line")
    versions = program_versions(args.program)
    if args.basket is not None:
        basket = basket_from_json(read_basket(args.basket))
    else:
        at = args.at if args.at is not None else datetime.now(UTC)
        member_id = args.member_id or QUOTE_ID
        purchase = Purchase(
            args.id or QUOTE_ID,
            member_id,
            at,
            args.lines,
            args.currency or versions[0].currency,  # every version has the same currency
            store_id=args.store,
            terminal_id=args.terminal,
            channel=args.channel,
        )
        basket = Basket(purchase, Member(member_id, at))
    member = basket.member
    if args.guest and (basket.visits or member.birthday is not None or member.attributes):
        # As --at and the like with a basket file: a contradiction is refused, not settled silently.
        args.usage("--guest: the basket's member has a birthday, attributes or visits; a guest has none")
    program = in_force(versions, basket.purchase.at)
    evaluation = evaluate(program, basket.purchase, member=member, tallies=basket.tallies, explain=True)
    receipt = attrs.evolve(evaluation.receipt, guest=True) if args.guest else evaluation.receipt
    if args.json:
        receipt_data = codec.unstructure(receipt)
        document = {"program": program.name, "version": program.version, "receipt": receipt_data}
        print(json.dumps(document, ensure_ascii=False))
        return 0
    heading = f"{program.name} ({program.currency}), version {program.version}"
    if program.effective_from is not None:
        heading += f", in force from {program.effective_from.isoformat()}"
    print(heading)
    print(receipt.render())
    return 0
