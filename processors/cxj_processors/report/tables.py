"""The report's tables: the worst runs, or on the live page the example traces (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from cxj_processors.report import formats as fmt
from cxj_processors.report.formats import chip
from cxj_processors.report.history import History
from cxj_processors.report.model import Document
from cxj_processors.report.sections import panel

MAX_TABLE_ROWS = 10


def _table(headers: str, rows: Sequence[str], total: int) -> str:
    """A table of the first rows, and how many more there were when total exceeds them."""
    more = total - len(rows)
    tail = f'<p class="more">and {more} more</p>' if more > 0 else ""
    return f"<table><thead><tr>{headers}</tr></thead><tbody>{''.join(rows)}</tbody></table>{tail}"


def runs_panel(runs: Sequence[dict[str, Any]]) -> str:
    """The worst runs, failures first then the slowest, with their trace ids."""
    rank = {"failure": 0, "degraded": 1}
    ordered = sorted(
        runs, key=lambda r: (rank.get(str(r.get("outcome")), 2), -float(r.get("durationMs") or 0))
    )
    rows = []
    for run in ordered[:MAX_TABLE_ROWS]:
        outcome = str(run.get("outcome", ""))
        severity = "page" if outcome == "failure" else "ticket"
        layer = str(run.get("layer") or "")
        cells = [
            fmt.clock(float(run["t"])),
            escape(str(run.get("journey", ""))),
            escape(str(run.get("location", ""))),
            chip(outcome, fmt.SEVERITY_COLORS[severity]),
            escape(str(run.get("step") or fmt.DASH)),
            chip(layer or fmt.DASH, fmt.LAYER_COLORS.get(layer, fmt.NO_DATA_COLOR)),
        ]
        rows.append(
            "<tr>"
            + "".join(f"<td>{cell}</td>" for cell in cells)
            + f'<td class="num">{fmt.milliseconds(run.get("durationMs"))}</td>'
            + f"<td><code>{escape(str(run.get('traceId') or fmt.DASH))}</code></td></tr>"
        )
    if not rows:
        return panel("Worst runs", "", '<p class="empty">No failed or degraded run recorded.</p>')
    table = _table(
        "<th>UTC</th><th>Journey</th><th>Location</th><th>Outcome</th><th>Step</th>"
        "<th>Layer</th><th class=num>Duration</th><th>Trace id</th>",
        rows,
        len(ordered),
    )
    return panel(
        "Worst runs",
        "failures first, then the slowest · open a trace id in your tracing backend",
        table,
    )


def example_runs_panel(h: History) -> str:
    """The live page's stand-in for the worst runs: each example trace the processor named.

    The processor keeps no list of runs, only, per journey and location, an example trace of
    a recent bad run; every new one is listed, newest first, with the step and layer blamed
    when it appeared.
    """
    seen: dict[str, tuple[float, str, Document]] = {}
    for key in h.keys:
        for t, doc in zip(h.times, h.docs[key], strict=True):
            trace = str((doc or {}).get("exampleTraceId") or "")
            if doc is not None and trace and trace not in seen:
                seen[trace] = (t, key, doc)
    rows = []
    for trace, (t, key, doc) in sorted(seen.items(), key=lambda item: -item[1][0])[:MAX_TABLE_ROWS]:
        layer = str(doc.get("suspectedLayer") or "")
        cells = [
            fmt.clock(t),
            escape(h.labels.get(key, key)),
            escape(str(doc.get("failingStep") or fmt.DASH)),
            chip(layer or fmt.DASH, fmt.LAYER_COLORS.get(layer, fmt.NO_DATA_COLOR)),
            f"<code>{escape(trace)}</code>",
        ]
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    if not rows:
        return panel("Recent bad runs", "", '<p class="empty">No failed or degraded run yet.</p>')
    table = _table(
        "<th>Seen (UTC)</th><th>Journey</th><th>Step</th><th>Layer</th><th>Example trace id</th>",
        rows,
        len(seen),
    )
    return panel(
        "Recent bad runs",
        "an example trace per journey, newest first · open it in your tracing backend",
        table,
    )
