"""The arguments of ``loyalty offline-grant`` and ``loyalty offline-report`` (docs/offline.md), apart from
:mod:`loyalty.cli.arguments`, which holds every other subcommand's."""

from __future__ import annotations

import argparse

from loyalty.cli.baskets import at_argument
from loyalty.cli.offline import offline_grant, offline_report
from loyalty.cli.options import command, id_option, store_options, when_options


def offline_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``offline-grant`` and ``offline-report`` to ``commands``."""
    granting = command(
        commands,
        "offline-grant",
        offline_grant,
        help="grant a terminal an offline allowance: what it may redeem while cut off",
        description=(
            "Let the terminal redeem up to --per-member points per member and --total in all while "
            "offline, for redemptions dated from --at to --until (docs/offline.md). A figure left out "
            "is the program's: its [offline] table, of the version in force at --at (--until is then "
            "--at plus its hours); under a program without one it is refused. Idempotent on --id: the "
            "same id with the same figures and --at prints the original allowance, with others it is "
            "refused (a retry repeats --at: left out, it is the time of each run)."
        ),
    )
    granting.add_argument("terminal", metavar="TERMINAL", help="the terminal's id")
    id_option(granting, "allowance")
    granting.add_argument("--actor", required=True, metavar="ID", help="who granted it (an id), kept")
    # Plain ints: the engine refuses a bad figure naming it, as it does for a caller in Python.
    granting.add_argument(
        "--per-member",
        type=int,
        metavar="N",
        help="the most points any one member may redeem under it (default: the program's)",
    )
    granting.add_argument(
        "--total",
        type=int,
        metavar="N",
        help="the most points all members together may redeem under it (default: the program's)",
    )
    granting.add_argument(
        "--until",
        type=at_argument,
        metavar="ISO",
        help="the last instant a redemption may be dated to count, ISO 8601 with an offset, "
        "at most 720 hours after --at (default: --at plus the program's hours)",
    )
    when_options(granting, "the allowance")

    report = command(
        commands,
        "offline-report",
        offline_report,
        help="reconcile a terminal's offline allowances: granted, used per member, short, declined",
        description=(
            "Each offline allowance the terminal was granted, oldest first: its limits and window, "
            "the points redeemed under it in all and per member, what the balances lacked and the "
            "offline redemptions declined beyond it (docs/offline.md). Nothing is written."
        ),
    )
    report.add_argument("terminal", metavar="TERMINAL", help="the terminal's id")
    store_options(report)
    report.add_argument("--json", action="store_true", help="print the reports as one JSON array")
