"""The HTML report opened in headless Chromium: no error logged, every chart drawn; the page is
kept in .ci/artifacts/ with its screenshot."""

from __future__ import annotations

import shutil
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from loyalty.history import Enrollment, Event, Redemption, Sale
from loyalty.reporting import of_comparison
from loyalty.rules import ProductBonus
from loyalty.whatif import simulate
from tests.extras import chromium as chromium_executable
from tests.extras import need, need_matplotlib
from tests.paths import ROOT
from tests.service.helpers import T0, sale
from tests.tiered_club import club

ARTIFACTS = ROOT / ".ci" / "artifacts"
CHARTS = ["chart-points", "chart-liability", "chart-tiers", "chart-retention", "chart-rules"]
# Each chart's <svg> laid out, with what it drew: its size on the page and its marks (paths).
DRAWN = """
[...document.querySelectorAll("figure.chart")].map(figure => {
  const svg = figure.querySelector("svg");
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  const drawn = svg ? svg.getBBox() : {width: 0, height: 0};
  return {id: figure.id, width: box.width, height: box.height, drawn: drawn.width * drawn.height,
          marks: svg ? svg.querySelectorAll("path").length : 0};
})
"""


def _history() -> list[Event]:
    day = timedelta(days=1)
    events: list[Event] = [Enrollment(f"E{n}", f"M{n}", T0) for n in range(1, 5)]
    for n in range(1, 25):
        member = f"M{n % 4 + 1}"
        events.append(
            Sale(sale(f"P{n}", f"{40 + 7 * n}.00", member=member, at=T0 + 3 * n * day, category="bakery"))
        )
    events.append(Redemption("X1", "M1", 50, T0 + 70 * day))
    return events


def test_the_report_renders_in_chromium_without_errors_and_draws_every_chart(tmp_path: Path) -> None:
    need_matplotlib()
    need("websockets")
    executable = chromium_executable()
    # Imported once known to be installed: without them the test says so rather than breaking collection.
    from loyalty import report_html
    from tests.browser import chromium

    current = club()
    bakery = ProductBonus(id="bakery", name="Bakery bonus", points=5, categories=["bakery"])
    proposed = club(program={"version": "2", "rules": [bakery]})
    found = simulate(_history(), current, proposed, point_value=Decimal("0.01"), over_time=True)
    page_file = tmp_path / "report.html"
    report_html.write(of_comparison(found, programs=(current, proposed)), page_file)

    with chromium.opened(executable, page_file.as_uri()) as page:
        assert page.evaluate("document.title") == "What-if: Club"
        charts = page.evaluate(DRAWN)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(ARTIFACTS / "html-report.png")
        errors = page.errors()
    shutil.copyfile(page_file, ARTIFACTS / "html-report.html")
    assert errors == []
    assert [chart["id"] for chart in charts] == CHARTS
    for chart in charts:
        assert chart["width"] > 500 and chart["height"] > 100, chart
        assert chart["drawn"] > 0 and chart["marks"] > 10, chart
    assert (ARTIFACTS / "html-report.png").read_bytes().startswith(b"\x89PNG")
