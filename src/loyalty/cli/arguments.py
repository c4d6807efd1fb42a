"""The `loyalty` command's arguments: every subcommand, its options and the function that runs it
(the offline ones' in :mod:`loyalty.cli.offline_arguments`)."""

from __future__ import annotations

import argparse
from pathlib import Path

import loyalty
from loyalty.cli.baskets import (
    QUOTE_ID,
    at_argument,
    currency_argument,
    day_or_at_argument,
    id_argument,
    line_argument,
)
from loyalty.cli.check import check as run_check
from loyalty.cli.demo import DEFAULT_PROGRAM
from loyalty.cli.demo import demo as run_demo
from loyalty.cli.examples import names as example_names
from loyalty.cli.exporting import export as run_export
from loyalty.cli.importing import import_file as run_import
from loyalty.cli.ledger_feed import entries as run_entries
from loyalty.cli.members import erase as run_erase
from loyalty.cli.members import events as run_events
from loyalty.cli.members import history as run_history
from loyalty.cli.members import merge as run_merge
from loyalty.cli.members import show as run_show
from loyalty.cli.migrate import run_migrate
from loyalty.cli.offline_arguments import offline_commands
from loyalty.cli.options import (
    action_options,
    command,
    count_argument,
    count_up_to,
    lookup_options,
    page_options,
    point_value_argument,
    seq_argument,
    store_option,
    store_options,
    when_options,
)
from loyalty.cli.programs import validate as run_validate
from loyalty.cli.quote import quote as run_quote
from loyalty.cli.report import report as run_report
from loyalty.cli.run_due import run_due
from loyalty.cli.schema import schema as run_schema
from loyalty.cli.simulate import simulate as run_simulate
from loyalty.cli.verify import verify as run_verify


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loyalty", description="An embeddable, explainable loyalty engine for point-of-sale software."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {loyalty.__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log to stderr what the library logs: -v retries, declines, migrations and maintenance "
        "runs; -vv each command too (before COMMAND: loyalty -v run-due ...)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = command(
        commands,
        "demo",
        run_demo,
        help="run an example program over a year of seeded till traffic and tell its merchant how it went",
        description=(
            "Run an example program (FreshWay Club, a grocer, unless --program names another) over a "
            "year of seeded till traffic into a new SQLite file: regulars, members who drift away or stop, "
            "referrals, redemptions, with expiry and tier reviews run every night as an operator would. "
            "Then print, in the merchant's words, the program, one receipt explained, the members at risk "
            "of leaving and why, the referrals, the year's figures, and where the store and its report are."
        ),
    )
    demo.add_argument(
        "--program",
        default=DEFAULT_PROGRAM,
        metavar="NAME|FILE",
        help=f"an example program by name ({', '.join(example_names())}) or a program file "
        f"(default: {DEFAULT_PROGRAM})",
    )
    demo.add_argument("--db", type=Path, help="SQLite file to create (default: a new temporary directory)")
    demo.add_argument("--force", action="store_true", help="replace --db if it already holds data")
    demo.add_argument(
        "--members",
        type=count_up_to(100_000),
        default=200,
        help="members in the shop (default: 200, at most 100000)",
    )
    demo.add_argument(
        "--weeks",
        type=count_up_to(5_200),
        default=52,
        help="weeks of traffic to replay (default: 52, at most 5200: a hundred years)",
    )
    demo.add_argument("--seed", type=int, default=1, help="seed of the synthetic traffic (default: 1)")
    demo.add_argument(
        "--synchronous",
        choices=("normal", "full"),
        default="normal",
        help="SQLite durability: 'full' fsyncs every commit and survives power loss; "
        "'normal' (default here) survives an application crash only, and is much faster",
    )
    demo.add_argument(
        "--no-html",
        action="store_true",
        help="do not write the HTML report next to the store (written when the report extra is installed)",
    )
    demo.add_argument(
        "--verbose",
        dest="storage_details",
        action="store_true",
        help="also print the storage details: durability, how to open the store, the replay's speed",
    )
    demo.add_argument(
        "--json",
        action="store_true",
        help="print what the demo found as one JSON object",
    )

    validate = command(
        commands,
        "validate",
        run_validate,
        help="check a program file and summarise it",
        description=(
            "Check a program file (.toml or .json; one program, or several versions under 'versions'). "
            "A valid program prints one summary line per version; otherwise every problem is printed "
            "on stderr as 'path: message', one per line, and the exit status is 1. Nothing is written."
        ),
    )
    validate.add_argument("program", type=Path, metavar="PROGRAM", help="the program file (.toml or .json)")
    validate.add_argument(
        "--json",
        action="store_true",
        help="print the verdict as one JSON object on stdout: each version's summary and program, "
        "or every problem as {path, message}",
    )

    schema = command(
        commands,
        "schema",
        run_schema,
        help="print the JSON Schema of program files, for editors",
        description=(
            "Print the JSON Schema (draft 2020-12) of program files (.toml or .json; one program, or "
            "several versions under 'versions'), generated from the classes that read them, for an "
            "editor to check and complete program files as they are typed (docs/editors.md). It "
            "prints nothing else; with --output it writes the schema to FILE and prints nothing."
        ),
    )
    schema.add_argument(
        "--output",
        type=Path,
        metavar="FILE",
        help="write the schema to FILE instead (its directory must exist)",
    )

    checking = command(
        commands,
        "check",
        run_check,
        help="run scenario files (*.loyalty.toml) and report each scenario",
        description=(
            "Run the scenarios of each file on a fresh memory store and print one line per scenario "
            "(ok or FAIL); under a failure, the step, each expectation against what happened and the "
            "step's explanation. The exit status is 1 if any scenario failed or any file has problems "
            "(printed on stderr as 'FILE: path: message'). Nothing is written."
        ),
    )
    checking.add_argument(
        "files", nargs="*", type=Path, metavar="FILE", help="scenario files (.loyalty.toml)"
    )
    checking.add_argument(
        "--schema", action="store_true", help="print the JSON Schema of scenario files instead, for editors"
    )

    quote = command(
        commands,
        "quote",
        run_quote,
        help="explain what a basket would earn, writing nothing",
        description=(
            "Print what a basket would earn under the program version in force at its time: every "
            "rule's points per line, the rounding, the total, and every rule that gives nothing with "
            "its reason. The basket is a JSON file (- for standard input), or --line options. A quote "
            "writes nothing and knows no history beyond the basket's member.visits."
        ),
    )
    quote.add_argument("program", type=Path, metavar="PROGRAM", help="the program file (.toml or .json)")
    quote.add_argument(
        "basket", nargs="?", metavar="BASKET.json", help="the basket as JSON (- for standard input)"
    )
    quote.add_argument(
        "--line",
        dest="lines",
        action="append",
        type=line_argument,
        metavar="SKU:QTY:PRICE[:CATEGORY]",
        help="a basket line instead of a basket file (repeat for more lines), e.g. latte:2:3.40:coffee",
    )
    quote.add_argument(
        "--at",
        type=at_argument,
        metavar="ISO",
        help="the till's time, ISO 8601 with an offset (default: now, in UTC)",
    )
    quote.add_argument(
        "--member-id", type=id_argument, metavar="ID", help=f"the member (default: {QUOTE_ID})"
    )
    quote.add_argument(
        "--currency",
        type=currency_argument,
        metavar="CODE",
        help="ISO 4217 code (default: the program's currency)",
    )
    quote.add_argument("--id", type=id_argument, metavar="ID", help=f"the purchase id (default: {QUOTE_ID})")
    quote.add_argument("--store", type=id_argument, metavar="ID", help="the store id")
    quote.add_argument("--terminal", type=id_argument, metavar="ID", help="the terminal id")
    quote.add_argument(
        "--channel", type=id_argument, metavar="NAME", help="the sales channel (web, app, ...)"
    )
    quote.add_argument(
        "--guest",
        action="store_true",
        help=(
            "quote for a card not enrolled: the member is new (no birthday, attributes or earlier "
            "purchases) and the receipt says 'join now to earn these points'"
        ),
    )
    quote.add_argument("--json", action="store_true", help="print the receipt as one JSON object")
    quote.set_defaults(usage=quote.error)

    report = command(
        commands,
        "report",
        run_report,
        help="print a period's figures: members, retention, points and their liability",
        description=(
            "Print the program's figures for a period from a store: members enrolled and active, "
            "retention and defection against the period of the same length before, points issued, "
            "redeemed, expired and outstanding, breakage, the liability at --point-value, spend and "
            "an estimated lifetime value. The figures are added up in the store. Nothing is written."
        ),
    )
    report.add_argument(
        "store", nargs="?", metavar="STORE_URL", help="the store, e.g. sqlite:///loyalty.db (or --store)"
    )
    report.add_argument(
        "--store",
        dest="store_option",
        metavar="URL",
        help="the store, as the other commands take it (default: $LOYALTY_STORE_URL)",
    )
    report.add_argument(
        "--from",
        dest="start",
        type=day_or_at_argument,
        required=True,
        metavar="DATE|ISO",
        help="the period's start: a date (from its midnight in the program's timezone) or an instant",
    )
    report.add_argument(
        "--to",
        dest="end",
        type=day_or_at_argument,
        required=True,
        metavar="DATE|ISO",
        help="the period's end: a date (the day included) or an instant (excluded)",
    )
    report.add_argument(
        "--point-value",
        type=point_value_argument,
        metavar="AMOUNT",
        help="money per point for the liability (default: the program's redemption.point_value)",
    )
    report.add_argument(
        "--program",
        type=Path,
        metavar="PROGRAM",
        help="the program file (default: the latest version stored with the data)",
    )
    report.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    report.add_argument(
        "--html",
        type=Path,
        metavar="FILE",
        help="also write an HTML report with charts to FILE (needs the 'report' extra; docs/reporting.md)",
    )

    simulate = command(
        commands,
        "simulate",
        run_simulate,
        help="replay a history under the current program and a proposed one, side by side",
        description=(
            "Replay a history file (JSON Lines, docs/simulation.md) in memory under the current program "
            "and under a proposed one, and print for each, side by side: points issued, redeemed, "
            "expired and outstanding, the liability, breakage, members per tier, the points each rule "
            "gave, declined redemptions and the members who gain or lose most. Nothing is written."
        ),
    )
    simulate.add_argument("--history", type=Path, required=True, metavar="FILE", help="the history (.jsonl)")
    for flag, what in (("--program", "the current program"), ("--proposed", "the proposed program")):
        simulate.add_argument(
            flag, type=Path, required=True, metavar="PROGRAM", help=f"{what} (.toml or .json)"
        )
    simulate.add_argument(
        "--point-value",
        type=point_value_argument,
        metavar="AMOUNT",
        help="money per point for the liability (default: each program's redemption.point_value)",
    )
    simulate.add_argument(
        "--until",
        type=at_argument,
        metavar="ISO",
        help="run maintenance up to this instant after the last record",
    )
    simulate.add_argument(
        "--top",
        type=seq_argument,
        default=5,
        metavar="N",
        help="members who gain and lose most to list (default: 5)",
    )
    simulate.add_argument("--json", action="store_true", help="print the comparison as one JSON object")
    simulate.add_argument(
        "--on-disk",
        action="store_true",
        help="replay into temporary SQLite files: memory grows with the members, not the records (slower)",
    )
    simulate.add_argument(
        "--sequential",
        action="store_true",
        help="replay both programs in this process (by default a second process replays the proposed "
        "program when the file is 1 MiB or more and there are two cores)",
    )
    simulate.add_argument(
        "--html",
        type=Path,
        metavar="FILE",
        help="also write an HTML report charting both programs to FILE (needs the 'report' extra)",
    )

    due = command(
        commands,
        "run-due",
        run_due,
        help="carry out everything due: expiries, ended holds, tier reviews, expiry reminders",
        description=(
            "What an operator schedules (daily, say): write off points past their expiry date, end "
            "holds whose time ran out, carry out tier reviews, re-date points where a program version "
            "says so, and announce points about to expire, each once (running it again does nothing "
            "more), then print what it did. A missing SQLite file is refused, not created; the program "
            "is the versions stored with the data unless --program is given."
        ),
    )
    store_options(due)
    due.add_argument(
        "--at",
        type=at_argument,
        metavar="ISO",
        help="what is due by this instant, ISO 8601 with an offset, not in the future (default: now)",
    )
    due.add_argument(
        "--batch", type=count_argument, default=500, metavar="N", help="lots per unit of work (default: 500)"
    )
    due.add_argument("--json", action="store_true", help="print what was done as one JSON object")

    member = commands.add_parser(
        "member",
        help="look up a member (balance, tier, points expiring, holds, history), merge two, or erase one",
        description=(
            "Look up a member in a store (show, history: nothing is written), merge two members "
            "found to be one person (merge), or erase a member's personal data on request (erase)."
        ),
    )
    lookups = member.add_subparsers(dest="lookup", required=True, metavar="LOOKUP")
    show = command(
        lookups,
        "show",
        run_show,
        help="balance by state, tier and progress, points expiring soon, open holds",
        description=(
            "The member's points now (available, pending, overdue, held), its tier and what the next "
            "one needs (under a tiered program), its lots expiring within --expiring-days, and its "
            "open holds."
        ),
    )
    lookup_options(show)
    show.add_argument(
        "--expiring-days",
        type=count_up_to(36_500),
        default=30,
        metavar="N",
        help="the window for expiring points (30)",
    )
    history = command(
        lookups,
        "history",
        run_history,
        help="the member's ledger entries, oldest first",
        description="The member's ledger entries in recording order, from after --after, at most --limit.",
    )
    lookup_options(history)
    page_options(history, "entries", 50)
    merging = command(
        lookups,
        "merge",
        run_merge,
        help="merge ABSORBED into SURVIVOR: its points, tier progress, habits, referrals and keys",
        description=(
            "Merge two members found to be one person: SURVIVOR receives ABSORBED's points (lot by lot, "
            "each keeping its expiry date), its tier progress, habits, referrals, cards and keys, and "
            "ABSORBED is closed. Idempotent on --id: running it again with the same id does nothing more."
        ),
    )
    merging.add_argument("survivor", metavar="SURVIVOR", help="the member who remains")
    merging.add_argument("absorbed", metavar="ABSORBED", help="the member merged in, then closed")
    action_options(merging, "merge", "why: kept on both members' entries")
    when_options(merging, "the merge")
    erasing = command(
        lookups,
        "erase",
        run_erase,
        help="erase the member's personal data on request (GDPR): its figures stay",
        description=(
            "Erase the member's personal data (birthday, attributes, cards and keys, the free text of "
            "its entries, commands and events; docs/erasure.md), keeping its balance, figures and "
            "chain; every later command on it is refused. Idempotent on --id."
        ),
    )
    erasing.add_argument("member_id", metavar="ID", help="the member to erase")
    action_options(erasing, "erasure", "why (a request number), kept")
    erasing.add_argument("--actor", required=True, metavar="ID", help="who erased it (an id), kept")
    when_options(erasing, "what was erased")

    importing = command(
        commands,
        "import",
        run_import,
        help="apply a history file (JSON Lines) to a store, in batches, once",
        description=(
            "Apply the records of a history file (enrollments, opening balances, purchases, returns, "
            "redemptions, adjustments, custom events: docs/import-export.md) to the store, --batch-size "
            "events per transaction, each with the outcome of its own engine call. Records already "
            "recorded are skipped by their ids, so a run that was stopped resumes when run again. A "
            "bad record stops the run (--on-error stop) or is skipped (--on-error skip, into --rejects "
            "FILE). The store must exist (loyalty migrate creates it)."
        ),
    )
    importing.add_argument("file", type=Path, metavar="FILE.jsonl", help="the history, one record a line")
    store_options(importing)
    importing.add_argument(
        "--batch-size",
        type=count_argument,
        default=500,
        metavar="N",
        help="events per transaction (default: 500)",
    )
    importing.add_argument(
        "--on-error",
        choices=("stop", "skip"),
        default="stop",
        help="at a bad record: stop there (the default), or skip it and go on",
    )
    importing.add_argument(
        "--rejects", type=Path, metavar="FILE", help="with --on-error skip: write the bad records here"
    )
    importing.add_argument("--json", action="store_true", help="print the summary as one JSON object")

    exporting = command(
        commands,
        "export",
        run_export,
        help="write the store's members as a history file that loyalty import reads back",
        description=(
            "Write every member of the store, by id, as history records (JSON Lines): its enrollment "
            "(birthday, attributes, active cards and keys), then each of its open lots as an "
            "opening_balance with the dates it was earned, vests and expires. loyalty import reads "
            "the file into another store (docs/import-export.md). Nothing is written to the store."
        ),
    )
    store_options(exporting)
    exporting.add_argument("--output", type=Path, metavar="FILE", help="write here (default: stdout)")
    exporting.add_argument(
        "--page", type=count_argument, default=500, metavar="N", help="members read at a time (default: 500)"
    )
    exporting.add_argument(
        "--history",
        action="store_true",
        help="write the history instead: enrollments, then the purchases, returns, redemptions, "
        "adjustments, events and opening balances in commit order (import and simulate --history read it)",
    )

    migrate = command(
        commands,
        "migrate",
        run_migrate,
        help="create a store, or upgrade an older one to this version's schema",
        description=(
            "Create the store at --store (an SQLite file, a PostgreSQL schema) if it is absent, or "
            "bring an older one up to this version's schema, and print its schema version. The "
            "commands that read or maintain existing data never do either: they refuse a store that "
            "is missing or older."
        ),
    )
    store_option(migrate)
    migrate.add_argument("--json", action="store_true", help="print the outcome as one JSON object")

    events = command(
        commands,
        "events",
        run_events,
        help="the outbox: events in commit order, for an integration to pick up",
        description=(
            "The outbox's events (points expiring, tiers reached, referrals rewarded, members at "
            "risk, ...) in commit order, from after --after, at most --limit. Nothing is written."
        ),
    )
    store_options(events)
    page_options(events, "events", 100)
    events.add_argument("--json", action="store_true", help="print the events as one JSON array")

    feed = command(
        commands,
        "entries",
        run_entries,
        help="the ledger feed: every member's entries in commit order, as JSON lines",
        description=(
            "Every member's ledger entries in commit order, from after --after, at most --limit, "
            "one JSON object a line (an entry's JSON form), for accounting and BI: pass the last "
            "seq printed as --after next time. Nothing is written."
        ),
    )
    store_options(feed)
    page_options(feed, "entries", 1000)

    verifying = command(
        commands,
        "verify",
        run_verify,
        help="recompute every member's chain of entry hashes: was the ledger edited behind the engine?",
        description=(
            "Recompute every member's chain of ledger entry hashes from its first entry and print "
            "every broken link (an entry edited, removed, inserted or reordered behind the engine's "
            "back), with its member and seq, a member row whose head or balance is not its last "
            "entry's, or a head exported before (--heads) no longer in its chain; exit status 5 if "
            "there is one (docs/audit.md). Nothing is written but the --write-heads file."
        ),
    )
    store_options(verifying)
    verifying.add_argument(
        "--batch",
        type=count_argument,
        default=1000,
        metavar="N",
        help="entries read at a time (default: 1000)",
    )
    verifying.add_argument(
        "--heads",
        type=Path,
        metavar="FILE",
        help="also check that every head in FILE (written by --write-heads before) is still in its chain",
    )
    verifying.add_argument(
        "--write-heads",
        type=Path,
        metavar="FILE",
        help="once every chain verifies, write every member's head to FILE (JSON lines and a digest)",
    )
    verifying.add_argument("--json", action="store_true", help="print the report as one JSON object")

    offline_commands(commands)
    return parser
