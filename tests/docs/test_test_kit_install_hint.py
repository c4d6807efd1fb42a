"""Importing the test kit without pytest or Hypothesis says what is missing and how to install it.

Each case runs in a fresh interpreter whose import system cannot see the named packages, as if
they were not installed: every finder answers "not found" for them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

INSTALL = "pip install 'loyalty-engine[testing]'"

# Wraps every finder so that the names in HIDDEN are not found (find_spec gives None, `import`
# raises ModuleNotFoundError: No module named ...), then imports MODULE and reports the outcome.
IMPORT_WITHOUT = """
import json, sys

HIDDEN = set(json.loads(sys.argv[1]))


class Hide:
    def __init__(self, finder):
        self.finder = finder

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            return None
        find = getattr(self.finder, "find_spec", None)
        return None if find is None else find(name, path, target)

    def invalidate_caches(self):
        getattr(self.finder, "invalidate_caches", lambda: None)()


for name in list(sys.modules):
    if name.partition(".")[0] in HIDDEN:  # the interpreter's startup may have loaded one already
        del sys.modules[name]
sys.meta_path[:] = [Hide(finder) for finder in sys.meta_path]
try:
    __import__(sys.argv[2])
except ModuleNotFoundError as exc:
    print(json.dumps({"name": exc.name, "message": str(exc)}))
else:
    print(json.dumps(None))
"""


def import_without(hidden: tuple[str, ...], module: str) -> dict[str, str] | None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_WITHOUT, json.dumps(hidden), module],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, str] | None = json.loads(done.stdout)
    return result


@pytest.mark.parametrize(
    ("hidden", "module", "named"),
    [
        (("pytest",), "loyalty.testing.contract", "pytest"),
        (("pytest",), "loyalty.testing.contract.lots", "pytest"),
        (("hypothesis",), "loyalty.testing.strategies", "hypothesis"),
        (("pytest", "hypothesis"), "loyalty.testing.stateful", "pytest and hypothesis"),
        (("hypothesis",), "loyalty.testing", "hypothesis"),
    ],
)
def test_a_missing_test_dependency_is_named_with_the_install_command(
    hidden: tuple[str, ...], module: str, named: str
) -> None:
    refused = import_without(hidden, module)
    assert refused is not None, f"{module} imported without {named}"
    verb = "are" if len(hidden) > 1 else "is"
    assert refused["message"] == f"loyalty.testing needs {named}, which {verb} not installed: {INSTALL}"
    assert refused["name"] == hidden[0]


def test_with_both_installed_the_whole_kit_imports() -> None:
    # The same interpreter, hiding only a package the kit does not use: the refusals above come
    # from the hidden dependency, not from the way the cases are run.
    for module in ("loyalty.testing.contract", "loyalty.testing.stateful", "loyalty.testing.strategies"):
        assert import_without(("psycopg",), module) is None
