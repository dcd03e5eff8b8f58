"""Prometheus recording and alerting rules for a journey's SLO (multiwindow, multi-burn-rate).

Three groups per journey, read top to bottom: the SLI's error ratio over every alerting
window and the period; the SLO's meta series (objective, budget, burn rates, budget left);
the alerts. Under time-slice budgeting a fourth group judges one slice per evaluation.
Thresholds and windows are the processor's own (docs/scoring.md), so both alert alike.
"""

from __future__ import annotations

from typing import Any

from cxj_export.sli import (
    WINDOW_S,
    MetricSource,
    alert_rules,
    error_budget,
    number,
    period,
    promql_string,
    runs_selector,
    timeslice,
)
from cxj_journey.model import Journey

ERROR_RATIO = "cxj:sli_error:ratio_rate"  # + window, e.g. cxj:sli_error:ratio_rate5m
SLICE_GOOD = "cxj:sli_slice:good"
OBJECTIVE = "cxj:slo_objective:ratio"
BUDGET = "cxj:slo_error_budget:ratio"
PERIOD_DAYS = "cxj:slo_period:days"
BURN_RATE = "cxj:slo_burn_rate:ratio"
BUDGET_REMAINING = "cxj:slo_error_budget_remaining:ratio"
ALERT = "CxJourneyErrorBudgetBurn"
WINDOW_LABEL = "cxj_window"
SLICE_TOLERANCE = 1e-9  # "95" of 20 runs is 19 good runs, whatever the rounding of 0.95

Rule = dict[str, Any]


def journey_labels(journey: Journey) -> dict[str, str]:
    """The labels every recorded series and alert of a journey carries."""
    return {"cxj_journey": journey.name, "cxj_namespace": journey.namespace}


def _own(journey: Journey) -> str:
    """Matchers selecting a journey's recorded series."""
    return ",".join(
        f"{name}={promql_string(value)}" for name, value in journey_labels(journey).items()
    )


def _windows(journey: Journey) -> list[str]:
    """The alerting windows and the period (once, when the period is itself one, e.g. 1d)."""
    return list(dict.fromkeys([*WINDOW_S, period(journey)]))


def _occurrence_ratio(journey: Journey, source: MetricSource, window: str) -> str:
    bad = runs_selector(journey, source, "bad")
    every = runs_selector(journey, source)
    # A journey without a single bad run has no bad series: `or` makes its ratio 0, not absent.
    return (
        f"(\n  sum(rate({bad}[{window}]))\n  or\n  0 * sum(rate({every}[{window}]))\n)\n"
        f"/\nsum(rate({every}[{window}]))\n"
    )


def _slice_ratio(journey: Journey, window: str) -> str:
    return f"1 - avg_over_time({SLICE_GOOD}{{{_own(journey)}}}[{window}])\n"


def sli_group(journey: Journey, source: MetricSource) -> dict[str, Any]:
    """Error ratio over each alerting window and the SLO period."""
    slices = journey.slo.budgeting == "timeslices"
    rules = [
        {
            "record": f"{ERROR_RATIO}{window}",
            "expr": (
                _slice_ratio(journey, window)
                if slices
                else _occurrence_ratio(journey, source, window)
            ),
            "labels": {**journey_labels(journey), WINDOW_LABEL: window},
        }
        for window in _windows(journey)
    ]
    return {"name": f"cxj-{journey.namespace}-{journey.name}-sli", "rules": rules}


def slice_group(journey: Journey, source: MetricSource) -> dict[str, Any]:
    """One verdict per slice: 1 when the slice's good share meets the slice objective.

    The group is evaluated once per slice length, so each sample is one slice; a slice
    without runs records nothing, so it counts neither good nor bad.
    """
    length = timeslice(journey)
    good = runs_selector(journey, source, "good")
    every = runs_selector(journey, source)
    target = journey.slo.slice_objective_percent / 100.0 - SLICE_TOLERANCE
    expr = (
        f"(\n  (\n    sum(increase({good}[{length}]))\n    or\n"
        f"    0 * sum(increase({every}[{length}]))\n  )\n"
        f"  /\n  sum(increase({every}[{length}]))\n  >= bool {number(target)}\n)\n"
        f"and\nsum(increase({every}[{length}])) > 0\n"
    )
    return {
        "name": f"cxj-{journey.namespace}-{journey.name}-slices",
        "interval": length,
        "rules": [{"record": SLICE_GOOD, "expr": expr, "labels": journey_labels(journey)}],
    }


def meta_group(journey: Journey) -> dict[str, Any]:
    """Objective, budget, period, burn rate per window and the budget left in the period."""
    labels = journey_labels(journey)
    budget = number(error_budget(journey))
    own = _own(journey)
    rules: list[Rule] = [
        {"record": OBJECTIVE, "expr": f"vector({number(journey.slo.target)})", "labels": labels},
        {"record": BUDGET, "expr": f"vector({budget})", "labels": labels},
        {"record": PERIOD_DAYS, "expr": f"vector({journey.slo.period_days})", "labels": labels},
    ]
    rules += [
        {
            "record": BURN_RATE,
            "expr": f"{ERROR_RATIO}{window}{{{own}}} / {budget}",
            "labels": {**labels, WINDOW_LABEL: window},
        }
        for window in _windows(journey)
    ]
    rules.append(
        {
            "record": BUDGET_REMAINING,
            "expr": f"1 - {ERROR_RATIO}{period(journey)}{{{own}}} / {budget}",
            "labels": labels,
        }
    )
    return {"name": f"cxj-{journey.namespace}-{journey.name}-meta", "rules": rules}


def _over(journey: Journey, window: str, factor: float) -> str:
    threshold = f"({number(factor)} * {number(error_budget(journey))})"
    series = f"{ERROR_RATIO}{window}{{{_own(journey)}}}"
    return f"max without ({WINDOW_LABEL}) ({series}) > {threshold}"


def _annotations(journey: Journey, severity: str) -> dict[str, str]:
    rules = [r for r in alert_rules(journey) if r.severity == severity]
    windows = " or ".join(
        f"{r.long_window} and {r.short_window} above {number(r.factor)}x" for r in rules
    )
    annotations = {
        "summary": f"Journey {journey.namespace}/{journey.name} is burning its error budget "
        f"too fast ({severity})",
        "description": f"The share of bad runs burns the {number(journey.slo.objective_percent)}"
        f"% {period(journey)} SLO's error budget faster than allowed over both windows of a "
        f"rule: {windows}.",
    }
    if journey.alerting.runbook_url:
        annotations["runbook_url"] = journey.alerting.runbook_url
    return annotations


def alert_group(journey: Journey) -> dict[str, Any]:
    """A page alert and a ticket alert, each firing when any of its window pairs burns too fast."""
    rules: list[Rule] = []
    for severity in ("page", "ticket"):
        pairs = [
            f"(\n  {_over(journey, r.long_window, r.factor)}\n  and\n"
            f"  {_over(journey, r.short_window, r.factor)}\n)"
            for r in alert_rules(journey)
            if r.severity == severity
        ]
        rules.append(
            {
                "alert": ALERT,
                "expr": "\nor\n".join(pairs) + "\n",
                "labels": {"severity": severity},
                "annotations": _annotations(journey, severity),
            }
        )
    return {"name": f"cxj-{journey.namespace}-{journey.name}-alerts", "rules": rules}


def build_rule_groups(journey: Journey, source: MetricSource | None = None) -> list[dict[str, Any]]:
    """Every rule group of one journey, in evaluation order."""
    metric = source or MetricSource()
    groups = [sli_group(journey, metric), meta_group(journey), alert_group(journey)]
    if journey.slo.budgeting == "timeslices":
        groups.insert(0, slice_group(journey, metric))
    return groups


def build_rules_file(journeys: list[Journey], source: MetricSource | None = None) -> dict[str, Any]:
    """A Prometheus rules file (`groups:`) for the journeys."""
    return {"groups": [g for j in journeys for g in build_rule_groups(j, source)]}
