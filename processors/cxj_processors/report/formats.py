"""How the report writes numbers and judges a journey's state, in one place (pure).

Every number on the page goes through these functions, so a card, a chart legend and a
table always agree: score as an integer, percentages with a fixed number of decimals,
burn rates with "×", MOS with two decimals.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

DASH = "–"

# Score bands: 90 is what an hour scores when availability exactly meets its objective.
SCORE_BANDS = ((90.0, "good", "#22c55e"), (70.0, "fair", "#eab308"), (50.0, "poor", "#f97316"))
SCORE_BAD = ("bad", "#ef4444")
NO_DATA_COLOR = "#64748b"
HEALTHY_SCORE = 90.0

SEVERITY_COLORS = {"page": "#ef4444", "ticket": "#f59e0b"}
LAYER_COLORS = {
    "endpoint": "#60a5fa",
    "network": "#f472b6",
    "platform": "#a78bfa",
    "dependency": "#2dd4bf",
}
# Series colours avoid the status greens, ambers and reds so a line never reads as a verdict.
SERIES_COLORS = (
    "#38bdf8",
    "#c084fc",
    "#f9a8d4",
    "#fde047",
    "#5eead4",
    "#a5b4fc",
    "#fdba74",
    "#bef264",
)


def finite(value: Any) -> float | None:
    """The value as a float when it is a finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def score(value: Any) -> str:
    """An experience score as an integer: "87"."""
    number = finite(value)
    return DASH if number is None else f"{number:.0f}"


def percent(ratio: Any, digits: int = 1) -> str:
    """A ratio as a percentage: 0.6243 → "62.4%"; negative budgets keep their sign."""
    number = finite(ratio)
    return DASH if number is None else f"{number * 100:.{digits}f}%"


def burn(rate: Any) -> str:
    """A burn rate: 14.63 → "14.6×"."""
    number = finite(rate)
    return DASH if number is None else f"{number:.1f}×"


def mos(value: Any) -> str:
    """A MOS with two decimals: "4.38"."""
    number = finite(value)
    return DASH if number is None else f"{number:.2f}"


def apdex(value: Any, threshold_s: Any) -> str:
    """Apdex with its threshold in seconds, as the spec reports it: "0.91 [2.0]"."""
    number, t = finite(value), finite(threshold_s)
    head = DASH if number is None else f"{number:.2f}"
    if t is None:
        return head
    threshold = f"{t:.1f}" if abs(t * 10 - round(t * 10)) < 1e-9 else f"{t:g}"
    return f"{head} [{threshold}]"


def clock(t: float) -> str:
    """A moment as UTC wall-clock time: "14:03:27"."""
    return time.strftime("%H:%M:%S", time.gmtime(t))


def duration(seconds: float) -> str:
    """A length of time for people, two units at most: "45s", "3m 20s", "25m", "2h 05m"."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 600:
        return f"{whole // 60}m {whole % 60:02d}s"
    if whole < 3600:
        return f"{whole // 60}m"
    if whole < 86400:
        return f"{whole // 3600}h {whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d {whole % 86400 // 3600:02d}h"


def milliseconds(value: Any) -> str:
    """A duration in milliseconds with thousands separators: "1,234 ms"."""
    number = finite(value)
    return DASH if number is None else f"{number:,.0f} ms"


def score_band(value: Any) -> tuple[str, str]:
    """(band name, colour) of a score; ("no data", grey) without one."""
    number = finite(value)
    if number is None:
        return "no data", NO_DATA_COLOR
    for lower, name, color in SCORE_BANDS:
        if round(number) >= lower:
            return name, color
    return SCORE_BAD


@dataclass(frozen=True)
class State:
    """A journey's verdict at one moment: what the wall should say about it."""

    name: str  # "paging", "ticket", "degraded", "healthy" or "no data"
    color: str

    @property
    def healthy(self) -> bool:
        """Whether nothing is wrong (no alert, score in the good band)."""
        return self.name == "healthy"


def state(document: Mapping[str, Any]) -> State:
    """Paging or ticket while that alert fires, else degraded below the good band."""
    firing = set(document.get("firing") or ())
    if "page" in firing:
        return State("paging", SEVERITY_COLORS["page"])
    if "ticket" in firing:
        return State("ticket", SEVERITY_COLORS["ticket"])
    value = finite(document.get("score"))
    if value is None:
        return State("no data", NO_DATA_COLOR)
    band, color = score_band(value)
    return State("healthy", color) if band == "good" else State("degraded", color)


def series_key(document: Mapping[str, Any]) -> str:
    """The identity of one journey at one location: "namespace/name@location"."""
    return f"{document['namespace']}/{document['name']}@{document['location']}"


def page_factors(period_days: Any) -> tuple[float, float]:
    """Burn-rate factors of the two page rules (1h/5m: 2 %, 6h/30m: 5 % of the budget)."""
    days = finite(period_days) or 30.0
    return 0.02 * days * 24 / 1, 0.05 * days * 24 / 6


def chip(text: str, color: str) -> str:
    """A small label on a coloured background (layers, outcomes, severities)."""
    return f'<span class="chip" style="--chip:{color}">{escape(text)}</span>'


def journey_label(doc: Mapping[str, Any], shared_namespace: bool) -> str:
    """A journey's name, with its namespace only when the report spans several."""
    return str(doc["name"]) if shared_namespace else f"{doc['namespace']}/{doc['name']}"


def series_label(doc: Mapping[str, Any], shared_namespace: bool) -> str:
    """How charts name a series: "voice-inbound · lab"."""
    return f"{journey_label(doc, shared_namespace)} · {doc['location']}"
