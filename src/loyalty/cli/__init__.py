"""The ``loyalty`` command.

- ``loyalty demo`` builds a small grocery chain's program in a fresh SQLite
  file, replays a few weeks of seeded till traffic through the engine and
  shows what came of it: the best customers, one receipt's explanation and
  the throughput.
- ``loyalty validate PROGRAM`` checks a program file (``.toml`` or ``.json``,
  one program or a file of ``versions``) and prints a one-line summary of each
  version, or every problem as ``path: message``, one per line on stderr.
- ``loyalty quote PROGRAM BASKET.json`` (or ``--line SKU:QTY:PRICE[:CATEGORY]``
  instead of a basket file) prints what a basket would earn, rule by rule,
  with every rule that gives nothing and why, under the program version in
  force at the basket's time. It is a pure evaluation: nothing is written.
  ``--guest`` quotes for a card not enrolled (a new member; the receipt says
  "join now to earn these points").
- ``loyalty schema [--output FILE]`` prints the JSON Schema of program files
  (or writes it to ``FILE``), for editors to check and complete them
  (``docs/editors.md``).

- ``loyalty check FILE...`` runs scenario files (``*.loyalty.toml``) on fresh memory
  stores, one line per scenario, the failing step's expectations against what
  happened (``docs/testing-your-program.md``); ``--schema`` prints their JSON Schema.

- ``loyalty simulate --history FILE --program CURRENT --proposed NEW`` replays a
  history in memory under both programs and compares them (``docs/simulation.md``).

- ``loyalty import FILE.jsonl`` applies a history to a store in batches, once;
  ``loyalty export`` writes a store's members as a history it reads back
  (``docs/import-export.md``).
- ``loyalty report``, ``loyalty run-due``, ``loyalty member show|history``,
  ``loyalty events`` and ``loyalty entries`` work on a store: a period's figures,
  everything due carried out once, a member looked up, the outbox read, every
  member's ledger entries read in commit order (JSON lines).
- ``loyalty offline-grant TERMINAL`` lets a till redeem within an allowance while cut off,
  and ``loyalty offline-report TERMINAL`` reconciles what it did (``docs/offline.md``).
- ``loyalty verify`` recomputes every member's chain of entry hashes and names every
  broken link (``docs/audit.md``); ``--write-heads FILE`` exports every member's head,
  ``--heads FILE`` checks an export made before.

``validate``, ``quote``, ``simulate``, ``report``, ``member show|history``, ``events``, ``entries``,
``offline-report`` and ``verify`` write nothing anywhere, nor does ``schema`` without ``--output``,
nor ``report`` and ``simulate`` but the HTML page ``--html FILE`` asks for (``docs/reporting.md``),
nor ``verify`` but its ``--write-heads FILE``. ``loyalty -v COMMAND``
shows the library's log on stderr: retries, declines, migrations and
maintenance runs (INFO); ``-vv`` adds a line per command (DEBUG). See
``docs/logging.md``. The exit status:

- **0**: done (the program is valid; the quote, figures or answer is printed;
  what was due is done).
- **1**: the program file has problems; each is printed on stderr as
  ``path: message`` (``rules[2].factor: must not be negative, got -1``).
- **2**: a usage error or other refused input: bad arguments (``argparse``'s
  status), a missing file, a bad basket, and any other error the library
  raises on purpose (:class:`~loyalty.LoyaltyError`), printed as
  ``error: <message>`` on stderr.
- **4**: ``loyalty import --on-error skip`` skipped bad records (into ``--rejects``,
  or named on stderr); everything else was applied.
- **5**: ``loyalty verify`` found a broken link in the ledger's chains (each printed).
- **3**: the store could not be used (:class:`~loyalty.StorageError`: unreachable,
  locked, not a database, a newer schema), printed the same way.
- **130**: stopped by Ctrl-C, with ``interrupted`` on stderr; the unit of work
  it cut short rolled back.
- **141**: the reader of the output went away (``| head``); nothing more is printed.

``demo``, ``run-due``, ``report`` and ``verify`` show progress on a terminal's stderr when
the ``cli`` extra (rich) is installed (:mod:`loyalty.cli.progress`).

>>> main(["demo", "--db", "/no/such/directory/demo.db"])  # stderr: error: --db: directory ... does not exist
2
>>> main(["validate", "/no/such/program.toml"])  # stderr: error: /no/such/program.toml: no such file
2

A basket given as JSON data becomes the purchase and member it describes;
a bad field raises the library's error for it, with the field's path:

>>> basket = basket_from_json({"member_id": "M1", "at": "2024-03-05T15:10:00+01:00", "currency": "EUR",
...                            "lines": [{"sku": "latte", "quantity": 2, "unit_price": "3.40"}]})
>>> basket.purchase.total, basket.visits
(Money(amount=Decimal('6.80'), currency='EUR'), 0)
>>> basket_from_json({"member_id": "M1", "at": "2024-03-05T15:10:00+01:00", "currency": "EUR",
...                   "lines": [{"sku": "latte", "quantity": 2, "unit_price": 3.4}]})
Traceback (most recent call last):
...
loyalty.errors.InvalidAmount: lines[0].unit_price: must be a string such as "3.40", not float
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from loyalty.cli.arguments import parser as _parser
from loyalty.cli.baskets import Basket, basket_from_json
from loyalty.errors import ConfigError, LoyaltyError, StorageError

__all__ = ["Basket", "basket_from_json", "main"]


@contextmanager
def _logging_to_stderr(verbose: int) -> Iterator[None]:
    """The ``loyalty`` loggers' records on stderr for the command's run: INFO and up with ``-v``,
    DEBUG too with ``-vv``. Undone afterwards, as ``main`` may run many times in one process."""
    if not verbose:
        yield
        return
    logger = logging.getLogger("loyalty")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose == 1 else logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``loyalty`` command with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        with _logging_to_stderr(args.verbose):
            status = _run(args)
            # Written out here, not at interpreter exit, so that a reader gone away is seen below.
            sys.stdout.flush()
    except KeyboardInterrupt:
        # Ctrl-C: the unit of work it cut short rolled back on its way out; one line, no traceback.
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (head, less, grep -m) stopped reading: stop quietly, as a shell tool does,
        # with stdout pointed at /dev/null so that the interpreter's own final flush cannot fail.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return status


def _run(args: argparse.Namespace) -> int:
    try:
        status: int = args.run(args)
    except ConfigError as exc:
        # Only program files raise it: every problem, one per line, for the merchant to fix in one pass.
        for path, message in exc.problems:
            print(f"{path}: {message}" if path else message, file=sys.stderr)
        return 1
    except StorageError as exc:
        # Not the input: the database (unreachable, locked, a newer schema). Worth a retry later.
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except LoyaltyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return status
