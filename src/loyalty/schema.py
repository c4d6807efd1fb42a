"""The configuration schema: plain data (dicts, lists, strings) structured into the domain's values.

One strict cattrs converter reads every configurable value (rules, tiers,
expiry, referrals and, registered by :mod:`loyalty.program`, the program and
its rate) and writes it back without defaults. Each class's own validators run
per field, so every problem of a document is collected and reported at once,
at its path, as a :class:`~loyalty.errors.ConfigError`. The formats are
described in :mod:`loyalty.config`.

>>> from loyalty.expiry import EndOf, Expiry, ExpiryPolicy
>>> expiry = structure({"policy": "lifetime", "months": 12, "round_up": "month"}, Expiry)
>>> expiry == Expiry(ExpiryPolicy.LIFETIME, months=12, round_up=EndOf.MONTH)
True
>>> unstructure(expiry, Expiry)
{'policy': 'lifetime', 'months': 12, 'round_up': 'month'}
>>> try:
...     structure({"policy": "lifetime", "months": "12", "round": "month"}, Expiry, "expiry")
... except ConfigError as error:
...     for path, message in error.problems:
...         print(f"{path}: {message}")
expiry.months: must be an int, not str '12'
expiry.round: unknown key (did you mean 'round_up'?)
"""

from __future__ import annotations

import collections.abc
import difflib
import enum
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar, get_args, get_origin

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
from loyalty.identifiers import Identifiers
from loyalty.redemption import Redemption
from loyalty.referrals import Referrals
from loyalty.rewards import Reward
from loyalty.rules import RULE_KINDS, Rule
from loyalty.tiers import Tier, Tiers

__all__ = [
    "DATE_TEXT",
    "DECIMAL_TEXT",
    "Problem",
    "converter",
    "describe",
    "key_path",
    "problems",
    "register",
    "strict",
    "structure",
    "structure_rules",
    "unstructure",
]

T = TypeVar("T")


# -- problems ----------------------------------------------------------------------------------


class Problem(Exception):
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


def key_path(key: object) -> str:
    """How a key of a table continues a path: ``.name``, or ``['odd key']``."""
    return f".{key}" if isinstance(key, str) and _SIMPLE_KEY.fullmatch(key) else f"[{key!r}]"


def describe(value: object) -> str:
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


def problems(exc: BaseException, path: str = "") -> list[tuple[str, str]]:
    """Flatten cattrs' exception groups into ``(path, message)`` pairs, each under ``path``."""
    if isinstance(exc, ClassValidationError):
        out: list[tuple[str, str]] = []
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            if isinstance(sub, InvalidInput) and not isinstance(sub, ConfigError):
                # Raised by the attribute's own validator: its field is relative to the object
                # and may be more precise than the attribute ("labels.color", "hours[0]").
                out.append((_join(path, sub.field or note.name), sub.message))
            else:
                out += problems(sub, _join(path, note.name))
        for sub in without:
            if isinstance(sub, ForbiddenExtraKeysError):
                for key in sorted(sub.extra_fields, key=str):
                    out.append((path + key_path(key) if path else str(key), _unknown_key(sub.cl, key)))
            else:
                out += problems(sub, path)
        return out
    if isinstance(exc, IterableValidationError):
        out = []
        with_index, rest = exc.group_exceptions()
        for sub, index_note in with_index:
            index = index_note.index
            out += problems(sub, f"{path}[{index}]" if isinstance(index, int) else path + key_path(index))
        for sub in rest:
            out += problems(sub, path)
        return out
    if isinstance(exc, ConfigError):
        return [(_join(path, sub_path), message) for sub_path, message in exc.problems]
    if isinstance(exc, InvalidInput):
        return [(_join(path, exc.field or ""), exc.message)]
    if isinstance(exc, Problem):
        return [(_join(path, exc.at), exc.message)]
    if isinstance(exc, KeyError):
        return [(path, "missing required key")]
    return [(path, f"{type(exc).__name__}: {exc}")]


def _config_error(exc: BaseException, path: str = "") -> ConfigError:
    seen: dict[tuple[str, str], None] = {}
    for problem in problems(exc, path):
        seen.setdefault(problem)
    return ConfigError(list(seen))


# -- the converter -----------------------------------------------------------------------------

converter = cattrs.Converter(forbid_extra_keys=True, omit_if_default=True, detailed_validation=True)
#: A decimal number as text ("1.00", "-2", "1e3"), as the converter reads it. NaN and the
#: infinities are read too (``_DECIMAL``), so that each field's own validator refuses them by name.
DECIMAL_TEXT = r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?"
#: A date as text: ISO 8601's ``YYYY-MM-DD``.
DATE_TEXT = r"\d{4}-\d{2}-\d{2}"
_DECIMAL = re.compile(DECIMAL_TEXT + r"|[+-]?(NaN|sNaN|Inf|Infinity)", re.IGNORECASE)
_DATE = re.compile(DATE_TEXT)


def _structure_str(value: object, _: object) -> str:
    if not isinstance(value, str):
        raise Problem(f"must be a string, not {describe(value)}")
    return value


def _structure_int(value: object, _: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Problem(f"must be an int, not {describe(value)}")
    return value


def _structure_bool(value: object, _: object) -> bool:
    if not isinstance(value, bool):
        raise Problem(f"must be true or false, not {describe(value)}")
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
        raise Problem(f'must be a decimal number such as "1.00", got {value!r}')
    raise Problem(f'must be a decimal string such as "1.00" (or an int), not {describe(value)}')


def _structure_attribute_value(value: object, _: object) -> str | int | bool:
    if not isinstance(value, str | int | bool):
        raise Problem(f"must be a string, int or bool, not {describe(value)}")
    return value


def _structure_date(value: object, _: object) -> date:
    if isinstance(value, datetime):
        raise Problem(f"must be a date such as 2024-05-01, not a date-time ({value.isoformat()})")
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise Problem(f"not a valid date: {value!r}") from None
    raise Problem(f'must be a date such as "2024-05-01", not {describe(value)}')


def _structure_datetime(value: object, _: object) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise Problem(
                f'not an ISO 8601 date-time such as "2024-05-01T00:00:00+02:00": {value!r}'
            ) from None
    elif isinstance(value, datetime):
        parsed = value
    else:
        raise Problem(f'must be a date-time such as "2024-05-01T00:00:00+02:00", not {describe(value)}')
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise Problem(
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
        raise Problem(f"must be one of {names}, got {value!r}")

    return structure


def _is_tuple(cls: Any) -> bool:
    args = get_args(cls)
    return get_origin(cls) is tuple and len(args) == 2 and args[1] is Ellipsis


def _tuple_hook(cls: Any, target: cattrs.Converter) -> Callable[[object, object], tuple[Any, ...]]:
    inner = homogenous_tuple_structure_factory(cls, target)

    def structure(value: object, kind: object) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise Problem(f"must be a list, not {describe(value)}")
        result: tuple[Any, ...] = inner(value, kind)
        return result

    return structure


def _tuple_unstructure_hook(cls: Any) -> Callable[[Iterable[Any]], list[Any]]:
    element = get_args(cls)[0]
    unstructure = converter.get_unstructure_hook(element)
    return lambda value: [unstructure(item) for item in value]


def _is_mapping(cls: Any) -> bool:
    return get_origin(cls) in (collections.abc.Mapping, dict) and len(get_args(cls)) == 2


def _mapping_hook(cls: Any, target: cattrs.Converter) -> Callable[[object, object], dict[Any, Any]]:
    inner = make_mapping_structure_fn(cls, target)

    def structure(value: object, kind: object) -> dict[Any, Any]:
        if not isinstance(value, Mapping):
            raise Problem(f"must be a table of key = value, not {describe(value)}")
        result: dict[Any, Any] = inner(value, kind)
        return result

    return structure


def strict(target: cattrs.Converter) -> None:
    """Give ``target`` this module's strict readers of plain values: ints that are ints (not
    ``2.7`` or ``True``), decimals from text or ints (never floats), dates and offset-aware
    date-times from ISO 8601 text, enums by value, lists (not a string) for tuples and tables
    for mappings. Each refusal is a :class:`Problem` that :func:`problems` places at its path.

    :mod:`loyalty.codec` reads results with them too (``Receipt.from_dict``).
    """
    target.register_structure_hook(str, _structure_str)
    target.register_structure_hook(int, _structure_int)
    target.register_structure_hook(bool, _structure_bool)
    target.register_structure_hook(Decimal, _structure_decimal)
    target.register_structure_hook(date, _structure_date)
    target.register_structure_hook(datetime, _structure_datetime)
    target.register_structure_hook(str | int | bool, _structure_attribute_value)
    target.register_structure_hook_factory(_is_enum, _enum_hook)
    target.register_structure_hook_factory(_is_tuple, lambda cls: _tuple_hook(cls, target))
    target.register_structure_hook_factory(_is_mapping, lambda cls: _mapping_hook(cls, target))


strict(converter)
converter.register_unstructure_hook(Decimal, str)
converter.register_unstructure_hook(date, date.isoformat)
converter.register_unstructure_hook(datetime, datetime.isoformat)
converter.register_unstructure_hook_factory(_is_tuple, _tuple_unstructure_hook)


def _validated(
    field: attrs.Attribute[Any], strip: str = "", base: Callable[[object, Any], Any] | None = None
) -> Callable[[object, Any], Any]:
    """Structure ``field`` by its type, then run its own converter and validator on the result.

    Run here, per field, the validators report every bad field of an object,
    where ``__init__`` stops at the first. ``strip`` removes a prefix the
    class's messages carry (``rate.`` for :class:`~loyalty.program.EarnRate`).
    """
    convert = field.converter
    validator = field.validator
    structure_by_type = base or converter.structure

    def structure(value: object, kind: Any) -> Any:
        result = structure_by_type(value, kind)
        checked = convert(result) if callable(convert) else result
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


def register(
    cls: type[Any],
    *,
    strip: str = "",
    refuse: Mapping[str, str] | None = None,
    **special: Callable[..., Any],
) -> None:
    """Strict structure and small unstructure hooks for an attrs class of the configuration.

    ``special`` holds hooks for single fields: ``struct_<name>`` reads the
    field's value (its validators still run after it), ``unstruct_<name>``
    writes it. A table holding a key of ``refuse`` is some other kind of
    document: it is reported at that key with the message given, unread.
    """
    refused = dict(refuse or {})
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
    generated = make_dict_structure_fn(cls, converter, **structure_overrides)

    def structure(value: object, _: object) -> Any:
        if not isinstance(value, Mapping):
            raise Problem(f"must be a table of key = value, not {describe(value)}")
        for key, message in refused.items():
            if key in value:
                raise Problem(message, key)
        return generated(value, cls)

    unstructure_fields = make_dict_unstructure_fn(
        cls, converter, _cattrs_omit_if_default=converter.omit_if_default, **unstructure_overrides
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
                    data[field.name] = converter.unstructure(getattr(value, field.name), field.type)
        if missing:  # back in cattrs' order: required fields first, then the others as declared
            data = {name: data[name] for name in order if name in data}
        if isinstance(value, Rule):
            data = {"kind": value.kind, **data}
        return data

    converter.register_structure_hook(cls, structure)
    converter.register_unstructure_hook(cls, unstructure)


_KINDS = ", ".join(RULE_KINDS)


def _structure_rule(value: object, _: object) -> Rule:
    if not isinstance(value, Mapping):
        raise Problem(f"must be a table with a kind, not {describe(value)}")
    if "kind" not in value:
        raise Problem(f"missing: every rule needs a kind, one of {_KINDS}", "kind")
    kind = value["kind"]
    cls = RULE_KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise Problem(f"unknown rule kind {kind!r}; the kinds are {_KINDS}", "kind")
    rule: Rule = converter.structure({key: item for key, item in value.items() if key != "kind"}, cls)
    return rule


def structure_rules(value: object, kind: Any) -> tuple[Rule, ...]:
    if not isinstance(value, list | tuple):
        raise Problem(f"must be a list of rule tables, not {describe(value)}")
    # Duplicate ids are found on the raw tables too, so they are reported with the other problems.
    duplicates: list[Exception] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(value):
        rule_id = item.get("id") if isinstance(item, Mapping) else None
        if isinstance(rule_id, str):
            if rule_id in seen:
                duplicate = Problem(f"{rule_id!r} is already the id of rules[{seen[rule_id]}]", "id")
                duplicate.add_note(IterableValidationNote(f"Rule id @ index {i}", i, Rule))
                duplicates.append(duplicate)
            else:
                seen[rule_id] = i
    try:
        rules: tuple[Rule, ...] = converter.structure(value, kind)
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


def _unstructure_rule(value: Rule) -> dict[str, Any]:
    data: dict[str, Any] = converter.unstructure(value, type(value))
    return data


for _cls in (*RULE_KINDS.values(), Expiry, Tier, Tiers, Referrals, Redemption, Identifiers, Reward):
    attrs.resolve_types(_cls)
converter.register_structure_hook_func(lambda cls: cls is Rule, _structure_rule)
converter.register_unstructure_hook_func(lambda cls: cls is Rule, _unstructure_rule)
for _cls in RULE_KINDS.values():
    register(_cls)
register(Expiry)
register(Tier)
register(Tiers)
register(Referrals)
register(Redemption)
register(Identifiers)
register(Reward)


# -- reading and writing -----------------------------------------------------------------------


def structure(data: object, cls: type[T], path: str = "") -> T:
    """``data`` as a ``cls``, a registered class; every problem is raised at once as
    :class:`ConfigError`, each at its path under ``path``."""
    try:
        value: T = converter.structure(data, cls)
    except (BaseValidationError, Problem, InvalidInput) as exc:
        raise _config_error(exc, path) from None
    return value


def unstructure(value: object, cls: type[Any]) -> dict[str, Any]:
    """``value``, a registered ``cls``, as plain JSON- and TOML-ready data without its defaults."""
    data: dict[str, Any] = converter.unstructure(value, cls)
    return data
