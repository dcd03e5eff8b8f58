"""What the HTML report is made of: journey snapshots over time, alerts, worst runs, notes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

Document = dict[str, Any]  # one journey document, as status.journey_document() returns it


@dataclass(frozen=True)
class ReportData:
    """Everything one report shows; the renderer reads nothing else (no clock, no I/O).

    Attributes:
        title: Page title, e.g. "cxjourney demo".
        generated_at: Unix seconds when the data was collected.
        time_scale: SLO seconds per wall second shown: 1.0 normally, e.g. 60 when a demo
            compresses an hour of SLO time into a minute.
        snapshots: (unix seconds, journey documents) oldest first, e.g. one per evaluation.
        alerts: Alert transitions: {"t", "journey": "ns/name", "location", "severity":
            "page"|"ticket", "state": "fired"|"resolved", "layer", "step", "traceId"}.
        worst_runs: {"t", "journey", "location", "outcome": "failure"|"degraded", "step",
            "layer", "traceId", "durationMs"}.
        notes: (unix seconds, text) narrative markers, e.g. the phases of a demo.
    """

    title: str
    generated_at: float
    time_scale: float = 1.0
    snapshots: list[tuple[float, list[Document]]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    worst_runs: list[dict[str, Any]] = field(default_factory=list)
    notes: list[tuple[float, str]] = field(default_factory=list)


def to_json(data: ReportData) -> dict[str, Any]:
    """The report data as a JSON-ready dict (the inverse of from_json)."""
    return {
        "title": data.title,
        "generatedAt": data.generated_at,
        "timeScale": data.time_scale,
        "snapshots": [{"t": t, "journeys": docs} for t, docs in data.snapshots],
        "alerts": data.alerts,
        "worstRuns": data.worst_runs,
        "notes": [{"t": t, "text": text} for t, text in data.notes],
    }


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(
            f"{path}: must be a finite number (unix seconds or a ratio), got {value!r}"
        )
    return float(value)


def _list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{path}: must be a list, got {type(value).__name__}")
    return value


def _mapping(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{path}: must be an object, got {type(value).__name__}")
    return value


def from_json(document: Any) -> ReportData:
    """Reads report data written by to_json.

    Raises:
        ValueError: naming the field that is wrong and what it must be.
    """
    root = _mapping(document, "report")
    title = root.get("title", "cxjourney")
    if not isinstance(title, str):
        raise ValueError(f"report.title: must be a string, got {type(title).__name__}")
    snapshots: list[tuple[float, list[Document]]] = []
    previous = -math.inf
    for i, item in enumerate(_list(root.get("snapshots"), "report.snapshots")):
        path = f"report.snapshots[{i}]"
        t = _number(_mapping(item, path).get("t"), f"{path}.t")
        if t < previous:
            raise ValueError(f"{path}.t: snapshots must be oldest first, {t} < {previous}")
        previous = t
        journeys = _list(item.get("journeys"), f"{path}.journeys")
        for j, doc in enumerate(journeys):
            for key in ("namespace", "name", "location"):
                if not isinstance(_mapping(doc, f"{path}.journeys[{j}]").get(key), str):
                    raise ValueError(f"{path}.journeys[{j}].{key}: must be a string")
        snapshots.append((t, journeys))
    notes = []
    for i, note in enumerate(_list(root.get("notes"), "report.notes")):
        path = f"report.notes[{i}]"
        text = _mapping(note, path).get("text")
        if not isinstance(text, str):
            raise ValueError(f"{path}.text: must be a string")
        notes.append((_number(note.get("t"), f"{path}.t"), text))
    alerts = _list(root.get("alerts"), "report.alerts")
    runs = _list(root.get("worstRuns"), "report.worstRuns")
    for name, items in (("alerts", alerts), ("worstRuns", runs)):
        for i, item in enumerate(items):
            _number(_mapping(item, f"report.{name}[{i}]").get("t"), f"report.{name}[{i}].t")
    scale = _number(root.get("timeScale", 1.0), "report.timeScale")
    if scale <= 0:
        raise ValueError(f"report.timeScale: must be positive (1 = real time), got {scale}")
    return ReportData(
        title=title,
        generated_at=_number(root.get("generatedAt"), "report.generatedAt"),
        time_scale=scale,
        snapshots=snapshots,
        alerts=alerts,
        worst_runs=runs,
        notes=notes,
    )
