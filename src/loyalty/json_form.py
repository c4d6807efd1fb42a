"""The JSON form of the engine's results: ``to_dict()`` and ``from_dict()`` on each of them.

A result (a :class:`~loyalty.receipts.Receipt`, a ledger
:class:`~loyalty.ledger.Entry`, a :class:`~loyalty.members.Member`, ...) says
``to_dict()`` to give plain data that ``json.dumps`` takes as it is: amounts
as strings (``"10.95"``, kept as spelled), date-times in ISO 8601 with their
offset, enums as their values, tuples as lists, nested values as tables. Its
class's ``from_dict()`` reads that form back into an equal value, refusing
anything else with :class:`~loyalty.errors.InvalidInput` naming the field.

The work is :mod:`loyalty.codec`'s, the one converter at the edge, which
hands its two functions to this module as it loads (loaded by name the first
time a result is converted, so importing a result's module does not load the
converter and every module it imports): this base class only lends the
results the two methods, and no storage, no ``__dict__``, no import of the
converter by this module's own imports (the converter imports the results'
modules).

>>> import json
>>> from loyalty.lots import Balance
>>> json.dumps(Balance(120, pending=30).to_dict())
'{"available": 120, "pending": 30, "overdue": 0, "held": 0}'
>>> Balance.from_dict({"available": 120, "pending": 30, "overdue": 0, "held": 0})
Balance(available=120, pending=30, overdue=0, held=0)
>>> Balance.from_dict({"available": 1.5})
Traceback (most recent call last):
...
loyalty.errors.InvalidInput: available: must be an int, not float 1.5
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, Self

__all__ = ["JsonForm", "use"]

_to_dict: Callable[[object], dict[str, Any]] | None = None
_from_dict: Callable[[object, type[Any]], Any] | None = None


def use(to_dict: Callable[[object], dict[str, Any]], from_dict: Callable[[object, type[Any]], Any]) -> None:
    """Set the functions the results' ``to_dict`` and ``from_dict`` call (:mod:`loyalty.codec`'s)."""
    global _to_dict, _from_dict
    _to_dict, _from_dict = to_dict, from_dict


def _converter() -> tuple[Callable[[object], dict[str, Any]], Callable[[object, type[Any]], Any]]:
    if _to_dict is None or _from_dict is None:
        # By name: the converter imports every result's module, this one among them, and calls
        # `use` as it loads.
        importlib.import_module("loyalty.codec")
    assert _to_dict is not None and _from_dict is not None, "loyalty.codec calls use() as it loads"
    return _to_dict, _from_dict


class JsonForm:
    """Lends a frozen attrs result ``to_dict()`` and ``from_dict()`` (see the module)."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """This value as JSON-ready data; ``type(self).from_dict`` reads it back."""
        return _converter()[0](self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The value ``data`` (a ``to_dict()`` form) describes; bad data raises
        :class:`~loyalty.errors.InvalidInput` naming the first field at fault."""
        value: Self = _converter()[1](data, cls)
        return value
