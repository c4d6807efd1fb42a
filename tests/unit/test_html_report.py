"""The HTML report: every chart drawn into one page that fetches nothing; the missing extra's hint
(a page with nothing to draw for a chart: tests/cli/test_report.py)."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs
import pytest

from loyalty import report_html
from loyalty.errors import LoyaltyError, MissingExtra
from loyalty.report import Period, Report, Share, Side
from tests.extras import need_matplotlib

START = datetime(2024, 1, 1, tzinfo=UTC)


def _side(label: str, issued: int, *, tiers: bool = True, at_risk: int | None = 3) -> Side:
    periods = tuple(
        Period(
            START + timedelta(weeks=n),
            START + timedelta(weeks=n + 1),
            Decimal(issued + n),
            Decimal(n),
            Decimal(0),
            Decimal(10 * n),
            None if at_risk is None else Decimal(n) / 10,
            n,
            None if n == 0 else Decimal("0.5"),
        )
        for n in range(6)
    )
    levels = (Share("member", "Member", Decimal(7)), Share("gold", "Gold", Decimal(2))) if tiers else ()
    return Side(label, periods, levels, (Share("base", "Base <rate>", Decimal(120)),), at_risk)


def _report(*sides: Side) -> Report:
    return Report("Club & co: figures", "January", "EUR", START, START + timedelta(weeks=6), sides)


def test_every_chart_is_drawn_into_a_page_that_fetches_nothing() -> None:
    need_matplotlib()
    page = report_html.render(_report(_side("current", 10), _side("proposed", 12)))
    charts = re.findall(r'<figure class="chart" id="chart-(\w+)"><figcaption>[^<]*</figcaption><svg\b', page)
    assert charts == ["points", "liability", "tiers", "retention", "rules"]
    assert not re.search(r"https?:|//", page) and "<script" not in page and "<img" not in page
    assert "default-src 'none'" in page  # any fetch the page tried would be refused, and logged
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "two charts share an id"
    references = set(re.findall(r'(?:href="#|url\(#)([^")]+)', page))
    assert references and references <= set(ids)
    assert "Club &amp; co: figures" in page and "Base &lt;rate&gt;" in page
    # Both programs are drawn: a line each in every panel over time.
    assert page.count("current") >= 5 and page.count("proposed") >= 5


def test_without_matplotlib_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes the import fail, as for a package never installed.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingExtra) as missing:
        report_html.render(_report(_side("Club 1", 10)))
    assert isinstance(missing.value, LoyaltyError) and isinstance(missing.value, ImportError)
    assert missing.value.field == "report"
    assert "pip install 'loyalty-engine[report]'" in str(missing.value)


@pytest.mark.parametrize("name", ["$5 off when you spend $50", "Happy hour $$"])
def test_a_name_with_dollar_signs_is_drawn_as_written_not_as_a_formula(name: str) -> None:
    need_matplotlib()
    side = _side("current", 10)
    page = report_html.render(_report(attrs.evolve(side, rules=(Share("five", name, Decimal(120)),))))
    # Drawn as a formula, the text between two "$" came out in italics (the oblique face's
    # glyphs), and "$$" raised ValueError.
    assert "Oblique" not in page
    assert re.findall(r'<figure class="chart" id="chart-(\w+)">', page)[-1] == "rules"
