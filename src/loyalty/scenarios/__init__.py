"""Scenario files: a merchant's program checked by stories of members, written as data.

A scenario file (``*.loyalty.toml``, :mod:`loyalty.scenarios.format`) names a
program and tells, step by step, what members do and what must come of it:

>>> import tomllib
>>> document = scenario_file_from_dict(tomllib.loads('''
... format = 1
... start = 2024-03-05T10:00:00+01:00
... program = {name = "Club", currency = "EUR"}
...
... [[scenarios]]
... name = "a cake earns a point per euro"
...
... [[scenarios.steps]]
... enroll = {member = "M1"}
...
... [[scenarios.steps]]
... purchase = {id = "P1", member = "M1", lines = [{sku = "cake", quantity = 3, unit_price = "4.15"}]}
... expect = {points = 13}
... '''))
>>> outcome = run_scenario(document, document.scenarios[0])
>>> outcome.passed
False
>>> print(outcome.failure.report())
steps[1] (purchase P1):
  points: expected 13, got 12
  explanation:
    Purchase P1: 12.45 EUR
      base (1 point per 1 EUR on cake 12.45)                          +12.45
      rounding (floor)                                                 -0.45
      points earned                                                       12

pytest runs each scenario as a test (the plugin :mod:`loyalty.testing.plugin`
collects the files); ``loyalty check FILE...`` runs them without pytest. The
JSON Schema of the format is :func:`scenario_file_schema` (``loyalty check
--schema``), and ``docs/testing-your-program.md`` is the guide.
"""

from __future__ import annotations

from loyalty.scenarios.format import FORMAT, SUFFIX, ScenarioFile, load_scenario_file, scenario_file_from_dict
from loyalty.scenarios.running import Failure, Mismatch, Outcome, run_scenario
from loyalty.scenarios.schema import scenario_file_schema

__all__ = [
    "FORMAT",
    "SUFFIX",
    "Failure",
    "Mismatch",
    "Outcome",
    "ScenarioFile",
    "load_scenario_file",
    "run_scenario",
    "scenario_file_from_dict",
    "scenario_file_schema",
]
