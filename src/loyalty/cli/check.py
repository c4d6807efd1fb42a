"""``loyalty check FILE...``: run scenario files without pytest, one line per scenario.

Each scenario runs on a fresh memory store. A line says ``ok`` or ``FAIL``, the
file and the scenario's name; under a failure come the step, each expectation
against what happened and the step's explanation. A file with problems prints
each as ``FILE: path: message`` on stderr (a missing file as ``error: ...``), and
the other files still run. The status is 0 when every scenario passed, 2 when
a file could not be read, 1 otherwise. ``--schema`` prints the JSON Schema of scenario files instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from loyalty.errors import ConfigError, InvalidInput, LoyaltyError
from loyalty.scenarios import load_scenario_file, run_scenario, scenario_file_schema


def check(args: argparse.Namespace) -> int:
    if args.schema:
        print(json.dumps(scenario_file_schema(), indent=2, ensure_ascii=False))
        return 0
    files: list[Path] = args.files
    if not files:
        raise InvalidInput("FILE", "name at least one scenario file (*.loyalty.toml)")
    failed = passed = 0
    unreadable = False
    for path in files:
        try:
            document = load_scenario_file(path)
        except ConfigError as exc:
            for where, message in exc.problems:
                print(f"{path}: {where}: {message}" if where else f"{path}: {message}", file=sys.stderr)
            failed += 1
            continue
        except LoyaltyError as exc:  # no such file, not a file: the other files still run
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            unreadable = True
            continue
        for scenario in document.scenarios:
            outcome = run_scenario(document, scenario)
            if outcome.failure is None:
                passed += 1
                print(f"ok   {path}: {scenario.name}")
            else:
                failed += 1
                print(f"FAIL {path}: {scenario.name}: {outcome.failure.report()}")
    print(f"{passed} passed, {failed} failed")
    # A file that could not be read is refused input (status 2, as every command exits for a
    # missing file), even when the others ran: a scheduler must not read it as a failed story.
    return 2 if unreadable else 1 if failed else 0
