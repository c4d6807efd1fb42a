"""The tallies every purchase touches, kept in the member's own row by the SQL adapters.

A purchase reads and adds to its member's visit count, first and last visit, what returns
left the member owing and the month's spend. Kept as rows of the tallies table they cost a
read and three writes per purchase, each on a page of its own; kept in the member's row,
which the purchase reads (its balance, under the lock) and writes (its balance) anyway,
they cost nothing more. The port does not change: a tally is still a key and its value,
and where an adapter keeps it is the adapter's business.

What the row holds, as JSON in a ``tallies`` column: ``{"visits": [count, "points"], ...}``
for the keys that end in the member's id (absent means zero), and the latest month's spend
as ``"spent": ["2024-03", count, "points"]``. Earlier months stay in a table (a member's own,
``member_tallies``, since the tallies were split by owner: :mod:`loyalty.store.owned_tallies`):
the row keeps one month, so it does not grow with the years. These invariants make a read of
the row enough:

- a key of these kinds for an enrolled member is in its row, never in the table
  (enrolling takes any such key out of the table and into the row);
- a month's spend is in the row if it is the row's month, else in the table; when a later
  month comes the row's month goes to the table and the new one comes out of it (where a
  hand-made key may have put it before the member enrolled).

Keys of members that are not enrolled are ordinary tallies in the table.

>>> where("visits|M1"), where("spent|2024-03|M1"), where("spent|March|M1"), where("cap|M1")
(('M1', 'visits', None), ('M1', 'spent', '2024-03'), None, None)
>>> row = Row.parse('{"visits": [3, "0"], "spent": ["2024-03", 2, "21.50"]}', "M1")
>>> row.get("visits", None), row.get("debt", None)
(Tally(count=3, points=Decimal('0')), Tally(count=0, points=Decimal('0')))
>>> row.get("spent", "2024-03")
Tally(count=2, points=Decimal('21.50'))
>>> row.get("spent", "2024-02") is None  # in the table
True
>>> row.put("spent", "2024-04", Tally(1, Decimal("5")))  # March goes to the table
('spent|2024-03|M1', Tally(count=2, points=Decimal('21.50')))
>>> row.text()
'{"visits":[3,"0"],"spent":["2024-04",1,"5"]}'
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from loyalty.earning_keys import visits_key
from loyalty.errors import InvalidInput
from loyalty.habits import seen_key, spent_key
from loyalty.merges import merged_key
from loyalty.returns import debt_key, owed_key
from loyalty.tallies import Tally

__all__ = ["FAMILIES", "Row", "Rows", "checked", "own_keys", "where"]

#: The kinds of tally kept whole in the row, by the prefix of their keys (member id last).
FAMILIES: dict[str, str] = {
    visits_key(""): "visits",
    seen_key(""): "seen",
    debt_key(""): "debt",
    owed_key(""): "owed",
    # Read only for a closed member (where a merge took it), written by a merge or a closing.
    merged_key(""): "merged",
}
_SPENT = spent_key("", "")[: -len("|")]  # "spent|", then the month, "|" and the member
_MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")
_MONTH_WIDTH = 7
_ZERO = Tally()
_dump = json.JSONEncoder(separators=(",", ":")).encode


# Cached: a purchase asks about the same few keys of its member several times, and a member's
# keys come back with each of its purchases.
@functools.lru_cache(maxsize=1 << 14)
def where(key: str) -> tuple[str, str, str | None] | None:
    """The member, kind and month (for a month's spend) of a key a member's row keeps, or ``None``."""
    head, sep, member = key.partition("|")
    if not sep or not member:
        return None
    family = FAMILIES.get(key[: len(head) + 1])
    if family is not None:
        return member, family, None
    if key.startswith(_SPENT):
        rest = key[len(_SPENT) :]
        month, member = rest[:_MONTH_WIDTH], rest[_MONTH_WIDTH + 1 :]
        if rest[_MONTH_WIDTH : _MONTH_WIDTH + 1] == "|" and member and _MONTH.fullmatch(month):
            return member, "spent", month
    return None


_INT64 = range(-(2**63), 2**63)


def checked(key: str, total: Tally) -> Tally:
    """``total`` if a database can keep its count (a signed 64-bit integer, as the tallies
    table's column), else :class:`~loyalty.errors.InvalidInput` before anything is written."""
    if total.count not in _INT64:
        raise InvalidInput("deltas", f"the count of tally {key!r} would leave the 64-bit range")
    return total


def own_keys(member_id: str) -> list[str]:
    """The keys a member's row keeps whatever the month (the ones enrolling takes in)."""
    return [prefix + member_id for prefix in FAMILIES]


class Row:
    """A member's row tallies as a unit of work sees them, with what it changed."""

    __slots__ = ("_text", "_values", "changed", "member_id", "spent")

    def __init__(self, member_id: str, text: str | None) -> None:
        self.member_id = member_id
        self._text = text
        self._values: dict[str, Tally] | None = None
        #: The row's month and its spend, or ``None``.
        self.spent: tuple[str, Tally] | None = None
        self.changed = False

    @classmethod
    def parse(cls, text: str | None, member_id: str) -> Row:
        row = cls(member_id, text)
        row._load()
        return row

    def _load(self) -> dict[str, Tally]:
        values = self._values
        if values is None:
            # Parsed when first asked for: a balance read fetches the text too, and needs none of it.
            values = self._values = {}
            data: dict[str, Any] = {} if self._text is None else json.loads(self._text)
            for family, value in data.items():
                if family == "spent":
                    month, count, points = value
                    self.spent = (month, Tally(count, Decimal(points)))
                else:
                    count, points = value
                    values[family] = Tally(count, Decimal(points))
        return values

    def get(self, family: str, month: str | None) -> Tally | None:
        """The tally, or ``None`` for a month's spend the table keeps."""
        values = self._values
        if values is None:
            values = self._load()
        if month is None:
            return values.get(family, _ZERO)
        spent = self.spent
        if spent is not None and spent[0] == month:
            return spent[1]
        return None

    def put(self, family: str, month: str | None, total: Tally) -> tuple[str, Tally] | None:
        """Set a tally the row keeps (a month's spend only for the row's month or a later one);
        returns the key and value of a month the row let go of, for the table."""
        values = self._values
        if values is None:
            values = self._load()
        self.changed = True
        if month is None:
            values[family] = total
            return None
        spent, self.spent = self.spent, (month, total)
        if spent is None or spent[0] == month:
            return None
        assert spent[0] < month, "an earlier month's spend is the table's"
        return spent_key(self.member_id, spent[0]), spent[1]

    def later(self, month: str) -> bool:
        """Whether ``month``'s spend would become the row's: it is the row's month or later."""
        if self._values is None:
            self._load()
        return self.spent is None or month >= self.spent[0]

    def text(self) -> str:
        """The row as JSON (each points value as its exact text, as the tallies table kept it)."""
        data: dict[str, Any] = {family: [t.count, str(t.points)] for family, t in self._load().items()}
        if self.spent is not None:
            month, t = self.spent
            data["spent"] = [month, t.count, str(t.points)]
        return _dump(data)


class Rows:
    """The member rows a unit of work has read, for the tallies they keep: the part of an SQL
    adapter's ``tallies`` and ``add_tallies`` that does not depend on its SQL.

    In a write unit of work the rows must be read under the write lock (SQLite) or locked
    (PostgreSQL, ``FOR UPDATE``): their tallies are added up here, in Python, and written
    back whole with the member's next balance update or at commit.
    """

    __slots__ = ("_in_table", "rows")

    def __init__(self) -> None:
        #: By member; ``None`` for a member that is not enrolled.
        self.rows: dict[str, Row | None] = {}
        # Keys found in the tallies table that a row may take in (a month's spend).
        self._in_table: set[str] = set()

    def loaded(self, member_id: str, text: str | None) -> None:
        """A member row as read (kept as the unit of work first read it, with its changes)."""
        if self.rows.get(member_id) is None:
            self.rows[member_id] = Row(member_id, text)

    def absent(self, keys: Iterable[str]) -> list[str]:
        """The members, read in this unit of work as not enrolled, of those of ``keys`` a row
        would keep."""
        members = set()
        for key in keys:
            found = where(key)
            if found is not None and found[0] in self.rows and self.rows[found[0]] is None:
                members.add(found[0])
        return sorted(members)

    def read(
        self,
        keys: Iterable[str],
        seen: Mapping[str, Tally],
        load: Callable[[list[str]], Iterable[tuple[str, str | None]]],
        table: Callable[[list[str]], dict[str, Tally]],
        *,
        keep: bool = True,
    ) -> dict[str, Tally]:
        """The tallies ``keys`` (checked), from ``seen`` (what this unit of work read or wrote),
        the members' rows (``load`` reads those not read yet: member and text, for the
        enrolled ones) or the tallies table (``table``: the keys it holds). With ``keep`` false
        the rows ``load`` reads are not kept for :meth:`put` (they were read without a lock)."""
        result: dict[str, Tally] = {}
        in_rows: list[tuple[str, tuple[str, str, str | None]]] = []
        in_table: list[str] = []
        for key in keys:
            if key in seen:
                result[key] = seen[key]
                continue
            found = where(key)
            if found is None:
                in_table.append(key)
            else:
                in_rows.append((key, found))
        rows = self.rows if keep else dict(self.rows)
        if in_rows:
            missing = sorted({found[0] for _, found in in_rows if found[0] not in rows})
            if missing:
                for member_id, text in load(missing):
                    rows[member_id] = Row(member_id, text)
                for member_id in missing:
                    rows.setdefault(member_id, None)
            for key, (member_id, family, month) in in_rows:
                row = rows[member_id]
                value = None if row is None else row.get(family, month)
                if value is None:
                    in_table.append(key)  # not enrolled, or a month the row does not keep
                else:
                    result[key] = value
        if in_table:
            stored = table(in_table)
            for key in in_table:
                result[key] = stored.get(key, _ZERO)
            self._in_table.update(stored)
        return result

    def keeps(self, key: str) -> bool:
        """Whether a row read in this unit of work keeps ``key`` (its month, or a later one)."""
        found = where(key)
        if found is None:
            return False
        row = self.rows.get(found[0])
        return row is not None and (found[2] is None or row.later(found[2]))

    def put(self, key: str, total: Tally) -> tuple[tuple[str, Tally] | None, bool]:
        """Keep ``total`` for ``key`` in its row (:meth:`keeps` must say so). Returns the month the
        row let go of, for the table, and whether the table held ``key``, which must go."""
        found = where(key)
        assert found is not None
        row = self.rows[found[0]]
        assert row is not None
        gone = row.put(found[1], found[2], total)
        taken = key in self._in_table
        self._in_table.discard(key)
        return gone, taken

    def changed(self) -> list[Row]:
        """The rows changed since they were last written, marked written."""
        changed = [row for row in self.rows.values() if row is not None and row.changed]
        for row in changed:
            row.changed = False
        return changed

    def take(self, member_id: str) -> str | None:
        """The text of ``member_id``'s row if this unit of work changed it, marked written (it
        goes with the member's balance)."""
        row = self.rows.get(member_id)
        if row is None or not row.changed:
            return None
        row.changed = False
        return row.text()
