"""The report's header verdict and one card per journey and location (pure HTML strings)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

from cxj_processors.report import formats as fmt
from cxj_processors.report.charts import meter, sparkline
from cxj_processors.report.history import History
from cxj_processors.report.model import Document
from cxj_processors.scoring import apdex_rating

STATE_ORDER = {"paging": 0, "ticket": 1, "degraded": 2, "no data": 3, "healthy": 4}


def worst_first(documents: Sequence[Document]) -> list[Document]:
    """Paging journeys first, then tickets, then by score, lowest first."""

    def rank(doc: Document) -> tuple[int, float, str]:
        score = fmt.finite(doc.get("score"))
        return (
            STATE_ORDER[fmt.state(doc).name],
            math.inf if score is None else score,
            fmt.series_key(doc),
        )

    return sorted(documents, key=rank)


def state_since(times: Sequence[float], docs: Sequence[Document | None]) -> tuple[float, bool]:
    """When a series' current state began, and whether it began before the first snapshot.

    Args:
        times: The snapshot times.
        docs: The series' document at each of those times (None where it was absent).
    """
    history = [(t, fmt.state(d).name) for t, d in zip(times, docs, strict=True) if d is not None]
    if not history:
        return math.nan, True
    current, since = history[-1][1], history[-1][0]
    for t, name in reversed(history):
        if name != current:
            return since, False
        since = t
    return since, True


def header(
    title: str,
    latest: Sequence[Document],
    generated: str,
    scale_note: str,
) -> str:
    """The page title and the overall verdict: healthy/degraded counts and any page firing."""
    states = [fmt.state(d) for d in latest]
    healthy = sum(s.healthy for s in states)
    no_data = sum(s.name == "no data" for s in states)
    degraded = len(states) - healthy - no_data
    paging = [d for d, s in zip(latest, states, strict=True) if s.name == "paging"]
    if paging:
        who = ", ".join(f"{d['name']} @ {d['location']}" for d in paging)
        verdict, color = f"PAGE firing: {who}", fmt.SEVERITY_COLORS["page"]
    elif degraded:
        verdict, color = f"{degraded} of {len(states)} degraded", fmt.SEVERITY_COLORS["ticket"]
    elif no_data:
        verdict, color = f"{no_data} of {len(states)} without data yet", fmt.NO_DATA_COLOR
    else:
        verdict, color = "All journeys healthy", fmt.SCORE_BANDS[0][2]
    counts = (
        f'<span class="count"><b>{len(states)}</b> journeys</span>'
        f'<span class="count ok"><b>{healthy}</b> healthy</span>'
        f'<span class="count bad"><b>{degraded}</b> degraded</span>'
    )
    if no_data:
        counts += f'<span class="count"><b>{no_data}</b> no data</span>'
    note = (
        f'<p class="meta"><span class="scale">{escape(scale_note)}</span></p>' if scale_note else ""
    )
    return (
        f'<header class="top"><div><h1>{escape(title)}</h1>'
        f'<p class="meta">updated {escape(generated)} UTC</p>{note}</div>'
        f'<div class="verdict" style="--state:{color}">'
        f'<span class="dot"></span>{escape(verdict)}</div>'
        f'<div class="counts">{counts}</div></header>'
    )


def _burn_color(rate: Any, period_days: Any) -> str:
    if not isinstance(rate, int | float):
        return "inherit"
    page_fast, page_slow = fmt.page_factors(period_days)
    if rate > page_fast:
        return fmt.SEVERITY_COLORS["page"]
    if rate > page_slow:
        return fmt.SCORE_BANDS[2][2]
    return fmt.SEVERITY_COLORS["ticket"] if rate > 1.0 else "inherit"


def _budget_color(remaining: Any) -> str:
    if not isinstance(remaining, int | float) or remaining <= 0.2:
        return fmt.SEVERITY_COLORS["page"]
    return fmt.SEVERITY_COLORS["ticket"] if remaining <= 0.5 else fmt.SCORE_BANDS[0][2]


def _voice(doc: Document) -> str:
    mos = doc.get("mos") or {}
    mean, p10 = mos.get("mean") or {}, mos.get("p10") or {}
    if mean.get("outbound") is None and mean.get("inbound") is None:
        return ""
    cells = []
    for direction, arrow in (("outbound", "↑ out"), ("inbound", "↓ in")):
        value = mean.get(direction)
        low = isinstance(value, int | float) and value < 3.6
        style = f' style="color:{fmt.SCORE_BANDS[2][2]}"' if low else ""
        cells.append(
            f'<span class="mos"><small>{arrow}</small> <b{style}>{fmt.mos(value)}</b> '
            f"<small>p10 {fmt.mos(p10.get(direction))}</small></span>"
        )
    return f'<div class="voice"><small>MOS</small>{"".join(cells)}</div>'


def _cause(doc: Document) -> str:
    layer = str(doc.get("suspectedLayer") or "none")
    step = doc.get("failingStep") or ""
    trace = doc.get("exampleTraceId") or ""
    if layer == "none" and not step:
        return '<div class="cause calm">no bad runs to attribute</div>'
    layer_chip = fmt.chip(layer, fmt.LAYER_COLORS.get(layer, fmt.NO_DATA_COLOR))
    step_html = f' <span class="step">step <b>{escape(str(step))}</b></span>' if step else ""
    trace_html = ""
    if trace:
        trace_html = (
            f'<div class="trace"><small>example trace</small><br><code>{escape(str(trace))}</code>'
            "</div>"
        )
    return f'<div class="cause"><small>suspected</small> {layer_chip}{step_html}{trace_html}</div>'


def _since(doc: Document, h: History, scale: float) -> str:
    since, before = state_since(h.times, h.docs[fmt.series_key(doc)])
    name = escape(fmt.state(doc).name)
    if math.isnan(since):
        return name
    length = h.times[-1] - since
    slo_time = ""
    if abs(scale - 1) > 1e-9:
        slo_time = f"<br><small>≈ {fmt.duration(length * scale)} of SLO time</small>"
    if before:
        return f"{name} throughout<br>for <b>{fmt.duration(length)}</b>{slo_time}"
    return (
        f"{name} since <b>{fmt.clock(since)}</b> UTC<br>for <b>{fmt.duration(length)}</b>{slo_time}"
    )


def _trend(doc: Document, h: History) -> str:
    color = fmt.score_band(doc.get("score"))[1]
    points = h.values(fmt.series_key(doc), "score")
    return sparkline(points, color, y_min=0, y_max=100, guide=fmt.HEALTHY_SCORE)


def _objective(percent: Any) -> str:
    value = fmt.finite(percent)
    return fmt.DASH if value is None else f"{value:g}%"


def _tile(label: str, value: str, extra: str = "") -> str:
    return f'<div class="tile"><small>{label}</small><div class="value">{value}</div>{extra}</div>'


def _tiles(doc: Document) -> str:
    slo = doc.get("slo") or {}
    fastest = slo.get("fastestBurn") or {}
    apdex_1h = (doc.get("apdex") or {}).get("1h")
    apdex_value = fmt.finite(apdex_1h)
    rating = "" if apdex_value is None else apdex_rating(apdex_value)
    budget = slo.get("budgetRemaining")
    burn_color = _burn_color(fastest.get("rate"), slo.get("periodDays"))
    window = escape(str(fastest.get("window") or ""))
    return "".join(
        [
            _tile(
                "Apdex 1h",
                f"{fmt.apdex(apdex_1h, doc.get('apdexThreshold'))}",
                f"<small>{escape(rating)}</small>",
            ),
            _tile(
                f"SLO {escape(str(slo.get('periodDays', '')))}d",
                fmt.percent(slo.get("attainment"), 2),
                f"<small>objective {_objective(slo.get('objective'))}</small>",
            ),
            _tile(
                "Budget left", fmt.percent(budget), meter(budget, _budget_color(budget), 140, 10)
            ),
            _tile(
                "Fastest burn",
                f'<span style="color:{burn_color}">{fmt.burn(fastest.get("rate"))}'
                f"</span> <small>{window}</small>",
            ),
        ]
    )


def card(doc: Document, h: History, time_scale: float = 1.0) -> str:
    """One journey at one location: the verdict, the numbers, since when, and the cause."""
    verdict = fmt.state(doc)
    band, band_color = fmt.score_band(doc.get("score"))
    firing = [str(s) for s in doc.get("firing") or ()]
    pill = '<span class="pill" style="--state:{}">{}</span>'
    pills = "".join(
        pill.format(fmt.SEVERITY_COLORS.get(s, fmt.NO_DATA_COLOR), escape(s)) for s in firing
    ) or pill.format(verdict.color, escape(verdict.name))
    key = escape(fmt.series_key(doc))
    name = escape(fmt.journey_label(doc, h.shared_namespace))
    where = f"{escape(str(doc.get('location')))} · {escape(str(doc.get('type') or ''))}"
    return (
        f'<article class="card" style="--state:{verdict.color}" data-series="{key}">'
        f'<div class="card-head"><div><h3>{name}</h3><p class="sub">{where}</p></div>'
        f'<div class="pills">{pills}</div></div>'
        f'<div class="headline"><div class="score" style="color:{band_color}">'
        f'<span class="big">{fmt.score(doc.get("score"))}</span>'
        f'<span class="band">score · {escape(band)}</span></div>'
        f'<div class="trend"><p class="since">{_since(doc, h, time_scale)}</p>'
        f"{_trend(doc, h)}</div></div>"
        f'<div class="tiles">{_tiles(doc)}</div>{_cause(doc)}{_voice(doc)}</article>'
    )
