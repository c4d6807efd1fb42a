"""Mutation testing of one module of `loyalty` with the tests that reach it (docs/mutation-testing.md).

    python .ci/mutation.py lots                  # src/loyalty/lots.py, tests from [tool.loyalty.mutation]
    python .ci/mutation.py src/loyalty/lots.py tests/unit/test_draws.py   # these tests instead
    python .ci/mutation.py lots --again          # re-test only the last run's survivors (after new tests)

mutmut 3.8.1 (the `mutation` extra) copies the project into `mutants/` (git-ignored), mutates only the
named module there, learns which of the named tests call each function, and runs those tests against
every mutant, each in a forked child. Hypothesis runs its `mutation` profile (tests/conftest.py:
few examples, derandomized, no example database), so a verdict is the same on every run. At the end
it prints the module's figures (mutants, caught, survived, score) and each survivor's diff.

Run from a checkout whose `loyalty` is importable (an editable install or PYTHONPATH=src): mutmut
puts `mutants/src` first on the path, so the tests import the mutated copy. Every run but `--again`
starts from an empty `mutants/`, so its figures are those of the tree as it is; `--again` is refused
unless the last run was of the same module (mutants/last-run.txt names it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path("src/loyalty")
# Statuses that count as caught: a test failed, the tests ran past their time limit (an endless
# loop is caught too), or the child crashed.
CAUGHT = {"killed", "timeout", "segfault", "caught by type check"}
# The file in mutants/ that names the module its mutants are of (`--again` checks it).
LAST_RUN = "last-run.txt"


def module_path(name: str) -> Path:
    """`lots`, `loyalty.lots`, `lots.py` or `src/loyalty/lots.py` -> `src/loyalty/lots.py`."""
    if name.endswith(".py"):
        path = Path(name)
        return path if path.parent != Path() else PACKAGE / path
    parts = name.split(".")
    if parts[0] == "loyalty":
        parts = parts[1:]
    return PACKAGE.joinpath(*parts).with_suffix(".py")


def tests_for(path: Path) -> list[str]:
    """The test paths that pyproject.toml's [tool.loyalty.mutation] names for a module."""
    table = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    modules: dict[str, list[str]] = table["tool"]["loyalty"]["mutation"]
    key = path.relative_to(PACKAGE).as_posix()
    if key not in modules:
        known = ", ".join(sorted(modules))
        sys.exit(f"no tests named for {key} in [tool.loyalty.mutation] ({known}): name them after the module")
    return list(modules[key])


def record_run(path: Path, mutants: Path) -> None:
    """Notes in ``mutants`` which module its mutants are of, for a later `--again` to check."""
    mutants.mkdir(exist_ok=True)
    (mutants / LAST_RUN).write_text(f"{path.as_posix()}\n", "utf-8")


def again_refused(path: Path, mutants: Path) -> str | None:
    """Why `--again` cannot re-test ``path``'s survivors in ``mutants`` (``None``: it can).

    mutants/ holds one module's mutants, of its last run: another module's copy would be
    re-tested with this module's names, and its figures would be nobody's.
    """
    try:
        last = (mutants / LAST_RUN).read_text("utf-8").strip()
    except FileNotFoundError:
        last = ""
    if last == path.as_posix():
        return None
    fresh = f"run `python .ci/mutation.py {path.as_posix()}` without --again"
    if not last:
        return f"--again: {mutants}/ holds no run of .ci/mutation.py to go on from: {fresh}"
    return f"--again: the last run in {mutants}/ was of {last}, not {path.as_posix()}: {fresh}"


def verdicts(path: Path) -> dict[str, str]:
    """Each mutant of the module's last run and its status (killed, survived, no tests, ...)."""
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.stats import status_by_exit_code

    data = SourceFileMutationData(path=path)
    data.load()
    return {name: str(status_by_exit_code[code]) for name, code in data.exit_code_by_key.items()}


def report(path: Path, *, diffs: bool) -> int:
    """Prints the figures and the survivors; 0 when every mutant was tested."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    status = verdicts(path)
    caught = sum(1 for verdict in status.values() if verdict in CAUGHT)
    survivors = sorted(name for name, verdict in status.items() if verdict not in CAUGHT)
    score = 100 * caught / len(status) if status else 0.0
    print()
    for name in survivors:
        print(f"--- {status[name]}: {name}")
        if diffs:
            print(get_diff_for_mutant(name, path=path))
    print()
    print("| module | mutants | caught | survived | score |")
    print("|---|---|---|---|---|")
    print(f"| {path.name} | {len(status)} | {caught} | {len(survivors)} | {score:.1f}% |")
    untested = [name for name in survivors if status[name] == "not checked"]
    return 1 if untested or not status else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("module", help="lots, loyalty.lots or src/loyalty/lots.py")
    parser.add_argument("tests", nargs="*", help="test paths or node ids (default: [tool.loyalty.mutation])")
    parser.add_argument("--max-children", type=int, default=1, help="mutants tested at once (default 1)")
    parser.add_argument("--again", action="store_true", help="re-test the last run's survivors only")
    parser.add_argument("--no-diff", action="store_true", help="list the survivors without their diffs")
    args = parser.parse_args(argv)

    os.chdir(ROOT)
    path = module_path(args.module)
    if not path.is_file():
        parser.error(f"{path} is not a module of the package")
    tests = args.tests or tests_for(path)
    # Read by tests/conftest.py when the tests are collected, in this process (mutmut runs pytest here).
    os.environ.setdefault("HYPOTHESIS_PROFILE", "mutation")

    again: list[str] = []
    if args.again:
        refused = again_refused(path, Path("mutants"))
        if refused:
            sys.exit(refused)
        again = [name for name, verdict in verdicts(path).items() if verdict not in CAUGHT]
        if not again:
            return report(path, diffs=not args.no_diff)
    else:
        shutil.rmtree("mutants", ignore_errors=True)
        record_run(path, Path("mutants"))

    # mutmut reads [tool.mutmut] once into a module-level Config; only the module and the tests
    # differ from one run to the next, so they are set on it rather than written to a file.
    import mutmut.__main__ as mutmut_cli
    from mutmut import configuration

    config = configuration.config()
    config.only_mutate = [path.as_posix()]
    config.pytest_add_cli_args_test_selection = tests
    print(f"mutating {path} with {' '.join(tests)} ({os.environ['HYPOTHESIS_PROFILE']} profile)")
    try:
        mutmut_cli.cli.main(["run", "--max-children", str(args.max_children), *again], standalone_mode=False)
    except SystemExit as stop:
        if stop.code:
            return int(stop.code) if isinstance(stop.code, int) else 1
    return report(path, diffs=not args.no_diff)


if __name__ == "__main__":
    sys.exit(main())
