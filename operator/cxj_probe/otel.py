"""OpenTelemetry SDK wiring for probes: providers per journey, OTLP exporters from OTEL_* env.

Providers are created per journey (the resource differs) and never installed globally, so
the probe can run many journeys in one process and tests can inject in-memory exporters.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from opentelemetry.metrics import Meter
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Tracer

from cxj_journey import __version__
from cxj_probe.contract import AttributeValue

SCOPE = "cxjourney.probe"


@dataclass
class Telemetry:
    """The providers of one journey's telemetry."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider

    @property
    def tracer(self) -> Tracer:
        """The probe's tracer."""
        return self.tracer_provider.get_tracer(SCOPE, __version__)

    @property
    def meter(self) -> Meter:
        """The probe's meter."""
        return self.meter_provider.get_meter(SCOPE, __version__)

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        """Flushes spans and metrics, then shuts the providers down."""
        self.tracer_provider.force_flush(timeout_ms)
        self.meter_provider.force_flush(timeout_ms)
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def otlp_exporters() -> tuple[SpanExporter, MetricReader]:
    """Returns OTLP exporters configured by the standard OTEL_* environment variables.

    OTEL_EXPORTER_OTLP_PROTOCOL picks grpc (default) or http/protobuf; endpoints, headers,
    timeouts and the metric export interval come from the usual variables.
    """
    protocol = os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    )
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    elif protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # type: ignore[assignment]
            OTLPMetricExporter,
        )
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[assignment]
            OTLPSpanExporter,
        )
    else:
        raise ValueError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL: must be grpc or http/protobuf, got {protocol!r}"
        )
    return OTLPSpanExporter(), PeriodicExportingMetricReader(OTLPMetricExporter())


def build_telemetry(
    attributes: Mapping[str, AttributeValue],
    *,
    span_exporter: SpanExporter,
    metric_reader: MetricReader,
) -> Telemetry:
    """Returns providers for one journey with its contract as the resource."""
    resource = Resource.create(dict(attributes))
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    meter_provider = MeterProvider(
        resource=resource,
        metric_readers=[metric_reader],
        views=[
            View(instrument_type=Histogram, aggregation=ExponentialBucketHistogramAggregation())
        ],
    )
    return Telemetry(tracer_provider, meter_provider)
