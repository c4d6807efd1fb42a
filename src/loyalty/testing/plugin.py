"""The pytest plugin of loyalty-engine: fixtures for a merchant's program, and scenario files as tests.

Installed with the ``testing`` extra, it is loaded by pytest through the
``pytest11`` entry point (its name is the module's, ``loyalty.testing.plugin``,
so ``-p loyalty.testing.plugin`` names the same plugin and ``-p
no:loyalty.testing.plugin`` turns it off). It gives:

- ``loyalty_clock``: a :class:`~loyalty.testing.clock.ManualClock` at
  2024-01-01 00:00 UTC, which the test sets (``.now = ...``) or moves (``.advance(days=30)``);
- ``loyalty_program``: the program of the test, from the ``loyalty_program`` marker
  (``@pytest.mark.loyalty_program("programs/grocer.toml")``, relative to the test's
  file), else the ``--loyalty-program PATH`` option, else the ``loyalty_program``
  ini option (relative to the ini file); a file of versions gives its latest;
- ``loyalty_engine``: an :class:`~loyalty.Engine` on that program (all its
  versions) and clock, over a fresh store: memory by default, or what
  ``--loyalty-store`` names (``sqlite`` for a new file per test, a
  ``postgresql://`` URL for a new schema per test, dropped after it);
- every ``*.loyalty.toml`` file collected, each scenario a test named after it
  (:mod:`loyalty.scenarios`), run on the same stores.

The kit's helper modules are registered for assertion rewriting, so their
``assert`` statements explain themselves (:mod:`loyalty.testing.assertions`).
This module imports nothing of the engine's beyond the package itself until a
fixture or a scenario file is used.
"""

from __future__ import annotations

import pkgutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from loyalty.engine import Engine
    from loyalty.program import Program
    from loyalty.store import Store
    from loyalty.testing.clock import ManualClock

__all__ = [
    "loyalty_clock",
    "loyalty_engine",
    "loyalty_program",
    "loyalty_store",
    "pytest_addoption",
    "pytest_collect_file",
    "pytest_configure",
]


def _helper_modules() -> list[str]:
    # By name, without importing them: a module already imported could no longer be rewritten.
    package = sys.modules[__name__.rpartition(".")[0]]
    names = [f"{package.__name__}.{module.name}" for module in pkgutil.iter_modules(package.__path__)]
    return [name for name in names if name not in sys.modules]


pytest.register_assert_rewrite(*_helper_modules())

#: The marker naming a test's program file.
MARKER = "loyalty_program"
SUFFIX = ".loyalty.toml"  # loyalty.scenarios.format.SUFFIX, kept here so that collecting imports nothing


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("loyalty", "loyalty-engine test kit")
    group.addoption(
        "--loyalty-store",
        metavar="URL",
        default=None,
        help="the store of loyalty_engine and of scenario files, fresh for each test: memory (default), "
        "sqlite (a new file per test) or a postgresql:// URL (a new schema per test, dropped after)",
    )
    group.addoption(
        "--loyalty-program",
        metavar="PATH",
        default=None,
        help="the program file of loyalty_program and loyalty_engine (a marker on a test overrides it)",
    )
    parser.addini(MARKER, "the program file of loyalty_program and loyalty_engine, relative to the ini file")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(path): the test's program file, relative to the test's file (loyalty-engine)"
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if not file_path.name.endswith(SUFFIX):
        return None
    from loyalty.testing.scenario_items import ScenarioFileCollector

    collector: pytest.Collector = ScenarioFileCollector.from_parent(parent, path=file_path)
    return collector


def _program_path(request: pytest.FixtureRequest) -> Path:
    marker = request.node.get_closest_marker(MARKER)
    if marker is not None:
        if len(marker.args) != 1 or not isinstance(marker.args[0], str | Path):
            raise pytest.UsageError(f"@pytest.mark.{MARKER} takes one path, got {marker.args!r}")
        return Path(request.node.path).parent / str(marker.args[0])
    config = request.config
    option = config.getoption("loyalty_program")
    if option:
        return Path(config.invocation_params.dir) / str(option)
    ini = config.getini(MARKER)
    if ini:
        return (config.inipath.parent if config.inipath else config.rootpath) / str(ini)
    raise pytest.UsageError(
        f"loyalty_program: name the program file with @pytest.mark.{MARKER}(PATH), "
        f"--loyalty-program PATH or the {MARKER} ini option"
    )


@pytest.fixture
def loyalty_clock() -> ManualClock:
    """A clock at 2024-01-01 00:00 UTC that the test sets or moves; ``loyalty_engine`` reads it."""
    from datetime import UTC, datetime

    from loyalty.testing.clock import ManualClock

    return ManualClock(datetime(2024, 1, 1, tzinfo=UTC))


@pytest.fixture
def _loyalty_versions(request: pytest.FixtureRequest) -> tuple[Program, ...]:
    from loyalty.config import load_programs

    return load_programs(_program_path(request))


@pytest.fixture
def loyalty_program(_loyalty_versions: tuple[Program, ...]) -> Program:
    """The test's program (the latest version of a file of versions)."""
    return _loyalty_versions[-1]


@pytest.fixture
def loyalty_store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """A fresh store of the kind ``--loyalty-store`` names (memory by default), closed after the test."""
    from loyalty.testing.stores import fresh_store

    with fresh_store(request.config.getoption("loyalty_store")) as store:
        yield store


@pytest.fixture
def loyalty_engine(
    _loyalty_versions: tuple[Program, ...], loyalty_store: Store, loyalty_clock: ManualClock
) -> Engine:
    """An engine on the test's program and ``loyalty_clock``, over ``loyalty_store``."""
    from loyalty.engine import Engine

    versions: Any = _loyalty_versions[0] if len(_loyalty_versions) == 1 else _loyalty_versions
    return Engine(versions, loyalty_store, clock=loyalty_clock)
