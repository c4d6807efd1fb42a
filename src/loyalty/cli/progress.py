"""Progress on a terminal for the commands that can run for a while (demo, run-due, report).

Drawn by `rich <https://rich.readthedocs.io>`_ when it is installed (the ``cli``
extra) and standard error is a terminal; otherwise nothing is drawn, so
redirected and captured runs print exactly what they printed before.
The bar is transient: it is gone when the command prints its result.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

#: Moves a progress display on: ``advance(steps, description)`` (either may be left out).
Advance = Callable[..., None]


def _nothing(steps: int = 0, description: str | None = None) -> None:
    """What a run off a terminal, or without rich, does with progress."""


@contextmanager
def progress(
    description: str, total: int | None = None, *, stream: TextIO | None = None
) -> Iterator[Advance]:
    """A progress bar (or, with ``total=None``, a spinner) on ``stream`` (default: ``sys.stderr``)
    for the block, which it hands a function to advance it by some steps or relabel it.

    >>> import io
    >>> with progress("replaying", 3, stream=io.StringIO()) as advance:
    ...     advance(3)   # not a terminal: nothing is drawn
    """
    stream = sys.stderr if stream is None else stream
    if not stream.isatty():
        yield _nothing
        return
    try:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )
    except ImportError:  # the core install: no bar, and no error about it
        yield _nothing
        return
    bar = [BarColumn(), MofNCompleteColumn()] if total is not None else []
    columns = [SpinnerColumn(), TextColumn("{task.description}"), *bar, TimeElapsedColumn()]
    with Progress(*columns, console=Console(file=stream), transient=True) as shown:
        task = shown.add_task(description, total=total)

        def advance(steps: int = 0, description: str | None = None) -> None:
            if description is None:
                shown.update(task, advance=steps)
            else:
                shown.update(task, advance=steps, description=description)

        yield advance
