"""A history line read as JSON, quickly, or refused naming its line (:func:`loyalty.history.parse`)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from loyalty.errors import InvalidInput

__all__ = ["json_of"]

# The scanner json.loads ends in (the C one), without its two wrappers and their regular
# expressions (typeshed does not declare the attribute JSONDecoder sets).
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
#: What JSON counts as whitespace (``\s`` counts more, which json.loads refuses after a value).
_BLANK = re.compile(r"[ \t\n\r]*")
#: A byte that is not UTF-8, as a file opened with ``errors="surrogateescape"`` reads it.
_UNDECODED = re.compile("[\udc80-\udcff]")


def json_of(number: int, text: str) -> Any:
    """The JSON value line ``number`` holds (``text``, not blank), or :class:`InvalidInput`
    naming the line.

    >>> json_of(3, '{"type": "redemption"} ')
    {'type': 'redemption'}
    >>> json_of(4, '{"type": ')
    Traceback (most recent call last):
    ...
    loyalty.errors.InvalidInput: line 4: not JSON: Expecting value
    >>> json_of(5, b'{"sku": "ca\\xffke"}'.decode("utf-8", "surrogateescape"))
    Traceback (most recent call last):
    ...
    loyalty.errors.InvalidInput: line 5: not UTF-8 text: byte 0xff at character 12
    """
    # (A line of ASCII, as most are, is known to be so without a look at its characters.)
    if not text.isascii():
        undecoded = _UNDECODED.search(text)
        if undecoded is not None:
            byte, at = ord(undecoded.group()) - 0xDC00, undecoded.start() + 1
            raise InvalidInput(f"line {number}", f"not UTF-8 text: byte 0x{byte:02x} at character {at}")
    try:
        data, end = _scan(text, 0)
    except (StopIteration, ValueError, RecursionError):
        data, end = None, -1
    # The scanner reads one value from the start; anything else (leading or trailing text,
    # a malformed value) is read again by json.loads, which names what is wrong.
    if end != len(text) and (end < 0 or not _BLANK.fullmatch(text, end)):
        data = _loaded(number, text)
    return data


def _loaded(number: int, text: str) -> Any:
    """Line ``number`` read by :func:`json.loads`, or :class:`InvalidInput` naming the line:
    besides what is not JSON, a number of more digits than Python converts (4,300 by default)
    and arrays or objects nested past the interpreter's recursion limit."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"line {number}", f"not JSON: {exc.msg}") from exc
    except ValueError as exc:
        reason = str(exc).split(";")[0]
        raise InvalidInput(f"line {number}", f"not JSON this reader takes: {reason}") from exc
    except RecursionError as exc:
        raise InvalidInput(f"line {number}", "not JSON this reader takes: nested too deeply") from exc
