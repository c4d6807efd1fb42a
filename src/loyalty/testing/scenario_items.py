"""Scenario files as pytest tests: the file a collector, each scenario an item named after it.

A scenario that fails is reported as ``loyalty check`` reports it: the step, each
expectation against what happened, and the step's explanation; a file with problems
fails its collection with every problem at its path. The store is the one
``--loyalty-store`` names, fresh for each scenario (:mod:`loyalty.testing.stores`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from loyalty.errors import ConfigError
from loyalty.scenarios import Failure, ScenarioFile, load_scenario_file, run_scenario
from loyalty.scenarios.format import Scenario
from loyalty.testing.stores import fresh_store

__all__ = ["ScenarioFailed", "ScenarioFileCollector", "ScenarioItem"]


class ScenarioFailed(AssertionError):
    """A scenario's step did not come out as it expected."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.report())
        self.failure = failure


class ScenarioFileCollector(pytest.File):
    """A ``*.loyalty.toml`` file: read and checked once, a test item per scenario."""

    def collect(self) -> Iterator[ScenarioItem]:
        document = load_scenario_file(self.path)
        for scenario in document.scenarios:
            yield ScenarioItem.from_parent(self, name=scenario.name, document=document, scenario=scenario)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ConfigError):
            problems = "\n".join(
                f"  {path}: {message}" if path else f"  {message}" for path, message in excinfo.value.problems
            )
            return f"{self.path}: not a valid scenario file\n{problems}"
        return str(super().repr_failure(excinfo))


class ScenarioItem(pytest.Item):
    """One scenario, run on a fresh store."""

    def __init__(self, *, document: ScenarioFile, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.document = document
        self.scenario = scenario

    def runtest(self) -> None:
        with fresh_store(self.config.getoption("loyalty_store")) as store:
            outcome = run_scenario(self.document, self.scenario, store)
        if outcome.failure is not None:
            raise ScenarioFailed(outcome.failure)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            return f"scenario {self.name!r} failed at {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"scenario: {self.name}"
