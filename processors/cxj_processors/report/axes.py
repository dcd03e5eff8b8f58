"""The parts every chart shares: frame, scales, grid, time axis, legend and markers (pure).

Time is unix seconds on the x axis and is labelled in UTC; y is linear or log10.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

# The plot area's background, drawn as rect.plot: the browser test finds each chart by it.
PLOT_FILL = "#0d1526"
GRID = "#25324a"
AXIS_TEXT = "#9fb0c8"
MARKER = "#e2e8f0"
FONT = "font-family:inherit"
HALO = f'paint-order="stroke" stroke="{PLOT_FILL}" stroke-width="4" stroke-linejoin="round"'
CHAR_WIDTH = 7.6  # mean glyph advance at LEGEND_SIZE px, to lay out legends without a browser
TICK_SIZE = 13
LEGEND_SIZE = 14
ROUND_STEPS = (1, 2, 5, 10, 15, 30)
TIME_STEPS = (
    ROUND_STEPS + tuple(60 * m for m in ROUND_STEPS) + (3600, 7200, 10800, 21600, 43200, 86400)
)


@dataclass(frozen=True)
class Marker:
    """A vertical marker at a moment, tagged with a short label (the note's number)."""

    t: float
    tag: str


@dataclass(frozen=True)
class Frame:
    """Where a chart draws: size, time range, y range and how y is labelled."""

    start: float
    end: float
    y_min: float
    y_max: float
    y_format: Callable[[float], str]
    y_ticks: Sequence[float] = ()
    log_y: bool = False
    width: int = 760
    height: int = 300
    markers: Sequence[Marker] = ()


def coord(value: float) -> str:
    """A coordinate with one decimal, without a trailing .0 (keeps the SVG small)."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def time_ticks(start: float, end: float, most: int) -> list[float]:
    """Round moments between start and end, at most `most` of them."""
    span = max(end - start, 1e-9)
    step = next((s for s in TIME_STEPS if span / s <= most), TIME_STEPS[-1])
    first = math.ceil(start / step) * step
    return [first + i * step for i in range(int((end - first) // step) + 1)]


def format_clock(t: float, span: float) -> str:
    """A moment in UTC, as precise as a chart of this span needs."""
    parts = time.gmtime(t)
    if span > 2 * 86400:
        return time.strftime("%m-%d %H:%M", parts)
    return time.strftime("%H:%M" if span > 1800 else "%H:%M:%S", parts)


def nice_ticks(low: float, high: float, most: int = 6) -> list[float]:
    """Evenly spaced round values covering [low, high]."""
    raw = (high - low) / max(most - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step - 1e-9) * step
    return [round(first + i * step, 10) for i in range(int((high - first) / step + 1e-9) + 1)]


class Plot:
    """Maps data to pixels inside the padded plot area of a frame."""

    def __init__(self, frame: Frame, top: float, left: float = 62, right: float = 18) -> None:
        self.frame = frame
        self.left, self.top = left, top
        self.right = frame.width - right
        self.bottom = frame.height - 34

    def x(self, t: float) -> float:
        """The pixel column of a moment (clamped to the plot)."""
        span = max(self.frame.end - self.frame.start, 1e-9)
        share = (min(max(t, self.frame.start), self.frame.end) - self.frame.start) / span
        return self.left + share * (self.right - self.left)

    def y(self, value: float) -> float:
        """The pixel row of a value (clamped to the y range, log10 on a log axis)."""
        low, high = self.frame.y_min, self.frame.y_max
        value = min(max(value, low), high)
        if self.frame.log_y:
            low, high, value = math.log10(low), math.log10(high), math.log10(value)
        return self.bottom - (value - low) / (high - low) * (self.bottom - self.top)


def legend(items: Sequence[tuple[str, str, bool, str]], width: int) -> tuple[str, float]:
    """Legend entries (label, colour, dashed, shape) laid out in rows; returns (svg, height)."""
    parts, x, y = [], 62.0, 18.0
    for label, color, dashed, shape in items:
        item_width = 30 + len(label) * CHAR_WIDTH + 22
        if x + item_width > width - 10 and x > 62:
            x, y = 62.0, y + 22
        if shape == "box":
            parts.append(
                f'<rect x="{coord(x)}" y="{coord(y - 9)}" width="20" height="12" rx="2" '
                f'fill="{color}"/>'
            )
        else:
            dash = ' stroke-dasharray="6 4"' if dashed else ""
            parts.append(
                f'<line x1="{coord(x)}" y1="{coord(y - 4)}" x2="{coord(x + 22)}" '
                f'y2="{coord(y - 4)}" '
                f'stroke="{color}" stroke-width="3"{dash}/>'
            )
        parts.append(
            f'<text x="{coord(x + 28)}" y="{coord(y + 1)}" font-size="{LEGEND_SIZE}" '
            f'fill="#dbe4f0">{escape(label)}</text>'
        )
        x += item_width
    return "".join(parts), (y + 14 if items else 10)


def frame_svg(plot: Plot, body: Sequence[str], legend: str, label: str) -> str:
    """The axes, grid, markers and the chart body inside one svg element."""
    f = plot.frame
    out = [
        f'<svg class="chart" viewBox="0 0 {f.width} {f.height}" role="img" '
        f'aria-label="{escape(label)}" style="{FONT}">',
        legend,
        f'<rect class="plot" x="{coord(plot.left)}" y="{coord(plot.top)}" '
        f'width="{coord(plot.right - plot.left)}" height="{coord(plot.bottom - plot.top)}" '
        f'fill="{PLOT_FILL}"/>',
    ]
    ticks = list(f.y_ticks) or nice_ticks(f.y_min, f.y_max)
    for value in ticks:
        if not f.y_min <= value <= f.y_max:
            continue
        y = coord(plot.y(value))
        out.append(
            f'<line x1="{coord(plot.left)}" y1="{y}" x2="{coord(plot.right)}" y2="{y}" '
            f'stroke="{GRID}" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{coord(plot.left - 8)}" y="{y}" dy="4.5" text-anchor="end" '
            f'font-size="{TICK_SIZE}" fill="{AXIS_TEXT}">{escape(f.y_format(value))}</text>'
        )
    out.extend(time_axis(plot))
    out.extend(body)
    out.extend(markers(plot, f.markers))
    out.append("</svg>")
    return "".join(out)


def time_axis(plot: Plot) -> list[str]:
    """Vertical gridlines at round moments, labelled below the plot."""
    f = plot.frame
    out = []
    most = max(2, int((plot.right - plot.left) / 95))
    for t in time_ticks(f.start, f.end, most):
        x = coord(plot.x(t))
        # a label centred on a tick at the plot's right edge would run off the chart
        anchor = "end" if plot.x(t) > plot.right - 40 else "middle"
        out.append(
            f'<line x1="{x}" y1="{coord(plot.top)}" x2="{x}" y2="{coord(plot.bottom)}" '
            f'stroke="{GRID}" stroke-width="1" stroke-dasharray="2 4"/>'
        )
        out.append(
            f'<text x="{x}" y="{coord(plot.bottom + 20)}" text-anchor="{anchor}" '
            f'font-size="{TICK_SIZE}" fill="{AXIS_TEXT}">'
            f"{format_clock(t, f.end - f.start)}</text>"
        )
    return out


def markers(plot: Plot, moments: Sequence[Marker], tags_above: bool = False) -> list[str]:
    """Dashed vertical lines at the notes' moments, each tagged with its number."""
    out = []
    tag_y = plot.top - 14 if tags_above else plot.top + 11
    for marker in moments:
        if not plot.frame.start <= marker.t <= plot.frame.end:
            continue
        x = coord(plot.x(marker.t))
        out.append(
            f'<g class="marker"><line x1="{x}" y1="{coord(plot.top)}" x2="{x}" '
            f'y2="{coord(plot.bottom)}" stroke="{MARKER}" stroke-opacity=".55" '
            f'stroke-width="1.5" stroke-dasharray="5 4"/>'
            f'<circle cx="{x}" cy="{coord(tag_y)}" r="10" fill="#e2e8f0"/>'
            f'<text x="{x}" y="{coord(tag_y + 4.5)}" text-anchor="middle" font-size="13" '
            f'font-weight="700" fill="#0b1220">{escape(marker.tag)}</text></g>'
        )
    return out


def path_data(plot: Plot, points: Sequence[tuple[float, float | None]]) -> str:
    """M/L path data; a None value ends the segment so gaps stay visible."""
    commands, pen_down = [], False
    for t, value in points:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            pen_down = False
            continue
        commands.append(f"{'L' if pen_down else 'M'}{coord(plot.x(t))} {coord(plot.y(value))}")
        pen_down = True
    return "".join(commands)
