"""loyalty report: a period's figures from a store, or an error that writes nothing."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from loyalty import Engine, InvalidInput, Line, Program, Purchase, PurchaseBonus, SpendRule, open_store
from loyalty.cli import main
from loyalty.store import Store
from tests.cli.helpers import outside_references, run_cli
from tests.extras import need_matplotlib
from tests.paths import EXAMPLES

START = datetime(2024, 3, 1, tzinfo=UTC)


END = START + timedelta(days=30)
# The demo's first two weeks (from 1 January 2024), into a store for the report to read.
_TWO_WEEKS = ("--members", "20", "--weeks", "2", "--seed", "3", "--no-html")


def test_loyalty_report_prints_the_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.db"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["demo", "--db", str(path), *_TWO_WEEKS]) == 0
    url = f"sqlite:///{path}"
    assert (
        main(
            [
                "report",
                url,
                "--from",
                "2024-01-01T00:00:00+00:00",
                "--to",
                "2024-01-15T00:00:00+00:00",
                "--point-value",
                "0.01",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    for label in (
        "members enrolled",
        "retention rate",
        "points outstanding",
        "liability",
        "estimated lifetime value",
    ):
        assert label in out
    store = open_store(url)
    try:
        engine = Engine(Program.from_dict(_stored(store)), store)
        found = engine.figures(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 15, tzinfo=UTC))
    finally:
        store.close()
    assert f"{found.active} (before: {found.active_before}" in out
    assert (
        main(["report", url, "--from", "2024-01-15T00:00:00+00:00", "--to", "2024-01-01T00:00:00+00:00"]) == 2
    )


def _stored(store: Store) -> dict[str, object]:
    with store.unit_of_work(readonly=True) as uow:
        return uow.program_versions()[-1].body


def test_bad_report_inputs_write_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.db"
    assert (
        main(
            [
                "report",
                f"sqlite:///{missing}",
                "--from",
                "2024-01-01T00:00:00Z",
                "--to",
                "2024-02-01T00:00:00Z",
            ]
        )
        == 2
    )
    assert not missing.exists()
    assert "error: store: no SQLite file" in capsys.readouterr().err
    engine = Engine(Program("Club", "EUR"), open_store("memory://"))
    with pytest.raises(InvalidInput) as info:
        engine.figures(START, END, point_value=Decimal("1e30"))
    assert info.value.field == "point_value"


def test_report_takes_the_store_as_the_other_commands_do_and_prints_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.db"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["demo", "--db", str(path), *_TWO_WEEKS]) == 0
    url = f"sqlite:///{path}"
    period = ["--from", "2024-01-01T00:00:00+00:00", "--to", "2024-01-15T00:00:00+00:00"]
    assert main(["report", url, *period]) == 0
    text = capsys.readouterr().out
    assert main(["report", "--store", url, *period]) == 0
    assert capsys.readouterr().out == text
    monkeypatch.setenv("LOYALTY_STORE_URL", url)
    assert main(["report", *period, "--json", "--point-value", "0.01"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["program"] == "FreshWay Club"
    assert figures["start"] == "2024-01-01T00:00:00+00:00"
    assert f"points issued             {figures['issued']}\n" in text
    assert figures["liability"]["currency"] == "EUR"
    # Without --point-value the program's own (FreshWay's 0.01) prices the liability, as the HTML
    # report and simulate price it.
    assert main(["report", *period, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["liability"] == figures["liability"]
    assert f"liability                 {figures['liability']['amount']}" in text
    assert main(["report", url, "--store", f"{url}-other", *period]) == 2
    assert capsys.readouterr().err == "error: store: give the store once: STORE_URL or --store\n"


def test_report_dates_are_whole_days_in_the_programs_timezone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'days.db'}"
    store = open_store(url)
    try:
        # Enrolled and buying late on 31 March in Amsterdam: already 1 April in UTC.
        engine = Engine(Program("Canal Club", "EUR", timezone="Europe/Amsterdam"), store)
        at = datetime.fromisoformat("2024-03-31T23:30:00+02:00")
        engine.enroll("M1", at=at)
        engine.record_purchase(Purchase("P1", "M1", at, [Line("tea", 1, Decimal("2.50"))], "EUR"))
        engine.enroll("M2", at=at)
        engine.transfer("M1", "M2", 2, id="X1", at=at)
    finally:
        store.close()
    assert main(["report", url, "--from", "2024-03-01", "--to", "2024-03-31", "--json"]) == 0
    march = json.loads(capsys.readouterr().out)
    assert (march["start"], march["end"]) == ("2024-03-01T00:00:00+01:00", "2024-04-01T00:00:00+02:00")
    assert (march["members"], march["purchases"]) == (2, 1)
    assert (march["transferred_out"], march["transferred_in"], march["outstanding"]) == (2, 2, 2)
    assert main(["report", url, "--from", "2024-03-01", "--to", "2024-03-31"]) == 0
    assert "  points transferred        2 out, 2 in\n" in capsys.readouterr().out
    assert main(["report", url, "--from", "2024-04-01", "--to", "2024-04-01", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["purchases"] == 0
    with pytest.raises(SystemExit) as exit_info:
        main(["report", url, "--from", "2024-02-30", "--to", "2024-03-31"])
    assert exit_info.value.code == 2
    assert "argument --from: '2024-02-30' is not a date" in capsys.readouterr().err


def test_another_programs_file_is_refused_on_a_stores_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "grocer.db"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["demo", "--db", str(path), "--members", "5", "--weeks", "1", "--no-html"]) == 0
    hotel = EXAMPLES / "hotel.toml"
    refused = (
        f"error: program: {hotel} is 'Harbour View Hotels' (EUR), "
        "but the store holds the data of 'FreshWay Club' (EUR)\n"
    )
    period = ["--from", "2024-03-01", "--to", "2024-03-31"]
    for command in (["report", *period], ["run-due"], ["member", "show", "M00001"], ["events"]):
        before = path.read_bytes()
        assert main([*command, "--store", f"sqlite:///{path}", "--program", str(hotel)]) == 2
        assert capsys.readouterr() == ("", refused)
        assert path.read_bytes() == before


def test_a_last_day_past_the_calendar_is_refused_by_field_not_with_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'far.db'}"
    with open_store(url) as store:
        engine = Engine(Program("Club", "EUR"), store)
        engine.enroll("M1", at=START)
        engine.record_purchase(Purchase("P1", "M1", START, [Line("tea", 1, Decimal("2.50"))], "EUR"))
    # The day after 9999-12-31, where the period would end, is no date.
    assert main(["report", url, "--from", "2024-01-01", "--to", "9999-12-31"]) == 2
    assert capsys.readouterr().err == "error: --to: must lie in the years 1900 to 9998, got 9999-12-31\n"
    # A period backwards is told as typed, by its options.
    assert main(["report", url, "--from", "2024-02-01", "--to", "2024-01-01"]) == 2
    assert capsys.readouterr().err == "error: --to: must be after --from (2024-02-01), got 2024-01-01\n"


def _small_store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'html.db'}"
    store = open_store(url)
    try:
        engine = Engine(Program("Canal Club", "EUR", timezone="Europe/Amsterdam"), store)
        for day in range(1, 20, 3):
            at = datetime(2024, 3, day, 10, tzinfo=UTC)
            member = f"M{day % 2}"
            if day < 3:
                engine.enroll("M0", at=at)
                engine.enroll("M1", at=at)
            engine.record_purchase(Purchase(f"P{day}", member, at, [Line("tea", 3, Decimal("4.50"))], "EUR"))
    finally:
        store.close()
    return url


def test_report_html_writes_one_page_that_needs_no_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    need_matplotlib()
    url = _small_store(tmp_path)
    page = tmp_path / "march.html"
    period = ["--from", "2024-03-01", "--to", "2024-03-31"]
    status, out, err = run_cli(capsys, "report", url, *period, "--html", str(page))
    assert (status, err) == (0, f"HTML report written to {page}\n")
    assert "points issued" in out  # the text report, as without --html
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<title>Canal Club: figures</title>" in html
    assert html.count("<svg") == 4  # points, liability, retention, rules; no tiers to draw
    # What there is nothing to draw for is said: no tiers, and no point value to price points with.
    assert '<section class="note" id="chart-tiers">' in html and "The program has no tiers." in html
    assert "Points outstanding (no point value was given to price them)" in html
    assert outside_references(html) == []


def test_report_html_without_the_extra_names_it_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _small_store(tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if never installed
    page = tmp_path / "march.html"
    status, out, err = run_cli(
        capsys, "report", url, "--from", "2024-03-01", "--to", "2024-03-31", "--html", str(page)
    )
    assert (status, out) == (2, "")
    assert err.startswith("error: report: the HTML report draws its charts with matplotlib: ")
    assert "pip install 'loyalty-engine[report]'" in err
    assert not page.exists()
    status, out, err = run_cli(
        capsys,
        "report",
        url,
        "--from",
        "2024-03-01",
        "--to",
        "2024-03-31",
        "--html",
        str(tmp_path / "no" / "r.html"),
    )
    assert status == 2 and "pip install 'loyalty-engine[report]'" in err  # the extra is checked first


def test_report_prints_the_points_of_each_rule_and_what_a_budget_has_spent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    spring = PurchaseBonus(id="spring", name="Spring week", points=5, budget=8)
    with Engine(Program("Club", "EUR", rules=[spring]), open_store(url), clock=lambda: START) as engine:
        engine.enroll("a", at=START)
        engine.record_purchase(Purchase("P1", "a", START, [Line("goods", 1, Decimal("25.00"))], "EUR"))
    assert main(["report", url, "--from", "2024-03-01", "--to", "2024-03-31"]) == 0
    out = capsys.readouterr().out
    assert out.endswith(
        "Club: points by rule\n"
        "  base                  25 issued\n"
        "  Spring week (spring)  5 issued, 5 of a budget of 8 spent\n"
    )


def test_a_budget_spent_in_fractions_is_shown_to_the_hundredth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 20.00 at 1 point per 3.00 spends 6.666... of the budget: kept exact, shown as 6.67.
    url = f"sqlite:///{tmp_path / 'r.db'}"
    fuel = SpendRule(id="fuel", points=1, per=Decimal("3.00"), budget=1000)
    with Engine(
        Program("Club", "EUR", rate=None, rules=[fuel]), open_store(url), clock=lambda: START
    ) as engine:
        engine.enroll("a", at=START)
        engine.record_purchase(Purchase("P1", "a", START, [Line("fuel", 1, Decimal("20.00"))], "EUR"))
    assert main(["report", url, "--from", "2024-03-01", "--to", "2024-03-31"]) == 0
    assert capsys.readouterr().out.endswith("  fuel  6 issued, 6.67 of a budget of 1000 spent\n")
