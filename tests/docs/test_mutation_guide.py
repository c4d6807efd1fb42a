"""docs/mutation-testing.md and the command it documents agree with the project: every test path the
command would run exists, every module whose score the page keeps has its tests named, and each
score row adds up; `--again` goes on only from a run of the same module."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path
from types import ModuleType

from tests.paths import DOCS, ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
MODULES: dict[str, list[str]] = PYPROJECT["tool"]["loyalty"]["mutation"]
PAGE = (DOCS / "mutation-testing.md").read_text(encoding="utf-8")
# | lots.py | 332 | 300 | 32 | 90.4% | 2026-12-06 |
SCORE_ROW = re.compile(
    r"^\| (\S+\.py) \| (\d+) \| (\d+) \| (\d+) \| (\d+\.\d)% \| (\d{4}-\d\d-\d\d) \|$", re.MULTILINE
)


def test_the_mutation_extra_pins_the_mutmut_the_command_drives() -> None:
    # .ci/mutation.py sets the module and the tests on mutmut's Config object, not a public API.
    assert PYPROJECT["project"]["optional-dependencies"]["mutation"] == ["mutmut==3.8.1"]


def test_every_module_and_test_path_named_for_mutation_exists() -> None:
    assert MODULES
    for module, paths in MODULES.items():
        assert (ROOT / "src" / "loyalty" / module).is_file(), module
        assert paths, module
        for path in paths:
            assert (ROOT / path.partition("::")[0]).exists(), f"{module}: {path}"


def test_each_score_row_adds_up_and_names_a_module_with_tests() -> None:
    rows = SCORE_ROW.findall(PAGE)
    assert rows
    for module, mutants, caught, survived, score, _date in rows:
        assert module in MODULES, module
        assert int(caught) + int(survived) == int(mutants), module
        assert f"{100 * int(caught) / int(mutants):.1f}" == score, module


def test_every_module_scores_at_least_90_percent_with_its_survivors_explained() -> None:
    survivors = PAGE.partition("### Equivalent survivors")[2]
    for module, _mutants, _caught, survived, score, _date in SCORE_ROW.findall(PAGE):
        assert float(score) >= 90, module
        # Each module's own paragraph ("**lots.py**" then a list, or "**expiry.py**: none.").
        assert f"**{module}**" in survivors, module
        if int(survived):
            assert f"**{module}**: none." not in survivors, module


def test_mutants_are_left_out_of_git_and_the_linters() -> None:
    assert "/mutants/" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "mutants" in PYPROJECT["tool"]["ruff"]["extend-exclude"]
    assert "^mutants/" in PYPROJECT["tool"]["mypy"]["exclude"]


def _command() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutation_command", ROOT / ".ci" / "mutation.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_again_goes_on_only_from_a_run_of_the_same_module(tmp_path: Path) -> None:
    command = _command()
    mutants = tmp_path / "mutants"
    lots, money = Path("src/loyalty/lots.py"), Path("src/loyalty/money.py")
    assert "holds no run" in command.again_refused(lots, mutants)
    command.record_run(money, mutants)
    refused = command.again_refused(lots, mutants)
    assert "was of src/loyalty/money.py, not src/loyalty/lots.py" in refused
    assert "`python .ci/mutation.py src/loyalty/lots.py` without --again" in refused
    assert command.again_refused(money, mutants) is None
    command.record_run(lots, mutants)
    assert command.again_refused(lots, mutants) is None
