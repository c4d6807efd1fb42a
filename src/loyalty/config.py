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
checked across versions (same name and currency, distinct ``version`` labels
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

import collections.abc
import difflib
import enum
import json
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, get_args, get_origin

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory
from cattrs.errors import (
    BaseValidationError,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, make_mapping_structure_fn, override

from loyalty.errors import ConfigError, InvalidInput
from loyalty.expiry import Expiry
from loyalty.program import EarnRate, Program
from loyalty.referrals import Referrals
from loyalty.rules import RULE_KINDS, Rule
from loyalty.tiers import Tier, Tiers

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


# -- problems ----------------------------------------------------------------------------------


class _Problem(Exception):
    """A problem found while structuring; ``at`` is its path relative to the value being built."""

    def __init__(self, message: str, at: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.at = at


def _join(path: str, relative: str) -> str:
    if not path:
        return relative
    if not relative:
        return path
    return path + relative if relative.startswith("[") else f"{path}.{relative}"


_SIMPLE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _key_path(key: object) -> str:
    return f".{key}" if isinstance(key, str) and _SIMPLE_KEY.fullmatch(key) else f"[{key!r}]"


def _describe(value: object) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def _unknown_key(cls: type, key: object) -> str:
    if attrs.has(cls) and isinstance(key, str):
        known = [field.name for field in attrs.fields(cls) if field.init]
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        if close:
            return f"unknown key (did you mean {close[0]!r}?)"
    return "unknown key"


def _problems(exc: BaseException, path: str) -> list[tuple[str, str]]:
    """Flatten cattrs' exception groups into ``(path, message)`` pairs."""
    if isinstance(exc, ClassValidationError):
        out: list[tuple[str, str]] = []
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            if isinstance(sub, InvalidInput):
                # Raised by the attribute's own validator: its field is relative to the object
                # and may be more precise than the attribute ("labels.color", "hours[0]").
                out.append((_join(path, sub.field or note.name), sub.message))
            else:
                out += _problems(sub, _join(path, note.name))
        for sub in without:
            if isinstance(sub, ForbiddenExtraKeysError):
                for key in sorted(sub.extra_fields, key=str):
                    out.append((path + _key_path(key) if path else str(key), _unknown_key(sub.cl, key)))
            else:
                out += _problems(sub, path)
        return out
    if isinstance(exc, IterableValidationError):
        out = []
        with_index, rest = exc.group_exceptions()
        for sub, index_note in with_index:
            index = index_note.index
            out += _problems(sub, f"{path}[{index}]" if isinstance(index, int) else path + _key_path(index))
        for sub in rest:
            out += _problems(sub, path)
        return out
    if isinstance(exc, ConfigError):
        return [(_join(path, sub_path), message) for sub_path, message in exc.problems]
    if isinstance(exc, InvalidInput):
        return [(_join(path, exc.field or ""), exc.message)]
    if isinstance(exc, _Problem):
        return [(_join(path, exc.at), exc.message)]
    if isinstance(exc, KeyError):
        return [(path, "missing required key")]
    return [(path, f"{type(exc).__name__}: {exc}")]


def _config_error(exc: BaseException, path: str = "") -> ConfigError:
    seen: dict[tuple[str, str], None] = {}
    for problem in _problems(exc, path):
        seen.setdefault(problem)
    return ConfigError(list(seen))


# -- the converter -----------------------------------------------------------------------------

_converter = cattrs.Converter(forbid_extra_keys=True, omit_if_default=True, detailed_validation=True)
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]?(NaN|sNaN|Inf|Infinity)", re.IGNORECASE)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _structure_str(value: object, _: object) -> str:
    if not isinstance(value, str):
        raise _Problem(f"must be a string, not {_describe(value)}")
    return value


def _structure_int(value: object, _: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Problem(f"must be an int, not {_describe(value)}")
    return value


def _structure_bool(value: object, _: object) -> bool:
    if not isinstance(value, bool):
        raise _Problem(f"must be true or false, not {_describe(value)}")
    return value


def _structure_decimal(value: object, _: object) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        try:
            return Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern only lets numbers through
            pass
    if isinstance(value, str):
        raise _Problem(f'must be a decimal number such as "1.00", got {value!r}')
    raise _Problem(f'must be a decimal string such as "1.00" (or an int), not {_describe(value)}')


def _structure_attribute_value(value: object, _: object) -> str | int | bool:
    if not isinstance(value, str | int | bool):
        raise _Problem(f"must be a string, int or bool, not {_describe(value)}")
    return value


def _structure_date(value: object, _: object) -> date:
    if isinstance(value, datetime):
        raise _Problem(f"must be a date such as 2024-05-01, not a date-time ({value.isoformat()})")
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise _Problem(f"not a valid date: {value!r}") from None
    raise _Problem(f'must be a date such as "2024-05-01", not {_describe(value)}')


def _structure_datetime(value: object, _: object) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise _Problem(
                f'not an ISO 8601 date-time such as "2024-05-01T00:00:00+02:00": {value!r}'
            ) from None
    elif isinstance(value, datetime):
        parsed = value
    else:
        raise _Problem(f'must be a date-time such as "2024-05-01T00:00:00+02:00", not {_describe(value)}')
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise _Problem(
            f"needs a UTC offset such as +02:00 or Z (local times are ambiguous): {parsed.isoformat()}"
        )
    return parsed


def _is_enum(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, enum.Enum)


def _enum_hook(kind: type[enum.Enum]) -> Callable[[object, object], enum.Enum]:
    by_value = {member.value: member for member in kind}
    names = ", ".join(repr(value) for value in by_value)

    def structure(value: object, _: object) -> enum.Enum:
        if isinstance(value, kind):
            return value
        if isinstance(value, str) and value in by_value:
            return by_value[value]
        raise _Problem(f"must be one of {names}, got {value!r}")

    return structure


def _is_tuple(cls: Any) -> bool:
    args = get_args(cls)
    return get_origin(cls) is tuple and len(args) == 2 and args[1] is Ellipsis


def _tuple_hook(cls: Any) -> Callable[[object, object], tuple[Any, ...]]:
    inner = homogenous_tuple_structure_factory(cls, _converter)

    def structure(value: object, kind: object) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise _Problem(f"must be a list, not {_describe(value)}")
        result: tuple[Any, ...] = inner(value, kind)
        return result

    return structure


def _tuple_unstructure_hook(cls: Any) -> Callable[[Iterable[Any]], list[Any]]:
    element = get_args(cls)[0]
    unstructure = _converter.get_unstructure_hook(element)
    return lambda value: [unstructure(item) for item in value]


def _is_mapping(cls: Any) -> bool:
    return get_origin(cls) in (collections.abc.Mapping, dict) and len(get_args(cls)) == 2


def _mapping_hook(cls: Any) -> Callable[[object, object], dict[Any, Any]]:
    inner = make_mapping_structure_fn(cls, _converter)

    def structure(value: object, kind: object) -> dict[Any, Any]:
        if not isinstance(value, Mapping):
            raise _Problem(f"must be a table of key = value, not {_describe(value)}")
        result: dict[Any, Any] = inner(value, kind)
        return result

    return structure


_converter.register_structure_hook(str, _structure_str)
_converter.register_structure_hook(int, _structure_int)
_converter.register_structure_hook(bool, _structure_bool)
_converter.register_structure_hook(Decimal, _structure_decimal)
_converter.register_structure_hook(date, _structure_date)
_converter.register_structure_hook(datetime, _structure_datetime)
_converter.register_structure_hook(str | int | bool, _structure_attribute_value)
_converter.register_structure_hook_factory(_is_enum, _enum_hook)
_converter.register_structure_hook_factory(_is_tuple, _tuple_hook)
_converter.register_structure_hook_factory(_is_mapping, _mapping_hook)
_converter.register_unstructure_hook(Decimal, str)
_converter.register_unstructure_hook(date, date.isoformat)
_converter.register_unstructure_hook(datetime, datetime.isoformat)
_converter.register_unstructure_hook_factory(_is_tuple, _tuple_unstructure_hook)


def _validated(
    field: attrs.Attribute[Any], strip: str = "", base: Callable[[object, Any], Any] | None = None
) -> Callable[[object, Any], Any]:
    """Structure ``field`` by its type, then run its own converter and validator on the result.

    Run here, per field, the validators report every bad field of an object,
    where ``__init__`` stops at the first. ``strip`` removes a prefix the
    class's messages carry (``rate.`` for :class:`EarnRate`).
    """
    converter = field.converter
    validator = field.validator
    structure_by_type = base or _converter.structure

    def structure(value: object, kind: Any) -> Any:
        result = structure_by_type(value, kind)
        checked = converter(result) if callable(converter) else result
        if validator is not None:
            try:
                validator(None, field, checked)
            except InvalidInput as exc:
                if not strip:
                    raise
                raise type(exc)((exc.field or "").removeprefix(strip), exc.message) from None
        return result

    return structure


def _identical(value: object, default: object) -> bool:
    """Equal *and* spelled alike: ``Decimal("1.00")`` equals ``Decimal(1)`` but is not identical."""
    if isinstance(value, Decimal) or isinstance(default, Decimal):
        return type(value) is type(default) and str(value) == str(default)
    if isinstance(value, Mapping) and isinstance(default, Mapping):
        return value.keys() == default.keys() and all(_identical(value[k], default[k]) for k in value)
    if isinstance(value, tuple | list) and isinstance(default, tuple | list):
        return len(value) == len(default) and all(map(_identical, value, default))
    cls: Any = type(value)
    if attrs.has(cls):
        return cls is type(default) and all(
            _identical(getattr(value, f.name), getattr(default, f.name)) for f in attrs.fields(cls)
        )
    return type(value) is type(default) and value == default


def _register(cls: type[Any], *, strip: str = "", **special: Callable[..., Any]) -> None:
    """Strict structure and small unstructure hooks for an attrs class of the configuration."""
    fields = [field for field in attrs.fields(cls) if field.init]
    structure_overrides: dict[str, Any] = {
        field.name: override(struct_hook=_validated(field, strip, special.get(f"struct_{field.name}")))
        for field in fields
    }
    unstructure_overrides: dict[str, Any] = {
        field.name: override(unstruct_hook=special[f"unstruct_{field.name}"])
        for field in fields
        if f"unstruct_{field.name}" in special
    }
    generated = make_dict_structure_fn(cls, _converter, **structure_overrides)

    def structure(value: object, _: object) -> Any:
        if not isinstance(value, Mapping):
            raise _Problem(f"must be a table of key = value, not {_describe(value)}")
        return generated(value, cls)

    unstructure_fields = make_dict_unstructure_fn(
        cls, _converter, _cattrs_omit_if_default=_converter.omit_if_default, **unstructure_overrides
    )
    defaults = [
        (field, field.default.factory if isinstance(field.default, attrs.Factory) else None)  # type: ignore[arg-type]
        for field in fields
        if field.default is not attrs.NOTHING
    ]

    order = [field.name for field in fields if field.default is attrs.NOTHING]
    order += [field.name for field in fields if field.default is not attrs.NOTHING]

    def unstructure(value: Any) -> dict[str, Any]:
        data: dict[str, Any] = unstructure_fields(value)
        # omit_if_default compares with ==; put back what only *looks* like the default.
        missing = False
        for field, factory in defaults:
            if field.name not in data:
                default = factory() if factory is not None else field.default
                if not _identical(getattr(value, field.name), default):
                    missing = True
                    data[field.name] = _converter.unstructure(getattr(value, field.name), field.type)
        if missing:  # back in cattrs' order: required fields first, then the others as declared
            data = {name: data[name] for name in order if name in data}
        if isinstance(value, Rule):
            data = {"kind": value.kind, **data}
        return data

    _converter.register_structure_hook(cls, structure)
    _converter.register_unstructure_hook(cls, unstructure)


_KINDS = ", ".join(RULE_KINDS)


def _structure_rule(value: object, _: object) -> Rule:
    if not isinstance(value, Mapping):
        raise _Problem(f"must be a table with a kind, not {_describe(value)}")
    if "kind" not in value:
        raise _Problem(f"missing: every rule needs a kind, one of {_KINDS}", "kind")
    kind = value["kind"]
    cls = RULE_KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise _Problem(f"unknown rule kind {kind!r}; the kinds are {_KINDS}", "kind")
    rule: Rule = _converter.structure({key: item for key, item in value.items() if key != "kind"}, cls)
    return rule


def _structure_rules(value: object, kind: Any) -> tuple[Rule, ...]:
    if not isinstance(value, list | tuple):
        raise _Problem(f"must be a list of rule tables, not {_describe(value)}")
    # Duplicate ids are found on the raw tables too, so they are reported with the other problems.
    duplicates: list[Exception] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(value):
        rule_id = item.get("id") if isinstance(item, Mapping) else None
        if isinstance(rule_id, str):
            if rule_id in seen:
                duplicate = _Problem(f"{rule_id!r} is already the id of rules[{seen[rule_id]}]", "id")
                duplicate.add_note(IterableValidationNote(f"Rule id @ index {i}", i, Rule))
                duplicates.append(duplicate)
            else:
                seen[rule_id] = i
    try:
        rules: tuple[Rule, ...] = _converter.structure(value, kind)
    except IterableValidationError as exc:
        errors = sorted([*exc.exceptions, *duplicates], key=_index_of)
        raise IterableValidationError("While structuring rules", errors, tuple) from None
    if duplicates:
        raise IterableValidationError("While structuring rules", duplicates, tuple)
    return rules


def _index_of(exc: Exception) -> int:
    for note in getattr(exc, "__notes__", ()):
        if isinstance(note, IterableValidationNote) and isinstance(note.index, int):
            return note.index
    return -1


def _structure_rate(value: object, _: object) -> EarnRate | None:
    if value is False:
        return None
    if isinstance(value, Mapping):
        rate: EarnRate = _converter.structure(value, EarnRate)
        return rate
    if value is None:
        raise _Problem(
            "null is not a rate: leave rate out for 1 point per 1, or write false for no base rate"
        )
    raise _Problem(
        f'must be a table {{points = 1, per = "1.00"}}, or false for no base rate, not {_describe(value)}'
    )


def _unstructure_rate(value: EarnRate | None) -> Any:
    return False if value is None else _converter.unstructure(value, EarnRate)


def _unstructure_rule(value: Rule) -> dict[str, Any]:
    data: dict[str, Any] = _converter.unstructure(value, type(value))
    return data


for _cls in (*RULE_KINDS.values(), EarnRate, Expiry, Tier, Tiers, Referrals, Program):
    attrs.resolve_types(_cls)
_converter.register_structure_hook_func(lambda cls: cls is Rule, _structure_rule)
_converter.register_unstructure_hook_func(lambda cls: cls is Rule, _unstructure_rule)
for _cls in RULE_KINDS.values():
    _register(_cls)
_register(EarnRate, strip="rate.")
_register(Expiry)
_register(Tier)
_register(Tiers)
_register(Referrals)
_register(
    Program,
    struct_rate=_structure_rate,
    unstruct_rate=_unstructure_rate,
    struct_rules=_structure_rules,
)


# -- programs ----------------------------------------------------------------------------------


def _program(data: object, path: str) -> Program:
    if isinstance(data, Mapping) and "versions" in data:
        raise ConfigError(
            [
                (
                    _join(path, "versions"),
                    "this holds several versions of a program: read it with load_programs",
                )
            ]
        )
    try:
        program: Program = _converter.structure(data, Program)
    except (BaseValidationError, _Problem, InvalidInput) as exc:
        raise _config_error(exc, path) from None
    return program


def program_from_dict(data: Mapping[str, Any]) -> Program:
    """The program written as ``data``; every problem is reported at once as :class:`ConfigError`."""
    return _program(data, "")


def program_to_dict(program: Program) -> dict[str, Any]:
    """``program`` as plain JSON- and TOML-ready data without defaults; inverse of ``program_from_dict``."""
    data: dict[str, Any] = _converter.unstructure(program, Program)
    return data


def programs_from_dict(data: Mapping[str, Any]) -> tuple[Program, ...]:
    """The versions of one program held in ``data``, sorted by ``effective_from`` (``None`` first).

    ``data`` is either a single program table or ``{"versions": [program, ...]}``.
    """
    if not isinstance(data, Mapping):
        raise ConfigError([("", f"must be a table of key = value, not {_describe(data)}")])
    if "versions" not in data:
        return (program_from_dict(data),)
    problems: list[tuple[str, str]] = [
        (str(key), "unknown key (a file of versions holds only versions = [...])")
        for key in data
        if key != "versions"
    ]
    versions = data["versions"]
    if not isinstance(versions, list | tuple) or not versions:
        what = _describe(versions) if not isinstance(versions, list | tuple) else "an empty list"
        raise ConfigError(
            [*problems, ("versions", f"must be a non-empty list of program tables, not {what}")]
        )
    built: list[tuple[int, Program]] = []
    for i, item in enumerate(versions):
        try:
            built.append((i, _program(item, f"versions[{i}]")))
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
        for name in ("name", "currency"):
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


# -- reading files and text --------------------------------------------------------------------


def _source(source: str | os.PathLike[str], suffix: str) -> tuple[str, str]:
    """``(text, label)``: the text of a path, or the text itself, with how problems should name it."""
    if isinstance(source, os.PathLike):
        return _read(Path(source)), str(source)
    if not isinstance(source, str):
        raise InvalidInput("source", f"must be a path or the text itself, not {type(source).__name__}")
    if "\n" not in source and (source.lower().endswith((".json", ".toml")) or _is_file(source)):
        return _read(Path(source)), source
    return source, f"<{suffix}>"


def _read(path: Path) -> str:
    """A program file's text. A file that cannot be read is an :class:`InvalidInput` naming it;
    one that is not UTF-8 is a :class:`ConfigError` (its content is at fault)."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([(str(path), f"is not UTF-8 text (byte {exc.start}: {exc.reason})")]) from None
    except OSError as exc:
        raise InvalidInput(str(path), f"cannot be read: {exc.strerror or exc}") from None


def _is_file(text: str) -> bool:
    try:
        return len(text) < 4096 and os.path.isfile(text)
    except (OSError, ValueError):
        return False


_TOML_POSITION = re.compile(r"(.*) \(at line (\d+), column (\d+)\)", re.DOTALL)


def _parse_toml(text: str, label: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _TOML_POSITION.fullmatch(message)
        if found:
            raise ConfigError([(f"{label} line {found[2]}", f"{found[1]} (column {found[3]})")]) from None
        raise ConfigError([(label, message)]) from None


def _parse_json(text: str, label: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError([(f"{label} line {exc.lineno}", f"{exc.msg} (column {exc.colno})")]) from None
    if not isinstance(data, dict):
        raise ConfigError([(label, f"the document must be a JSON object, not {type(data).__name__}")])
    return data


def read_toml(source: str | os.PathLike[str]) -> dict[str, Any]:
    """The table in TOML ``source``: a path (or a str naming a file or ending in ``.toml``), or TOML text.

    A syntax error raises :class:`ConfigError` at ``<toml> line N`` (the file's path for a file);
    a missing file raises :class:`FileNotFoundError`.
    """
    text, label = _source(source, "toml")
    return _parse_toml(text, label)


def read_json(source: str | os.PathLike[str]) -> dict[str, Any]:
    """The object in JSON ``source``: a path (or a str naming a file or ending in ``.json``), or JSON text.

    A syntax error raises :class:`ConfigError` at ``<json> line N`` (the file's path for a file).
    """
    text, label = _source(source, "json")
    return _parse_json(text, label)


def load_programs(source: str | os.PathLike[str]) -> tuple[Program, ...]:
    """Every version of the program in a ``.json`` or ``.toml`` file (or text), sorted by ``effective_from``.

    The format follows the file's suffix; text is read as JSON when it starts
    with ``{``, as TOML otherwise.
    """
    name = os.fspath(source)
    if name.lower().endswith(".json"):
        return programs_from_dict(read_json(source))
    if name.endswith(".toml") or isinstance(source, os.PathLike) or _is_file(name):
        return programs_from_dict(read_toml(source))
    return programs_from_dict(read_json(name) if name.lstrip().startswith("{") else read_toml(name))


# -- writing TOML ------------------------------------------------------------------------------

_TOML_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}


def _toml_string(text: str) -> str:
    out = []
    for char in text:
        if char in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[char])
        elif char < " " or char == "\x7f":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    return key if _SIMPLE_KEY.fullmatch(key) else _toml_string(key)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{_toml_key(key)} = {_toml_value(item)}" for key, item in value.items())
        return "{" + items + "}" if items else "{}"
    raise TypeError(f"no TOML form for {_describe(value)}")


def _toml_table(out: list[str], prefix: str, data: Mapping[str, Any]) -> None:
    arrays = []
    for key, value in data.items():
        if isinstance(value, list) and value and all(isinstance(item, Mapping) for item in value):
            arrays.append((key, value))
        else:
            out.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, items in arrays:
        name = f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key)
        for item in items:
            out += ["", f"[[{name}]]"]
            _toml_table(out, name, item)


def program_to_toml(program: Program) -> str:
    """``program`` as TOML text: its keys, then each rule as a ``[[rules]]`` table."""
    out: list[str] = []
    _toml_table(out, "", program_to_dict(program))
    return "\n".join(out) + "\n"


def programs_to_toml(programs: Iterable[Program]) -> str:
    """Versions of a program as TOML text: ``[[versions]]`` tables, their rules as ``[[versions.rules]]``."""
    out: list[str] = []
    _toml_table(out, "", programs_to_dict(programs))
    return "\n".join(out).lstrip("\n") + "\n"
