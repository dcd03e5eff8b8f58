"""What the exports measure: the journey's good-run SLI, as PromQL over the probes' run counter.

Pure: journey and metric naming in, strings out. The windows and burn-rate factors come from
the processor's SLO module, so an export alerts exactly when the processor does.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass

from cxj_journey.model import Journey
from cxj_processors.model import WINDOW_SECONDS, WINDOWS
from cxj_processors.slo import BurnRateRule, burn_rate_rules

WINDOW_S = dict(zip(WINDOWS, WINDOW_SECONDS, strict=True))
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_DNS_LABEL_MAX = 63
# Slices are judged on one-minute buckets and settled within an hour (docs/scoring.md).
_SLICE_MIN_MINUTES, _SLICE_MAX_MINUTES = 1, 60


class ExportError(ValueError):
    """A setting the export cannot use; the message names it and the fix."""


@dataclass(frozen=True)
class MetricSource:
    """Where the probes' `cx.journey.runs` counter lives in Prometheus and how it is labelled.

    The defaults are the names the collector's Prometheus exporter and Prometheus' own OTLP
    receiver give the counter. `matchers` adds equality matchers, e.g. the job or, with
    resource attributes promoted to labels, `cx_journey_namespace`.
    """

    metric: str = "cx_journey_runs_total"
    journey_label: str = "cx_journey_name"
    outcome_label: str = "outcome"
    good_outcome: str = "success"
    matchers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not _METRIC_NAME.match(self.metric):
            raise ExportError(f"--metric: {self.metric!r} is not a Prometheus metric name")
        for label in (self.journey_label, self.outcome_label, *(n for n, _ in self.matchers)):
            if not _LABEL_NAME.match(label):
                raise ExportError(
                    f"--match: {label!r} is not a Prometheus label name (letters, digits, _)"
                )


def promql_string(value: str) -> str:
    """Returns value as a double-quoted PromQL string literal."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def runs_selector(journey: Journey, source: MetricSource, outcome: str = "all") -> str:
    """The series selector of a journey's runs: all, good (success) or bad (anything else)."""
    matchers = [(source.journey_label, "=", journey.name)]
    matchers += [(name, "=", value) for name, value in source.matchers]
    if outcome == "good":
        matchers.append((source.outcome_label, "=", source.good_outcome))
    elif outcome == "bad":
        matchers.append((source.outcome_label, "!=", source.good_outcome))
    elif outcome != "all":
        raise ValueError(f"outcome: expected all, good or bad, got {outcome!r}")
    body = ",".join(f"{name}{op}{promql_string(value)}" for name, op, value in matchers)
    return f"{source.metric}{{{body}}}"


def number(value: float) -> str:
    """A number as rules print it: up to ten significant digits, no trailing noise."""
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    return f"{value:.10g}"


def error_budget(journey: Journey) -> float:
    """The error budget as a ratio, 1 - objective (0.005 for 99.5 %)."""
    return round(1.0 - journey.slo.target, 12)


def period(journey: Journey) -> str:
    """The SLO period as a duration, e.g. 30d."""
    return f"{journey.slo.period_days}d"


def alert_rules(journey: Journey) -> tuple[BurnRateRule, ...]:
    """The four multiwindow burn-rate rules for the journey's SLO period."""
    return burn_rate_rules(journey.slo.period_days)


def timeslice(journey: Journey) -> str:
    """The slice length as the processor judges it: whole minutes between 1 and 60, e.g. 5m.

    Raises:
        ExportError: when the journey does not budget by time slices.
    """
    if journey.slo.budgeting != "timeslices" or journey.slo.timeslice_s is None:
        raise ExportError(
            f"{journey.namespace}/{journey.name}: spec.slo.budgeting is "
            f"{journey.slo.budgeting}, so it has no time slices"
        )
    minutes = math.floor(journey.slo.timeslice_s / 60 + 0.5)
    return f"{min(max(minutes, _SLICE_MIN_MINUTES), _SLICE_MAX_MINUTES)}m"


def dns_label(*parts: str) -> str:
    """Joins parts into a DNS label (lowercase, at most 63 characters) for document names.

    A name that would be longer keeps its start and ends in a short hash of the whole, so
    different long names stay different.
    """
    text = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    if len(text) <= _DNS_LABEL_MAX:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{text[: _DNS_LABEL_MAX - 9].rstrip('-')}-{digest}"
