"""Probe → OpenTelemetry Collector → processor → Collector (file exporter), all real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from cxj_processors.config import ProcessorConfig
from cxj_processors.service import ProcessorService
from tests.harness.otelcol import Collector, spans, telemetrygen_binary
from tests.harness.processes import free_port

pytestmark = pytest.mark.otelcol


class Desktop(BaseHTTPRequestHandler):
    """A tiny agent desktop that remembers the traceparent of every request."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        Desktop.seen.append(self.headers.get("traceparent", ""))
        body = b"<html><title>Agent Desktop</title></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        return


@pytest.fixture
def desktop() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Desktop)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def metrics(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        for rm in record.get("resourceMetrics", []):
            for sm in rm.get("scopeMetrics", []):
                for metric in sm.get("metrics", []):
                    found.setdefault(metric["name"], []).append(metric)
    return found


def attributes(point: dict[str, Any]) -> dict[str, Any]:
    return {a["key"]: next(iter(a["value"].values())) for a in point.get("attributes", [])}


def journey_file(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "journey.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "cxjourney.dev/v1alpha1",
                "kind": "CxJourney",
                "metadata": {"name": "desktop", "namespace": "cx"},
                "spec": {
                    "type": "agent-desktop",
                    "interval": "1s",
                    "steps": [
                        {
                            "name": "load-desktop",
                            "threshold": "2s",
                            "http": {
                                "url": f"http://127.0.0.1:{port}/desktop",
                                "assertions": [
                                    {
                                        "source": "body",
                                        "operator": "contains",
                                        "value": "Agent Desktop",
                                    }
                                ],
                            },
                        }
                    ],
                    "locations": [{"name": "lon"}],
                    "slo": {"objective": "99"},
                },
            }
        )
    )
    return path


def test_probe_telemetry_flows_through_the_processor_to_a_backend(
    tmp_path: Path, desktop: int
) -> None:
    backend = Collector("backend").start()
    processor = ProcessorService(
        ProcessorConfig(
            grpc_listen=f"127.0.0.1:{free_port()}",
            http_listen=f"127.0.0.1:{free_port()}",
            status_listen=f"127.0.0.1:{free_port()}",
            export_endpoint=f"127.0.0.1:{backend.grpc_port}",
            evaluation_interval_s=0.5,
        )
    ).start()
    front = Collector("front")
    front.start(
        {
            "receivers": {
                "otlp": {
                    "protocols": {
                        "grpc": {"endpoint": f"127.0.0.1:{front.grpc_port}"},
                        "http": {"endpoint": f"127.0.0.1:{front.http_port}"},
                    }
                }
            },
            "exporters": {
                "otlp_grpc/processor": {
                    "endpoint": processor.config.grpc_listen,
                    "tls": {"insecure": True},
                },
                "otlp_grpc/backend": {
                    "endpoint": f"127.0.0.1:{backend.grpc_port}",
                    "tls": {"insecure": True},
                },
            },
            "service": {
                "pipelines": {
                    "traces": {
                        "receivers": ["otlp"],
                        "exporters": ["otlp_grpc/processor", "otlp_grpc/backend"],
                    },
                    "metrics": {"receivers": ["otlp"], "exporters": ["otlp_grpc/backend"]},
                },
                "telemetry": {"metrics": {"level": "none"}},
            },
        }
    )
    probe = None
    try:
        env = {
            **os.environ,
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{front.grpc_port}",
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }
        probe = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cxj_cli.main",
                "probe",
                "--journey",
                str(journey_file(tmp_path, desktop)),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

        def derived(records: list[dict[str, Any]]) -> bool:
            found = metrics(records).get("cx.journey.slo.attainment", [])
            return any(
                attributes(p).get("cx.journey.name") == "desktop"
                for m in found
                for p in m["gauge"]["dataPoints"]
            )

        records = backend.wait_for(derived, timeout=90)
        probe.send_signal(signal.SIGTERM)
        output, _ = probe.communicate(timeout=30)
        assert probe.returncode == 0, output
        assert "cx/desktop @lon: success" in output

        records = backend.wait_for(lambda r: "cx.step.duration" in metrics(r), timeout=30)
        roots = [s for s in spans(records) if s["name"] == "journey desktop"]
        steps = [s for s in spans(records) if s["name"] == "load-desktop"]
        phases = {
            s["name"]
            for s in spans(records)
            if s.get("parentSpanId") in {step["spanId"] for step in steps}
        }
        assert roots
        assert steps
        assert {"connect", "ttfb", "transfer"} <= phases
        trace_ids = {s["traceId"] for s in roots}
        assert any(tp.split("-")[1] in trace_ids for tp in Desktop.seen if tp)
        found = metrics(records)
        histogram = found["cx.step.duration"][0]
        assert "exponentialHistogram" in histogram
        runs = [attributes(p) for m in found["cx.journey.runs"] for p in m["sum"]["dataPoints"]]
        assert {"cx.journey.name": "desktop", "cx.location": "lon", "outcome": "success"} in runs
        derived_points = {
            name: [
                attributes(p) | {"value": p.get("asDouble")}
                for m in found[name]
                for p in m["gauge"]["dataPoints"]
            ]
            for name in (
                "cx.journey.slo.attainment",
                "cx.journey.experience.score",
                "cx.journey.slo.burn_rate",
            )
        }
        attainment = derived_points["cx.journey.slo.attainment"][-1]
        assert (attainment["cx.journey.namespace"], attainment["cx.location"]) == ("cx", "lon")
        assert attainment["value"] == 1.0
        windows = {p["cx.window"] for p in derived_points["cx.journey.slo.burn_rate"]}
        assert windows == {"5m", "30m", "1h", "2h", "6h", "1d", "3d"}
        status = processor.pipeline.statuses
        assert any(s.key.journey == "desktop" for s in status.values())
    finally:
        if probe is not None and probe.poll() is None:
            probe.kill()
        front.stop()
        processor.stop()
        backend.stop()


def test_telemetrygen_load_reaches_the_processor_without_loss() -> None:
    processor = ProcessorService(
        ProcessorConfig(
            grpc_listen=f"127.0.0.1:{free_port()}",
            http_listen=f"127.0.0.1:{free_port()}",
            status_listen=f"127.0.0.1:{free_port()}",
            evaluation_interval_s=5,
        )
    ).start()
    try:
        result = subprocess.run(
            # Rate-limited so telemetrygen's own client-side span queue never overflows.
            [
                str(telemetrygen_binary()),
                "traces",
                "--otlp-insecure",
                "--traces=1500",
                "--rate=1000",
                "--workers=2",
                f"--otlp-endpoint={processor.config.grpc_listen}",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        # 2 workers × 1500 traces × (parent + child) spans, every one accepted and counted.
        assert processor.pipeline.counters.spans == 2 * 1500 * 2
        assert processor.pipeline.counters.malformed == 0
    finally:
        processor.stop()
    assert json.dumps(processor.pipeline.counters.requests)
