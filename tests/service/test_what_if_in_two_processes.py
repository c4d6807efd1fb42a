"""What-if in two processes: the proposed program replayed in a second process gives what one process
gives, refuses the same first record, and falls back to one process when the second cannot start."""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from loyalty import Expiry, ExpiryPolicy, InvalidInput, Line, Program, whatif, whatif_process
from loyalty.config import programs_to_dict
from loyalty.history import Enrollment, write
from loyalty.rules import EventRule, ProductBonus
from loyalty.simulation import generate, to_jsonl
from loyalty.tiers import Tier, Tiers
from loyalty.whatif import simulate
from loyalty.whatif_run import Run
from tests.what_if_history import AT, every_kind, sale

MONTH = Expiry(ExpiryPolicy.LIFETIME, days=30)
TIERS = Tiers(levels=[Tier(id="member"), Tier(id="silver", threshold=300), Tier(id="gold", threshold=900)])
CURRENT = Program("Club", "EUR", expiry=MONTH, tiers=TIERS)
BAKERY = ProductBonus(id="bakery", name="Bakery bonus", points=5, categories=["bakery"])
WELCOME = EventRule(id="welcome", name="Welcome", event="enrolled", points=50)
PROPOSED = Program("Club", "EUR", version="2", expiry=MONTH, tiers=TIERS, rules=[BAKERY, WELCOME])
DOLLARS = Program("Club", "USD", version="2")


def _traffic(purchases: int = 600) -> list[str]:
    return list(to_jsonl(generate(members=40, purchases=purchases, seed=11).events))


def _both(
    lines: list[str], current: Program, proposed: Program | list[Program], **options: Any
) -> tuple[Any, Any]:
    """What one process gives, then what two give, or the error each raised."""
    found: list[Any] = []
    for parallel in (False, True):
        try:
            found.append(simulate(lines, current, proposed, parallel=parallel, **options))
        except (InvalidInput, RuntimeError) as exc:
            found.append((type(exc), str(exc)))
    return found[0], found[1]


def test_two_processes_give_the_comparison_one_process_gives() -> None:
    lines = list(write(every_kind())) + _traffic()
    until = AT + timedelta(days=400)
    alone, beside = _both(lines, CURRENT, PROPOSED, until=until, over_time=True, point_value=Decimal("0.01"))
    assert beside == alone
    assert alone.proposed.figures.issued > alone.current.figures.issued > 0
    assert alone.current.figures.expired > 0 and alone.gains


def test_on_disk_two_processes_give_the_same_comparison() -> None:
    lines = list(write(every_kind())) + _traffic(200)
    alone = simulate(lines, CURRENT, PROPOSED, over_time=True)
    assert simulate(lines, CURRENT, PROPOSED, over_time=True, on_disk=True, parallel=True) == alone


def test_program_versions_reach_the_second_process(started: list[whatif_process.SecondProcess]) -> None:
    later = Program(
        "Club", "EUR", version="3", expiry=MONTH, tiers=TIERS, effective_from=AT + timedelta(days=30)
    )
    alone, beside = _both(_traffic(300), CURRENT, [PROPOSED, later])
    assert beside == alone
    # Out of date order, as an engine takes them (it puts them in order).
    assert _both(_traffic(300), CURRENT, [later, PROPOSED]) == (alone, alone)
    assert len(started) == 2


def test_the_first_refusal_in_the_history_is_raised_whichever_process_met_it() -> None:
    enrolled = list(write([Enrollment("E1", "M1", AT), Enrollment("E2", "M2", AT)]))
    bought = list(write([sale("P1", "M1", AT + timedelta(hours=1), Line("milk", 1, Decimal("1.00")))]))
    stray = list(write([sale("P9", "M9", AT + timedelta(hours=2), Line("milk", 1, Decimal("1.00")))]))
    # The proposed program (in dollars) refuses line 3, before the current one refuses line 4.
    alone, beside = _both([*enrolled, *bought, *stray], CURRENT, DOLLARS)
    assert beside == alone
    assert (
        alone[0] is InvalidInput
        and alone[1].startswith("line 3: ")
        and "(under the proposed program)" in alone[1]
    )
    # Both refuse line 3: the current program's comes first, as one process meets it first.
    alone, beside = _both([*enrolled, *stray, *bought], CURRENT, DOLLARS)
    with pytest.raises(InvalidInput) as raised:
        simulate([*enrolled, *stray, *bought], CURRENT, DOLLARS, parallel=True)
    assert type(raised.value.__cause__).__name__ == "UnknownMember"  # as one process raises it
    assert beside == alone
    assert (
        alone[0] is InvalidInput and alone[1].startswith("line 3: member_id") and "proposed" not in alone[1]
    )
    # A line that is not a record stops both before either replays it.
    alone, beside = _both([*enrolled, "{not json", *bought], CURRENT, DOLLARS)
    assert beside == alone and alone[1].startswith("line 3: not JSON")


def test_a_refusal_far_from_the_others_side_is_found_in_either() -> None:
    traffic = _traffic(1_500)  # several of the chunks sent at a time
    stray = list(write([sale("P9", "M9", AT + timedelta(days=900), Line("milk", 1, Decimal("1.00")))]))
    # The proposed program stops at the first purchase; the current one goes on to the end.
    alone, beside = _both([*traffic, *stray], CURRENT, DOLLARS)
    assert beside == alone and "(under the proposed program)" in alone[1]
    # Neither stops before the last line, a purchase of a member never enrolled.
    alone, beside = _both([*traffic, *stray], CURRENT, PROPOSED)
    assert beside == alone
    assert alone[1].startswith(f"line {len(traffic) + 1}: member_id") and "proposed" not in alone[1]


def test_records_given_as_values_replay_in_one_process_only() -> None:
    with pytest.raises(InvalidInput, match="line 1: must be a line of text to replay in two processes"):
        simulate(every_kind(), CURRENT, PROPOSED, parallel=True)
    assert simulate(every_kind(), CURRENT, PROPOSED) == simulate(
        write(every_kind()), CURRENT, PROPOSED, parallel=False
    )


class _MyBonus(ProductBonus):
    """A rule class of the caller's own: a program file cannot name it."""


def test_a_program_a_file_cannot_hold_is_not_sent() -> None:
    own = Program("Club", "EUR", version="2", rules=[_MyBonus(id="b", name="B", points=1, skus=["cake"])])
    assert not whatif_process.portable(own) and whatif_process.portable(PROPOSED)
    with pytest.raises(
        InvalidInput, match=r"^parallel: the proposed program does not reach a second process"
    ):
        simulate(write(every_kind()), CURRENT, own, parallel=True)
    with pytest.raises(InvalidInput, match="parallel: must be True, False or None"):
        simulate(write(every_kind()), CURRENT, PROPOSED, parallel="yes")  # type: ignore[arg-type]


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[whatif_process.SecondProcess]:
    """The second processes simulate starts, as it starts them."""
    seen: list[whatif_process.SecondProcess] = []

    class Counted(whatif_process.SecondProcess):
        def __init__(self, *args: Any) -> None:
            seen.append(self)
            super().__init__(*args)

    monkeypatch.setattr(whatif, "SecondProcess", Counted)
    return seen


def test_by_default_a_long_history_of_text_takes_two_processes(
    started: list[whatif_process.SecondProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(whatif, "_cores", lambda: 2)
    assert whatif._large(["{}"] * 4_000) and not whatif._large(["{}"] * 3_999)
    assert not whatif._large([*["{}"] * 3_999, every_kind()[0]])
    monkeypatch.setattr(whatif, "_LARGE_RECORDS", 500)
    long = _traffic(500)
    simulate(long, CURRENT, CURRENT)
    assert len(started) == 1
    simulate(long[:499], CURRENT, CURRENT)  # short: one process
    simulate(long, CURRENT, CURRENT, parallel=False)
    simulate((line for line in long), CURRENT, CURRENT)  # cannot be read again if the child fails
    monkeypatch.setattr(whatif, "_cores", lambda: 1)
    simulate(long, CURRENT, CURRENT)
    assert len(started) == 1


def test_a_history_file_of_a_mebibyte_takes_two_processes(
    started: list[whatif_process.SecondProcess], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setattr(whatif, "_cores", lambda: 2)
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"\n" * ((1 << 20) - 1))
    with path.open(encoding="utf-8") as lines:
        assert not whatif._large(lines)
    path.write_text("".join(line + "\n" for line in ["", *_traffic(600)]), encoding="utf-8")
    monkeypatch.setattr(whatif, "_LARGE_BYTES", path.stat().st_size)
    with path.open(encoding="utf-8") as lines:
        beside = simulate(lines, CURRENT, PROPOSED)
    assert len(started) == 1
    with path.open(encoding="utf-8") as lines:
        assert simulate(lines, CURRENT, PROPOSED, parallel=False) == beside
        lines.seek(0)
        next(lines)  # a text file's place is hidden once it is iterated: it cannot be read again
        assert simulate(lines, CURRENT, PROPOSED) == beside
    assert len(started) == 1


def test_a_second_process_that_cannot_start_leaves_the_replay_to_this_one(
    started: list[whatif_process.SecondProcess], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    lines = list(write(every_kind())) + _traffic(200)
    alone = simulate(lines, CURRENT, PROPOSED, parallel=False)
    for interpreter in ("/bin/false", str(tmp_path / "no-python-here")):
        monkeypatch.setattr(sys, "executable", interpreter)
        assert simulate(lines, CURRENT, PROPOSED, parallel=True) == alone
        # A history that cannot be read again: nothing to fall back on.
        with pytest.raises(RuntimeError, match="simulate with parallel=False"):
            simulate(iter(lines), CURRENT, PROPOSED, parallel=True)
    assert len(started) == 4


def test_an_interrupted_simulation_leaves_no_process_behind(
    started: list[whatif_process.SecondProcess],
) -> None:
    def interrupt(done: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        simulate(_traffic(1_200), CURRENT, PROPOSED, parallel=True, progress=interrupt)
    (second,) = started
    assert second.exited is not None


def test_lines_are_read_a_chunk_ahead_at_most() -> None:
    served: list[int] = []
    lines = _traffic(1_500)

    def reading() -> Iterator[str]:
        for number, line in enumerate(lines, start=1):
            served.append(number)
            yield line
        yield '{"type": "purchase"}'

    with pytest.raises(InvalidInput, match=f"line {len(lines) + 1}: id: is missing"):
        simulate(reading(), CURRENT, PROPOSED, parallel=True)
    assert served == list(range(1, len(lines) + 1))


def test_until_before_the_last_record_comes_after_a_refusal_of_the_proposed_program() -> None:
    enrolled = list(write([Enrollment("E1", "M1", AT)]))
    bought = list(write([sale("P1", "M1", AT + timedelta(hours=1), Line("milk", 1, Decimal("1.00")))]))
    alone, beside = _both([*enrolled, *bought], CURRENT, DOLLARS, until=AT)
    assert beside == alone and alone[1].startswith("line 2: ") and "proposed" in alone[1]
    alone, beside = _both([*enrolled, *bought], CURRENT, PROPOSED, until=AT)
    assert beside == alone and alone[1].startswith("until: must not be before the last record")


def test_a_source_that_fails_after_a_refusal_gives_the_refusal() -> None:
    traffic = _traffic(300)
    stray = list(write([sale("P9", "M9", AT + timedelta(days=900), Line("milk", 1, Decimal("1.00")))]))

    def failing(lines: list[str]) -> Iterator[str]:
        yield from lines
        raise OSError("the disk went away")

    for parallel in (False, True):
        # The refusal 150 lines before the source fails, within the chunk read ahead.
        with pytest.raises(InvalidInput, match=f"^line {len(traffic) - 149}: member_id"):
            simulate(
                failing([*traffic[:-150], *stray, *traffic[-150:]]), CURRENT, PROPOSED, parallel=parallel
            )
        with pytest.raises(OSError, match="the disk went away"):
            simulate(failing(traffic), CURRENT, PROPOSED, parallel=parallel)
        # A line no parser reads (a number of 5,000 digits) after a refusal: the refusal.
        huge = traffic[0][:-1] + ', "x": ' + "9" * 5_000 + "}"
        with pytest.raises(InvalidInput, match=r"^line 41: member_id"):
            simulate([*traffic[:40], *stray, huge], CURRENT, PROPOSED, parallel=parallel)


def test_a_line_neither_text_nor_a_record_is_refused_as_in_one_process() -> None:
    alone, beside = _both([*write(every_kind()), b"{}"], CURRENT, PROPOSED)  # type: ignore[list-item]
    assert beside == alone and alone[1] == "line 10: must be a line of text or a history record, not bytes"


def test_a_program_that_is_none_is_refused_as_in_one_process() -> None:
    lines = list(write(every_kind()))
    for current, proposed in ((CURRENT, []), (CURRENT, None), (None, [])):
        alone, beside = _both(lines, current, proposed)  # type: ignore[arg-type]
        assert beside == alone
    assert "program" in alone[1]


def test_a_path_entry_that_is_not_text_does_not_stop_the_second_process(
    monkeypatch: pytest.MonkeyPatch, started: list[whatif_process.SecondProcess]
) -> None:
    monkeypatch.setattr(sys, "path", [*sys.path, Path("/nowhere")])
    lines = _traffic(200)
    assert simulate(lines, CURRENT, PROPOSED, parallel=True) == simulate(
        lines, CURRENT, PROPOSED, parallel=False
    )
    assert len(started) == 1 and started[0].exited == 0


def test_a_frozen_application_or_a_child_that_never_starts_leaves_the_replay_here(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lines = _traffic(200)
    alone = simulate(lines, CURRENT, PROPOSED, parallel=False)
    with monkeypatch.context() as frozen:
        frozen.setattr(sys, "frozen", True, raising=False)
        assert simulate(lines, CURRENT, PROPOSED, parallel=True) == alone
    # An interpreter that neither reads nor ends: given up on after a while, and stopped; with a
    # program of many rules too, more than a pipe holds before the child reads it.
    hanging = tmp_path / "hangs"
    hanging.write_text("#!/bin/sh\nexec sleep 60\n", encoding="utf-8")
    hanging.chmod(0o755)
    many = [
        ProductBonus(id=f"b{i}", name=f"B{i}", points=1, skus=[f"sku-{i}-{j}" for j in range(20)])
        for i in range(400)
    ]
    large = Program("Club", "EUR", version="2", rules=many)
    assert len(pickle.dumps(programs_to_dict([large]))) > 1 << 16
    large_alone = simulate(lines[:300], CURRENT, large, parallel=False)
    monkeypatch.setattr(sys, "executable", str(hanging))
    monkeypatch.setattr(whatif_process, "_HOLD", 1)
    monkeypatch.setattr(whatif_process, "_READY_WITHIN", 0.5)
    assert simulate(lines, CURRENT, PROPOSED, parallel=True) == alone
    assert simulate(lines[:300], CURRENT, large, parallel=True) == large_alone


def _served(monkeypatch: pytest.MonkeyPatch, fail_at: int, error: Exception, last: str) -> list[Any]:
    """The replies of the child's loop, run here on pickled messages, with the proposed
    program's replay raising ``error`` at line ``fail_at``."""
    replayed: list[int] = []
    apply = Run.apply

    def failing(run: Run, event: Any) -> None:
        replayed.append(event.at)
        if len(replayed) == fail_at:
            raise error
        apply(run, event)

    monkeypatch.setattr(Run, "apply", failing)
    lines = list(enumerate(_traffic(100), start=1))
    messages = io.BytesIO()
    for message in (
        ("setup", programs_to_dict([PROPOSED]), True, False),
        ("records", lines[:50]),
        ("records", lines[50:]),
        (last, AT, AT, None, False) if last == "end" else (last,),
    ):
        pickle.dump(message, messages)
    messages.seek(0)
    replies = io.BytesIO()
    whatif_process._serve(messages, replies)
    replies.seek(0)
    found = []
    with contextlib.suppress(EOFError):
        while True:
            found.append(pickle.load(replies))
    assert len(replayed) == fail_at  # nothing after the failure is replayed
    return found


def test_the_child_says_it_failed_at_once_and_why_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    big = "x" * 200_000  # larger than a pipe holds: said only once the parent reads
    ready, notice, final = _served(monkeypatch, 30, ValueError(big), "stop")
    assert (ready, notice) == (("ready",), ("failed", 30))
    assert final[:3] == ("crash", 30, None) and big in final[3]
    ready, notice, final = _served(monkeypatch, 70, InvalidInput("member_id", "no such member"), "end")
    assert notice == ("failed", 70) and final == ("error", 70, "member_id", "no such member")


def test_cores_are_those_the_process_may_use_and_its_quota_allows(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    quota = tmp_path / "cpu.max"
    monkeypatch.setattr(whatif, "_CPU_MAX", quota)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1, 2, 3}, raising=False)
    assert whatif._cores() == 4  # no quota file
    for line, cores in (
        ("max 100000\n", 4),
        ("150000 100000\n", 1),
        ("200000 100000\n", 2),
        ("50000 100000", 1),
    ):
        quota.write_text(line, encoding="ascii")
        assert whatif._cores() == cores
    quota.write_text("garbled", encoding="ascii")
    assert whatif._cores() == 4


_KILLED_CHILD = """
import ctypes, signal, sys
how = sys.argv[1]
# A caller's choice (a CLI quiet on a closed pipe), made from Python or from C (which
# signal.getsignal does not see), the signal perhaps blocked as well.
if how == "c":
    ctypes.CDLL(None).signal(int(signal.SIGPIPE), 0)  # SIG_DFL
else:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
if how == "blocked":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPIPE})
from loyalty import Program, whatif, whatif_process
from loyalty.simulation import generate, to_jsonl

seen = []

class Counted(whatif_process.SecondProcess):
    def __init__(self, *args):
        seen.append(self)
        super().__init__(*args)

def kill(done):
    second = seen[0]
    if second.exited is None:
        second._ready.wait(60)
        second._process.kill()
        second._process.wait()

whatif.SecondProcess = Counted
lines = list(to_jsonl(generate(members=40, purchases=1_200, seed=11).events))
try:
    current, proposed = Program("Club", "EUR"), Program("Club", "EUR", version="2")
    whatif.simulate(lines, current, proposed, parallel=True, progress=kill)
except RuntimeError as exc:
    print("RuntimeError:", exc, flush=True)
# Nothing left pending for the caller to receive once it unblocks the signal.
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGPIPE})
print("still here")
"""


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="no SIGPIPE or no signal masks here")
@pytest.mark.parametrize("how", ["python", "c", "blocked"])
def test_a_caller_that_gave_sigpipe_its_default_action_outlives_a_second_process_that_died(how: str) -> None:
    # Killed once ready, the second process leaves this one writing to a closed pipe: with
    # SIGPIPE's default action the write would end the caller; it fails and is reported instead.
    command = [sys.executable, "-c", _KILLED_CHILD, how]
    ran = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, (ran.returncode, ran.stderr[-2_000:])
    assert ran.stdout.startswith("RuntimeError:"), ran.stdout
    assert f"exit status {-signal.SIGKILL}" in ran.stdout
    assert ran.stdout.endswith("still here\n")


@pytest.mark.skipif(not hasattr(signal, "SIGPIPE"), reason="no SIGPIPE on this platform")
def test_where_sigpipe_cannot_be_kept_from_a_write_the_replay_stays_in_one_process(
    started: list[whatif_process.SecondProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = _traffic(200)
    alone = simulate(lines, CURRENT, PROPOSED, parallel=False)
    monkeypatch.setattr(whatif_process, "_TAKES_BACK", False)  # as on macOS: no sigtimedwait
    monkeypatch.setattr(whatif, "_cores", lambda: 2)
    monkeypatch.setattr(whatif, "_LARGE_RECORDS", 100)  # long enough for two by default
    before = signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        # Asked for two processes, even with a history that cannot be read again: one, from
        # the start.
        assert simulate(iter(lines), CURRENT, PROPOSED, parallel=True) == alone
        assert simulate(lines, CURRENT, PROPOSED) == alone
    finally:
        signal.signal(signal.SIGPIPE, before)
    assert started == []
