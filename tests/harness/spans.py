"""Journey telemetry as the probe emits it, built directly with the OpenTelemetry SDK.

Tests of the processor use it to produce exact runs (durations, errors, voice values)
without waiting for real steps; the probe's own tests prove it emits the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode, set_span_in_context

MS = 1_000_000
RESOURCE = {
    "service.name": "cxj-probe",
    "cx.journey.name": "desk",
    "cx.journey.namespace": "cx",
    "cx.journey.type": "agent-desktop",
    "cx.location": "lon",
    "cx.slo.objective": 99.5,
    "cx.slo.period": 30,
    "cx.slo.budgeting": "occurrences",
    "cx.apdex.threshold": 2.0,
}


@dataclass
class StepSpec:
    name: str
    layer: str = "platform"
    phases: dict[str, int] = field(default_factory=lambda: {"connect": 5, "ttfb": 20})  # ms
    threshold_ms: int | None = None
    error: str | None = None
    voice: dict[str, float] | None = None


class Recorder:
    def __init__(
        self, resource: dict[str, Any] | None = None, start_s: float = 1_900_000_000
    ) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create(resource or RESOURCE))
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("test")
        self.clock = int(start_s * 1_000_000_000)

    def run(self, steps: list[StepSpec]) -> list[ReadableSpan]:
        """Records one run's spans as the probe would, and returns them."""
        self.exporter.clear()
        start = self.clock
        root = self.tracer.start_span("journey desk", start_time=start)
        context = set_span_in_context(root)
        at = start
        for step in steps:
            attributes: dict[str, Any] = {"cx.step.name": step.name, "cx.layer": step.layer}
            if step.threshold_ms is not None:
                attributes["cx.step.threshold"] = step.threshold_ms / 1000
            for key, value in (step.voice or {}).items():
                attributes[key] = value
            span = self.tracer.start_span(
                step.name, context=context, start_time=at, attributes=attributes
            )
            step_context = set_span_in_context(span)
            step_start = at
            for phase, duration in step.phases.items():
                layer = {"connect": "network", "ttfb": "platform"}.get(phase, step.layer)
                child = self.tracer.start_span(
                    phase,
                    context=step_context,
                    start_time=at,
                    attributes={
                        "cx.step.name": step.name,
                        "cx.step.phase": phase,
                        "cx.layer": layer,
                    },
                )
                at += duration * MS
                child.end(end_time=at)
            at = max(at, step_start + MS)
            if step.error:
                span.set_attribute("error.type", step.error)
                span.set_status(Status(StatusCode.ERROR))
            span.end(end_time=at)
            if step.error:
                break
        root.end(end_time=at + MS)
        self.clock += 30 * 1_000_000_000
        return list(self.exporter.get_finished_spans())


def encode(spans: list[ReadableSpan]) -> bytes:
    data: bytes = encode_spans(spans).SerializeToString()
    return data
