"""Export through backend outages and crashes: the real collector is the backend, queued on disk.

The processor runs as users run it (`cxj processor`), the backend is a real OpenTelemetry
Collector writing what it receives to a file. Every derived-metric request is identified by
the time stamp of its evaluation (the `cx.processor.runs` point it always carries).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from tests.harness.otelcol import Collector
from tests.harness.processes import Process, free_port, logs_dir, port_open
from tests.harness.spans import Recorder, StepSpec, encode
from tests.harness.waiting import wait_for

from cxj_processors.config import ProcessorConfig
from cxj_processors.outbox import read_request
from cxj_processors.pipeline import Pipeline

pytestmark = pytest.mark.otelcol

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
SCOPE = "cxjourney.processor"
# Evaluation values that do not move while the test runs (its runs are 30 to 1 minutes old).
STABLE = (
    "attainment",
    "budget",
    "burn_rate/1h",
    "burn_rate/2h",
    "burn_rate/6h",
    "burn_rate/1d",
    "burn_rate/3d",
)

Evaluation = dict[str, float]  # "attainment", "budget", "burn_rate/<window>", "runs"


# -- the processor and its inputs -------------------------------------------------------------
class Processor:
    """`cxj processor` exporting to a backend that may not be there, on a data folder."""

    def __init__(self, data_dir: Path, backend_port: int) -> None:
        self.data_dir = data_dir
        self.backend_port = backend_port
        self.grpc_listen = f"127.0.0.1:{free_port()}"
        self.status_listen = f"127.0.0.1:{free_port()}"
        self.process: Process | None = None
        self._log_start = 0

    def start(self, name: str) -> Processor:
        log_path = logs_dir() / "export-outage" / f"{name}.log"
        self._log_start = log_path.stat().st_size if log_path.exists() else 0  # logs append
        self.process = Process(
            name,
            [
                sys.executable,
                "-m",
                "cxj_cli.main",
                "processor",
                "--grpc-listen",
                self.grpc_listen,
                "--http-listen",
                f"127.0.0.1:{free_port()}",
                "--status-listen",
                self.status_listen,
                "--data-dir",
                str(self.data_dir),
                "--export-endpoint",
                f"127.0.0.1:{self.backend_port}",
                "--evaluation-interval-s",
                "0.3",
                "--checkpoint-interval-s",
                "1",
            ],
            logs_dir() / "export-outage",
            # Retries every 0.5 s, then 1 s: the outage ends within a second of the backend.
            env={"PYTHONUNBUFFERED": "1", "CXJ_PROCESSOR_EXPORT_MAX_BACKOFF_S": "1"},
        ).start()
        port = int(self.grpc_listen.rsplit(":", 1)[1])
        self.process.wait_until(lambda: port_open(port), 240, "listening")
        return self

    def send(self, payloads: Iterable[bytes]) -> None:
        """Sends runs over OTLP/gRPC; each call returns once the processor acknowledged it."""
        with grpc.insecure_channel(self.grpc_listen) as channel:
            call = channel.unary_unary(
                TRACE_EXPORT, request_serializer=None, response_deserializer=None
            )
            for payload in payloads:
                call(payload, timeout=30)

    def runs(self) -> int:
        url = f"http://{self.status_listen}/api/v1/journeys"
        with urllib.request.urlopen(url, timeout=5) as response:
            journeys = json.load(response)["journeys"]
        return int(journeys[0]["runs"]) if journeys else 0

    def log(self) -> str:
        """What this run of the process logged so far."""
        assert self.process is not None
        with self.process.log_path.open("rb") as handle:
            handle.seek(self._log_start)
            return handle.read().decode(errors="replace")

    def queue(self) -> Path:
        return self.data_dir / "export"


def journey_runs(count: int) -> list[bytes]:
    """`count` runs 30 s apart ending a minute ago; every fifth fails at its second step."""
    recorder = Recorder(start_s=time.time() - 30 * count - 60)
    return [
        encode(
            recorder.run(
                [
                    StepSpec("login"),
                    StepSpec("crm", layer="dependency", error="timeout" if i % 5 == 0 else None),
                ]
            )
        )
        for i in range(count)
    ]


def uninterrupted(payloads: list[bytes]) -> Evaluation:
    """What one processor that never stopped derives from the same runs (in this process)."""
    pipeline = Pipeline(ProcessorConfig())
    for payload in payloads:
        pipeline.accept("traces", payload)
    (entry,) = pipeline.evaluate().values()
    values = {"attainment": entry.status.attainment, "budget": entry.status.budget_remaining}
    values.update({f"burn_rate/{w}": r for w, r in entry.status.burn_rates.items()})
    return values


# -- reading derived metrics, from the backend or from the queue ------------------------------
def evaluations(requests: Iterable[dict[str, Any]]) -> dict[int, Evaluation]:
    """Each derived-metric request (OTLP JSON) by its evaluation time: the journey's values."""
    found: dict[int, Evaluation] = {}
    for request in requests:
        for resource_metrics in request.get("resourceMetrics", []):
            for scope_metrics in resource_metrics.get("scopeMetrics", []):
                if scope_metrics.get("scope", {}).get("name") != SCOPE:
                    continue
                metrics = {m["name"]: m for m in scope_metrics.get("metrics", [])}
                runs = metrics["cx.processor.runs"]["sum"]["dataPoints"][0]
                values: Evaluation = {"runs": float(runs["asInt"])}
                for name, key in (
                    ("cx.journey.slo.attainment", "attainment"),
                    ("cx.journey.slo.error_budget.remaining", "budget"),
                    ("cx.journey.slo.burn_rate", "burn_rate"),
                    ("cx.processor.export.retries", "retries"),
                    ("cx.processor.export.dropped", "dropped"),
                    ("cx.processor.export.queued", "queued"),
                ):
                    metric = metrics.get(name, {})
                    for point in (metric.get("gauge") or metric.get("sum") or {}).get(
                        "dataPoints", []
                    ):
                        labels = {a["key"]: a["value"] for a in point.get("attributes", [])}
                        window = labels.get("cx.window", {}).get("stringValue")
                        value = point.get("asDouble", point.get("asInt"))
                        values[f"{key}/{window}" if window else key] = float(value)
                found[int(runs["timeUnixNano"])] = values
    return found


def queued_evaluations(folder: Path) -> dict[int, Evaluation]:
    """The derived-metric requests waiting in a processor's on-disk export queue."""
    requests = []
    for path in sorted(folder.glob("*.metrics.otlp")):
        message = metrics_service_pb2.ExportMetricsServiceRequest.FromString(read_request(path))
        requests.append(json_format.MessageToDict(message))
    return evaluations(requests)


def arrived(backend: Collector) -> list[int]:
    """Evaluation times in the order the backend received them (duplicates kept)."""
    times: list[int] = []
    for record in backend.records():
        times.extend(evaluations([record]))
    return times


@pytest.fixture
def backend() -> Iterator[Collector]:
    """A collector whose ports are chosen now; each test starts it when the outage ends."""
    collector = Collector("export-backend")
    yield collector
    collector.stop()


@pytest.fixture
def processors() -> Iterator[list[Processor]]:
    started: list[Processor] = []
    yield started
    for processor in started:
        if processor.process is not None:
            processor.process.stop()


# -- the tests --------------------------------------------------------------------------------
def test_exports_queue_on_disk_through_an_outage_and_all_arrive_in_order(
    tmp_path: Path, backend: Collector, processors: list[Processor]
) -> None:
    payloads = journey_runs(30)
    processor = Processor(tmp_path / "data", backend.grpc_port).start("processor-outage")
    processors.append(processor)

    processor.send(payloads)  # accepted while nothing can be exported
    wait_for(lambda: processor.runs() == 30, 60, "30 runs in the status API")
    wait_for(
        lambda: any(
            e.get("attainment") == pytest.approx(24 / 30)
            for e in queued_evaluations(processor.queue()).values()
        ),
        60,
        "an evaluation of all 30 runs queued on disk",
    )
    wait_for(lambda: "retrying in 1.0s" in processor.log(), 60, "the backoff reaching its ceiling")
    log = processor.log()
    assert "export queue: export failed (StatusCode.UNAVAILABLE)" in log
    assert "retrying in 0.5s" in log  # the first pause, doubled to the 1 s ceiling
    wait_for(lambda: len(queued_evaluations(processor.queue())) >= 5, 60, "5 evaluations queued")
    queued = queued_evaluations(processor.queue())

    backend.start()  # the backend comes up on the port the processor was given
    wait_for(lambda: set(queued) <= set(arrived(backend)), 60, "every queued evaluation arriving")
    wait_for(lambda: "export queue: backend reachable again" in processor.log(), 60, "recovery log")

    received = evaluations(backend.records())
    for at, values in queued.items():
        assert received[at] == values  # as evaluated then, not re-derived on delivery
    order = [at for at in arrived(backend) if at in queued]
    assert order == sorted(order)  # oldest first
    assert received[max(queued)]["attainment"] == pytest.approx(24 / 30)
    expected = uninterrupted(payloads)
    latest = received[max(received)]
    for key in STABLE:
        assert latest[key] == pytest.approx(expected[key]), key
    # The outage is visible in the processor's own exported metrics, and nothing was lost.
    assert max(e["queued"] for e in received.values()) >= len(queued)
    assert latest["retries"] >= 2
    assert latest["dropped"] == 0


class StalledBackend:
    """An OTLP/gRPC metrics endpoint that takes requests and never answers until stopped."""

    def __init__(self, port: int) -> None:
        self.received: list[bytes] = []
        self.release = threading.Event()
        self.server = grpc.server(ThreadPoolExecutor(max_workers=4))
        handler = grpc.method_handlers_generic_handler(
            "opentelemetry.proto.collector.metrics.v1.MetricsService",
            {"Export": grpc.unary_unary_rpc_method_handler(self._export)},
        )
        self.server.add_generic_rpc_handlers((handler,))
        self.server.add_insecure_port(f"127.0.0.1:{port}")
        self.server.start()

    def _export(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        self.received.append(request)
        self.release.wait(60)
        context.abort(grpc.StatusCode.UNAVAILABLE, "stalled backend going away")
        return b""

    def stop(self) -> None:
        self.release.set()
        self.server.stop(grace=None).wait(10)


def point_times(request: dict[str, Any]) -> set[tuple[str, str]]:
    """(metric name, point time) pairs of an OTLP JSON metrics request, of any scope."""
    return {
        (metric["name"], point["timeUnixNano"])
        for resource_metrics in request.get("resourceMetrics", [])
        for scope_metrics in resource_metrics.get("scopeMetrics", [])
        for metric in scope_metrics.get("metrics", [])
        for kind in ("gauge", "sum")
        for point in metric.get(kind, {}).get("dataPoints", [])
    }


@pytest.mark.parametrize("outage", ["backend-down", "backend-stalled"])
def test_kill_9_with_exports_queued_then_restart_delivers_them_and_keeps_budget_history(
    tmp_path: Path, backend: Collector, processors: list[Processor], outage: str
) -> None:
    payloads = journey_runs(60)
    data = tmp_path / "data"
    stalled = StalledBackend(backend.grpc_port) if outage == "backend-stalled" else None
    try:
        first = Processor(data, backend.grpc_port).start(f"processor-{outage}-before-kill")
        processors.append(first)
        first.send(payloads[:30])
        sent_at = time.time()
        checkpoint = data / "checkpoint.npz"
        wait_for(
            lambda: checkpoint.exists() and checkpoint.stat().st_mtime > sent_at,
            60,
            "a checkpoint of the first 30 runs",
        )
        first.send(payloads[30:])  # acknowledged after the checkpoint: in the write-ahead log
        wait_for(
            lambda: any(
                e.get("attainment") == pytest.approx(48 / 60)
                for e in queued_evaluations(first.queue()).values()
            ),
            60,
            "an evaluation of all 60 runs queued on disk",
        )
        assert first.process is not None
        first.process.kill()  # with a request in flight, when the backend is stalled
        assert first.process.popen is not None
        assert first.process.popen.returncode == -signal.SIGKILL
    finally:
        if stalled is not None:
            stalled.stop()
    queued = queued_evaluations(first.queue())  # what the crash left for the next start
    killed_at = max(queued)
    in_flight: set[tuple[str, str]] = set()
    if stalled is not None:
        assert stalled.received, "the stalled backend never saw a request"
        in_flight = point_times(
            json_format.MessageToDict(
                metrics_service_pb2.ExportMetricsServiceRequest.FromString(stalled.received[0])
            )
        )
        assert in_flight

    backend.start()
    second = Processor(data, backend.grpc_port)
    second.grpc_listen, second.status_listen = first.grpc_listen, first.status_listen
    processors.append(second.start(f"processor-{outage}-after-kill"))

    wait_for(lambda: set(queued) <= set(arrived(backend)), 60, "every queued evaluation arriving")
    wait_for(
        lambda: any(at > killed_at for at in arrived(backend)),
        60,
        "an evaluation after the restart",
    )
    delivered = set().union(*(point_times(record) for record in backend.records()))
    assert in_flight <= delivered  # never acknowledged, so sent again after the restart
    received = evaluations(backend.records())
    for at, values in queued.items():
        assert received[at] == values  # the history before the crash, as it was evaluated
    assert received[killed_at]["attainment"] == pytest.approx(48 / 60)

    after = [values for at, values in received.items() if at > killed_at]
    expected = uninterrupted(payloads)
    assert expected["attainment"] == pytest.approx(48 / 60)
    for values in after:
        for key in STABLE:
            assert values[key] == pytest.approx(expected[key]), key  # no budget history lost
    assert second.runs() == 60
