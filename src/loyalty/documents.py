"""Configuration documents: TOML and JSON text, or files holding it, read into plain tables and written back.

What the tables mean is :mod:`loyalty.schema`'s business; here a document is
only text. A syntax error is a :class:`~loyalty.errors.ConfigError` at the
line it is on, under the file's path (or ``<toml>``/``<json>`` for text):

>>> read_toml('rate = {points = 1, per = "1.00"}')
{'rate': {'points': 1, 'per': '1.00'}}
>>> read_json('{"name" "Club"}')
Traceback (most recent call last):
...
loyalty.errors.ConfigError: 1 problem in the program:
  <json> line 1: Expecting ':' delimiter (column 9)
>>> print(toml_text({"name": "Club", "rules": [{"kind": "spend", "id": "s", "skus": ["A 1"]}]}), end="")
name = "Club"
<BLANKLINE>
[[rules]]
kind = "spend"
id = "s"
skus = ["A 1"]
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loyalty.errors import ConfigError, InvalidInput, MissingFile
from loyalty.schema import describe

__all__ = ["is_file", "read_json", "read_json_file", "read_toml", "read_toml_file", "toml_text"]


# -- reading ---------------------------------------------------------------------------------------


def _source(source: str | os.PathLike[str], suffix: str) -> tuple[str, str]:
    """``(text, label)``: the text of a path, or the text itself, with how problems should name it.

    A ``str`` is a path when it has no line break and names a file, ends in ``.toml`` or ``.json``,
    or could not be a one-line document of the kind (TOML: blank, a comment, a ``key = value`` or
    a ``[table]``; JSON: a value): ``cafe.tml`` mistyped is a missing file, not TOML to fail on."""
    if isinstance(source, os.PathLike):
        return _read(Path(source)), str(source)
    if not isinstance(source, str):
        raise InvalidInput("source", f"must be a path or the text itself, not {type(source).__name__}")
    if "\n" not in source and (
        source.lower().endswith((".json", ".toml"))
        or is_file(source)
        or not _one_line_document(source, suffix)
    ):
        return _read(Path(source)), source
    return source.removeprefix(_BOM), f"<{suffix}>"


_BOM = "\ufeff"
# How a one-line JSON document can begin: an object, an array, a string, a number or a literal.
_JSON_START = re.compile(r'[{\["\-0-9]|(?:true|false|null)\b')


def _one_line_document(text: str, suffix: str) -> bool:
    start = text.removeprefix(_BOM).strip()
    if suffix == "json":
        return not start or _JSON_START.match(start) is not None
    return not start or start.startswith(("#", "[")) or "=" in start


def _read(path: Path) -> str:
    """A program file's text, without the byte order mark some editors save UTF-8 with. A missing
    file is a :class:`MissingFile` and another that cannot be read an :class:`InvalidInput`, each
    naming it; one that is not UTF-8 is a :class:`ConfigError` (its content is at fault)."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError([(str(path), f"is not UTF-8 text (byte {exc.start}: {exc.reason})")]) from None
    except FileNotFoundError:
        raise MissingFile(str(path)) from None
    except OSError as exc:
        raise InvalidInput(str(path), f"cannot be read: {exc.strerror or exc}") from None
    except ValueError as exc:  # a NUL in the path
        raise InvalidInput(repr(str(path)), f"is not a usable path: {exc}") from None


def is_file(text: str) -> bool:
    """Whether ``text`` names a file that exists (rather than being a document itself)."""
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
    except ValueError as exc:  # an integer of more digits than Python converts
        raise ConfigError([(label, f"not TOML this reader takes: {str(exc).split(';')[0]}")]) from None
    except RecursionError:  # tomllib reads nested arrays by recursion
        raise ConfigError([(label, "not TOML this reader takes: nested too deeply")]) from None


def _parse_json(text: str, label: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError([(f"{label} line {exc.lineno}", f"{exc.msg} (column {exc.colno})")]) from None
    except ValueError as exc:  # a number of more digits than Python converts
        raise ConfigError([(label, f"not JSON this reader takes: {str(exc).split(';')[0]}")]) from None
    except RecursionError:
        raise ConfigError([(label, "not JSON this reader takes: nested too deeply")]) from None
    if not isinstance(data, dict):
        raise ConfigError([(label, f"the document must be a JSON object, not {type(data).__name__}")])
    return data


def read_toml(source: str | os.PathLike[str]) -> dict[str, Any]:
    """The table in TOML ``source``: a path (or a str naming a file or ending in ``.toml``), or TOML text.

    A syntax error raises :class:`ConfigError` at ``<toml> line N`` (the file's path for a file);
    a missing file raises :class:`~loyalty.errors.MissingFile` (a :class:`FileNotFoundError`)
    naming it.
    """
    text, label = _source(source, "toml")
    return _parse_toml(text, label)


def read_json(source: str | os.PathLike[str]) -> dict[str, Any]:
    """The object in JSON ``source``: a path (or a str naming a file or ending in ``.json``), or JSON text.

    A syntax error raises :class:`ConfigError` at ``<json> line N`` (the file's path for a file);
    a missing file raises :class:`~loyalty.errors.MissingFile` naming it.
    """
    text, label = _source(source, "json")
    return _parse_json(text, label)


def read_toml_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The table in the TOML file at ``path``, whatever the path looks like."""
    return _parse_toml(_read(Path(path)), str(path))


def read_json_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The object in the JSON file at ``path``, whatever the path looks like."""
    return _parse_json(_read(Path(path)), str(path))


# -- writing ---------------------------------------------------------------------------------------

# TOML's bare keys; any other key is written as a quoted string.
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
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
    return key if _BARE_KEY.fullmatch(key) else _toml_string(key)


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
    raise TypeError(f"no TOML form for {describe(value)}")


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


def toml_text(data: Mapping[str, Any]) -> str:
    """``data`` as TOML text: its plain keys first, then each list of tables as ``[[key]]`` tables."""
    out: list[str] = []
    _toml_table(out, "", data)
    return "\n".join(out).lstrip("\n") + "\n"
