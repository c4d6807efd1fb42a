"""Configuration as data: programs from dicts, JSON and TOML, and back.

A program is written as a table whose keys are the fields of
:class:`~loyalty.program.Program`; each rule is a table of its class's fields
plus a ``kind`` (``spend``, ``multiplier``, ``purchase_bonus``, ``unit_bonus``,
``product_bonus``, ``first_purchase``, ``stamp_card``, ``birthday``,
``event``). Anything left out takes the field's default, and
:func:`program_to_dict` leaves defaults out, so files stay small.

The value formats:

- **rate**: a table ``{points = 1, per = "1.00"}`` (either key may be left
  out: 1 point per 1). Leaving ``rate`` out means that default rate. A program
  *without* a base rate (earning only through its rules) says
  ``rate = false``: TOML has no null, and ``false`` cannot be mistaken for a
  rate. ``null``/``None`` and ``true`` are refused rather than guessed at.
- **decimals** (``per``, ``factor``, the values of ``factors``,
  ``min_amount``, ``min_quantity``): strings such as ``"1.00"``, kept with
  their spelling (``"1.00"`` stays ``"1.00"`` and prints so on receipts);
  whole numbers may be plain ints. Floats and bools are refused.
- **ints** (``points``, ``cap``, ``budget``, ``every``, ``priority``,
  ``scale``, ...): ints only, never floats (``2.7`` is not silently ``2``),
  bools or strings.
- **enums**: by value: ``"floor"``, ``"half_up"``, ``"line"``,
  ``"exclusive"``, ``"best"``, ``"month"``, ``"lines"``.
- **dates** (``starts``, ``ends``): ``"2024-05-01"`` or a TOML date;
  **effective_from**: an ISO 8601 date-time *with* a UTC offset
  (``"2024-05-01T00:00:00+02:00"``) or a TOML offset date-time.
- **lists** (``skus``, ``days``, ``hours``, ...): lists; a bare string is
  refused rather than split into letters. **mappings** (``labels``,
  ``members``, ``factors``, ``properties``): tables, each value of
  ``labels``/``members``/``properties`` a list.

Every problem in a document is collected and raised at once as a
:class:`~loyalty.errors.ConfigError` whose ``problems`` are
``(path, message)`` pairs (``rules[2].factor``, ``rate.per``, ``<toml> line 3``).

A file may also hold several versions of one program, read with
:func:`load_programs`: ``versions = [program, ...]`` (TOML ``[[versions]]``),
checked across versions (same name, currency and scale, distinct ``version`` labels
and ``effective_from`` instants, at most one version without
``effective_from``) and returned sorted by ``effective_from``.

>>> from loyalty.program import Program
>>> club = Program.from_toml('''
... name = "Bakery Club"
... currency = "EUR"
... rate = {points = 1, per = "1.00"}
...
... [[rules]]
... kind = "multiplier"
... id = "cake-x2"
... factor = "2"
... categories = ["cake"]
... ''')
>>> print(club.rate, "|", club.rules[0].factor)
1 point per 1.00 | 2
>>> club.to_dict()["rules"]
[{'kind': 'multiplier', 'id': 'cake-x2', 'categories': ['cake'], 'factor': '2'}]
>>> Program.from_dict(club.to_dict()) == club
True
>>> try:
...     Program.from_dict({"name": "Club", "currency": "EUR", "rounding": "down",
...                        "rules": [{"kind": "spend", "id": "s", "points": 2.7}]})
... except ConfigError as error:
...     for path, message in error.problems:
...         print(f"{path}: {message}")
rounding: must be one of 'floor', 'half_up', 'half_even', got 'down'
rules[0].points: must be an int, not float 2.7
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from loyalty import schema
from loyalty.documents import is_file, read_json, read_toml, toml_text
from loyalty.errors import ConfigError
from loyalty.program import Program

__all__ = [
    "load_programs",
    "program_from_dict",
    "program_to_dict",
    "program_to_toml",
    "programs_from_dict",
    "programs_to_dict",
    "programs_to_toml",
    "read_json",
    "read_toml",
]

# This module sits above loyalty.program: a Program reads and writes itself
# through loyalty.schema, so program.py needs nothing from here (no import circle).


# -- programs ----------------------------------------------------------------------------------


def program_from_dict(data: Mapping[str, Any]) -> Program:
    """The program written as ``data``; every problem is reported at once as :class:`ConfigError`."""
    return Program.from_dict(data)


def program_to_dict(program: Program) -> dict[str, Any]:
    """``program`` as plain JSON- and TOML-ready data without defaults; inverse of ``program_from_dict``."""
    return program.to_dict()


def programs_from_dict(data: Mapping[str, Any]) -> tuple[Program, ...]:
    """The versions of one program held in ``data``, sorted by ``effective_from`` (``None`` first).

    ``data`` is either a single program table or ``{"versions": [program, ...]}``.
    """
    if not isinstance(data, Mapping):
        raise ConfigError([("", f"must be a table of key = value, not {schema.describe(data)}")])
    if "versions" not in data:
        return (program_from_dict(data),)
    problems: list[tuple[str, str]] = [
        (str(key), "unknown key (a file of versions holds only versions = [...])")
        for key in data
        if key != "versions"
    ]
    versions = data["versions"]
    if not isinstance(versions, list | tuple) or not versions:
        what = schema.describe(versions) if not isinstance(versions, list | tuple) else "an empty list"
        raise ConfigError(
            [*problems, ("versions", f"must be a non-empty list of program tables, not {what}")]
        )
    built: list[tuple[int, Program]] = []
    for i, item in enumerate(versions):
        try:
            built.append((i, schema.structure(item, Program, f"versions[{i}]")))
        except ConfigError as exc:
            problems += exc.problems
    problems += _cross_version_problems(built)
    if problems:
        raise ConfigError(problems)
    return tuple(sorted((program for _, program in built), key=_effective_key))


_NEVER = datetime.min.replace(tzinfo=UTC)


def _effective_key(program: Program) -> tuple[int, datetime]:
    return (0, _NEVER) if program.effective_from is None else (1, program.effective_from)


def _cross_version_problems(built: list[tuple[int, Program]]) -> list[tuple[str, str]]:
    if not built:
        return []
    problems: list[tuple[str, str]] = []
    first_index, first = built[0]
    labels: dict[str, int] = {}
    instants: dict[datetime, int] = {}
    undated: int | None = None
    for i, program in built:
        where = f"versions[{i}]"
        for name in ("name", "currency", "scale"):
            mine, theirs = getattr(program, name), getattr(first, name)
            if mine != theirs:
                problems.append(
                    (
                        f"{where}.{name}",
                        f"must be the same in every version: {mine!r} here, {theirs!r} in "
                        f"versions[{first_index}]",
                    )
                )
        if program.version in labels:
            problems.append(
                (
                    f"{where}.version",
                    f"{program.version!r} is already the version of versions[{labels[program.version]}]",
                )
            )
        else:
            labels[program.version] = i
        when = program.effective_from
        if when is None:
            if undated is not None:
                problems.append(
                    (
                        f"{where}.effective_from",
                        f"missing, as in versions[{undated}]: "
                        "only one version may leave it out (the first in force)",
                    )
                )
            else:
                undated = i
        elif when in instants:  # aware datetimes hash and compare as instants
            other = instants[when]
            earlier = next(p for j, p in built if j == other).effective_from
            assert earlier is not None
            problems.append((f"{where}.effective_from", f"same as versions[{other}] ({earlier.isoformat()})"))
        else:
            instants[when] = i
    return problems


def programs_to_dict(programs: Iterable[Program]) -> dict[str, Any]:
    """``{"versions": [...]}`` for several versions of a program; inverse of :func:`programs_from_dict`."""
    return {"versions": [program_to_dict(program) for program in programs]}


# -- files and text ----------------------------------------------------------------------------


def load_programs(source: str | os.PathLike[str]) -> tuple[Program, ...]:
    """Every version of the program in a ``.json`` or ``.toml`` file (or text), sorted by ``effective_from``.

    The format follows the file's suffix; text is read as JSON when it starts
    with ``{``, as TOML otherwise.
    """
    name = os.fspath(source)
    if name.lower().endswith(".json"):
        return programs_from_dict(read_json(source))
    if name.endswith(".toml") or isinstance(source, os.PathLike) or is_file(name):
        return programs_from_dict(read_toml(source))
    return programs_from_dict(read_json(name) if name.lstrip().startswith("{") else read_toml(name))


def program_to_toml(program: Program) -> str:
    """``program`` as TOML text: its keys, then each rule as a ``[[rules]]`` table."""
    return toml_text(program_to_dict(program))


def programs_to_toml(programs: Iterable[Program]) -> str:
    """Versions of a program as TOML text: ``[[versions]]`` tables, their rules as ``[[versions.rules]]``."""
    return toml_text(programs_to_dict(programs))
