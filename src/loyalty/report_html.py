"""A :class:`~loyalty.report.Report` as one HTML file that opens offline: charts drawn by
matplotlib as SVG, written into the page itself (no script, no font, no address to fetch).

matplotlib is the ``report`` extra (``pip install 'loyalty-engine[report]'``), imported only
when a report is drawn: without it :func:`render` raises :class:`~loyalty.errors.MissingExtra`
with that hint. The page forbids itself every fetch (a Content-Security-Policy of
``default-src 'none'``), so a page that looks right offline is the page every reader sees.

The charts, each a ``<figure class="chart">`` with its id: ``points`` (issued, redeemed and
expired per period), ``liability`` (outstanding points valued at the end of each period),
``tiers`` (members per tier), ``retention`` (retention per period and members at risk) and
``rules`` (points per rule); each program of the report is one series in each. A chart with
nothing to draw (a program without tiers) is replaced by a sentence saying so.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from loyalty.errors import MissingExtra
from loyalty.report import Period, Report, Share, Side

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["INSTALL_HINT", "render", "require", "write"]

INSTALL_HINT = "pip install 'loyalty-engine[report]'"

# One colour and line style per side: current solid blue, proposed dashed orange.
_STYLES = (("#1f77b4", "-"), ("#ff7f0e", "--"), ("#2ca02c", ":"))
_WIDTH = 9.0
_LABELS = 12
_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}
_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.DOTALL)
_NAMESPACES = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')
_IDS = re.compile(r'\bid="([^"]+)"')
# An id, or a reference to one (xlink:href="#...", url(#...)).
_ID_OR_REFERENCE = re.compile(r'(\bid="|href="#|url\(#)([^")]+)')


@attrs.frozen
class _Chart:
    id: str
    title: str
    svg: str | None
    note: str = ""


def require() -> None:
    """Raise :class:`~loyalty.errors.MissingExtra`, with the install hint, if matplotlib is
    missing: a command checks before its long work, not after."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise MissingExtra(
            "report", f"the HTML report draws its charts with matplotlib: {INSTALL_HINT} ({exc})"
        ) from exc


def _figure(
    panels: int, height: float = 2.4, *, left: float = 0.7, legend: bool = False, dates: bool = True
) -> tuple[Figure, list[Axes]]:
    """A figure of ``panels`` side by side, margins in inches (``left`` for the labels of the
    vertical axis; below, room for slanted dates and a legend). Fixed margins, not matplotlib's
    layout engines: they take a third of the drawing time."""
    require()
    from matplotlib.figure import Figure

    bottom = (0.75 if dates else 0.4) + (0.3 if legend else 0)
    figure = Figure(figsize=(_WIDTH, height + bottom))
    axes = figure.subplots(1, panels, squeeze=False)[0]
    total = height + bottom
    figure.subplots_adjust(
        left=left / _WIDTH, right=1 - 0.2 / _WIDTH, bottom=bottom / total, top=1 - 0.35 / total, wspace=0.35
    )
    return figure, list(axes)


def _svg(figure: Figure, chart: str) -> str:
    """The figure as an ``<svg>`` element for the page: no XML prolog, no metadata, and its ids
    prefixed with the chart's, so the charts of one page never share one."""
    from matplotlib import rc_context
    from matplotlib.text import Text

    out = io.StringIO()
    # Names are the merchant's, drawn as written: "$5 off when you spend $50" is no formula
    # (matplotlib reads text between two "$" as one, and raises on "$$"). The texts made so far
    # are told so, and those made as the figure is drawn are made so.
    for label in figure.findobj(Text):
        label.set_parse_math(False)
    # The salt makes the ids matplotlib derives from it the same from run to run.
    with rc_context({"svg.hashsalt": chart, "svg.fonttype": "path", "text.parse_math": False}):
        figure.savefig(out, format="svg", metadata=_METADATA)
    text = _PROLOG.sub("", out.getvalue(), count=1)
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.DOTALL)
    # An <svg> inside HTML is in the SVG namespace without saying so: the declarations are the
    # only addresses matplotlib writes, and the page has none.
    text = _NAMESPACES.sub("", text)
    ids = set(_IDS.findall(text))

    def prefixed(found: re.Match[str]) -> str:
        name = found.group(2)
        return f"{found.group(1)}{chart}-{name}" if name in ids else found.group(0)

    return _ID_OR_REFERENCE.sub(prefixed, text).strip()


def _ticks(axes: Axes, periods: Sequence[Period], most: int) -> None:
    """Period starts as labels (months as ``2024-03``), at most ``most`` of them."""
    monthly = (
        len(periods) > 1
        and all(p.start.day == 1 for p in periods[1:])
        and periods[1].start.month != periods[0].start.month
    )
    labels = [p.start.strftime("%Y-%m" if monthly else "%Y-%m-%d") for p in periods]
    every = max(1, -(-len(labels) // most))
    axes.set_xticks(range(0, len(labels), every), labels[::every], rotation=30, ha="right", fontsize=8)


def _lines(
    axes: Axes,
    sides: Sequence[Side],
    value: Callable[[Period], Decimal | None],
    title: str,
    unit: str,
    *,
    labels: int = _LABELS,
) -> None:
    drawn: list[float] = []
    for number, side in enumerate(sides):
        colour, style = _STYLES[number % len(_STYLES)]
        points = [value(period) for period in side.periods]
        shown = [float("nan") if point is None else float(point) for point in points]
        drawn += [point for point in shown if point == point]
        axes.plot(range(len(shown)), shown, style, color=colour, marker="o", markersize=3, label=side.label)
    # Counts and money start at zero; a series of zeros would otherwise sit mid-axis.
    if not drawn or min(drawn) >= 0:
        axes.set_ylim(bottom=0, top=None if drawn and max(drawn) > 0 else 1)
    axes.set_title(title, fontsize=10)
    axes.set_ylabel(unit, fontsize=8)
    axes.grid(True, alpha=0.3)
    _ticks(axes, sides[0].periods, labels)


def _bars(
    axes: Axes, sides: Sequence[Side], shares: Callable[[Side], dict[str, Decimal]], title: str
) -> None:
    """One group of bars per key (a tier, a rule), one bar per side, drawn across."""
    keys = list(dict.fromkeys(key for side in sides for key in shares(side)))
    height = 0.8 / len(sides)
    for number, side in enumerate(sides):
        colour, _ = _STYLES[number % len(_STYLES)]
        found = shares(side)
        values = [float(found.get(key, Decimal(0))) for key in keys]
        where = [index + (number - (len(sides) - 1) / 2) * height for index in range(len(keys))]
        axes.barh(where, values, height=height, color=colour, label=side.label)
    axes.set_yticks(range(len(keys)), keys, fontsize=8)
    axes.invert_yaxis()
    axes.set_title(title, fontsize=10)
    axes.grid(True, axis="x", alpha=0.3)


def _label_room(labels: set[str]) -> float:
    """Inches for bar labels as long as the longest of ``labels``, at the ticks' 8 points (a
    third of the width at most)."""
    return min(_WIDTH / 3, 0.3 + 0.075 * max((len(label) for label in labels), default=4))


def _legend(figure: Figure, axes: Axes, sides: Sequence[Side]) -> None:
    if len(sides) > 1:
        figure.legend(
            *axes.get_legend_handles_labels(), loc="lower center", ncols=len(sides), fontsize=8, frameon=False
        )


def _points(report: Report) -> _Chart:
    figure, axes = _figure(3, legend=len(report.sides) > 1)
    for panel, (title, value) in zip(
        axes,
        (
            ("issued", lambda p: p.issued),
            ("redeemed", lambda p: p.redeemed),
            ("expired", lambda p: p.expired),
        ),
        strict=True,
    ):
        _lines(panel, report.sides, value, f"points {title}", "points", labels=_LABELS // 3)
    _legend(figure, axes[0], report.sides)
    return _Chart("points", "Points issued, redeemed and expired per period", _svg(figure, "points"))


def _liability(report: Report) -> _Chart:
    priced = all(p.liability is not None for side in report.sides for p in side.periods)
    figure, axes = _figure(1, legend=len(report.sides) > 1)
    if priced:
        _lines(
            axes[0],
            report.sides,
            lambda p: p.liability,
            "liability at the end of each period",
            report.currency,
        )
        title = f"Liability: outstanding points at the value of a point, in {report.currency}"
    else:
        _lines(
            axes[0],
            report.sides,
            lambda p: p.outstanding,
            "points outstanding at the end of each period",
            "points",
        )
        title = "Points outstanding (no point value was given to price them)"
    _legend(figure, axes[0], report.sides)
    return _Chart("liability", title, _svg(figure, "liability"))


def _shares(
    report: Report, chart: str, title: str, pick: Callable[[Side], tuple[Share, ...]], empty: str, unit: str
) -> _Chart:
    """Bars across, a group per share's name (the same tier or rule in each program), a bar per side."""
    if not any(pick(side) for side in report.sides):
        return _Chart(chart, title, None, empty)
    names = {share.name for side in report.sides for share in pick(side)}
    figure, axes = _figure(
        1, 0.3 + 0.4 * len(names), left=_label_room(names), legend=len(report.sides) > 1, dates=False
    )
    _bars(axes[0], report.sides, lambda side: {share.name: share.value for share in pick(side)}, unit)
    _legend(figure, axes[0], report.sides)
    return _Chart(chart, title, _svg(figure, chart))


def _tiers(report: Report) -> _Chart:
    return _shares(
        report, "tiers", "Members per tier", lambda side: side.tiers, "The program has no tiers.", "members"
    )


def _retention(report: Report) -> _Chart:
    known = [side for side in report.sides if side.at_risk is not None]
    figure, axes = _figure(2 if known else 1, legend=len(report.sides) > 1)
    _lines(
        axes[0],
        report.sides,
        lambda p: None if p.retention_rate is None else p.retention_rate * 100,
        "retention rate (active again of those active the period before)",
        "%",
        labels=_LABELS // 2 if known else _LABELS,
    )
    if known:
        for number, side in enumerate(known):
            colour, _ = _STYLES[number % len(_STYLES)]
            axes[1].bar([number], [side.at_risk or 0], color=colour, label=side.label)
        axes[1].set_xticks(range(len(known)), [side.label for side in known], fontsize=8)
        axes[1].set_ylim(0, max(1, *(side.at_risk or 0 for side in known)) * 1.1)
        axes[1].set_title("members at risk at the end", fontsize=10)
        axes[1].grid(True, axis="y", alpha=0.3)
    _legend(figure, axes[0], report.sides)
    return _Chart("retention", "Retention and members at risk", _svg(figure, "retention"))


def _rules(report: Report) -> _Chart:
    return _shares(
        report,
        "rules",
        "Points per rule (what each rule, each campaign, gave)",
        lambda side: side.rules,
        "No rule gave points in the period.",
        "points",
    )


def _total(side: Side, pick: Callable[[Period], Decimal | None]) -> str:
    values = [pick(period) for period in side.periods]
    return "-" if any(value is None for value in values) else f"{sum(v for v in values if v is not None):f}"


def _summary(report: Report) -> str:
    rows: list[tuple[str, Callable[[Side], str]]] = [
        ("points issued", lambda side: _total(side, lambda p: p.issued)),
        ("points redeemed", lambda side: _total(side, lambda p: p.redeemed)),
        ("points expired", lambda side: _total(side, lambda p: p.expired)),
        (
            "points outstanding at the end",
            lambda side: f"{side.periods[-1].outstanding:f}" if side.periods else "-",
        ),
        (
            f"liability at the end ({report.currency})",
            lambda side: (
                "-"
                if not side.periods or side.periods[-1].liability is None
                else f"{side.periods[-1].liability:f}"
            ),
        ),
        ("members at risk at the end", lambda side: "-" if side.at_risk is None else str(side.at_risk)),
    ]
    head = "".join(f"<th>{escape(side.label)}</th>" for side in report.sides)
    body = "".join(
        f"<tr><th>{escape(label)}</th>"
        + "".join(f"<td>{escape(cell(side))}</td>" for side in report.sides)
        + "</tr>"
        for label, cell in rows
    )
    return f'<table class="summary"><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>'


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222;
       padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; } p.span { color: #555; margin-top: 0; }
table.summary { border-collapse: collapse; margin: 1rem 0 2rem; }
table.summary th, table.summary td { padding: 0.25rem 0.8rem; border-bottom: 1px solid #ddd;
                                     text-align: right; }
table.summary tbody th { text-align: left; font-weight: normal; }
figure.chart { margin: 0 0 2rem; } figure.chart svg { width: 100%; height: auto; }
figcaption, p.caption { font-weight: 600; margin-bottom: 0.4rem; }
section.note { margin: 0 0 2rem; } section.note p:not(.caption) { color: #555; }
"""


def render(report: Report) -> str:
    """The report as the text of one HTML page (raises :class:`~loyalty.errors.MissingExtra`
    without matplotlib)."""
    charts = [make(report) for make in (_points, _liability, _tiers, _retention, _rules)]
    parts = []
    for chart in charts:
        if chart.svg is None:
            parts.append(
                f'<section class="note" id="chart-{chart.id}"><p class="caption">{escape(chart.title)}</p>'
                f"<p>{escape(chart.note)}</p></section>"
            )
        else:
            parts.append(
                f'<figure class="chart" id="chart-{chart.id}"><figcaption>{escape(chart.title)}</figcaption>'
                f"{chart.svg}</figure>"
            )
    body = "\n".join(parts)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(report.title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{escape(report.title)}</h1>
<p class="span">{escape(report.subtitle)}</p>
{_summary(report)}
{body}
</body>
</html>
"""


def write(report: Report, path: str | Path) -> None:
    """The report's page written to ``path`` (UTF-8), drawn in full before the file is opened."""
    page = render(report)
    Path(path).write_text(page, encoding="utf-8")
