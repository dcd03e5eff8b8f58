"""Turning a standalone run's history into the HTML report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from cxj_processors.report.model import ReportData
from cxj_processors.report.render import render_report
from cxj_processors.status import journey_document


def report_data(standalone: Any) -> ReportData:
    """Collects the processor's evaluation history and the run's alerts, worst runs and notes."""
    pipeline = standalone.processor.pipeline
    snapshots = [
        (t, [journey_document(entry) for entry in statuses.values()])
        for t, statuses in list(pipeline.history)
    ]
    worst = sorted(
        standalone.recorded.worst_runs, key=lambda r: (r["outcome"] != "failure", -r["durationMs"])
    )[:25]
    return ReportData(
        title=standalone.options.title,
        generated_at=time.time(),
        time_scale=standalone.options.time_scale,
        snapshots=snapshots,
        alerts=list(standalone.recorded.alerts),
        worst_runs=worst,
        notes=list(standalone.recorded.notes),
    )


def write_report(standalone: Any, path: Path) -> None:
    """Writes the self-contained HTML report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(report_data(standalone)), encoding="utf-8")
