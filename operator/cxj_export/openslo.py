"""OpenSLO v1 documents for a journey's SLO: Service, SLO, AlertPolicies and notification targets.

The SLI is the share of successful runs of the probes' run counter, read from Prometheus.
OpenSLO allows one condition per AlertPolicy, so each multiwindow rule becomes its own
policy: a burn-rate condition over the long window (`lookbackWindow`) that must hold over
the short window (`alertAfter`) too. Sinks become notification targets by kind, never with
their credentials.
"""

from __future__ import annotations

from typing import Any

from cxj_export.sli import (
    MetricSource,
    alert_rules,
    dns_label,
    number,
    period,
    runs_selector,
    timeslice,
)
from cxj_journey.model import Journey

API_VERSION = "openslo/v1"
SOURCE_ANNOTATION = "cxjourney.dev/journey"

Document = dict[str, Any]


def _metadata(journey: Journey, name: str, display: str) -> dict[str, Any]:
    return {
        "name": name,
        "displayName": display,
        "annotations": {SOURCE_ANNOTATION: f"{journey.namespace}/{journey.name}"},
    }


def _query(journey: Journey, source: MetricSource, outcome: str) -> dict[str, Any]:
    return {
        "metricSource": {
            "type": "Prometheus",
            "spec": {"query": f"sum({runs_selector(journey, source, outcome)})"},
        }
    }


def build_service(journey: Journey) -> Document:
    """The Service the journey's SLO belongs to: the journey itself."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Service",
        "metadata": _metadata(
            journey, dns_label(journey.name), f"{journey.namespace}/{journey.name}"
        ),
        "spec": {"description": journey.description or f"The {journey.type} journey."},
    }


def _policy_name(journey: Journey, severity: str, long_window: str, short_window: str) -> str:
    return dns_label(journey.name, severity, long_window, short_window)


def _target_name(journey: Journey, sink: str) -> str:
    return dns_label(journey.name, sink)


def build_notification_targets(journey: Journey) -> list[Document]:
    """One AlertNotificationTarget per alerting sink, named after it (no credentials)."""
    return [
        {
            "apiVersion": API_VERSION,
            "kind": "AlertNotificationTarget",
            "metadata": _metadata(journey, _target_name(journey, sink.name), sink.name),
            "spec": {
                "target": sink.kind,
                "description": f"The journey's {sink.kind} sink {sink.name!r} "
                f"({', '.join(sink.severities)}).",
            },
        }
        for sink in journey.alerting.sinks
    ]


def build_alert_policies(journey: Journey) -> list[Document]:
    """One AlertPolicy per burn-rate rule, each with its single inline condition."""
    policies = []
    for rule in alert_rules(journey):
        name = _policy_name(journey, rule.severity, rule.long_window, rule.short_window)
        spent = f"{number(rule.budget_fraction * 100)} %"
        policies.append(
            {
                "apiVersion": API_VERSION,
                "kind": "AlertPolicy",
                "metadata": _metadata(
                    journey, name, f"{rule.severity}: {rule.long_window}/{rule.short_window}"
                ),
                "spec": {
                    "description": f"{spent} of the {period(journey)} error budget spent within "
                    f"{rule.long_window}: burn rate above {number(rule.factor)} over both "
                    f"{rule.long_window} and {rule.short_window}.",
                    "alertWhenNoData": False,
                    "alertWhenBreaching": True,
                    "alertWhenResolved": False,
                    "conditions": [
                        {
                            "kind": "AlertCondition",
                            "metadata": {"name": name},
                            "spec": {
                                "severity": rule.severity,
                                "condition": {
                                    "kind": "burnrate",
                                    "threshold": float(number(rule.factor)),
                                    "lookbackWindow": rule.long_window,
                                    "alertAfter": rule.short_window,
                                },
                            },
                        }
                    ],
                    "notificationTargets": [
                        {"targetRef": _target_name(journey, sink.name)}
                        for sink in journey.alerting.sinks
                        if rule.severity in sink.severities
                    ],
                },
            }
        )
    return policies


def build_slo(journey: Journey, source: MetricSource) -> Document:
    """The SLO: good runs over all runs, the objective, the rolling period and its policies."""
    slo = journey.slo
    objective: dict[str, Any] = {
        "displayName": f"{number(slo.objective_percent)} % good runs",
        "target": float(number(slo.target)),
    }
    budgeting = "Occurrences"
    if slo.budgeting == "timeslices":
        budgeting = "Timeslices"
        objective["timeSliceTarget"] = float(number(slo.slice_objective_percent / 100.0))
        objective["timeSliceWindow"] = timeslice(journey)
    return {
        "apiVersion": API_VERSION,
        "kind": "SLO",
        "metadata": _metadata(
            journey, dns_label(journey.name), f"{journey.namespace}/{journey.name} good runs"
        ),
        "spec": {
            "description": "Share of journey runs that succeeded and met every step threshold.",
            "service": dns_label(journey.name),
            "indicator": {
                "metadata": {"name": dns_label(journey.name, "good-runs")},
                "spec": {
                    "ratioMetric": {
                        "counter": True,
                        "good": _query(journey, source, "good"),
                        "total": _query(journey, source, "all"),
                    }
                },
            },
            "timeWindow": [{"duration": period(journey), "isRolling": True}],
            "budgetingMethod": budgeting,
            "objectives": [objective],
            "alertPolicies": [
                _policy_name(journey, r.severity, r.long_window, r.short_window)
                for r in alert_rules(journey)
            ],
        },
    }


def build_openslo(journey: Journey, source: MetricSource | None = None) -> list[Document]:
    """Every OpenSLO document of one journey, referenced objects first."""
    return [
        build_service(journey),
        *build_notification_targets(journey),
        *build_alert_policies(journey),
        build_slo(journey, source or MetricSource()),
    ]
