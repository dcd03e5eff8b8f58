"""The live overview the processor serves at /: the report, built from recent evaluations."""

from __future__ import annotations

import time
from typing import Any

from cxj_processors.pipeline import Pipeline
from cxj_processors.report.model import ReportData
from cxj_processors.report.render import render_report
from cxj_processors.status import journey_document


def alert_transitions(snapshots: list[tuple[float, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """Alert fired/resolved events, derived from successive evaluations."""
    firing: dict[tuple[str, str, str], bool] = {}
    events = []
    for t, documents in snapshots:
        for d in documents:
            for severity in ("page", "ticket"):
                key = (f"{d['namespace']}/{d['name']}", d["location"], severity)
                now = severity in d["firing"]
                if now != firing.get(key, False):
                    events.append(
                        {
                            "t": t,
                            "journey": key[0],
                            "location": key[1],
                            "severity": severity,
                            "state": "fired" if now else "resolved",
                            "layer": d["suspectedLayer"],
                            "step": d["failingStep"],
                            "traceId": d["exampleTraceId"],
                        }
                    )
                firing[key] = now
    return events


def render_overview(pipeline: Pipeline) -> str:
    """Returns the live page (it refreshes itself)."""
    snapshots = [
        (t, [journey_document(entry) for entry in statuses.values()])
        for t, statuses in list(pipeline.history)
    ]
    data = ReportData(
        title="cxjourney: journey experience",
        generated_at=time.time(),
        time_scale=pipeline.config.time_scale,
        snapshots=snapshots,
        alerts=alert_transitions(snapshots),
    )
    return render_report(data, live=True)
