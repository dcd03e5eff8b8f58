"""Every series of a report aligned on the snapshot times, with its label and colour (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cxj_processors.report import axes
from cxj_processors.report import formats as fmt
from cxj_processors.report.model import Document


@dataclass(frozen=True)
class History:
    """The series of the report, aligned on the snapshot times."""

    times: list[float]
    keys: list[str]  # sorted: colours stay put as journeys come and go
    docs: dict[str, list[Document | None]]
    labels: dict[str, str]
    colors: dict[str, str]
    markers: list[axes.Marker]
    shared_namespace: bool  # every journey in one namespace: labels leave it out

    def values(self, key: str, *path: str) -> list[tuple[float, float | None]]:
        """(time, number at path) for every snapshot; None where the series or number is missing.

        Example: ``values(key, "slo", "burnRates", "1h")``.
        """
        points: list[tuple[float, float | None]] = []
        for t, doc in zip(self.times, self.docs[key], strict=True):
            value: Any = doc
            for field in path:
                value = value.get(field) if isinstance(value, dict) else None
            points.append((t, fmt.finite(value)))
        return points

    def frame(self, **kwargs: Any) -> axes.Frame:
        """A chart frame over the report's time range, with the notes as markers."""
        start, end = self.times[0], self.times[-1]
        if end - start < 1:
            start = end - 60
        return axes.Frame(start=start, end=end, markers=self.markers, **kwargs)


def history(
    snapshots: Sequence[tuple[float, list[Document]]],
    notes: Sequence[tuple[float, str]],
) -> History:
    """Aligns every series on the snapshot times and gives each a label and a colour."""
    keys = sorted({fmt.series_key(d) for _, docs in snapshots for d in docs})
    shared = len({d["namespace"] for _, docs in snapshots for d in docs}) == 1
    docs: dict[str, list[Document | None]] = {k: [] for k in keys}
    labels: dict[str, str] = {}
    for _, snapshot in snapshots:
        present = {fmt.series_key(d): d for d in snapshot}
        for key in keys:
            docs[key].append(present.get(key))
            if key in present:
                labels[key] = fmt.series_label(present[key], shared)
    colors = {k: fmt.SERIES_COLORS[i % len(fmt.SERIES_COLORS)] for i, k in enumerate(keys)}
    markers = [axes.Marker(t, str(i + 1)) for i, (t, _) in enumerate(notes)]
    return History([t for t, _ in snapshots], keys, docs, labels, colors, markers, shared)
