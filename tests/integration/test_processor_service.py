"""The processor as users run it: OTLP over gRPC and HTTP, errors, backpressure, restarts."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from tests.harness.processes import Process, free_port, logs_dir, port_open
from tests.harness.spans import Recorder, StepSpec, encode

from cxj_processors.config import ProcessorConfig
from cxj_processors.service import ProcessorService

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def config(tmp_path: Path, **extra: Any) -> ProcessorConfig:
    return ProcessorConfig(
        grpc_listen=f"127.0.0.1:{free_port()}",
        http_listen=f"127.0.0.1:{free_port()}",
        status_listen=f"127.0.0.1:{free_port()}",
        data_dir=str(tmp_path / "data"),
        evaluation_interval_s=0.2,
        checkpoint_interval_s=3600,
        **extra,
    )


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ProcessorService]:
    running = ProcessorService(config(tmp_path)).start()
    yield running
    running.stop()


def export_grpc(cfg: ProcessorConfig, payload: bytes) -> bytes:
    with grpc.insecure_channel(cfg.grpc_listen) as channel:
        call = channel.unary_unary(
            TRACE_EXPORT, request_serializer=None, response_deserializer=None
        )
        response: bytes = call(payload, timeout=30)
        return response


def status(cfg: ProcessorConfig, path: str = "/api/v1/journeys") -> Any:
    with urllib.request.urlopen(f"http://{cfg.status_listen}{path}", timeout=5) as response:
        return json.load(response)


def wait_for_runs(cfg: ProcessorConfig, runs: int, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    journeys: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        journeys = status(cfg)["journeys"]
        if journeys and journeys[0]["runs"] >= runs:
            return journeys[0]
        time.sleep(0.1)
    raise AssertionError(f"status never showed {runs} runs: {journeys}")


def recent_runs(recorder: Recorder, count: int, failing_every: int = 0) -> list[bytes]:
    payloads = []
    for index in range(count):
        failed = failing_every and index % failing_every == 0
        step = StepSpec("crm", layer="dependency", error="timeout" if failed else None)
        payloads.append(encode(recorder.run([StepSpec("login"), step])))
    return payloads


def test_runs_over_grpc_and_http_reach_the_status_api(service: ProcessorService) -> None:
    cfg = service.config
    recorder = Recorder(start_s=time.time() - 600)
    payloads = recent_runs(recorder, 20, failing_every=5)
    for payload in payloads[:10]:
        response = trace_service_pb2.ExportTraceServiceResponse.FromString(
            export_grpc(cfg, payload)
        )
        assert response.partial_success.rejected_spans == 0
    for payload in payloads[10:15]:
        request = urllib.request.Request(
            f"http://{cfg.http_listen}/v1/traces",
            data=payload,
            headers={"Content-Type": "application/x-protobuf"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
    from google.protobuf import json_format

    for payload in payloads[15:]:
        body = json_format.MessageToJson(
            trace_service_pb2.ExportTraceServiceRequest.FromString(payload)
        ).encode()
        request = urllib.request.Request(
            f"http://{cfg.http_listen}/v1/traces",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.load(response) == {}
    journey = wait_for_runs(cfg, 20)
    assert (journey["namespace"], journey["name"], journey["location"]) == ("cx", "desk", "lon")
    assert journey["slo"]["attainment"] == pytest.approx(16 / 20)
    assert journey["suspectedLayer"] == "dependency"
    assert journey["failingStep"] == "crm"
    assert len(journey["exampleTraceId"]) == 32
    summary = status(cfg, "/api/v1/journeys/cx/desk")["summary"]
    assert summary["suspectedLayer"] == "dependency"
    processor = status(cfg, "/api/v1/processor")
    assert processor["series"] == 1
    assert processor["pendingSpans"] == 0
    assert processor["counters"]["runs"] == 20
    assert processor["counters"]["requests"]["traces"] == 20
    assert processor["counters"]["spans"] == sum(
        len(
            trace_service_pb2.ExportTraceServiceRequest.FromString(p)
            .resource_spans[0]
            .scope_spans[0]
            .spans
        )
        for p in payloads
    )
    with urllib.request.urlopen(f"http://{cfg.status_listen}/", timeout=5) as page:
        assert "cx/desk" in page.read().decode()


def test_malformed_input_is_refused_with_a_reason_and_nothing_breaks(
    service: ProcessorService,
) -> None:
    cfg = service.config
    with pytest.raises(grpc.RpcError) as refused:
        export_grpc(cfg, b"\x0a\xff\xff\xff\xff\x0f")
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed OTLP traces" in refused.value.details()
    request = urllib.request.Request(
        f"http://{cfg.http_listen}/v1/traces",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(request, timeout=5)
    assert bad.value.code == 400
    assert "malformed OTLP traces" in json.loads(bad.value.read())["message"]
    recorder = Recorder(start_s=time.time() - 60)
    export_grpc(cfg, recent_runs(recorder, 1)[0])
    assert wait_for_runs(cfg, 1)["runs"] == 1
    assert service.pipeline.counters.malformed == 2


def test_a_full_processor_answers_resource_exhausted_with_retry_info(tmp_path: Path) -> None:
    running = ProcessorService(config(tmp_path, queue_max_bytes=1, retry_after_s=2.0)).start()
    try:
        cfg = running.config
        payload = recent_runs(Recorder(start_s=time.time() - 60), 1)[0]
        running.pipeline._lock.acquire()  # the first request waits inside the pipeline
        first = threading.Thread(target=export_grpc, args=(cfg, payload))
        first.start()
        while running.pipeline._inflight == 0:
            time.sleep(0.01)
        with pytest.raises(grpc.RpcError) as busy:
            export_grpc(cfg, payload)
        assert busy.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        details = dict(busy.value.trailing_metadata())["grpc-status-details-bin"]
        retry = error_details_pb2.RetryInfo()
        status_pb2.Status.FromString(details).details[0].Unpack(retry)
        assert retry.retry_delay.seconds == 2
        request = urllib.request.Request(
            f"http://{cfg.http_listen}/v1/traces",
            data=payload,
            headers={"Content-Type": "application/x-protobuf"},
        )
        with pytest.raises(urllib.error.HTTPError) as http_busy:
            urllib.request.urlopen(request, timeout=5)
        assert (http_busy.value.code, http_busy.value.headers["Retry-After"]) == (429, "2")
        running.pipeline._lock.release()
        first.join(10)
        assert wait_for_runs(cfg, 1)["runs"] == 1  # the accepted one was kept
    finally:
        if running.pipeline._lock.locked():
            running.pipeline._lock.release()
        running.stop()


def start_processor_process(cfg: ProcessorConfig, name: str) -> Process:
    process = Process(
        name,
        [
            sys.executable,
            "-m",
            "cxj_cli.main",
            "processor",
            "--grpc-listen",
            cfg.grpc_listen,
            "--http-listen",
            cfg.http_listen,
            "--status-listen",
            cfg.status_listen,
            "--data-dir",
            cfg.data_dir,
            "--evaluation-interval-s",
            "0.2",
            "--checkpoint-interval-s",
            "1",
            *(["--export-endpoint", cfg.export_endpoint] if cfg.export_endpoint else []),
        ],
        logs_dir() / "processor",
        env={"PYTHONUNBUFFERED": "1"},
    ).start()
    process.wait_until(lambda: port_open(int(cfg.grpc_listen.rsplit(":", 1)[1])), 120, "listening")
    return process


def test_kill_9_then_restart_loses_no_accepted_runs_or_budget_history(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    recorder = Recorder(start_s=time.time() - 3600)
    payloads = recent_runs(recorder, 60, failing_every=6)
    first = start_processor_process(cfg, "processor-before-kill")
    try:
        for payload in payloads[:30]:
            export_grpc(cfg, payload)
        wait_for_runs(cfg, 30)
        # Wait for a periodic checkpoint, so both the checkpoint and the log are restored.
        checkpoint = Path(cfg.data_dir) / "checkpoint.npz"
        deadline = time.monotonic() + 60
        while not checkpoint.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert checkpoint.exists()
        for payload in payloads[30:]:
            export_grpc(cfg, payload)  # acknowledged: must survive the kill
    finally:
        first.kill()
    assert first.popen is not None
    assert first.popen.returncode == -signal.SIGKILL
    second = start_processor_process(cfg, "processor-after-kill")
    try:
        journey = wait_for_runs(cfg, 60)
        assert journey["runs"] == 60
        assert journey["slo"]["attainment"] == pytest.approx(50 / 60)
    finally:
        second.stop()
    assert os.listdir(Path(cfg.data_dir) / "wal")
