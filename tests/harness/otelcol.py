"""The real OpenTelemetry Collector (built with the collector builder) run with a test config."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.harness.processes import Process, free_port, infra_paths, logs_dir, port_open


def otelcol_binary() -> Path:
    """Returns the collector binary from the project's cache, building it when missing."""
    return infra_paths("otelcol")["otelcol"] / "otelcol-cxj"


def telemetrygen_binary() -> Path:
    """Returns the telemetrygen binary from the project's cache, building it when missing."""
    return infra_paths("telemetrygen")["telemetrygen"] / "telemetrygen"


class Collector:
    """One collector process: OTLP in on free ports, a file exporter to read what came out."""

    def __init__(self, name: str = "otelcol", root: Path | None = None) -> None:
        self.name = name
        self.root = root or Path(tempfile.mkdtemp(prefix="cxj-otelcol-"))
        self.grpc_port = free_port()
        self.http_port = free_port()
        self.output = self.root / "out.jsonl"
        self.log_dir = logs_dir() / f"otelcol-{self.root.name}"
        self.process: Process | None = None

    def file_backend_config(self, extra_pipelines: dict[str, Any] | None = None) -> dict[str, Any]:
        """Returns a config that receives OTLP and writes every signal to the file exporter."""
        pipelines: dict[str, Any] = {
            signal: {"receivers": ["otlp"], "exporters": ["file"]}
            for signal in ("traces", "metrics", "logs")
        }
        pipelines.update(extra_pipelines or {})
        return {
            "receivers": {
                "otlp": {
                    "protocols": {
                        "grpc": {"endpoint": f"127.0.0.1:{self.grpc_port}"},
                        "http": {"endpoint": f"127.0.0.1:{self.http_port}"},
                    }
                }
            },
            "exporters": {"file": {"path": str(self.output), "flush_interval": "100ms"}},
            "service": {
                "pipelines": pipelines,
                "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "warn"}},
            },
        }

    def start(self, config: dict[str, Any] | None = None) -> Collector:
        """Starts the collector with a config (default: OTLP in, file out) and waits for OTLP."""
        config_path = self.root / "config.yaml"
        config_path.write_text(yaml.safe_dump(config or self.file_backend_config()))
        self.process = Process(
            self.name, [str(otelcol_binary()), f"--config={config_path}"], self.log_dir
        )
        self.process.start()
        self.process.wait_until(
            lambda: port_open(self.grpc_port) and port_open(self.http_port), 60, "listening"
        )
        return self

    def stop(self) -> None:
        """Stops the collector, flushing its exporters."""
        if self.process is not None:
            self.process.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def records(self) -> list[dict[str, Any]]:
        """Returns every OTLP JSON request the file exporter wrote so far.

        A last line still being written is left for the next read.
        """
        if not self.output.exists():
            return []
        lines = [line for line in self.output.read_text().splitlines() if line.strip()]
        records = []
        for index, line in enumerate(lines):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                if index != len(lines) - 1:
                    raise
        return records

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        """Waits until the exported records satisfy a predicate and returns them."""
        deadline = time.monotonic() + timeout
        records: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            records = self.records()
            if predicate(records):
                return records
            time.sleep(0.1)
        raise TimeoutError(
            f"collector output did not match within {timeout}s; got {len(records)} records"
        )


def spans(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flattens OTLP JSON trace requests into their spans."""
    return [
        span
        for record in records
        for resource_spans in record.get("resourceSpans", [])
        for scope_spans in resource_spans.get("scopeSpans", [])
        for span in scope_spans.get("spans", [])
    ]
