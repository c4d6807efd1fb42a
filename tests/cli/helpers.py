"""Shared by the CLI tests: Corner Coffee's program, versions and sample basket, a plain program;
main() run as by a shell."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from loyalty import Program
from loyalty.cli import main

#: The plain program of the ``ledger`` fixture's store (conftest.py).
CLUB = Program("Club", "EUR")

CORNER = """
name = "Corner Coffee"
currency = "EUR"
version = "2024-03"
effective_from = "2024-03-01T00:00:00+01:00"
timezone = "Europe/Paris"
rate = {points = 1, per = "1.00"}

[[rules]]
kind = "spend"
id = "pastry"
name = "Pastry bonus"
points = 1
categories = ["pastry"]

[[rules]]
kind = "spend"
id = "students"
name = "Student bonus"
points = 1
members = {segment = ["student"]}

[[rules]]
kind = "multiplier"
id = "happy-hour"
name = "Happy hour"
factor = "2"
categories = ["coffee"]
days = ["tue"]
hours = ["14:00-17:00"]

[[rules]]
kind = "stamp_card"
id = "tenth-coffee"
name = "Tenth coffee"
points = 20
every = 10
categories = ["coffee"]

[[rules]]
kind = "birthday"
id = "birthday"
name = "Birthday treat"
points = 50
days_before = 3
days_after = 3
"""


VERSIONS = """
[[versions]]
name = "Corner Coffee"
currency = "EUR"
version = "2024-03"
effective_from = "2024-03-01T00:00:00+01:00"
rate = {points = 2, per = "1.00"}

[[versions.rules]]
kind = "first_purchase"
id = "welcome"
name = "Welcome"
points = 25

[[versions]]
name = "Corner Coffee"
currency = "EUR"
version = "2024-01"
effective_from = "2024-01-01T00:00:00+01:00"
"""


AT = "2024-03-05T15:10:00+01:00"  # a Tuesday, inside Corner Coffee's happy hour


def sample(**changes: Any) -> dict[str, Any]:
    """Corner Coffee's sample basket as JSON data, with top-level keys replaced (None: removed)."""
    data: dict[str, Any] = {
        "member_id": "M1",
        "at": AT,
        "currency": "EUR",
        "id": "S01-T2-000123",
        "store_id": "S01",
        "lines": [
            {"sku": "latte", "quantity": 2, "unit_price": "3.40", "category": "coffee"},
            {
                "sku": "croissant",
                "quantity": 1,
                "unit_price": "2.10",
                "category": "pastry",
                "discount": "0.10",
            },
        ],
        "member": {"birthday": "1990-03-04", "attributes": {"segment": "regular"}, "visits": 3},
    }
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def with_line(**changes: Any) -> dict[str, Any]:
    """The sample basket with its first line's keys replaced (None: removed)."""
    data = sample()
    line = data["lines"][0]
    for key, value in changes.items():
        if value is None:
            line.pop(key, None)
        else:
            line[key] = value
    return data


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``main(args)``'s exit status (argparse's SystemExit included), stdout and stderr."""
    try:
        status = main(list(args))
    except SystemExit as exit_info:
        status = exit_info.code if isinstance(exit_info.code, int) else -1
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def tree_of(root: Path) -> dict[str, int]:
    """Every file and folder under ``root`` with its modification time (to show nothing was written)."""
    return {str(path.relative_to(root)): path.stat().st_mtime_ns for path in root.rglob("*")}


# An address outside the page: a src or href not to an id of its own, a url() likewise, any http(s).
_OUTSIDE = re.compile(r"(?:src|href)=\"(?!#)|url\((?!#)|https?:")


def outside_references(html: str) -> list[str]:
    """What in ``html`` refers to something outside it (empty for a self-contained page)."""
    return _OUTSIDE.findall(html)
