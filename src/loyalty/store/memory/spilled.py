"""Operation records kept in a temporary SQLite file: the in-memory adapter for a long replay.

A memory store keeps every operation record a command writes (its request and result, which a
retry of the same id gives back and a return reads): about 900 bytes a record, the largest
share of what the store holds, and the one that grows with every record of a history. A
what-if replay (:func:`loyalty.whatif.simulate`) keeps the rest of its state in memory and
these records here instead: the last few written (:data:`BATCH`, by default) in a dict, the others in an
SQLite file of their own that nothing else opens (SQLite's ``""``: a private temporary file,
deleted when it is closed), written a batch at a time, with no journal and no syncs
(a crash loses a replay, which is run again). A record is found by its key, in the dict or
by the file's primary key: the same records, the same answers, whatever the history's length.
"""

from __future__ import annotations

import marshal
import pickle
import sqlite3
from collections.abc import Iterator, MutableMapping
from datetime import datetime, timedelta, timezone
from typing import Any

from loyalty.store.memory.data import Kept

__all__ = ["BATCH", "SpilledOperations"]

#: How many records are kept in memory before they are written to the file, in one statement.
BATCH = 1024

_SCHEMA = (
    "CREATE TABLE operations"
    " (key TEXT PRIMARY KEY, kind TEXT NOT NULL, body BLOB NOT NULL, rest BLOB NOT NULL)"
)
_GET = "SELECT kind, body, rest FROM operations WHERE key = ?"
_SET = "UPDATE operations SET kind = ?, body = ?, rest = ? WHERE key = ?"
_ADD = "INSERT INTO operations VALUES (?, ?, ?, ?)"


def _row(key: str, kept: Kept) -> tuple[str, str, bytes, bytes]:
    return key, kept.kind, kept.body, _rest(kept.recorded_at, kept.facts)


def _rest(at: datetime, facts: Any) -> bytes:
    """The time and facts of a record as bytes that :func:`_kept` reads back equal, with the same
    tzinfo: with ``marshal`` for a time in a fixed offset of the default name (what a replay's
    clock gives, the history's own offsets) and facts of plain values, about a fifth of what
    pickling them cost; else pickled (a ``ZoneInfo``, a named offset or a subclass keeps its
    object)."""
    zone = at.tzinfo
    # A plain datetime in an offset given no name (a name, even the default one, is kept by
    # pickling), and facts of atoms marshal gives back as they were (it would give a bytearray
    # back as bytes, a subclass as its base).
    plain = facts is None or (type(facts) is tuple and all(type(value) in _ATOMS for value in facts))
    # (What a timezone pickles as: its offset, and its name if it was given one.)
    if plain and type(at) is datetime and type(zone) is timezone and len(zone.__reduce__()[1]) == 1:
        offset = zone.utcoffset(None)
        fields = (at.year, at.month, at.day, at.hour, at.minute, at.second, at.microsecond, at.fold)
        return marshal.dumps((fields, offset.days, offset.seconds, offset.microseconds, facts))
    return pickle.dumps((at, facts), pickle.HIGHEST_PROTOCOL)


_ATOMS = frozenset({str, int, float, bool, type(None)})


# A pickle starts with its protocol's opcode; a marshalled tuple with "(" or ")" (0x80 added
# when it is referenced), never that byte.
_PICKLED = pickle.PROTO[0]


def _kept(row: tuple[Any, ...]) -> Kept:
    kind, body, rest = row
    if rest[0] == _PICKLED:
        recorded_at, facts = pickle.loads(rest)
    else:
        (year, month, day, hour, minute, second, micro, fold), days, seconds, micros, facts = marshal.loads(
            rest
        )
        zone = timezone(timedelta(days, seconds, micros))
        recorded_at = datetime(year, month, day, hour, minute, second, micro, zone, fold=fold)
    return Kept(kind, body, recorded_at, facts)


class _Stored:
    """Which keys the file may hold: a Bloom filter (two bits a key, sixteen bits a key of
    room, about one false "may" in seventy), so a key that is not there, every new command's,
    costs no query. Built again twice as large from the file's keys when it fills."""

    def __init__(self, bits: int = 1 << 16) -> None:
        self._mask = bits - 1
        self._bits = bytearray(bits >> 3)
        self._room = bits >> 4
        self._count = 0

    def add(self, key: str) -> None:
        h = hash(key)
        bits, mask = self._bits, self._mask
        a, b = h & mask, (h >> 32) & mask
        bits[a >> 3] |= 1 << (a & 7)
        bits[b >> 3] |= 1 << (b & 7)
        self._count += 1

    def may_hold(self, key: str) -> bool:
        h = hash(key)
        bits, mask = self._bits, self._mask
        a, b = h & mask, (h >> 32) & mask
        return bool(bits[a >> 3] & (1 << (a & 7))) and bool(bits[b >> 3] & (1 << (b & 7)))

    def full(self, adding: int) -> bool:
        return self._count + adding > self._room

    def larger(self, keys: Iterator[str], count: int) -> _Stored:
        """A filter with room for ``count`` keys, at least twice this one, holding ``keys``."""
        bits = (self._mask + 1) << 1
        while bits >> 4 < count:  # a batch larger than the room: grown as far as it needs
            bits <<= 1
        grown = _Stored(bits)
        for key in keys:
            grown.add(key)
        return grown


class SpilledOperations(MutableMapping[str, Kept]):
    """Records by key, the latest in a dict and the others in a temporary SQLite file.

    The memory store's lock serializes every use, as it does the dicts beside it.
    """

    def __init__(self, batch: int = BATCH) -> None:
        self._batch = batch
        self._conn = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode = OFF")
        self._conn.execute("PRAGMA synchronous = OFF")
        self._conn.execute(_SCHEMA)
        self._recent: dict[str, Kept] = {}
        self._stored = 0
        self._keys = _Stored()
        # The last key the file was asked for and did not hold: a command looks its key up, then
        # adds it, and the second look costs nothing. Only this object writes the file.
        self._absent: str | None = None

    def _read(self, key: str) -> Kept | None:
        if key == self._absent or not self._keys.may_hold(key):
            return None
        row = self._conn.execute(_GET, (key,)).fetchone()
        if row is None:
            self._absent = key
            return None
        return _kept(row)

    def _find(self, key: str) -> Kept | None:
        found = self._recent.get(key)
        return self._read(key) if found is None else found

    def get(self, key: str, default: Any = None) -> Any:
        found = self._find(key)
        return default if found is None else found

    def __getitem__(self, key: str) -> Kept:
        found = self._find(key)
        if found is None:
            raise KeyError(key)
        return found

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._find(key) is not None

    def __setitem__(self, key: str, value: Kept) -> None:
        recent = self._recent
        if key not in recent and self._read(key) is not None:
            # A record rewritten (an erasure's): in the file, where it is.
            _, kind, body, rest = _row(key, value)
            self._conn.execute(_SET, (kind, body, rest, key))
            return
        if key == self._absent:
            self._absent = None
        recent[key] = value
        if len(recent) >= self._batch:
            self._conn.executemany(_ADD, [_row(key, kept) for key, kept in recent.items()])
            if self._keys.full(len(recent)):
                written = self._conn.execute("SELECT key FROM operations")
                self._keys = self._keys.larger((stored for (stored,) in written), self._stored + len(recent))
            else:
                for stored in recent:
                    self._keys.add(stored)
            self._stored += len(recent)
            recent.clear()

    def __delitem__(self, key: str) -> None:
        if self._recent.pop(key, None) is not None:
            return
        if self._conn.execute("DELETE FROM operations WHERE key = ?", (key,)).rowcount != 1:
            raise KeyError(key)
        self._stored -= 1

    def __iter__(self) -> Iterator[str]:
        # Read whole first: a caller may rewrite records as it goes.
        stored = [key for (key,) in self._conn.execute("SELECT key FROM operations")]
        return iter([*stored, *self._recent])

    def __len__(self) -> int:
        return self._stored + len(self._recent)

    def close(self) -> None:
        """Close the file (SQLite deletes it)."""
        self._conn.close()
