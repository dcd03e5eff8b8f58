"""The report's time charts, alert timeline and worst-runs table, from the snapshots (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

from cxj_processors.report import charts
from cxj_processors.report import formats as fmt
from cxj_processors.report.formats import chip
from cxj_processors.report.history import History

LAYERS = tuple(fmt.LAYER_COLORS)
MOS_BANDS = (  # ITU-T G.107 user satisfaction by MOS (R 90/80/70/60/50)
    charts.Band(4.34, 4.5, "rgba(34,197,94,.20)", ""),
    charts.Band(4.03, 4.34, "rgba(34,197,94,.11)", "satisfied"),
    charts.Band(3.60, 4.03, "rgba(234,179,8,.08)", "some users dissatisfied"),
    charts.Band(3.10, 3.60, "rgba(249,115,22,.11)", "many users dissatisfied"),
    charts.Band(2.58, 3.10, "rgba(239,68,68,.12)", "nearly all users dissatisfied"),
    charts.Band(1.0, 2.58, "rgba(239,68,68,.20)", "not recommended"),
)
SCORE_BANDS = (
    charts.Band(90, 100, "rgba(34,197,94,.07)", ""),
    charts.Band(70, 90, "rgba(234,179,8,.05)", ""),
    charts.Band(50, 70, "rgba(249,115,22,.06)", ""),
    charts.Band(0, 50, "rgba(239,68,68,.07)", ""),
)
BURN_FLOOR = 0.1


def panel(title: str, hint: str, svg: str, extra: str = "") -> str:
    """One titled panel of the page, with a muted hint after the title."""
    return (
        f'<section class="panel"><h2>{escape(title)} <small>{escape(hint)}</small></h2>'
        f"{svg}{extra}</section>"
    )


def score_panel(h: History) -> str:
    """Experience score per series, 0-100, over the score bands."""
    lines = [charts.Line(h.labels[k], h.values(k, "score"), h.colors[k], key=k) for k in h.keys]
    frame = h.frame(
        y_min=0, y_max=100, y_format=lambda v: f"{v:.0f}", y_ticks=(0, 25, 50, 70, 90, 100)
    )
    svg = charts.line_chart(
        frame,
        lines,
        bands=SCORE_BANDS,
        label="experience score",
        rules=[charts.Rule(90, "good ≥ 90", "#22c55e")],
    )
    return panel("Experience score", "0–100, last hour, per journey and location", svg)


def burn_panel(h: History) -> str:
    """Burn rates (1h solid, 5m dashed) on a log scale with the page thresholds."""
    lines, peak, periods = [], 1.0, set()
    for k in h.keys:
        hour, five = h.values(k, "slo", "burnRates", "1h"), h.values(k, "slo", "burnRates", "5m")
        peak = max([peak] + [v for _, v in hour + five if v is not None])
        periods |= {(d.get("slo") or {}).get("periodDays") for d in h.docs[k] if d is not None}
        lines.append(charts.Line(h.labels[k], hour, h.colors[k], key=f"{k} 1h"))
        lines.append(charts.Line("", five, h.colors[k], dashed=True, width=1.5, key=f"{k} 5m"))
    top = 10 ** min(3, max(2, math.ceil(math.log10(peak))))
    rules = page_rules(sorted((p for p in periods if isinstance(p, int | float)), reverse=True))
    ticks = [10.0**e for e in range(-1, round(math.log10(top)) + 1)]
    frame = h.frame(
        y_min=BURN_FLOOR, y_max=top, log_y=True, y_ticks=ticks, y_format=lambda v: f"{v:g}×"
    )
    svg = charts.line_chart(frame, lines, rules=rules, label="burn rate")
    return panel("Error-budget burn rate", "solid 1h · dashed 5m · log scale, 0 drawn at 0.1×", svg)


def page_rules(periods: Sequence[float]) -> list[charts.Rule]:
    """The page thresholds of each SLO period: one label per rule, whatever the periods.

    Periods a few days apart give nearly equal factors (14.4× at 30 days, 13.44× at 28), so
    their lines lie a pixel or two apart: only the highest carries the label, which lists
    them all, instead of four labels printed over one another.
    """
    rules = []
    for index, windows, color in (
        (0, "1h & 5m", fmt.SEVERITY_COLORS["page"]),
        (1, "6h & 30m", "#f97316"),
    ):
        factors = [fmt.page_factors(period)[index] for period in periods]
        if not factors:
            continue
        label = f"page {' / '.join(f'{f:g}×' for f in factors)} ({windows})"
        if len(periods) > 1:
            label += f" for {' / '.join(f'{p:g}d' for p in periods)}"
        highest = max(range(len(factors)), key=factors.__getitem__)
        rules += [
            charts.Rule(factor, label if i == highest else "", color)
            for i, factor in enumerate(factors)
        ]
    return rules


def mos_panel(h: History) -> str:
    """Mean MOS per voice series and direction over the G.107 satisfaction bands."""
    lines = []
    for k in h.keys:
        for direction, dashed in (("outbound", False), ("inbound", True)):
            points = h.values(k, "mos", "mean", direction)
            if any(v is not None for _, v in points):
                arrow = "↑ out" if direction == "outbound" else "↓ in"
                lines.append(
                    charts.Line(
                        f"{h.labels[k]} {arrow}",
                        points,
                        h.colors[k],
                        dashed=dashed,
                        key=f"{k} {direction}",
                    )
                )
    if not lines:
        return panel(
            "Voice quality (MOS)",
            "no voice journey in this report",
            '<p class="empty">No MOS samples: voice journeys report MOS per direction.</p>',
        )
    lowest = min(v for line in lines for _, v in line.points if v is not None)
    frame = h.frame(
        y_min=1.0 if lowest < 2.1 else 2.0,
        y_max=4.5,
        y_format=lambda v: f"{v:g}",
        y_ticks=(1.0, 2.0, 2.58, 3.1, 3.6, 4.03, 4.34),
        height=400,
    )
    svg = charts.line_chart(
        frame,
        lines,
        rules=[charts.Rule(3.6, "3.6 acceptable (R 70)", "#fde68a")],
        bands=MOS_BANDS,
        label="voice MOS",
    )
    return panel("Voice quality (MOS)", "mean per direction, last hour · ITU-T G.107 bands", svg)


def attribution_panel(h: History) -> str:
    """Per series: which layer the bad runs of the last hour are charged to, over time."""
    legend = "".join(chip(layer, fmt.LAYER_COLORS[layer]) for layer in LAYERS)
    cells = []
    for k in h.keys:
        stacks = [
            charts.Stack(
                layer,
                [v for _, v in h.values(k, "attribution", layer)],
                fmt.LAYER_COLORS[layer],
            )
            for layer in LAYERS
        ]
        frame = h.frame(
            y_min=0,
            y_max=1,
            y_ticks=(0, 0.5, 1),
            y_format=lambda v: f"{v:.0%}",
            width=380,
            height=170,
        )
        svg = charts.stacked_area_chart(
            frame, h.times, stacks, label=f"attribution {k}", empty_text="no bad runs", legend=False
        )
        cells.append(
            f'<div class="mini"><h4 style="color:{h.colors[k]}">'
            f"{escape(h.labels[k])}</h4>{svg}</div>"
        )
    body = f'<div class="legend">{legend}</div><div class="minis">{"".join(cells)}</div>'
    return panel("Who is to blame", "share of bad runs per layer, last hour", "", body)


def alert_panel(h: History, alerts: Sequence[dict[str, Any]]) -> str:
    """Fired → resolved spans per journey and location: pages above, tickets below."""
    start, end = h.frame(y_min=0, y_max=1, y_format=str).start, h.times[-1]
    open_spans: dict[tuple[str, str, str], dict[str, Any]] = {}
    rows: dict[str, list[charts.Span]] = {}
    lanes = {severity: i for i, severity in enumerate(fmt.SEVERITY_COLORS)}

    def add(event: dict[str, Any], stop: float, still_open: bool) -> None:
        key = f"{event.get('journey')}@{event.get('location')}"
        row = h.labels.get(key, f"{event.get('journey')} · {event.get('location')}")
        severity = str(event.get("severity"))
        text = " · ".join(str(event[f]) for f in ("severity", "layer", "step") if event.get(f))
        rows.setdefault(row, []).append(
            charts.Span(
                float(event["t"]),
                stop,
                fmt.SEVERITY_COLORS.get(severity, fmt.NO_DATA_COLOR),
                text,
                open_end=still_open,
                lane=lanes.get(severity, 0),
            )
        )

    for event in sorted(alerts, key=lambda e: float(e["t"])):
        ident = (str(event.get("journey")), str(event.get("location")), str(event.get("severity")))
        if event.get("state") == "fired":
            open_spans.setdefault(ident, event)
        elif event.get("state") == "resolved":
            fired = open_spans.pop(ident, {**event, "t": start})
            add(fired, float(event["t"]), still_open=False)
    for event in open_spans.values():
        add(event, end, still_open=True)
    legend = "".join(chip(s, c) for s, c in fmt.SEVERITY_COLORS.items())
    if not rows:
        body = '<p class="empty">No burn-rate alert fired in this period.</p>'
    else:
        body = charts.span_chart(
            start,
            end,
            [charts.SpanRow(r, s) for r, s in sorted(rows.items())],
            markers=h.markers,
            label="alert timeline",
            lanes=len(lanes),
            label_width=250,
        )
    return panel(
        "Alerts",
        "fired → resolved · ▶ still firing",
        "",
        f'<div class="legend">{legend}</div>{body}',
    )
