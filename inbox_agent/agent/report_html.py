"""The owner's report as HTML: ``report --html FILE``'s one self-contained page, and its
figures and charts alone for the staff page's /report (both show it, so it lives on the agent
floor, below ``commands`` and ``web``). The charts are inline SVG drawn here.

The page loads nothing from anywhere (no script at all, no font, no image: its
Content-Security-Policy says ``default-src 'none'``), so it opens the same offline, from a
mail attachment or a file share. Every text in it is escaped by Jinja2's autoescape: customer
subjects and addresses are hostile. The geometry (bar sizes, positions) is computed here and the
template only places it. The figures and charts are their own template
(``report_charts.html.j2``), which the staff page's /report shows too (``charts``).
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from inbox_agent.core.report import KIND_LABELS, Report
from inbox_agent.core.wording import local_moment, local_time, short_day

TEMPLATE = "report.html.j2"
CHARTS = "report_charts.html.j2"  # the figures and charts, without the page around them
WIDTH = 880  # the viewBox of every chart; the page scales it
COLUMN_HEIGHT = 180
ROW_HEIGHT = 22
LABEL_WIDTH = 300  # room for a row chart's labels
MARGIN = 40  # around a column chart's plot: room for its first and last labels


@dataclass(frozen=True)
class Bar:
    """One bar (or, with ``point``, a dot) of a chart, in the chart's own coordinates."""

    x: float
    y: float
    width: float
    height: float
    label: str  # what it counts: a day, a week, an outcome
    value: str  # the figure as people read it


@dataclass(frozen=True)
class Chart:
    """An SVG chart: its bars, its points (a second series, as dots), and its axis labels."""

    height: float
    bars: tuple[Bar, ...]
    points: tuple[Bar, ...] = ()
    ticks: tuple[tuple[float, float, str], ...] = ()  # (x, y, text)
    values: tuple[tuple[float, float, str], ...] = ()  # a column's figure above it: (x, y, text)


def render(report: Report, zone: ZoneInfo, title: str) -> str:
    """The whole page, as text."""
    return _templates().get_template(TEMPLATE).render(title=title, **context(report, zone))


def charts(report: Report, zone: ZoneInfo) -> str:
    """The figures and charts alone (HTML, escaped), for a page of the caller's own."""
    return _templates().get_template(CHARTS).render(**context(report, zone))


@functools.cache  # compiled once: a staff page shows the charts on every request
def _templates() -> jinja2.Environment:
    def source(name: str) -> str:
        return importlib.resources.files("inbox_agent.agent").joinpath(name).read_text("utf-8")

    return jinja2.Environment(
        loader=jinja2.FunctionLoader(source),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def context(report: Report, zone: ZoneInfo) -> dict[str, Any]:
    """What the templates place: the figures, and the charts' geometry."""
    promises = report.promises
    outcomes = [
        ("kept", promises.kept),
        ("extended", promises.extended),
        ("missed", promises.missed),
        ("withdrawn", promises.withdrawn),
        ("still running", promises.running),
    ]
    weeks = report.first_reply
    return {
        "report": report,
        "width": WIDTH,
        "since": local_time(report.since, zone),
        "now": local_time(report.now, zone),
        "outcomes": outcomes,
        "promise_chart": row_chart([(name, n, str(n)) for name, n in outcomes]),
        "day_chart": column_chart(
            [(short_day(d), n, str(n)) for d, n in report.per_day], figures_over=31
        ),
        "reply_chart": column_chart(
            [
                (f"week of {short_day(w.week)}", w.median_minutes or 0, duration(w.median_minutes))
                for w in weeks
            ],
            points=[
                (
                    f"week of {short_day(w.week)}, 90th percentile",
                    w.p90_minutes,
                    duration(w.p90_minutes),
                )
                for w in weeks
            ],
        ),
        "weeks": [(short_day(w.week), w) for w in weeks],
        "any_reply": any(w.answered for w in weeks),
        "no_reply_yet": sum(w.unanswered for w in weeks),
        "duration": duration,
        "machine_chart": row_chart(
            [(KIND_LABELS.get(kind, kind), n, str(n)) for kind, n in report.machine_mail]
        ),
        "missed": [(m, local_moment(m.due, zone)) for m in report.missed],
    }


def column_chart(
    columns: Sequence[tuple[str, float, str]],
    points: Sequence[tuple[str, float | None, str]] = (),
    figures_over: int = 0,
) -> Chart:
    """Vertical bars, one per (label, value, value as text), left to right, with every
    ``step``-th label under its bar; ``points`` (same count) as dots on the same scale. With
    at most ``figures_over`` columns, each has its figure written above it (more would
    touch)."""
    top = max([v for _, v, _ in columns] + [v or 0 for _, v, _ in points] + [1])
    slot = (WIDTH - 2 * MARGIN) / max(len(columns), 1)
    step = max(1, len(columns) // 10)
    base = MARGIN + COLUMN_HEIGHT  # the baseline: a dot at the top keeps its whole circle

    def y_of(value: float) -> float:
        return base - COLUMN_HEIGHT * value / top

    def x_of(i: int) -> float:  # the middle of column i; the margins keep edge labels whole
        return MARGIN + (i + 0.5) * slot

    bars = tuple(
        Bar(x_of(i) - slot * 0.4, y_of(v), slot * 0.8, base - y_of(v), label, text)
        for i, (label, v, text) in enumerate(columns)
    )
    dots = tuple(
        Bar(x_of(i), y_of(v), 0, 0, label, text)
        for i, (label, v, text) in enumerate(points)
        if v is not None
    )
    ticks = tuple(
        (x_of(i), base + 16, label.removeprefix("week of "))
        for i, (label, _, _) in enumerate(columns)
        if i % step == 0
    )
    values = (
        tuple((bar.x + bar.width / 2, bar.y - 4, bar.value) for bar in bars)
        if len(columns) <= figures_over
        else ()
    )
    return Chart(base + 24, bars, dots, ticks, values)


def row_chart(rows: Sequence[tuple[str, float, str]]) -> Chart:
    """Horizontal bars, one per (label, value, value as text), top to bottom, labelled on the
    left."""
    top = max([v for _, v, _ in rows] + [1])
    room = WIDTH - LABEL_WIDTH - 60
    bars = tuple(
        Bar(LABEL_WIDTH, i * ROW_HEIGHT + 3, room * v / top, ROW_HEIGHT - 6, label, text)
        for i, (label, v, text) in enumerate(rows)
    )
    ticks = tuple(
        (LABEL_WIDTH - 8, i * ROW_HEIGHT + ROW_HEIGHT * 0.7, label)
        for i, (label, _, _) in enumerate(rows)
    )
    return Chart(max(len(rows), 1) * ROW_HEIGHT, bars, (), ticks)


def duration(minutes: int | None) -> str:
    """Business minutes as ``45 min``, ``3 h 05 min``, ``-`` for none."""
    if minutes is None:
        return "-"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest:02d} min" if hours else f"{rest} min"
