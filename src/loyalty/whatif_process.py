"""The proposed program's replay in a second process, for a what-if on two cores.

A what-if (:func:`loyalty.whatif.simulate`) replays every record twice, once per program, and
the two replays share nothing but the records. With ``parallel`` the proposed program's replay
runs in a Python process of its own (:func:`main`, started with :mod:`subprocess` and this
process's ``sys.path``: the caller's ``__main__`` is never imported again, as a
``multiprocessing`` start would), so the two programs take a core each and a long history takes about half the
time.

The parent sends the records as the lines of text they were, in chunks (a chunk is sent before
the parent replays it, so the two work at once), and the child reads and replays them as the
parent does. Pipes carry pickles: both ends are this module, run by the same interpreter.

From the child, in order: ``("ready",)`` once its program is loaded and its store open; then,
when asked (``end``) its outcome and its members' totals, or at the first record it could not
replay, the line and error, after which it reads no more. A record the child could not replay
is reported at its line; :func:`loyalty.whatif.simulate` raises whichever failure comes first
in the history, as one process would have.

The protocol, parent to child (each a pickled tuple):

- ``("setup", programs, single, on_disk)``: the proposed program's versions as
  :func:`loyalty.config.programs_to_dict` writes them (``single``: one program, not a list);
- ``("records", [(line, text), ...])``: lines to replay, with their line numbers;
- ``("end", start, end, point_value, over_time)``: no more records; finish and report;
- ``("stop",)``: no more records; report only whether a record failed.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import attrs

from loyalty import history
from loyalty.comparison import Outcome
from loyalty.config import programs_from_dict, programs_to_dict
from loyalty.errors import LoyaltyError
from loyalty.program import Program
from loyalty.store import Store, open_store
from loyalty.store.memory import MemoryStore
from loyalty.store.memory.spilled import BATCH as SPILL_BATCH
from loyalty.whatif_run import Run, Totals, day_of

__all__ = ["Failed", "Finished", "NotStarted", "SecondProcess", "portable", "stores"]

_PROTOCOL = pickle.HIGHEST_PROTOCOL


class NotStarted(Exception):
    """The second process did not start its replay: the records are replayed in one process."""


@attrs.frozen
class Failed:
    """A record the replay could not apply: its ``line``; ``field`` and ``message`` of the
    :class:`~loyalty.LoyaltyError` it raised, or with ``crash`` the traceback of any other."""

    line: int
    field: str | None
    message: str
    crash: bool = False


@attrs.frozen
class Finished:
    """The child's replay, done: its program's outcome and its members' totals."""

    outcome: Outcome
    totals: Totals


def portable(program: Program | Sequence[Program]) -> bool:
    """Whether ``program`` (or its versions) reaches a second process as itself: written as a
    program file's data and read back equal. A program built in Python of classes a file cannot
    name (a rule of the caller's own, say) does not, and is replayed in this process."""
    try:
        versions = [program] if isinstance(program, Program) else list(program)
        return programs_from_dict(programs_to_dict(versions)) == tuple(versions)
    except (LoyaltyError, TypeError, ValueError, AttributeError):
        return False


@contextmanager
def stores(on_disk: bool, count: int) -> Iterator[list[Store]]:
    """``count`` stores for replays: in memory, or SQLite files in a folder removed afterwards."""
    if not on_disk:
        # Operation records (a retry's and a return's reading) go to a temporary file as the
        # replay writes them, a batch at a time: the largest part of what a long history leaves.
        opened: list[Store] = []
        try:
            for _ in range(count):
                opened.append(MemoryStore(spill=SPILL_BATCH))
            yield opened
        finally:
            for store in opened:
                store.close()
        return
    with tempfile.TemporaryDirectory(prefix="loyalty-whatif-") as folder:
        # A commit that survives an application crash is all a throwaway replay needs.
        files = []
        try:
            for number in range(count):
                files.append(open_store(f"sqlite:///{Path(folder) / f'run-{number}'}.db?synchronous=normal"))
            yield files
        finally:
            for store in files:
                store.close()


class SecondProcess:
    """The parent's end: starts the child, sends it records, and reads what it reports."""

    def __init__(self, program: Program | Sequence[Program], on_disk: bool) -> None:
        single = isinstance(program, Program)
        versions = [program] if isinstance(program, Program) else list(program)
        # The child looks for modules where this process does (its sys.path, as multiprocessing
        # passes it), so it imports the same loyalty; nothing else of this process is imported.
        boot = "import sys, json; sys.path[:] = json.loads(sys.argv[1]); import loyalty.whatif_process as w; "
        boot += "raise SystemExit(w.main())"
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", boot, json.dumps(sys.path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        except OSError as exc:  # no interpreter at sys.executable (an embedded Python, say)
            raise NotStarted(f"the second process could not start: {exc}") from exc
        self.broken = False
        self._send(("setup", programs_to_dict(versions), single, on_disk))

    @property
    def exited(self) -> int | None:
        """The child's exit status, or ``None`` while it runs."""
        return self._process.poll()

    def _send(self, message: tuple[Any, ...]) -> bool:
        """Send ``message``; ``False`` (and :attr:`broken`) once the child reads no more."""
        stdin = self._process.stdin
        if self.broken or stdin is None:
            return False
        try:
            pickle.dump(message, stdin, _PROTOCOL)
            stdin.flush()
        except (BrokenPipeError, OSError):
            self.broken = True
        return not self.broken

    def send(self, records: list[tuple[int, str]]) -> bool:
        """Send records to replay; ``False`` once the child has stopped (a record failed there)."""
        return self._send(("records", records))

    def end(self, start: datetime, end: datetime, point_value: Decimal | None, over_time: bool) -> None:
        """No more records: the child finishes its replay (over ``start``..``end``) and reports."""
        self._send(("end", start, end, point_value, over_time))

    def result(self) -> Finished | Failed:
        """The child's outcome after :meth:`end`, or the record it failed at."""
        found = self._reply()
        if found is None:
            raise NotStarted("the proposed program's replay ended without its outcome")
        return found

    def stop(self) -> Failed | None:
        """Stop the child: the record it failed at, if it failed before its input ended."""
        self._send(("stop",))
        found = self._reply()
        return found if isinstance(found, Failed) else None

    def _reply(self) -> Finished | Failed | None:
        """What the child reported, once its input is closed. :class:`NotStarted` if it never
        said it was ready (it could not start: an interpreter that cannot run it, say)."""
        stdout = self._process.stdout
        assert stdout is not None
        replies = []
        _close_input(self._process)
        while True:
            try:
                replies.append(pickle.load(stdout))
            except (EOFError, pickle.UnpicklingError, OSError):
                break
        status = self._process.wait()
        if not replies or replies[0] != ("ready",):
            raise NotStarted(f"the second process ended before it was ready (exit status {status})")
        if len(replies) < 2:
            raise RuntimeError(
                f"the proposed program's replay in a second process ended without a result "
                f"(exit status {status}); simulate with parallel=False (loyalty simulate --sequential)"
            )
        kind, *rest = replies[1]
        if kind == "done":
            outcome, totals = rest
            return Finished(outcome, totals)
        if kind in ("error", "crash"):
            line, field, message = rest
            return Failed(line, field, message, crash=kind == "crash")
        return None  # "ok": stopped with no record failed

    def close(self) -> None:
        """End the child, whatever state it is in (a parent's error, a Ctrl-C)."""
        process = self._process
        if process.poll() is None:
            process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with suppress(OSError):  # a broken pipe's buffer, unflushed: nothing to keep
                    stream.close()


def _close_input(process: subprocess.Popen[bytes]) -> None:
    """Close the child's input: past the last message, a child that fails reads EOF and ends."""
    if process.stdin is not None:
        with suppress(OSError):
            process.stdin.close()


def _serve(messages: IO[bytes], replies: IO[bytes]) -> int:
    """The child's loop: replay what the parent sends; report once, and end."""

    def reply(*message: Any) -> None:
        pickle.dump(message, replies, _PROTOCOL)
        replies.flush()

    _, data, single, on_disk = pickle.load(messages)
    versions = programs_from_dict(data)
    program: Program | Sequence[Program] = versions[0] if single else list(versions)
    with stores(on_disk, 1) as (store,):
        run = Run(program, store)
        reply("ready")
        while True:
            try:
                message = pickle.load(messages)
            except EOFError:
                return 0
            kind = message[0]
            if kind == "records":
                for number, text in message[1]:
                    try:
                        event = history.parse(number, text, utc=True)
                        if event is None:
                            continue
                        run.at(event.at, day_of(event.at))
                        run.apply(event)
                    except LoyaltyError as exc:
                        reply("error", number, exc.field, exc.message)
                        return 0
                    except Exception:
                        reply("crash", number, None, traceback.format_exc())
                        return 1
            elif kind == "end":
                _, start, end, point_value, over_time = message
                run.at(end, day_of(end))
                run.engine.run_due(end)
                reply("done", run.outcome(start, end, point_value, over_time=over_time), run.totals())
                return 0
            else:
                reply("ok")
                return 0


def main() -> int:
    """The child's end of the pipes (``python -m loyalty.whatif_process`` runs it too)."""
    # Replies get a descriptor of their own; anything else written to standard output goes to
    # standard error, so a stray print cannot break a reply.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    try:
        return _serve(sys.stdin.buffer, replies)
    except KeyboardInterrupt:  # the terminal's Ctrl-C reaches both processes: the parent reports it
        return 130
    except (EOFError, BrokenPipeError):  # the parent went away
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
