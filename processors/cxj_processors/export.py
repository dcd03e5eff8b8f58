"""Derived metrics as an OTLP ExportMetricsServiceRequest (pure: statuses in, bytes out).

Every name here is public (docs/telemetry.md); attributes are low-cardinality: journey,
namespace, type, location, and a window, severity, layer, direction or statistic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2

from cxj_journey import __version__
from cxj_journey import telemetry as names
from cxj_processors.pipeline import Counters, JourneyStatus

Attributes = Mapping[str, str | float]


@dataclass(frozen=True)
class QueueFigures:
    """The outgoing queues' state when a request is built (exported as cx.processor.export.*)."""

    queued: int = 0
    dropped: int = 0
    rejected: int = 0
    retries: int = 0


def _attributes(values: Attributes) -> list[common_pb2.KeyValue]:
    out = []
    for key, value in values.items():
        any_value = (
            common_pb2.AnyValue(string_value=value)
            if isinstance(value, str)
            else common_pb2.AnyValue(double_value=float(value))
        )
        out.append(common_pb2.KeyValue(key=key, value=any_value))
    return out


class _Builder:
    def __init__(self, time_ns: int) -> None:
        self.time_ns = time_ns
        self.metrics: dict[str, metrics_pb2.Metric] = {}

    def gauge(
        self, name: str, unit: str, description: str, value: float, attributes: Attributes
    ) -> None:
        if value is None or math.isnan(value):
            return  # unknown is absent, never a fabricated default
        metric = self.metrics.get(name)
        if metric is None:
            metric = metrics_pb2.Metric(name=name, unit=unit, description=description)
            self.metrics[name] = metric
        point = metric.gauge.data_points.add(time_unix_nano=self.time_ns, as_double=float(value))
        point.attributes.extend(_attributes(attributes))

    def counter(self, name: str, unit: str, description: str, value: int, start_ns: int) -> None:
        metric = metrics_pb2.Metric(name=name, unit=unit, description=description)
        metric.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
        metric.sum.is_monotonic = True
        metric.sum.data_points.add(
            start_time_unix_nano=start_ns, time_unix_nano=self.time_ns, as_int=int(value)
        )
        self.metrics[name] = metric


def build_request(
    statuses: Iterable[JourneyStatus],
    counters: Counters,
    *,
    time_ns: int,
    start_ns: int,
    queues: QueueFigures,
) -> bytes:
    """Returns the serialized request carrying every derived metric of this evaluation."""
    b = _Builder(time_ns)
    for entry in statuses:
        s, contract = entry.status, entry.contract
        base: dict[str, str | float] = {
            names.JOURNEY_NAME: entry.key.journey,
            names.JOURNEY_NAMESPACE: entry.key.namespace,
            names.JOURNEY_TYPE: entry.journey_type,
            names.LOCATION: entry.key.location,
        }
        b.gauge(
            "cx.journey.slo.objective", "1", "SLO objective as a ratio", contract.objective, base
        )
        b.gauge(
            "cx.journey.slo.attainment", "1", "Good share over the SLO period", s.attainment, base
        )
        b.gauge(
            "cx.journey.slo.error_budget.remaining",
            "1",
            "Share of the period's error budget left",
            s.budget_remaining,
            base,
        )
        for window, rate in s.burn_rates.items():
            b.gauge(
                "cx.journey.slo.burn_rate",
                "1",
                "Error-budget burn rate per window",
                rate,
                {**base, "cx.window": window},
            )
        for severity, firing in s.alerts.items():
            b.gauge(
                "cx.journey.slo.alert",
                "1",
                "Multiwindow burn-rate alert: 1 firing, 0 not",
                1.0 if firing else 0.0,
                {**base, "cx.severity": severity},
            )
        for window, apdex in s.apdex.items():
            b.gauge(
                "cx.journey.apdex",
                "1",
                "Apdex of whole runs",
                apdex,
                {**base, "cx.window": window, "cx.apdex.threshold": contract.apdex_t_s},
            )
        b.gauge(
            "cx.journey.experience.score",
            "1",
            "Composite experience score, 0 to 100",
            s.score,
            base,
        )
        for direction, mos in s.mos_mean.items():
            b.gauge(
                "cx.journey.voice.mos",
                "1",
                "Voice MOS per direction",
                mos,
                {**base, "cx.voice.direction": direction, "cx.statistic": "mean"},
            )
        for direction, mos in s.mos_p10.items():
            b.gauge(
                "cx.journey.voice.mos",
                "1",
                "Voice MOS per direction",
                mos,
                {**base, "cx.voice.direction": direction, "cx.statistic": "p10"},
            )
        for layer, share in s.attribution.items():
            b.gauge(
                "cx.journey.attribution",
                "1",
                "Share of degraded or failed runs charged to each layer",
                share,
                {**base, names.LAYER: layer},
            )
    b.counter("cx.processor.spans", "{span}", "Spans accepted", counters.spans, start_ns)
    b.counter("cx.processor.runs", "{run}", "Journey runs judged", counters.runs, start_ns)
    b.counter(
        "cx.processor.requests.malformed",
        "{request}",
        "Requests refused as malformed",
        counters.malformed,
        start_ns,
    )
    b.counter(
        "cx.processor.requests.refused",
        "{request}",
        "Requests refused while busy",
        counters.refused_busy,
        start_ns,
    )
    b.counter(
        "cx.processor.runs.late",
        "{run}",
        "Runs older than the retained windows",
        counters.late_dropped,
        start_ns,
    )
    b.counter(
        "cx.processor.spans.orphaned",
        "{span}",
        "Step spans whose run never completed",
        counters.orphaned_spans,
        start_ns,
    )
    b.counter(
        "cx.processor.export.dropped",
        "{request}",
        "Outgoing requests dropped by the queue: full, oversized or damaged on disk",
        queues.dropped,
        start_ns,
    )
    b.counter(
        "cx.processor.export.rejected",
        "{request}",
        "Outgoing requests the backend refused permanently (not retried)",
        queues.rejected,
        start_ns,
    )
    b.counter(
        "cx.processor.export.retries",
        "{attempt}",
        "Failed export attempts that will be retried after a backoff",
        queues.retries,
        start_ns,
    )
    b.gauge(
        "cx.processor.export.queued",
        "{request}",
        "Outgoing requests waiting in the queues",
        queues.queued,
        {},
    )
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    resource_metrics.resource.attributes.extend(
        _attributes({"service.name": "cxj-processor", "service.version": __version__})
    )
    scope = resource_metrics.scope_metrics.add()
    scope.scope.name = "cxjourney.processor"
    scope.scope.version = __version__
    scope.metrics.extend(b.metrics.values())
    data: bytes = request.SerializeToString()
    return data
