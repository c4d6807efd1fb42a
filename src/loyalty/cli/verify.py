"""``loyalty verify``: every member's chain of entry hashes recomputed (docs/audit.md)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from loyalty.chains import Break, ChainReport, Head, read_heads, write_heads
from loyalty.cli.options import writable
from loyalty.cli.progress import progress
from loyalty.cli.stores import engine_on, existing_store, store_url
from loyalty.errors import InvalidInput

#: The exit status when a link is broken: the store could be read, and was tampered with.
BROKEN = 5

_WHERE = {
    "link": "entry {seq}",
    "head": "its head (last entry {seq})",
    "balance": "its balance (not its last entry's, {seq})",
    "exported": "its exported head (entry {seq}) is no longer in its chain",
}


def _exported(path: Path | None) -> list[Head] | None:
    """The heads a file written by ``--write-heads`` holds (read before the store is opened)."""
    if path is None:
        return None
    try:
        with path.open(encoding="utf-8") as lines:
            return read_heads(lines, "--heads")
    except FileNotFoundError:
        raise InvalidInput("--heads", f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput("--heads", f"{path} cannot be read: {exc}") from None


def verify(args: argparse.Namespace) -> int:
    """Recompute the chains; print what was checked and every broken link; exit 5 if any."""
    exported = _exported(args.heads)
    writable("--write-heads", args.write_heads)
    with existing_store(store_url(args.store)) as store:
        engine, _ = engine_on(store, args.program)
        checked = 0
        # The last seq bounds the entries to read: a bar, not a spinner (an upper bound on
        # PostgreSQL, whose rolled-back writers leave numbers unused).
        with progress("verify: recomputing the ledger's chains", engine.last_seq()) as advance:

            def step(entries: int) -> None:
                nonlocal checked
                checked += entries
                advance(entries, f"verify: {checked} entries checked")

            report = engine.verify(
                batch=args.batch, progress=step, heads=exported, keep_heads=args.write_heads is not None
            )
        # Heads worth keeping are those of chains that verified: read with them, in one snapshot.
        written = _write(args.write_heads, list(report.heads)) if report.ok else None
    _print(report, args, written)
    return 0 if report.ok else BROKEN


def _write(path: Path | None, heads: list[Head]) -> str | None:
    if path is None:
        return None
    try:
        with path.open("w", encoding="utf-8") as out:
            return write_heads(heads, out)
    except OSError as exc:
        raise InvalidInput("--write-heads", f"{path} cannot be written: {exc.strerror or exc}") from None


def _line(found: Break) -> str:
    return f"broken: member {found.member_id!r}, " + _WHERE[found.problem].format(seq=found.seq)


def _print(report: ChainReport, args: argparse.Namespace, digest: str | None) -> None:
    """The report: every break, then what was checked and what written (or all of it as JSON)."""
    exported, path = args.heads is not None, args.write_heads
    if args.json:
        shown: dict[str, object] = {
            "ok": report.ok,
            "entries": report.entries,
            "members": report.members,
            "breaks": [{"member_id": b.member_id, "seq": b.seq, "problem": b.problem} for b in report.breaks],
        }
        if exported:
            shown["exported"] = report.exported
        if digest is not None:
            shown["heads_written"] = {"file": str(path), "digest": digest}
        print(json.dumps(shown))
        return
    for found in report.breaks:
        print(_line(found))
    verdict = "every chain verified" if report.ok else f"{len(report.breaks)} broken link(s)"
    heads = f" and {report.exported} exported heads" if exported else ""
    print(f"{report.entries} entries of {report.members} members{heads} checked: {verdict}")
    if digest is not None:
        print(f"heads of {report.members} members written to {path} (digest {digest})")
    elif path is not None:
        print(f"no heads written to {path}: the chains did not verify")
