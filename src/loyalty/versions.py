"""Program versions side by side: which one is in force at an instant, and the dates it gives.

Versions are ordered by ``effective_from`` (see :func:`loyalty.program.check_versions`);
each sale is decided by the version in force at its till time:

>>> from datetime import datetime, timezone
>>> from loyalty import Program
>>> spring = datetime(2024, 3, 1, tzinfo=timezone.utc)
>>> versions = (Program("Club", "EUR", version="v1"),
...             Program("Club", "EUR", version="v2", effective_from=spring))
>>> in_force(versions, datetime(2024, 2, 1, tzinfo=timezone.utc)).version
'v1'
>>> in_force(versions, spring).version
'v2'
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from loyalty import codec
from loyalty.errors import InvalidInput
from loyalty.program import Program

__all__ = ["RUNNING_OPTIONS", "by_label", "in_force", "lot_dates", "same_body"]


def in_force(versions: tuple[Program, ...], at: datetime, *, default_first: bool = False) -> Program:
    """The version in force at ``at``: the last whose ``effective_from`` is not after it.

    Before the first, ``default_first`` takes the first; otherwise it is refused.
    """
    if len(versions) == 1 and versions[0].effective_from is None:
        return versions[0]  # the common case, on every purchase
    chosen = None
    for version in versions:
        if version.effective_from is None or version.effective_from <= at:
            chosen = version
    if chosen is None and default_first:
        chosen = versions[0]
    if chosen is None:
        first = versions[0]
        assert first.effective_from is not None  # an undated version is always in force
        raise InvalidInput(
            "at",
            f"{at.isoformat()} is before the program's first version "
            f"({first.version}, in force from {first.effective_from.isoformat()})",
        )
    return chosen


def by_label(versions: tuple[Program, ...], label: str, at: datetime) -> Program:
    """The version a purchase was earned with: by its label, else the one in force at ``at``."""
    for version in versions:
        if version.version == label:
            return version
    return in_force(versions, at, default_first=True)


def lot_dates(
    versions: tuple[Program, ...], program: Program, at: datetime, *, pending: bool, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """When points earned at ``at`` under ``program`` vest and expire: its dates, unless a later
    version in force by ``now`` re-dates points earned before it (``redate_earlier``), whose
    dates they then get, like the others it re-dated."""
    vests, expires = program.lot_dates(at, pending=pending)
    for version in versions:
        start = version.effective_from
        if version.expiry.redate_earlier and start is not None and at < start <= now:
            expires = version.lot_dates(at, pending=pending)[1]
    return vests, expires


#: Options of the engine running a program, not terms of the version: engines running one version
#: may differ in them (an import accepting old activity beside the tills' engine refusing it).
RUNNING_OPTIONS = frozenset({"time_guards"})


def same_body(stored: Mapping[str, Any], body: Mapping[str, Any]) -> bool:
    """Whether two ``to_dict`` forms are one program: ``effective_from`` compares as an instant,
    and the engine's own options (:data:`RUNNING_OPTIONS`) do not count."""
    stored = {key: value for key, value in stored.items() if key not in RUNNING_OPTIONS}
    body = {key: value for key, value in body.items() if key not in RUNNING_OPTIONS}
    if stored.keys() != body.keys():
        return False
    for key, value in stored.items():
        other = body[key]
        if key == "effective_from" and isinstance(value, str) and isinstance(other, str):
            if codec.canonical_instant(value) != codec.canonical_instant(other):
                return False
        elif value != other:
            return False
    return True
