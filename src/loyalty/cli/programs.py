"""``loyalty validate``, and reading program files for the other commands."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from loyalty.config import load_programs
from loyalty.errors import ConfigError, InvalidInput
from loyalty.identifiers import LostCard
from loyalty.lots import DrawOrder
from loyalty.program import EventCombination, Program, RoundPer, TaxBasis
from loyalty.rules import RULE_KINDS

_PROGRAM_SUFFIXES = (".toml", ".json")


def check_file(path: Path) -> None:
    if not path.exists():
        raise InvalidInput(str(path), "no such file")
    if path.is_dir():
        raise InvalidInput(str(path), "is a directory, not a file")


def program_versions(path: Path) -> tuple[Program, ...]:
    """Every version in the program file at ``path``; its problems raise :class:`ConfigError` (exit 1)."""
    check_file(path)
    if path.suffix not in _PROGRAM_SUFFIXES:
        raise InvalidInput(str(path), "a program file is .toml or .json (the suffix says which)")
    try:
        return load_programs(path)
    except UnicodeDecodeError as exc:
        raise ConfigError([(str(path), f"is not UTF-8 text (byte {exc.start}: {exc.reason})")]) from None
    except OSError as exc:
        raise InvalidInput(str(path), f"cannot be read: {exc.strerror or exc}") from None


def _summary(program: Program) -> str:
    """One line saying what ``program`` is: ``ok: Corner Coffee (EUR), version 2024-03, ...``."""
    parts = [f"{program.name} ({program.currency})", f"version {program.version}"]
    if program.effective_from is not None:
        parts.append(f"from {program.effective_from.isoformat()}")
    parts.append(f"base rate {program.rate}" if program.rate is not None else "no base rate")
    count = len(program.rules)
    rules = f"{count} rule{'' if count == 1 else 's'}"
    if count:
        kinds = Counter(rule.kind for rule in program.rules)
        rules += " (" + ", ".join(f"{kinds[kind]} {kind}" for kind in RULE_KINDS if kinds[kind]) + ")"
    parts += [rules, f"scale {program.scale}"]
    parts.append(program.rounding.value + (" per line" if program.round_per is RoundPer.LINE else ""))
    # Settings left at their defaults are not mentioned.
    if program.carry:
        parts.append("fractions carried")
    if program.tax is TaxBasis.EXCLUSIVE:
        parts.append("tax excluded")
    if program.events is EventCombination.BEST:
        parts.append("best event rule only")
    if program.expiry.draw is DrawOrder.OLDEST_EARNED:
        parts.append("oldest-earned points spent first")
    if program.identifiers.lost_card is LostCard.REDIRECT:
        parts.append("lost cards redirect")
    if program.timezone != "UTC":
        parts.append(f"timezone {program.timezone}")
    if program.rewards:
        count = len(program.rewards)
        parts.append(f"{count} reward{'' if count == 1 else 's'} in the catalogue")
    return "ok: " + ", ".join(parts)


def validate(args: argparse.Namespace) -> int:
    if not args.json:
        for program in program_versions(args.program):
            print(_summary(program))
        return 0
    # For an editor or a CI job: the verdict on stdout as one object, problems included.
    try:
        versions = program_versions(args.program)
    except ConfigError as exc:
        problems = [{"path": path, "message": message} for path, message in exc.problems]
        print(json.dumps({"valid": False, "problems": problems}, ensure_ascii=False))
        return 1
    described = [
        {"summary": _summary(program).removeprefix("ok: "), "program": program.to_dict()}
        for program in versions
    ]
    print(json.dumps({"valid": True, "versions": described}, ensure_ascii=False))
    return 0
