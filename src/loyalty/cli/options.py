"""Options and argument types that several of the `loyalty` command's subcommands share."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from loyalty.cli.baskets import argument, at_argument, id_argument, money_text
from loyalty.errors import InvalidInput


def _whole(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
    return value


def count_argument(text: str) -> int:
    return _whole(text, 1)


def count_up_to(most: int) -> Callable[[str], int]:
    """A count of at least 1 and at most ``most``: for a count that becomes a span of dates (or
    a run's size), where a huge one would overflow a date rather than be refused."""

    def parse(text: str) -> int:
        value = _whole(text, 1)
        if value > most:
            raise argparse.ArgumentTypeError(f"must be at most {most}, got {value}")
        return value

    return parse


def seq_argument(text: str) -> int:
    """An entry's or event's number, or 0 for "from the start"."""
    return _whole(text, 0)


point_value_argument = argument(lambda text: money_text("point-value", text))


def command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    run: Callable[[argparse.Namespace], int],
    *,
    help: str,
    description: str,
) -> argparse.ArgumentParser:
    """A subcommand's parser, which hands the parsed arguments to `run`."""
    parser = commands.add_parser(name, help=help, description=description)
    parser.set_defaults(run=run)
    return parser


def store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", metavar="URL", help="the store, e.g. sqlite:///loyalty.db (default: $LOYALTY_STORE_URL)"
    )


def store_options(parser: argparse.ArgumentParser) -> None:
    store_option(parser)
    parser.add_argument(
        "--program",
        type=Path,
        metavar="PROGRAM",
        help="the program file (default: the versions stored with the data)",
    )


def lookup_options(parser: argparse.ArgumentParser) -> None:
    """The member looked up (by id or --key), the store and --json: `member show` and `member history`."""
    parser.add_argument("member_id", metavar="ID", nargs="?", help="the member's id (or give --key)")
    parser.add_argument(
        "--key",
        metavar="KEY",
        help="find the member by a card or key instead, kind:value (card:1234-5678, email:ann@example.com)",
    )
    store_options(parser)
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")


def page_options(parser: argparse.ArgumentParser, what: str, limit: int) -> None:
    """--after and --limit: a page of `what` (entries, events) in order, resumed after the last seq seen."""
    parser.add_argument(
        "--after", type=seq_argument, default=0, metavar="SEQ", help=f"{what} after this one (0)"
    )
    parser.add_argument(
        "--limit", type=count_argument, default=limit, metavar="N", help=f"at most N {what} ({limit})"
    )


def id_option(parser: argparse.ArgumentParser, action: str) -> None:
    """--id: the idempotency key of a command that writes."""
    parser.add_argument(
        "--id", required=True, type=id_argument, metavar="ID", help=f"the {action}'s id (its idempotency key)"
    )


def action_options(parser: argparse.ArgumentParser, action: str, reason: str) -> None:
    """--id and --reason: what a command that changes a member keeps on its entries."""
    id_option(parser, action)
    parser.add_argument("--reason", required=True, metavar="TEXT", help=reason)


def when_options(parser: argparse.ArgumentParser, printed: str) -> None:
    """--at, the store and --json: the rest of a command that changes a member."""
    parser.add_argument(
        "--at", type=at_argument, metavar="ISO", help="when, ISO 8601 with an offset (default: now)"
    )
    store_options(parser)
    parser.add_argument("--json", action="store_true", help=f"print {printed} as JSON")


def writable(option: str, path: Path | None) -> None:
    """Refuse a file ``option`` names to be written (a directory, or in one that does not exist)
    before anything is read or written: an ``OSError`` midway would end the command with a
    traceback."""
    if path is None:
        return
    if path.is_dir():
        raise InvalidInput(option, f"{path} is a directory; name a file inside it")
    if not path.parent.is_dir():
        raise InvalidInput(option, f"directory {path.parent} does not exist")
