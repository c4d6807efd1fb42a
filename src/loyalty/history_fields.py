"""Reading one record of a history file (:mod:`loyalty.history`): each field by its kind, and every
refusal naming the line and the key, so that a bad line in a file of millions says where it is.

>>> record = Fields(7, {"at": "2024-03-01T09:30:00+01:00", "points": "12"})
>>> record.instant("at").isoformat()
'2024-03-01T09:30:00+01:00'
>>> record.integer("points")
Traceback (most recent call last):
...
loyalty.errors.InvalidInput: line 7: points: must be an integer, not str
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from loyalty.errors import InvalidInput
from loyalty.members import AttributeValue

__all__ = ["Fields"]


class Fields:
    """One JSON object from line ``number``; each accessor raises an error naming the line and key."""

    def __init__(self, number: int, data: object, path: str = "", *, utc: bool = False) -> None:
        if not isinstance(data, dict):
            where = f"line {number}: {path.rstrip('.')}" if path else f"line {number}"
            raise InvalidInput(where, f"must be a JSON object, not {type(data).__name__}")
        self.number = number
        self.data: dict[str, Any] = data
        self.path = path
        self.utc = utc

    def error(self, key: str, message: str) -> InvalidInput:
        where = f"{self.path}{key}".rstrip(".")
        return InvalidInput(f"line {self.number}: {where}" if where else f"line {self.number}", message)

    def _get(self, key: str, kinds: tuple[type[Any], ...], what: str, optional: bool) -> Any:
        if key not in self.data:
            if optional:
                return None
            raise self.error(key, "is missing")
        value = self.data[key]
        if value is None and optional:
            return None
        # bool is an int to Python, but true is never a count of points or units.
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise self.error(key, f"must be {what}, not {type(value).__name__}")
        return value

    def text(self, key: str) -> str:
        value = self.data.get(key)
        if type(value) is str:  # the common case first: a history has millions of these
            return value
        checked: str = self._get(key, (str,), "a string", optional=False)
        return checked

    def optional_text(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None or type(value) is str:
            return value
        checked: str | None = self._get(key, (str,), "a string or null", optional=True)
        return checked

    def flag(self, key: str) -> bool:
        """A boolean; ``False`` if absent or null."""
        value = self.data.get(key)
        if value is None:
            return False
        if type(value) is not bool:
            raise self.error(key, f"must be true or false, not {type(value).__name__}")
        return value

    def integer(self, key: str) -> int:
        value: int = self._get(key, (int,), "an integer", optional=False)
        return value

    def items(self, key: str, *, optional: bool = False) -> list[Any] | None:
        value: list[Any] | None = self._get(key, (list,), "a list", optional=optional)
        return value

    def mapping(self, key: str) -> dict[str, Any] | None:
        """A JSON object as read (its keys checked by whoever takes it); ``None`` if absent."""
        found: dict[str, Any] | None = self._get(key, (dict,), "an object", optional=True)
        return found

    def values(self, key: str) -> dict[str, AttributeValue]:
        """An object of strings, integers and booleans (attributes, properties); ``{}`` if absent."""
        found: dict[str, Any] | None = self._get(key, (dict,), "an object", optional=True)
        for name, value in (found or {}).items():
            if not isinstance(value, str | int):  # bool is an int
                raise self.error(
                    f"{key}.{name}", f"must be a string, integer or boolean, not {type(value).__name__}"
                )
        return found or {}

    def decimal(self, key: str) -> Decimal:
        # Money travels as a string: a JSON number would pass through a binary float in most readers.
        text = self.text(key)
        try:
            value = Decimal(text)
        except ArithmeticError as exc:
            raise self.error(key, f"not a decimal number: {text!r}") from exc
        if not value.is_finite():
            raise self.error(key, f"must be finite, got {text!r}")
        return value

    def quantity(self, key: str) -> int | Decimal:
        value = self._get(key, (int, str), "an integer or a decimal string", optional=False)
        return self.decimal(key) if isinstance(value, str) else int(value)

    def instant(self, key: str) -> datetime:
        text = self.text(key)
        try:
            value = datetime.fromisoformat(text)
        except ValueError as exc:
            raise self.error(key, f"not an ISO 8601 timestamp: {text!r}") from exc
        if value.utcoffset() is None:
            raise self.error(key, f"needs a UTC offset: {text!r}")
        return value.astimezone(UTC) if self.utc else value

    def day(self, key: str) -> date | None:
        text = self.optional_text(key)
        try:
            return None if text is None else date.fromisoformat(text)
        except ValueError as exc:
            raise self.error(key, f"not an ISO 8601 date: {text!r}") from exc
