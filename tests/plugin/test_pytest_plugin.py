"""The pytest plugin in a project of its own (pytester): its fixtures, stores and helpers.

Each run names the plugin with ``-p loyalty.testing.plugin``, which is the plugin the
``pytest11`` entry point loads in an installed environment (the same name, so both at once
are one plugin); an editable install made before the entry point existed has only the former.
"""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tests.pg import postgres_dsn

PLUGIN = ("-p", "loyalty.testing.plugin")
CLUB = 'name = "Club"\ncurrency = "EUR"\n'
DOUBLE = 'name = "Double Club"\ncurrency = "EUR"\nrate = {points = 2, per = "1.00"}\n'

TESTS = """
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from loyalty import Line, Purchase
from loyalty.testing.assertions import assert_balance, assert_points


def cake(engine, clock, pid="P1"):
    return engine.record_purchase(Purchase(pid, "M1", clock(), [Line("cake", 3, Decimal("4.15"))], "EUR"))


def test_the_ini_program(loyalty_engine, loyalty_clock, loyalty_program):
    loyalty_clock.advance(days=1)
    loyalty_engine.enroll("M1", at=loyalty_clock())
    assert_points(cake(loyalty_engine, loyalty_clock), {ini})
    assert_balance(loyalty_engine, "M1", available={ini}, pending=0)
    assert loyalty_engine.history("M1")[0].recorded_at == datetime(2024, 1, 2, tzinfo=timezone.utc)


@pytest.mark.loyalty_program("programs/double.toml")
def test_a_marked_program(loyalty_engine, loyalty_clock, loyalty_program):
    assert loyalty_program.name == "Double Club"
    loyalty_engine.enroll("M1", at=loyalty_clock())
    assert_points(cake(loyalty_engine, loyalty_clock), 24)


def test_a_fresh_store(loyalty_engine, loyalty_clock, loyalty_store):
    loyalty_engine.enroll("M1", at=loyalty_clock())
    assert loyalty_engine.history("M1") == []
    assert type(loyalty_store).__name__ == "{store}"
"""


def project(pytester: pytest.Pytester, ini: int = 12, store: str = "MemoryStore") -> None:
    pytester.mkdir("programs")
    (pytester.path / "programs" / "club.toml").write_text(CLUB, encoding="utf-8")
    (pytester.path / "programs" / "double.toml").write_text(DOUBLE, encoding="utf-8")
    pytester.makeini("[pytest]\nloyalty_program = programs/club.toml\n")
    pytester.makepyfile(test_club=TESTS.replace("{ini}", str(ini)).replace("{store}", store))


def test_the_fixtures_read_the_program_from_the_ini_file_or_a_marker(pytester: pytest.Pytester) -> None:
    project(pytester)
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=3)


def test_the_command_line_names_another_program_and_a_marker_still_wins(pytester: pytest.Pytester) -> None:
    project(pytester, ini=24)
    pytester.runpytest(*PLUGIN, "--loyalty-program", "programs/double.toml").assert_outcomes(passed=3)


def test_the_same_tests_run_on_sqlite_each_in_a_fresh_store(pytester: pytest.Pytester) -> None:
    project(pytester, store="SQLiteStore")
    pytester.runpytest(*PLUGIN, "--loyalty-store", "sqlite").assert_outcomes(passed=3)


def test_a_failed_helper_shows_expected_and_actual_points_and_the_receipt(pytester: pytest.Pytester) -> None:
    project(pytester, ini=13)
    result = pytester.runpytest(*PLUGIN, "-k", "ini_program")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: points of P1: expected 13, got 12",
            "*Purchase P1: 12.45 EUR",
            "*base (1 point per 1 EUR on cake 12.45)*+12.45",
            "*points earned*12",
        ]
    )


def test_a_test_without_a_program_is_told_how_to_name_one(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_it(loyalty_program):\n    pass\n")
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*loyalty_program: name the program file with @pytest.mark.loyalty_program*"]
    )


def test_an_unknown_store_kind_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_it(loyalty_store):\n    pass\n")
    result = pytester.runpytest(*PLUGIN, "--loyalty-store", "mysql://shop")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*--loyalty-store: 'mysql://shop' is not memory, sqlite or a postgresql:// URL"]
    )


@pytest.mark.postgres
def test_on_postgresql_each_test_gets_a_schema_of_its_own_dropped_after(pytester: pytest.Pytester) -> None:
    import psycopg

    dsn = postgres_dsn()

    def schemas() -> set[str]:
        with psycopg.connect(dsn) as conn:
            rows = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'loyalty_test_%'")
            return {name for (name,) in rows.fetchall()}

    project(pytester, store="PostgresStore")
    # Each test notes its own schema: other suites may be making and dropping theirs meanwhile.
    pytester.makeconftest(
        "import pytest\n\n\n@pytest.fixture(autouse=True)\ndef note_schema(loyalty_store):\n"
        "    with open('schemas.txt', 'a') as noted:\n        noted.write(loyalty_store.schema + '\\n')\n"
    )
    pytester.runpytest(*PLUGIN, "--loyalty-store", dsn).assert_outcomes(passed=3)
    used = set((pytester.path / "schemas.txt").read_text().split())
    assert len(used) == 3 and all(name.startswith("loyalty_test_") for name in used)
    assert used.isdisjoint(schemas())


def test_loading_the_plugin_imports_nothing_of_the_engine() -> None:
    # What pytest pays in every project that has the kit installed, before any fixture is used:
    # the package's own module, the kit's guard and the plugin, never the engine, rules or stores.
    code = (
        "import sys, loyalty.testing.plugin;"
        "print(sorted(m for m in sys.modules if m == 'loyalty' or m.startswith('loyalty.')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert ast.literal_eval(loaded.stdout) == ["loyalty", "loyalty.testing", "loyalty.testing.plugin"]
