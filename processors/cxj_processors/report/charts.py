"""Inline SVG charts drawn by hand: lines, stacked areas, time spans and meters (pure).

Every function returns an ``<svg>`` element as a string with a viewBox, so a chart scales to
its container; text sizes are chosen to stay readable on a 1920×1080 wall screen with a dark
page behind. The shared parts (frame, scales, axes, legend, markers) live in `axes`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from cxj_processors.report import axes
from cxj_processors.report.axes import (
    AXIS_TEXT,
    FONT,
    GRID,
    HALO,
    LEGEND_SIZE,
    PLOT_FILL,
    Frame,
    Marker,
    coord,
)


@dataclass(frozen=True)
class Line:
    """One series drawn as a polyline; None values leave a gap."""

    label: str
    points: Sequence[tuple[float, float | None]]
    color: str
    dashed: bool = False
    width: float = 2.5
    key: str = ""  # written as data-series, so tests and readers can find the path


@dataclass(frozen=True)
class Rule:
    """A horizontal threshold line with its label, e.g. 14.4× page."""

    value: float
    label: str
    color: str


@dataclass(frozen=True)
class Band:
    """A shaded horizontal band between two y values, e.g. a G.107 satisfaction band."""

    low: float
    high: float
    color: str
    label: str = ""


@dataclass(frozen=True)
class Stack:
    """One layer of a stacked area: a value (share) per time of the chart."""

    label: str
    values: Sequence[float | None]
    color: str


@dataclass(frozen=True)
class Span:
    """A bar from start to end on a timeline row; open when it has not ended yet."""

    start: float
    end: float
    color: str
    label: str = ""
    open_end: bool = False
    lane: int = 0


@dataclass(frozen=True)
class SpanRow:
    """One row of a timeline: a label and its spans."""

    label: str
    spans: Sequence[Span] = field(default_factory=tuple)


def line_chart(
    frame: Frame,
    lines: Sequence[Line],
    rules: Sequence[Rule] = (),
    bands: Sequence[Band] = (),
    label: str = "chart",
) -> str:
    """Lines over time with optional shaded bands and labelled threshold rules."""
    legend, top = axes.legend(
        [(ln.label, ln.color, ln.dashed, "line") for ln in lines if ln.label], frame.width
    )
    plot = axes.Plot(frame, top + 6)
    body = []
    for band in bands:
        y_high, y_low = plot.y(band.high), plot.y(band.low)
        body.append(
            f'<rect x="{coord(plot.left)}" y="{coord(y_high)}" '
            f'width="{coord(plot.right - plot.left)}" height="{coord(y_low - y_high)}" '
            f'fill="{band.color}"/>'
        )
        if band.label and y_low - y_high >= 14:
            body.append(
                f'<text x="{coord(plot.right - 8)}" y="{coord((y_high + y_low) / 2)}" dy="4" '
                'text-anchor="end" '
                f'font-size="12" fill="#cbd5e1" fill-opacity=".75">'
                f"{escape(band.label)}</text>"
            )
    label_above = -math.inf  # y of the previous rule's label, to keep close labels apart
    for rule in sorted(rules, key=lambda r: -r.value):
        if not frame.y_min <= rule.value <= frame.y_max:
            continue
        y = plot.y(rule.value)
        body.append(
            f'<line x1="{coord(plot.left)}" y1="{coord(y)}" x2="{coord(plot.right)}" '
            f'y2="{coord(y)}" '
            f'stroke="{rule.color}" stroke-width="1.75" stroke-dasharray="8 5"/>'
        )
        if not rule.label:  # a line another rule's label already names
            continue
        text_y = y - 6 if y - 6 - label_above > 15 else y + 17
        label_above = text_y
        body.append(
            f'<text x="{coord(plot.left + 8)}" y="{coord(text_y)}" '
            f'font-size="13" font-weight="600" fill="{rule.color}" {HALO}>'
            f"{escape(rule.label)}</text>"
        )
    for line in lines:
        data = axes.path_data(plot, line.points)
        if not data:
            continue
        dash = ' stroke-dasharray="7 5"' if line.dashed else ""
        body.append(
            f'<path data-series="{escape(line.key or line.label)}" d="{data}" fill="none" '
            f'stroke="{line.color}" stroke-width="{line.width}" stroke-linejoin="round" '
            f'stroke-linecap="round"{dash}/>'
        )
        last = next(
            ((t, v) for t, v in reversed(line.points) if v is not None and not math.isnan(v)), None
        )
        if last is not None and not line.dashed:
            body.append(
                f'<circle cx="{coord(plot.x(last[0]))}" cy="{coord(plot.y(last[1]))}" r="4.5" '
                f'fill="{line.color}" stroke="{PLOT_FILL}" stroke-width="2"/>'
            )
    return axes.frame_svg(plot, body, legend, label)


def stacked_area_chart(
    frame: Frame,
    times: Sequence[float],
    stacks: Sequence[Stack],
    *,
    label: str = "chart",
    empty_text: str = "",
    legend: bool = True,
) -> str:
    """Shares stacked bottom-up over time (each time's values should sum to at most y_max)."""
    key, top = axes.legend(
        [(s.label, s.color, False, "box") for s in stacks] if legend else [], frame.width
    )
    plot = axes.Plot(frame, top + 6)
    base = [0.0] * len(times)
    body = []
    for stack in stacks:
        values = [0.0 if v is None or math.isnan(v) else float(v) for v in stack.values]
        tops = [b + v for b, v in zip(base, values, strict=True)]
        if any(v > 0 for v in values):
            upper = [
                f"{coord(plot.x(t))} {coord(plot.y(v))}" for t, v in zip(times, tops, strict=True)
            ]
            lower = [
                f"{coord(plot.x(t))} {coord(plot.y(v))}"
                for t, v in reversed(list(zip(times, base, strict=True)))
            ]
            body.append(
                f'<path data-series="{escape(stack.label)}" d="M{"L".join(upper + lower)}Z"'
                f' fill="{stack.color}" stroke="{stack.color}" '
                f'stroke-width="1"/>'
            )
        base = tops
    if empty_text and not any(b > 0 for b in base):
        body.append(
            f'<text x="{coord((plot.left + plot.right) / 2)}" '
            f'y="{coord((plot.top + plot.bottom) / 2)}" text-anchor="middle" font-size="15" '
            f'fill="{AXIS_TEXT}">{escape(empty_text)}</text>'
        )
    return axes.frame_svg(plot, body, key, label)


def span_chart(
    start: float,
    end: float,
    rows: Sequence[SpanRow],
    *,
    markers: Sequence[Marker] = (),
    width: int = 1500,
    label: str = "timeline",
    label_width: int = 300,
    lanes: int = 1,
) -> str:
    """A timeline: one row per label with `lanes` lanes of bars, a time axis below."""
    lane_height, pad = 26, 6
    row_height = pad * 2 + lane_height * lanes
    height = 40 + row_height * max(len(rows), 1) + 34
    frame = Frame(start, end, 0, 1, str, width=width, height=height, markers=markers)
    plot = axes.Plot(frame, top=40, left=label_width)
    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" style="{FONT}">',
        f'<rect class="plot" x="{plot.left}" y="{plot.top}" '
        f'width="{coord(plot.right - plot.left)}" height="{coord(plot.bottom - plot.top)}" '
        f'fill="{PLOT_FILL}"/>',
    ]
    out.extend(axes.time_axis(plot))
    for i, row in enumerate(rows):
        y = plot.top + i * row_height
        out.append(
            f'<line x1="0" y1="{coord(y + row_height)}" x2="{coord(plot.right)}" '
            f'y2="{coord(y + row_height)}" stroke="{GRID}"/>'
            f'<text x="{plot.left - 12}" y="{coord(y + row_height / 2 + 5)}" text-anchor="end" '
            f'font-size="{LEGEND_SIZE + 1}" fill="#dbe4f0">{escape(row.label)}</text>'
        )
        for span in row.spans:
            out.append(_span(plot, span, y + pad + span.lane * lane_height, lane_height - 4))
    out.extend(axes.markers(plot, markers, tags_above=True))
    out.append("</svg>")
    return "".join(out)


def _span(plot: axes.Plot, span: Span, top: float, height: float) -> str:
    """One bar; its label is cut to the bar's width, the open end drawn as an arrow head."""
    x1 = plot.x(span.start)
    w = max(plot.x(span.end) - x1, 3.0)
    parts = [
        f'<rect x="{coord(x1)}" y="{coord(top)}" width="{coord(w)}" height="{coord(height)}" '
        f'rx="4" fill="{span.color}"/>'
    ]
    if span.open_end:
        parts.append(
            f'<path d="M{coord(x1 + w - 1)} {coord(top - 2)}l10 {coord(height / 2 + 2)}'
            f'l-10 {coord(height / 2 + 2)}Z" fill="{span.color}"/>'
        )
    fits = int((w - 14) / 7.4)
    if span.label and fits >= 4:
        text = span.label if len(span.label) <= fits else span.label[: fits - 1] + "…"
        parts.append(
            f'<text x="{coord(x1 + 8)}" y="{coord(top + height / 2 + 4.5)}" font-size="13" '
            f'font-weight="700" fill="#0b1220">{escape(text)}</text>'
        )
    return "".join(parts)


def meter(fraction: float | None, color: str, width: int = 220, height: int = 14) -> str:
    """A horizontal bar filled to fraction (clamped to [0, 1]) of its track."""
    share = 0.0 if fraction is None or math.isnan(fraction) else min(max(fraction, 0.0), 1.0)
    return (
        f'<svg class="meter" viewBox="0 0 {width} {height}" preserveAspectRatio="none">'
        f'<rect width="{width}" height="{height}" '
        f'rx="{height / 2}" fill="#1f2a40"/><rect width="{coord(max(share * width, 0))}" '
        f'height="{height}" rx="{height / 2}" fill="{color}"/></svg>'
    )


def sparkline(
    points: Sequence[tuple[float, float | None]],
    color: str,
    *,
    y_min: float,
    y_max: float,
    guide: float | None = None,
    width: int = 220,
    height: int = 44,
) -> str:
    """A bare trend line (no axes) with an optional dashed guide, e.g. the healthy score."""
    times = [t for t, _ in points]
    if not times:
        return ""
    start, end = times[0], times[-1] if times[-1] > times[0] else times[0] + 1
    frame = Frame(start, end, y_min, y_max, str, width=width, height=height + 34)
    plot = axes.Plot(frame, top=3, left=2, right=6)
    guide_svg = ""
    if guide is not None:
        y = coord(plot.y(guide))
        guide_svg = (
            f'<line x1="{coord(plot.left)}" y1="{y}" x2="{coord(plot.right)}" y2="{y}" '
            f'stroke="#64748b" stroke-width="1" stroke-dasharray="3 3" '
            'vector-effect="non-scaling-stroke"/>'
        )
    return (
        f'<svg class="spark" viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
        f'role="img" aria-label="trend">{guide_svg}<path d="{axes.path_data(plot, points)}" '
        f'fill="none" stroke="{color}" stroke-width="2.5" stroke-linejoin="round" '
        f'vector-effect="non-scaling-stroke"/></svg>'
    )
