"""The proposed program's replay in a second process, for a what-if on two cores.

A what-if (:func:`loyalty.whatif.simulate`) replays every record twice, once per program, and
the two replays share nothing but the records. With ``parallel`` the proposed program's replay
runs in a Python process of its own (:func:`main`, started with :mod:`subprocess` and this
process's ``sys.path``: the caller's ``__main__`` is never imported again, as a
``multiprocessing`` start would), so the two programs take a core each.

The parent sends the records as the lines of text they were, in chunks (a chunk is sent before
the parent replays it, so the two work at once), and the child reads and replays them as the
parent does. Pipes carry pickles: both ends are this module, run by the same interpreter.

The protocol, parent to child (each a pickled tuple):

- ``("setup", programs, single, on_disk)``: the proposed program's versions as
  :func:`loyalty.config.programs_to_dict` writes them (``single``: one program, not a list);
- ``("records", [(line, text), ...])``: lines to replay, with their line numbers;
- ``("end", start, end, point_value, over_time)``: no more records; finish and report;
- ``("stop",)``: no more records; report only whether a record failed.

Child to parent: ``("ready",)`` once its program is loaded and its store open; at the first
record it cannot replay, the notice ``("failed", line)``, after which it reads on without
replaying (so the parent, which may still be writing, is never blocked by a child that no
longer reads); and when asked (``end`` or ``stop``, after which the parent reads all it says)
its outcome and totals, or the failure in full. :func:`loyalty.whatif.simulate` raises
whichever failure comes first in the history, as one process would have.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import attrs

from loyalty import errors, history
from loyalty.comparison import Outcome
from loyalty.config import programs_from_dict, programs_to_dict
from loyalty.errors import LoyaltyError
from loyalty.program import Program
from loyalty.store import Store, open_store
from loyalty.store.memory import MemoryStore
from loyalty.store.memory.spilled import BATCH as SPILL_BATCH
from loyalty.whatif_run import Run, Totals, day_of

__all__ = ["Failed", "Finished", "NotStarted", "SecondProcess", "pipes_are_safe", "portable", "stores"]

_PROTOCOL = pickle.HIGHEST_PROTOCOL
# Chunks held while the child starts (about 20 of them pass in its half a second), and how long
# it may take to say it is ready before the replay is left to this process.
_HOLD = 64
_READY_WITHIN = 60.0


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
        back = programs_from_dict(programs_to_dict(versions))  # in date order, as an engine keeps them
        return len(back) == len(versions) and all(version in versions for version in back)
    except (LoyaltyError, TypeError, ValueError, AttributeError):
        return False


#: SIGPIPE, where the platform has it (not on Windows, where a write to a closed pipe just fails).
_SIGPIPE: signal.Signals | None = getattr(signal, "SIGPIPE", None)
#: Whether a thread can block a signal and take back one pending (not macOS: no ``sigtimedwait``).
_TAKES_BACK = hasattr(signal, "pthread_sigmask") and hasattr(signal, "sigtimedwait")


def pipes_are_safe() -> bool:
    """Whether a write to a second process that died fails without ending this one: SIGPIPE's
    default action ends a process, and a caller may have given it back (from Python or from C,
    which ``signal.getsignal`` does not see). :func:`_no_sigpipe` keeps it from our writes where
    the platform can take a pending signal back; elsewhere only Python's own ignoring is safe."""
    return _SIGPIPE is None or _TAKES_BACK or signal.getsignal(_SIGPIPE) == signal.SIG_IGN


@contextmanager
def _no_sigpipe() -> Iterator[None]:
    """Writes to the second process in this block raise ``BrokenPipeError`` (an ``OSError``) if it
    died, and never deliver SIGPIPE, whatever its action: blocked in this thread, the signal a
    write raises stays pending on it, and is taken back before the thread's mask is restored.
    One pending before the block (the caller's own, blocked) is left for the caller."""
    pipe = _SIGPIPE
    if pipe is None or not _TAKES_BACK:
        yield  # no SIGPIPE, or ignored as Python sets it (pipes_are_safe() was asked first)
        return
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {pipe})
    theirs = pipe in signal.sigpending()
    try:
        yield
    finally:
        try:
            while not theirs and pipe in signal.sigpending():
                signal.sigtimedwait({pipe}, 0)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


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
    """The parent's end: starts the child, sends it records, and reads what it reports.

    A thread reads the child's replies as they come, so the child never waits to write one,
    and the parent learns of the child's first failure (a short notice) while it still reads
    the history. Until the child says it is ready (it takes about half a second to start),
    chunks are held here rather than written, so that the parent replays its own meanwhile.
    """

    def __init__(self, program: Program | Sequence[Program], on_disk: bool) -> None:
        if getattr(sys, "frozen", False) or not sys.executable:
            raise NotStarted("no Python to start a second process with (a frozen application)")
        if not pipes_are_safe():
            raise NotStarted("SIGPIPE would end this process should the second one die")
        single = isinstance(program, Program)
        versions = [program] if isinstance(program, Program) else list(program)
        # The child looks for modules where this process does (its sys.path, as multiprocessing
        # passes it), so it imports the same loyalty; nothing else of this process is imported.
        # It ignores Ctrl-C: the terminal's reaches this process too, which then ends the child.
        boot = "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); import sys, json; "
        boot += "sys.path[:] = json.loads(sys.argv[1]); import loyalty.whatif_process as w; w.main()"
        path = json.dumps([entry for entry in sys.path if isinstance(entry, str)])
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", boot, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
        except (OSError, ValueError) as exc:  # no interpreter at sys.executable (an embedded Python)
            raise NotStarted(f"the second process could not start: {exc}") from exc
        try:
            self.broken = False
            self._replies: list[tuple[Any, ...]] = []
            self._ready = threading.Event()
            self._ended = threading.Event()
            self._held: list[list[tuple[int, str]]] = []
            self._reader = threading.Thread(target=self._read, name="loyalty-whatif-replies", daemon=True)
            self._reader.start()
            # Written from a thread: a program of many rules fills the pipe, and a child that
            # hangs before reading it must not hold this process past the wait for its ready.
            setup = ("setup", programs_to_dict(versions), single, on_disk)
            self._setup = threading.Thread(target=self._send, args=(setup,), name="loyalty-whatif-setup")
            self._setup.daemon = True
            self._setup.start()
        except BaseException:
            self.close()
            raise

    @property
    def exited(self) -> int | None:
        """The child's exit status, or ``None`` while it runs."""
        return self._process.poll()

    @property
    def failed_at(self) -> int | None:
        """The line of the first record the child could not replay, once it has said so."""
        for reply in self._replies:
            if reply[0] == "failed":
                line: int = reply[1]
                return line
        return None

    def _read(self) -> None:
        stdout = self._process.stdout
        assert stdout is not None
        while True:
            try:
                reply = pickle.load(stdout)
            except Exception:  # the end of its output (or of a reply cut short: the child died)
                break
            self._replies.append(reply)
            if reply == ("ready",):
                self._ready.set()
        self._ended.set()

    def _send(self, message: tuple[Any, ...]) -> None:
        stdin = self._process.stdin
        if self.broken or stdin is None:
            return
        try:
            data = pickle.dumps(message, _PROTOCOL)
            with _no_sigpipe():
                stdin.write(data)
                stdin.flush()
        except OSError:  # the child ended (killed, or it crashed): its replies say how
            self.broken = True

    def _wait_ready(self) -> None:
        """Wait until the child is ready; :class:`NotStarted` if it ends first or takes too long."""
        deadline = time.monotonic() + _READY_WITHIN
        while not self._ready.wait(0.05):
            if self._ended.is_set() or time.monotonic() > deadline:
                self.close()
                raise NotStarted(f"the second process did not start (exit status {self.exited})")
        self._setup.join()  # ready: the child has read its setup, all of it

    def send(self, records: list[tuple[int, str]]) -> bool:
        """Send records to replay (or hold them while the child starts); ``False`` once the
        child has said it could not replay one (:attr:`failed_at`), or has ended."""
        self._held.append(records)
        if not self._ready.is_set():
            if self._ended.is_set():
                raise NotStarted(f"the second process ended before it was ready (exit status {self.exited})")
            if len(self._held) < _HOLD:
                return True
        self._flush()
        return self.failed_at is None and not self.broken

    def _flush(self) -> None:
        self._wait_ready()
        for chunk in self._held:
            self._send(("records", chunk))
        self._held = []

    def end(self, start: datetime, end: datetime, point_value: Decimal | None, over_time: bool) -> None:
        """No more records: the child finishes its replay (over ``start``..``end``) and reports."""
        self._flush()
        self._send(("end", start, end, point_value, over_time))
        _close_input(self._process)

    def result(self) -> Finished | Failed:
        """The child's outcome after :meth:`end`, or the record it failed at."""
        found = self._reply()
        if found is None:
            raise RuntimeError("the proposed program's replay in a second process stopped instead of ending")
        return found

    def stop(self) -> Failed | None:
        """Stop the child: the record it failed at, if it failed on one it was sent."""
        self._flush()
        self._send(("stop",))
        _close_input(self._process)
        found = self._reply()
        return found if isinstance(found, Failed) else None

    def _reply(self) -> Finished | Failed | None:
        """What the child reported, once its input is closed (``None``: stopped, no failure)."""
        self._ended.wait()
        status = self._process.wait()
        final = [reply for reply in self._replies if reply[0] not in ("ready", "failed")]
        if not final:
            raise RuntimeError(
                f"the proposed program's replay in a second process ended without a result "
                f"(exit status {status}); simulate with parallel=False (loyalty simulate --sequential)"
            )
        kind, *rest = final[0]
        if kind == "done":
            outcome, totals = rest
            return Finished(outcome, totals)
        if kind == "raised":
            name, field, message = rest
            raise _error(name, field, message)
        if kind in ("error", "crash"):
            line, field, message = rest
            return Failed(line, field, message, crash=kind == "crash")
        return None  # "ok"

    def close(self) -> None:
        """End the child, whatever state it is in (a parent's error, a Ctrl-C)."""
        process = self._process
        if process.poll() is None:
            process.kill()
        process.wait()
        setup = getattr(self, "_setup", None)
        if setup is not None:
            setup.join(1.0)  # its write fails once the child is gone
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with suppress(OSError), _no_sigpipe():  # a broken pipe's buffer, unflushed: nothing to keep
                    stream.close()


def _error(name: str, field: str | None, message: str) -> LoyaltyError:
    """The error the child raised outside any record (finishing its replay), as its own class
    where that class takes a field and a message, as most of :mod:`loyalty.errors` do."""
    found = getattr(errors, name, None)
    if isinstance(found, type) and issubclass(found, LoyaltyError):
        try:
            return found(field, message)
        except TypeError:
            pass
    return LoyaltyError(field, message)


def _close_input(process: subprocess.Popen[bytes]) -> None:
    """Close the child's input: past the last message, a child reads EOF and ends."""
    if process.stdin is not None:
        with suppress(OSError), _no_sigpipe():
            process.stdin.close()


def _serve(messages: IO[bytes], replies: IO[bytes]) -> None:
    """The child's loop: replay what the parent sends; at the first record it cannot replay, say
    so in a short notice and read on (without replaying) until asked, so that neither side is
    ever left writing to a pipe that no one reads."""

    def reply(*message: Any) -> None:
        pickle.dump(message, replies, _PROTOCOL)
        replies.flush()

    _, data, single, on_disk = pickle.load(messages)
    versions = programs_from_dict(data)
    program: Program | Sequence[Program] = versions[0] if single else list(versions)
    failure: tuple[Any, ...] | None = None
    with stores(on_disk, 1) as (store,):
        run = Run(program, store)
        reply("ready")
        while True:
            try:
                message = pickle.load(messages)
            except EOFError:  # the parent went away
                return
            kind = message[0]
            if kind == "records":
                if failure is None:
                    failure = _replayed(run, message[1])
                    if failure is not None:
                        reply("failed", failure[1])
                continue
            if failure is not None:
                reply(*failure)
            elif kind == "end":
                reply(*_finished(run, *message[1:]))
            else:
                reply("ok")
            return


def _replayed(run: Run, records: list[tuple[int, str]]) -> tuple[Any, ...] | None:
    """Replay ``records``: ``None``, or the reply that says which one failed and why."""
    for number, text in records:
        try:
            event = history.parse(number, text, utc=True)
            if event is None:
                continue
            run.at(event.at, day_of(event.at), enrollment=isinstance(event, history.Enrollment))
            run.apply(event)
        except LoyaltyError as exc:
            return ("error", number, exc.field, exc.message)
        except Exception:
            return ("crash", number, None, traceback.format_exc())
    return None


def _finished(
    run: Run, start: datetime, end: datetime, point_value: Decimal | None, over_time: bool
) -> tuple[Any, ...]:
    """The reply at the end: the outcome and totals, or what finishing raised."""
    try:
        run.at(end, day_of(end))
        run.engine.run_due(end)
        return ("done", run.outcome(start, end, point_value, over_time=over_time), run.totals())
    except LoyaltyError as exc:
        return ("raised", type(exc).__name__, exc.field, exc.message)
    except Exception:
        return ("crash", 0, None, traceback.format_exc())


def main() -> None:
    """The child's end of the pipes."""
    # Replies get a descriptor of their own; anything else written to standard output goes to
    # standard error, so a stray print cannot break a reply.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    with suppress(EOFError, BrokenPipeError):  # the parent went away
        _serve(sys.stdin.buffer, replies)
