"""What the published package says of itself: its licence, the Pythons it runs on, what it needs,
and the extras adopters and the project install."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

from loyalty import report_html
from loyalty.testing import INSTALL_HINT, TEST_DEPENDENCIES
from tests.paths import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
# Distribution names whose import name differs.
IMPORT_NAMES = {"python-dateutil": "dateutil"}


def test_the_mit_licence_ships_with_the_package() -> None:
    assert PROJECT["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License\n")


def test_the_pythons_ci_runs_on_are_declared() -> None:
    assert PROJECT["requires-python"] == ">=3.11"
    for version in ("3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {version}" in PROJECT["classifiers"]


def test_windows_tills_get_a_time_zone_database() -> None:
    assert "tzdata; sys_platform == 'win32'" in PROJECT["dependencies"]


def requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match is not None, requirement
    return match.group(0).lower()


def third_party_imports(package: Path) -> set[str]:
    """The top-level names a package's modules (or one module's) import, less the standard library
    and loyalty."""
    names: set[str] = set()
    for module in package.rglob("*.py") if package.is_dir() else [package]:
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.partition(".")[0])
    return names - set(sys.stdlib_module_names) - {"loyalty"}


def test_the_testing_extra_is_what_the_test_kit_imports_beyond_the_engine() -> None:
    extras = PROJECT["optional-dependencies"]
    runtime = {IMPORT_NAMES.get(name, name) for name in map(requirement_name, PROJECT["dependencies"])}
    testing = [requirement_name(requirement) for requirement in extras["testing"]]
    # The plugin's PostgreSQL stores (--loyalty-store postgresql://...) need the postgres extra, as
    # any PostgreSQL store does: its driver is that extra's, not this one's.
    postgres = {requirement_name(requirement).partition("-")[0] for requirement in extras["postgres"]}
    kit = third_party_imports(ROOT / "src" / "loyalty" / "testing") - runtime
    assert sorted(testing) == sorted(kit - postgres)
    # The kit checks for exactly these on import, and its hint names this extra.
    assert list(TEST_DEPENDENCIES) == testing
    assert INSTALL_HINT == "pip install 'loyalty-engine[testing]'"


def test_the_cli_extra_is_what_the_command_imports_beyond_the_engine() -> None:
    extras = PROJECT["optional-dependencies"]
    runtime = {IMPORT_NAMES.get(name, name) for name in map(requirement_name, PROJECT["dependencies"])}
    assert [requirement_name(r) for r in extras["cli"]] == ["rich"]
    assert third_party_imports(ROOT / "src" / "loyalty" / "cli") - runtime == {"rich"}


def test_the_report_extra_is_what_drawing_a_report_imports() -> None:
    extras = PROJECT["optional-dependencies"]
    assert [requirement_name(r) for r in extras["report"]] == ["matplotlib"]
    runtime = {IMPORT_NAMES.get(name, name) for name in map(requirement_name, PROJECT["dependencies"])}
    assert third_party_imports(ROOT / "src" / "loyalty" / "report_html.py") - runtime == {"matplotlib"}
    assert report_html.INSTALL_HINT == "pip install 'loyalty-engine[report]'"
    # Nothing else in the package draws: the engine and the CLI run without it.
    drawing = [
        path.name for path in (ROOT / "src" / "loyalty").rglob("*.py") if "matplotlib" in path.read_text()
    ]
    assert drawing == ["report_html.py"]


def test_the_project_tools_include_the_test_kit_and_test_is_their_old_name() -> None:
    extras = PROJECT["optional-dependencies"]
    assert "loyalty-engine[testing,postgres,cli,report]" in extras["dev"]
    assert {"ruff", "mypy", "import-linter", "build"} <= {requirement_name(r) for r in extras["dev"]}
    assert extras["test"] == ["loyalty-engine[dev]"]
    # What adopters install stays small: none of the project's own tools leak into it.
    assert not {requirement_name(r) for r in extras["testing"]} & {"ruff", "mypy", "import-linter", "build"}


def test_ci_installs_the_project_tools() -> None:
    assert "-e '.[dev]'" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_the_classifiers_cover_what_package_indexes_filter_by() -> None:
    groups = {classifier.partition(" :: ")[0] for classifier in PROJECT["classifiers"]}
    assert {"Development Status", "Intended Audience", "Operating System", "Topic"} <= groups
    assert "Topic :: Office/Business :: Financial :: Point-Of-Sale" in PROJECT["classifiers"]
    # The SPDX `license` supersedes the licence classifiers (PEP 639); indexes may refuse both.
    assert "License" not in groups


def test_pytest_finds_the_plugin_by_its_entry_point_named_as_its_module() -> None:
    # One name for both ways of loading it: the entry point, and `-p` in the project's addopts.
    assert PROJECT["entry-points"]["pytest11"] == {"loyalty.testing.plugin": "loyalty.testing.plugin"}
    pytest_options = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]
    addopts = pytest_options["ini_options"]["addopts"]
    assert addopts[addopts.index("loyalty.testing.plugin") - 1] == "-p"
