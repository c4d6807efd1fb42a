"""How the commands on a store print what they found: a heading, then labelled figures."""

from __future__ import annotations

from collections.abc import Sequence


def print_rows(heading: str, rows: Sequence[tuple[str, str]]) -> None:
    """``heading``, then each ``(label, value)`` indented, the values in one column.

    >>> print_rows("Club: figures", [("members", "7"), ("points issued", "293")])
    Club: figures
      members        7
      points issued  293
    """
    width = max((len(label) for label, _ in rows), default=0)
    print(heading)
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value}")
