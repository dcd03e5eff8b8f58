"""`cxj run`: probes and the processor in one process, no Kubernetes, with a live view.

Probes export to the in-process processor over loopback OTLP; when a backend endpoint is
configured the processor forwards the probes' telemetry unchanged and exports its derived
metrics there too.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

from cxj_journey.model import Journey
from cxj_probe.cli import run_probe
from cxj_probe.contract import resource_attributes
from cxj_probe.otel import Telemetry, build_telemetry
from cxj_probe.runner import RunResult
from cxj_probe.steps.base import SecretResolver
from cxj_processors.config import ProcessorConfig
from cxj_processors.service import ProcessorService
from cxj_processors.status import journey_document, summarize
from cxj_standalone.view import render_view

log = logging.getLogger("cxj.run")


@dataclass
class RunOptions:
    """How a standalone run is set up."""

    otlp_endpoint: str = ""  # host:port of an OTLP/gRPC backend; empty: none
    status_listen: str = "127.0.0.1:8080"
    report: Path | None = None
    duration_s: float | None = None
    time_scale: float = 1.0
    evaluation_interval_s: float = 1.0
    title: str = "cxjourney"
    live_view: bool = True


@dataclass
class Recorded:
    """What a run keeps for its report: alerts, the worst runs and narrative notes."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    worst_runs: list[dict[str, Any]] = field(default_factory=list)
    notes: list[tuple[float, str]] = field(default_factory=list)
    runs: int = 0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Standalone:
    """One standalone run: processor, probes, view, alerts and report."""

    def __init__(
        self,
        journeys: list[Journey],
        options: RunOptions,
        secrets: SecretResolver,
        executors: dict[str, Any],
    ) -> None:
        self.journeys = journeys
        self.options = options
        self.secrets = secrets
        self.executors = executors
        self.recorded = Recorded()
        self.on_evaluation: list[Callable[[list[dict[str, Any]]], None]] = []
        self.alert_hooks: list[Callable[[dict[str, Any], dict[str, Any]], None]] = []
        self.run_hooks: list[Callable[[Journey, RunResult], None]] = []
        self._firing: dict[tuple[str, str], bool] = {}
        from cxj_alerting.incident import IncidentTracker

        self.tracker = IncidentTracker()
        self.started = asyncio.Event()
        self.delivery: Any = None
        config = ProcessorConfig(
            grpc_listen=f"127.0.0.1:{_free_port()}",
            http_listen=f"127.0.0.1:{_free_port()}",
            status_listen=options.status_listen,
            export_endpoint=options.otlp_endpoint,
            passthrough_endpoint=options.otlp_endpoint,
            evaluation_interval_s=options.evaluation_interval_s,
            time_scale=options.time_scale,
            history_size=3600,
        )
        self.processor = ProcessorService(config)

    def _by_journey(self) -> dict[tuple[str, str], list[dict[str, Any]]]:
        documents = [journey_document(e) for e in self.processor.pipeline.statuses.values()]
        by_journey: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for document in documents:
            by_journey.setdefault((document["namespace"], document["name"]), []).append(document)
        return by_journey

    def summaries(self) -> list[dict[str, Any]]:
        """The latest per-journey summaries (the worst location speaks for a journey)."""
        return [s for s in (summarize(d) for d in self._by_journey().values()) if s is not None]

    async def _deliver_incidents(self, dispatcher: Any) -> None:
        from datetime import UTC, datetime

        from cxj_alerting.incident import Evaluation

        journeys = {(j.namespace, j.name): j for j in self.journeys}
        for key, documents in self._by_journey().items():
            journey = journeys.get(key)
            summary = summarize(documents)
            if journey is None or summary is None or not journey.alerting.sinks:
                continue
            burn: dict[str, float] = {}
            for document in documents:
                for window, rate in document["slo"]["burnRates"].items():
                    if rate is not None:
                        burn[window] = max(rate, burn.get(window, 0.0))
            evaluation = Evaluation(
                firing={severity: severity in summary["firing"] for severity in ("page", "ticket")},
                burn_rates=burn,
                locations=tuple(summary["locations"]),
                suspected_layer=(
                    None if summary["suspectedLayer"] == "none" else summary["suspectedLayer"]
                ),
                failing_step=summary["failingStep"],
                example_trace_id=summary["exampleTraceId"],
            )
            for incident in self.tracker.observe(journey, evaluation, datetime.now(UTC)):
                await dispatcher.deliver(journey, incident)

    def _telemetry_for(self, journey: Journey, site: str) -> Telemetry:
        endpoint = self.processor.config.grpc_listen
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=endpoint, insecure=True), export_interval_millis=5000
        )
        extra = next((loc.attributes for loc in journey.locations if loc.name == site), {})
        return build_telemetry(
            resource_attributes(journey, site, extra),
            span_exporter=OTLPSpanExporter(endpoint=endpoint, insecure=True),
            metric_reader=reader,
        )

    def _record_run(self, journey: Journey, result: RunResult) -> None:
        self.recorded.runs += 1
        for hook in self.run_hooks:
            hook(journey, result)
        if result.outcome == "success":
            return
        blamed = next(
            ((step, outcome) for step, outcome in result.steps if not outcome.ok), None
        ) or max(result.steps, key=lambda pair: pair[1].duration_s)
        step, outcome = blamed
        self.recorded.worst_runs.append(
            {
                "t": time.time(),
                "journey": f"{journey.namespace}/{journey.name}",
                "location": "local",
                "outcome": result.outcome,
                "step": step.name,
                "layer": step.layer,
                "traceId": result.trace_id,
                "durationMs": round(result.duration_s * 1000, 1),
                "error": outcome.error_type or "",
            }
        )
        self.recorded.worst_runs = self.recorded.worst_runs[-200:]

    def _note_alerts(self, summaries: list[dict[str, Any]]) -> None:
        for summary in summaries:
            journey = f"{summary['namespace']}/{summary['name']}"
            for severity in ("page", "ticket"):
                firing = severity in summary["firing"]
                if firing == self._firing.get((journey, severity), False):
                    continue
                self._firing[(journey, severity)] = firing
                event = {
                    "t": time.time(),
                    "journey": journey,
                    "location": "local",
                    "severity": severity,
                    "state": "fired" if firing else "resolved",
                    "layer": summary["suspectedLayer"],
                    "step": summary["failingStep"],
                    "traceId": summary["exampleTraceId"],
                }
                self.recorded.alerts.append(event)
                for hook in self.alert_hooks:
                    hook(event, summary)

    async def _evaluate_forever(self, stop: asyncio.Event) -> None:
        from cxj_alerting.delivery import Dispatcher

        dispatcher = Dispatcher(self.secrets).start()
        try:
            await self._evaluate_loop(stop, dispatcher)
        finally:
            await dispatcher.close(timeout_s=10.0)
            self.delivery = dispatcher.counters

    async def _evaluate_loop(self, stop: asyncio.Event, dispatcher: Any) -> None:
        interactive = self.options.live_view and sys.stdout.isatty()
        while not stop.is_set():
            await asyncio.sleep(self.options.evaluation_interval_s)
            summaries = self.summaries()
            self._note_alerts(summaries)
            await self._deliver_incidents(dispatcher)
            for callback in self.on_evaluation:
                callback(summaries)
            if interactive:
                footer = [
                    f"status API and overview: http://{self.options.status_listen}/   "
                    f"runs: {self.recorded.runs}   Ctrl-C ends with a summary",
                    *(f"» {text}" for _, text in self.recorded.notes[-3:]),
                ]
                sys.stdout.write(
                    "\033[H\033[2J"
                    + render_view(summaries, title=self.options.title, color=True, footer=footer)
                    + "\n"
                )
                sys.stdout.flush()

    async def run(self, stop: asyncio.Event) -> list[dict[str, Any]]:
        """Runs until stop is set or the duration ends; returns the final summaries."""
        await asyncio.to_thread(self.processor.start)  # restores and warms up the kernels
        self.started.set()
        try:
            if self.options.duration_s is not None:
                asyncio.get_running_loop().call_later(self.options.duration_s, stop.set)

            view = asyncio.create_task(self._evaluate_forever(stop))
            await run_probe(
                self.journeys,
                "local",
                once=False,
                executors=self.executors,
                telemetry_for=self._telemetry_for,
                secrets=self.secrets,
                stop=stop,
                on_result=lambda result, journey: self._record_run(journey, result),
            )
            await view
        finally:
            await asyncio.to_thread(self.processor.stop)
        return self.summaries()
