"""The demo's story as JSON lines (`cxj demo --events PATH`), for scripts and tests.

One object per line, each with `t` (unix seconds) and `kind`:

* `start`: the scenario, its duration and time scale, the status API's URL, the stack's ports;
* `phase`: the scenario enters a phase (`action` healthy | voice | desktop, and its `note`);
* `run`: one journey run with every step's outcome, duration, threshold and measurements;
* `evaluation`: the per-journey summaries the live view shows, once per evaluation;
* `alert`: a page or ticket fired or resolved, with the journey's summary at that moment;
* `report`: where the HTML report was written.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from cxj_journey.model import Journey
from cxj_probe.runner import RunResult


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 3)


def _finite(value: float) -> float | None:
    return round(value, 6) if math.isfinite(value) else None


def run_event(journey: Journey, location: str, result: RunResult) -> dict[str, Any]:
    """A run as the `run` event shows it (pure)."""
    return {
        "journey": f"{journey.namespace}/{journey.name}",
        "location": location,
        "outcome": result.outcome,
        "durationMs": _ms(result.duration_s),
        "traceId": result.trace_id,
        "steps": [
            {
                "name": step.name,
                "type": step.kind,
                "layer": step.layer,
                "ok": outcome.ok,
                "error": outcome.error_type,
                "durationMs": _ms(outcome.duration_s),
                "thresholdMs": _ms(step.threshold_s),
                "measurements": {k: _finite(v) for k, v in sorted(outcome.measurements.items())},
            }
            for step, outcome in result.steps
        ],
    }


class EventLog:
    """Appends events to a file, one JSON object per line, flushed as each is written."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: IO[str] = path.open("w", encoding="utf-8")

    def write(self, kind: str, **fields: Any) -> None:
        """Writes one event now."""
        self._file.write(json.dumps({"t": time.time(), "kind": kind, **fields}) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Closes the file."""
        self._file.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def follow(log: EventLog, standalone: Any) -> None:
    """Writes a standalone run's runs, evaluations and alerts to the log as they happen."""
    standalone.run_hooks.append(
        lambda journey, result: log.write("run", **run_event(journey, "local", result))
    )
    standalone.on_evaluation.append(lambda summaries: log.write("evaluation", journeys=summaries))
    standalone.alert_hooks.append(
        lambda alert, summary: log.write("alert", summary=summary, **alert)
    )
