"""The example programs the package carries, found by name (``loyalty demo --program hotel``).

An installed wheel has them as package data in ``loyalty/examples``; a source
checkout (an editable install) has them in ``examples/`` at its root.

>>> "grocer-club" in names() and "hotel" in names()
True
>>> find("grocer-club").name
'grocer-club.toml'
"""

from __future__ import annotations

from pathlib import Path

from loyalty.errors import InvalidInput

_SUFFIXES = (".toml", ".json")


def folder() -> Path | None:
    """Where the example programs are, or ``None`` in an install that has none."""
    here = Path(__file__).resolve().parent.parent  # the loyalty package
    for candidate in (here / "examples", here.parent.parent / "examples"):
        if candidate.is_dir():
            return candidate
    return None


def names() -> list[str]:
    """The example programs' names: their file names without the suffix."""
    found = folder()
    if found is None:
        return []
    return sorted(path.stem for path in found.iterdir() if path.suffix in _SUFFIXES and path.is_file())


def find(name: str) -> Path:
    """The example program called ``name``, else :class:`InvalidInput` naming ``--program`` and
    the names there are."""
    found = folder()
    for suffix in _SUFFIXES:
        if found is not None and (found / f"{name}{suffix}").is_file():
            return found / f"{name}{suffix}"
    known = ", ".join(names()) or "none in this install"
    raise InvalidInput(
        "--program", f"no example program {name!r} (examples: {known}); or give a program file"
    )


def program_file(text: str) -> Path:
    """``--program``'s file: a path when it names a file or has a suffix or a slash, else an example."""
    path = Path(text).expanduser()
    if path.exists() or path.suffix or "/" in text:
        return path
    return find(text)
