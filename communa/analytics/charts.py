"""Charts: server-rendered SVG (pygal), the same picture in the browser, the HTML email and the PDF.

A `Chart` is data (labels, series, links to the messages behind each point, the unit); `render_svg` draws
it with one palette and localized labels, `chart_rows` gives the data-table fallback shown under every chart
(screen readers, email clients that drop SVG, keyboard drill-down) and `write_csv` the same rows for a
spreadsheet, through the formula-injection guard. No JavaScript: pygal's own tooltip script is turned off
(`js=[]`), each point carries an SVG <title>, and each point with a link is an SVG <a> to its drill-down.
"""

from __future__ import annotations

import csv
import dataclasses
import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import IO, Any, Literal

import pygal  # type: ignore[import-untyped]
from django.utils import formats
from django.utils.dates import MONTHS_3
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from pygal.style import Style  # type: ignore[import-untyped]

from communa.enrichment.files import guard_cell

ChartKind = Literal["line", "bar", "stacked", "hbar"]
# The units of communa.analytics.metrics.Unit: count, a number of things; percent, a fraction 0..1 shown as a
# percentage; seconds, a duration shown in minutes, hours or days; ratio, a plain ratio (replies per thread).
Unit = Literal["count", "percent", "seconds", "ratio"]
Medium = Literal["web", "print"]

# One palette everywhere (the product's teal first), readable on white and on the dark theme; the previous
# period is always drawn dashed in the neutral grey that follows the series it compares with.
PALETTE = ("#1d6f6a", "#c2410c", "#1e4fb8", "#7c3aed", "#b3261e", "#8a5a00", "#0e7490", "#6b7280")
PREVIOUS_COLOR = "#9aa3b2"
SENTIMENT_COLORS = {"positive": "#17693a", "neutral": "#9aa3b2", "negative": "#b3261e"}
FONT = "DejaVu Sans, system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif"


@dataclasses.dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    # The drill-down for each point (a URL or None), aligned with `values`.
    links: Sequence[str | None] = ()
    color: str = ""
    previous: bool = False  # the comparison period: dashed, no fill, no links


@dataclasses.dataclass(frozen=True)
class Chart:
    key: str
    title: str
    kind: ChartKind
    labels: Sequence[str]
    series: Sequence[Series]
    unit: Unit = "count"
    definition: str = ""
    # Why there is no picture (e.g. "no inbox data yet"): shown instead of a chart, never a row of zeros.
    empty_reason: str = ""
    # Machine-readable labels for the CSV (ISO dates, topic keys), aligned with `labels`.
    keys: Sequence[str] = ()

    @property
    def has_data(self) -> bool:
        return not self.empty_reason and any(v is not None for s in self.series for v in s.values)

    @property
    def current_series(self) -> list[Series]:
        return [s for s in self.series if not s.previous]


@dataclasses.dataclass(frozen=True)
class Row:
    label: str
    cells: list[str]  # formatted, one per series
    link: str | None


def format_value(value: float | None, unit: Unit) -> str:
    """A value as people read it, in the active language: 1,234 · 42% · 1.5 h · 12 min · 3.25."""
    if value is None:
        return "—"
    if unit == "percent":
        return _("%(value)s%%") % {"value": formats.number_format(round(value * 100, 1), decimal_pos=_decimals(value))}
    if unit == "seconds":
        return format_duration(value)
    if unit == "ratio":
        return formats.number_format(round(value, 2), decimal_pos=2)
    if float(value).is_integer():
        return formats.number_format(int(value), force_grouping=True)
    return formats.number_format(round(value, 1), decimal_pos=1, force_grouping=True)


def _decimals(ratio: float) -> int:
    return 0 if abs(ratio * 100 - round(ratio * 100)) < 0.05 else 1


def format_duration(seconds: float) -> str:
    if seconds < 3600:
        return _("%(minutes)s min") % {"minutes": formats.number_format(round(seconds / 60))}
    if seconds < 48 * 3600:
        return _("%(hours)s h") % {"hours": formats.number_format(round(seconds / 3600, 1), decimal_pos=1)}
    return _("%(days)s d") % {"days": formats.number_format(round(seconds / 86400, 1), decimal_pos=1)}


def axis_value(value: float, unit: Unit) -> float:
    """The number drawn on the axis: percentages for fractions, hours for durations."""
    if unit == "percent":
        return value * 100
    if unit == "seconds":
        return value / 3600
    return value


def axis_title(unit: Unit) -> str:
    return {"percent": "%", "seconds": _("hours")}.get(unit, "")


def day_label(day: date | datetime, *, hourly: bool = False) -> str:
    """A short localized date for an axis: "Nov 21" in English, "21 nov" in Italian, "21 ноя" in Russian."""
    if hourly and isinstance(day, datetime):
        return formats.time_format(day, "H:i") if day.hour else f"{day_label(day.date())} 00:00"
    if (get_language() or "en").startswith("en"):
        return f"{str(MONTHS_3[day.month]).title()} {day.day}"
    return f"{day.day} {MONTHS_3[day.month]}"


def _style(medium: Medium, colors: Sequence[str], *, bars: bool = False) -> Style:
    # In the browser, text and grid follow the page's theme (light or dark) through its CSS variables; the
    # PDF and email renderers know no variables, so they get the light theme's values.
    web = medium == "web"
    return Style(
        background="transparent",
        plot_background="transparent",
        foreground="var(--text, #1f2530)" if web else "#1f2530",
        foreground_strong="var(--text, #1f2530)" if web else "#1f2530",
        foreground_subtle="var(--border, #dde1e7)" if web else "#dde1e7",
        guide_stroke_color="var(--border, #dde1e7)" if web else "#dde1e7",
        major_guide_stroke_color="var(--border, #dde1e7)" if web else "#dde1e7",
        guide_stroke_dasharray="0",
        major_guide_stroke_dasharray="0",
        colors=tuple(colors),
        font_family=FONT,
        label_font_size=12,
        major_label_font_size=12,
        legend_font_size=13,
        title_font_size=14,
        value_font_size=11,
        value_colors=("#ffffff",) * len(colors),
        opacity=".85" if bars else ".12",
        opacity_hover="1" if bars else ".25",
        stroke_width=2.2,
        stroke_width_hover=3,
        transition="150ms",
    )


def _config(chart: Chart, medium: Medium, colors: Sequence[str]) -> dict[str, Any]:
    many = len(chart.labels) > 12
    return {
        "js": [],
        "style": _style(medium, colors, bars=chart.kind != "line"),
        "width": 760,
        "height": 300 if chart.kind != "hbar" else max(160, 34 * len(chart.labels) + 60),
        "explicit_size": medium == "print",
        "disable_xml_declaration": True,
        "show_legend": len(chart.series) > 1,
        "legend_at_bottom": True,
        "legend_at_bottom_columns": min(len(chart.series), 4) or 1,
        "truncate_label": -1,
        "truncate_legend": -1,
        "x_labels_major_count": 7 if many else None,
        "show_minor_x_labels": not many,
        "show_x_guides": False,
        "show_y_guides": chart.kind != "hbar",
        "dots_size": 2 if many else 3.5,
        "margin": 8,
        "spacing": 12,
        "y_title": axis_title(chart.unit) if chart.kind != "hbar" else None,
        "print_values": chart.kind == "hbar",
        "include_x_axis": True,
        "min_scale": 3,
        "max_scale": 6,
        "value_formatter": lambda v: format_value(_back(v, chart.unit), chart.unit) if v is not None else "",
        "no_data_text": "",
        **_count_axis(chart),
    }


def _count_axis(chart: Chart) -> dict[str, Any]:
    """Whole numbers on the axis of a count (no "0.8 messages"): 0, step, 2×step… with a round step."""
    if chart.unit != "count" or chart.kind == "hbar":
        return {}
    values = [v for s in chart.series for v in s.values if v is not None]
    if chart.kind == "stacked":
        values = [sum(v or 0 for v in column) for column in zip(*(s.values for s in chart.series), strict=False)]
    top = max(values, default=0)
    step = next((n for n in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000) if top / n <= 6), 0)
    if not step:
        return {}
    return {"y_labels": list(range(0, int(top) + step + 1, step))[: int(top // step) + 2]}


def _back(value: float, unit: Unit) -> float:
    if unit == "percent":
        return value / 100
    if unit == "seconds":
        return value * 3600
    return value


_CLASSES: dict[ChartKind, type[pygal.graph.graph.Graph]] = {
    "line": pygal.Line,
    "bar": pygal.Bar,
    "stacked": pygal.StackedBar,
    "hbar": pygal.HorizontalBar,
}


def _point(value: float | None, label: str, link: str | None, unit: Unit) -> dict[str, Any] | None:
    if value is None:
        return None
    point: dict[str, Any] = {"value": axis_value(value, unit), "label": label}
    if link:
        point["xlink"] = {"href": link, "target": "_top"}
    return point


def render_svg(chart: Chart, *, medium: Medium = "web") -> SafeString:
    """The chart as an inline <svg> (its text escaped by the XML writer), or "" when there is nothing to draw."""
    if not chart.has_data:
        return mark_safe("")
    colors = [
        s.color or (PREVIOUS_COLOR if s.previous else PALETTE[i % len(PALETTE)]) for i, s in enumerate(chart.series)
    ]
    graph = _CLASSES[chart.kind](**_config(chart, medium, colors))
    # Horizontal bars are drawn bottom-up: reverse them so that the first item (the biggest) is on top.
    order = -1 if chart.kind == "hbar" else 1
    graph.x_labels = list(chart.labels)[::order]
    for series in chart.series:
        links = list(series.links) or [None] * len(series.values)
        points = [
            _point(v, label, None if series.previous else link, chart.unit)
            for v, label, link in zip(series.values, chart.labels, links, strict=False)
        ][::order]
        options: dict[str, Any] = {}
        if series.previous:
            options = {"fill": False, "show_dots": False, "stroke_style": {"width": 1.6, "dasharray": "5,4"}}
        elif chart.kind == "line":
            options = {"fill": len(chart.current_series) == 1}
        graph.add(series.name, points, **options)
    svg = graph.render(is_unicode=True)
    return mark_safe(_accessible(svg, chart))  # noqa: S308 - pygal writes XML with every text node escaped


_SVG_OPEN = re.compile(r"<svg ([^>]*)>")
_DOT_VALUE = re.compile(r'<desc class="value">([^<]*)</desc>')


def _accessible(svg: str, chart: Chart) -> str:
    """Name the picture (role="img", <title>, a pointer to the table) and give each point a native tooltip."""
    title = escape(chart.title)
    svg = _SVG_OPEN.sub(
        lambda m: (
            f'<svg {m.group(1)} role="img" aria-labelledby="{escape(chart.key)}-svg-title" focusable="false">'
            f'<title id="{escape(chart.key)}-svg-title">{title}</title>'
        ),
        svg,
        count=1,
    )
    # pygal keeps each point's text in <desc> elements for its tooltip script; a <title> shows it without one.
    return _DOT_VALUE.sub(lambda m: f'<desc class="value">{m.group(1)}</desc><title>{m.group(1)}</title>', svg)


def chart_rows(chart: Chart) -> list[Row]:
    """The data table under the chart: one row per label, one formatted cell per series, the point's link."""
    rows = []
    for index, label in enumerate(chart.labels):
        cells = [format_value(_at(s.values, index), chart.unit) for s in chart.series]
        link = next((_at(s.links, index) for s in chart.current_series if _at(s.links, index)), None)
        rows.append(Row(label=label, cells=cells, link=link))
    return rows


def _at(values: Sequence[Any], index: int) -> Any:
    return values[index] if index < len(values) else None


def csv_value(value: float | None, unit: Unit) -> float | int | str:
    """A raw number for a spreadsheet: percentages as fractions 0..1, durations in seconds, counts as integers."""
    if value is None:
        return ""
    if unit == "count" and float(value).is_integer():
        return int(value)
    return round(value, 6)


def write_csv(chart: Chart, handle: IO[str]) -> None:
    """Every point of the chart as CSV; text cells pass the formula-injection guard (labels can be topics)."""
    writer = csv.writer(handle)
    header = [_("Period") if chart.kind != "hbar" else _("Item")] + [s.name for s in chart.series]
    writer.writerow([guard_cell(cell) for cell in header])
    for index, label in enumerate(chart.labels):
        values = [csv_value(_at(s.values, index), chart.unit) for s in chart.series]
        writer.writerow([guard_cell(_at(chart.keys, index) or label), *values])
