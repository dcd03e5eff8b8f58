"""The processor's whole hot path: OTLP trace bytes decoded and aggregated into journey windows.

Corpus: `processor_corpus` (1,000 journeys x 2 locations carrying their SLO contracts, runs of
a root, 3-6 steps and their phases) in requests of about 8,200 spans, the Collector batch
processor's default size, and of about 1,200 spans. Figures are spans per second
of CPU time on one core, measured in the same run as their baselines:

* cxj in process: `Pipeline.accept` (decode, runs judged, baselines and attribution, windows),
  in steady state (every series known, every step's baseline window full). It and (a) are
  measured in alternating rounds, and the ratio is the median of the rounds' ratios: each
  round compares the two over the same stretch of a machine whose speed drifts.
* (a) protobuf's ParseFromString and a Python loop doing a lighter version of the same job
  (runs judged by failed or slow steps, counted per series and minute; no baselines,
  attribution or voice), which favours the baseline.
* (b) the OpenTelemetry Collector with the span metrics connector (GOMAXPROCS=1, OTLP/gRPC
  in, metrics to the debug exporter), fed the same requests over gRPC; its CPU time is read
  from /proc. For a like-for-like comparison the `cxj processor` service is fed the same
  requests the same way, and its CPU time read the same way.

Then the processor's RSS holding all 2,000 series with a 30-day period (target <= 200 MB).

`python -m benchmarks bench_processor` (about 3 minutes).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import psutil
import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from tests.harness.otelcol import otelcol_binary
from tests.harness.processes import Process, free_port, logs_dir, port_open

from benchmarks.processor_corpus import JOURNEYS, START_NS, Corpus, build, history
from cxj_journey import telemetry as names
from cxj_processors.baselines import DEFAULT_WINDOW
from cxj_processors.config import ProcessorConfig
from cxj_processors.pipeline import Pipeline

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
SECONDS = 3.0  # CPU seconds per in-process measurement
ROUNDS = 3  # alternating rounds of (a) and cxj in process
# Times the corpus is sent to each service once warm: enough that the server's CPU time, which
# /proc counts in 10 ms ticks, is read to about 1 %.
SERVICE_PASSES = 8
# Passes before measuring: the steady state, where every step's baseline window is full.
WARM_PASSES = DEFAULT_WINDOW + 1
# Runs per request: about 8,200 spans, the size a Collector's batch processor forwards by
# default (send_batch_size 8192) when probe traffic keeps it full.
COLLECTOR_BATCH_RUNS = 400


def _cpu_rate(run: Callable[[bytes], object], corpus: Corpus, seconds: float) -> float:
    """Spans per CPU second of this process, over whole passes of the corpus."""
    spans = 0
    start = time.process_time()
    while time.process_time() - start < seconds:
        for payload in corpus.requests:
            run(payload)
        spans += corpus.spans
    return spans / (time.process_time() - start)


def _rounds(
    baseline: Callable[[bytes], object], ours: Callable[[bytes], object], corpus: Corpus
) -> tuple[list[float], list[float]]:
    """Spans per CPU second of (a) and of cxj, measured in ROUNDS alternating rounds."""
    rates: tuple[list[float], list[float]] = ([], [])
    for _ in range(ROUNDS):
        rates[0].append(_cpu_rate(baseline, corpus, SECONDS))
        rates[1].append(_cpu_rate(ours, corpus, SECONDS))
    return rates


def _figures(values: list[float], scale: float = 1.0, digits: int = 0) -> str:
    return ", ".join(f"{value / scale:,.{digits}f}" for value in values)


def _python_baseline() -> Callable[[bytes], object]:
    """protobuf parse + a Python loop judging runs and counting them per series and minute."""
    windows: dict[tuple[str, str, str], dict[int, list[int]]] = {}

    def run(payload: bytes) -> object:
        request = ExportTraceServiceRequest()
        request.ParseFromString(payload)
        for resource_spans in request.resource_spans:
            resource = {kv.key: kv.value for kv in resource_spans.resource.attributes}
            journey = resource.get(names.JOURNEY_NAME)
            if journey is None:
                continue
            series = windows.setdefault(
                (
                    resource[names.JOURNEY_NAMESPACE].string_value,
                    journey.string_value,
                    resource[names.LOCATION].string_value,
                ),
                {},
            )
            traces: dict[bytes, list[Any]] = {}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    trace = traces.setdefault(span.trace_id, [None, False])
                    attributes = {kv.key: kv.value for kv in span.attributes}
                    if names.STEP_NAME not in attributes:
                        if not span.parent_span_id:
                            trace[0] = span
                    elif names.STEP_PHASE not in attributes:
                        threshold = attributes.get(names.STEP_THRESHOLD)
                        seconds = (span.end_time_unix_nano - span.start_time_unix_nano) / 1e9
                        if span.status.code == 2 or (
                            threshold is not None and seconds > threshold.double_value
                        ):
                            trace[1] = True
            for root, bad in traces.values():
                if root is not None:
                    counts = series.setdefault(root.end_time_unix_nano // 60_000_000_000, [0, 0])
                    counts[0] += 1
                    counts[1] += not bad
        return windows

    return run


def _send_all(address: str, corpus: Corpus, passes: int) -> None:
    with grpc.insecure_channel(address) as channel:
        export = channel.unary_unary(
            TRACE_EXPORT, request_serializer=None, response_deserializer=None
        )
        for _ in range(passes):
            for payload in corpus.requests:
                export(payload, timeout=60)


def _service_rate(process: psutil.Process, address: str, corpus: Corpus) -> float:
    """Spans per CPU second of a server process fed the corpus over OTLP/gRPC."""
    _send_all(address, corpus, WARM_PASSES)  # series known, every baseline window full
    before = process.cpu_times()
    _send_all(address, corpus, SERVICE_PASSES)
    after = process.cpu_times()
    cpu = (after.user + after.system) - (before.user + before.system)
    return corpus.spans * SERVICE_PASSES / cpu


def _collector(corpus: Corpus) -> float:
    root = logs_dir() / "bench-spanmetrics"
    root.mkdir(parents=True, exist_ok=True)
    grpc_port, http_port = free_port(), free_port()
    config = {
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {
                        "endpoint": f"127.0.0.1:{grpc_port}",
                        "max_recv_msg_size_mib": 64,
                    },
                    "http": {"endpoint": f"127.0.0.1:{http_port}"},
                }
            }
        },
        "connectors": {
            "spanmetrics": {
                "dimensions": [
                    {"name": names.STEP_NAME},
                    {"name": names.LAYER},
                    {"name": names.STEP_PHASE},
                ],
                "metrics_flush_interval": "5s",
            }
        },
        "exporters": {"debug": {"verbosity": "basic"}},
        "service": {
            "pipelines": {
                "traces": {"receivers": ["otlp"], "exporters": ["spanmetrics"]},
                "metrics": {"receivers": ["spanmetrics"], "exporters": ["debug"]},
            },
            "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "warn"}},
        },
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    collector = Process(
        "bench-spanmetrics",
        [str(otelcol_binary()), f"--config={path}"],
        root,
        env={"GOMAXPROCS": "1"},
    )
    collector.start()
    try:
        collector.wait_until(lambda: port_open(grpc_port), 60, "listening")
        assert collector.popen is not None
        return _service_rate(psutil.Process(collector.popen.pid), f"127.0.0.1:{grpc_port}", corpus)
    finally:
        collector.stop()


def _start_processor(evaluation_interval_s: float) -> tuple[Process, str, str]:
    grpc_listen = f"127.0.0.1:{free_port()}"
    status_listen = f"127.0.0.1:{free_port()}"
    service = Process(
        "bench-processor",
        [
            str(Path(sys.executable).parent / "cxj"),
            "processor",
            f"--grpc-listen={grpc_listen}",
            f"--http-listen=127.0.0.1:{free_port()}",
            f"--status-listen={status_listen}",
            f"--evaluation-interval-s={evaluation_interval_s}",
        ],
        logs_dir(),
    )
    service.start()
    service.wait_until(lambda: port_open(int(grpc_listen.split(":")[1])), 240, "accepting OTLP")
    return service, grpc_listen, status_listen


def _get(address: str, path: str) -> Any:
    with urllib.request.urlopen(f"http://{address}{path}", timeout=60) as response:
        return json.load(response)


def _processor(corpus: Corpus) -> tuple[float, int]:
    """(spans per CPU second, runs judged) of `cxj processor`, evaluations held off."""
    service, grpc_listen, status_listen = _start_processor(3600)
    try:
        assert service.popen is not None
        rate = _service_rate(psutil.Process(service.popen.pid), grpc_listen, corpus)
        return rate, int(_get(status_listen, "/api/v1/processor")["counters"]["runs"])
    finally:
        service.stop()


def _memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, RssAnon) of a process in MB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon"):
            fields[name] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["RssAnon"]


def _processor_memory(corpus: Corpus) -> tuple[float, float]:
    """(RSS, of it anonymous) in MB of `cxj processor` holding every series, in steady state.

    Steady state after 30 days: every series' history written first (a run in every hour of
    30 days and every minute of the last 7 hours, so every bucket the store keeps holds
    data), then the corpus sent twice, all 2,000 series evaluated, then two more
    evaluations (each followed by the processor's heap trim) before reading.
    """
    started = time.perf_counter()
    past = history(time.time_ns() - 60 * 10**9)
    print(
        f"  (history for the memory figure: {past.spans:,} spans, {past.runs:,} runs, "
        f"built in {time.perf_counter() - started:.0f} s)",
        flush=True,
    )
    service, grpc_listen, status_listen = _start_processor(2)
    try:
        assert service.popen is not None
        _send_all(grpc_listen, past, 1)
        accepted = int(_get(status_listen, "/api/v1/processor")["counters"]["runs"])
        if accepted != past.runs:
            raise SystemExit(f"the processor judged {accepted:,} of {past.runs:,} history runs")
        _send_all(grpc_listen, corpus, 2)
        deadline = time.monotonic() + 120
        while len(_get(status_listen, "/api/v1/journeys")["journeys"]) < 2 * JOURNEYS:
            if time.monotonic() > deadline:
                raise SystemExit("the processor never evaluated all 2,000 series")
            time.sleep(0.5)
        time.sleep(5)  # two more evaluations, each followed by the heap trim
        return _memory_mb(service.popen.pid)
    finally:
        service.stop()


def main() -> None:
    started = time.perf_counter()
    corpus = build(per_request=COLLECTOR_BATCH_RUNS)
    small = build(per_request=60)
    print(
        f"corpus: {len(corpus.requests)} requests, {corpus.spans:,} spans in {corpus.runs:,} "
        f"runs of 2,000 series, {corpus.bytes / corpus.spans:.0f} bytes/span "
        f"(built in {time.perf_counter() - started:.1f} s)"
    )
    now = START_NS / 1e9 + 300
    pipeline = Pipeline(ProcessorConfig(), clock=lambda: now)
    pipeline.warm_up()
    for _ in range(WARM_PASSES):  # every series known, every baseline window full
        for payload in corpus.requests:
            pipeline.accept("traces", payload)
    python_loop = _python_baseline()
    for payload in corpus.requests:  # (a) too knows every series before it is measured
        python_loop(payload)
    baselines, rates = _rounds(python_loop, lambda p: pipeline.accept("traces", p), corpus)
    ratios = [ours / baseline for baseline, ours in zip(baselines, rates, strict=True)]
    baseline, ours = statistics.median(baselines), statistics.median(rates)
    ours_small = _cpu_rate(lambda p: pipeline.accept("traces", p), small, SECONDS)
    decode = _cpu_rate(pipeline.decoder.decode, corpus, SECONDS)
    from cxj_processors import compiled

    print(f"kernels: {compiled.describe()}")
    print("one core, CPU time:")
    print(
        f"  cxj in process, decode + aggregate:          {ours:12,.0f} spans/s "
        f"(median; rounds {_figures(rates, 1e6, 2)} M)"
    )
    print(f"  ... with 60-run requests (~1,200 spans):     {ours_small:12,.0f} spans/s")
    print(f"  ... of which decoding alone would allow:     {decode:12,.0f} spans/s")
    print(
        f"  (a) protobuf + Python loop (lighter job):    {baseline:12,.0f} spans/s "
        f"(median; rounds {_figures(baselines, 1e3)} k)"
    )
    print(
        f"  ratio cxj / (a): {statistics.median(ratios):.1f} "
        f"(median of the rounds' ratios {_figures(ratios, digits=1)})"
    )

    live = build(per_request=COLLECTOR_BATCH_RUNS, start_ns=time.time_ns() - 600 * 10**9)
    collector = _collector(live)
    service, runs = _processor(live)
    rss, anonymous = _processor_memory(live)
    expected = live.runs * (SERVICE_PASSES + WARM_PASSES)
    print("over OTLP/gRPC, server CPU time:")
    print(f"  (b) Collector + span metrics connector:      {collector:12,.0f} spans/s")
    print(f"  cxj processor service:                       {service:12,.0f} spans/s")
    print(f"  ratio cxj service / (b): {service / collector:.2f}")
    print(f"  runs the processor judged (/api/v1/processor): {runs:,} of {expected:,} sent")
    print(
        f"processor RSS with 2,000 series x 30 days, steady state: {rss:.0f} MB "
        f"({anonymous:.0f} MB anonymous; target <= 200 MB)"
    )
    if runs != expected:
        raise SystemExit(f"the processor counted {runs} runs, {expected} were sent")


if __name__ == "__main__":
    main()
