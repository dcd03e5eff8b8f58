"""OTLP trace decoding throughput: the numba wire decoder against protobuf parse + a Python loop.

The corpus looks like what journey probes send: requests of ~50 resources x ~20 spans with
5-10 attributes each and random ids, plus a few large requests. The baseline is the protobuf
library's `ParseFromString` followed by a Python loop extracting the same fields into lists
(strings hashed with the built-in `hash`, cheaper than FNV-1a in Python, so the baseline is
favoured). Both run on one core, in the same process, on the same bytes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from cxj_processors.wire import SpanDecoder

RESOURCE_KEYS = (
    "service.name",
    "cx.journey.name",
    "cx.journey.namespace",
    "cx.journey.type",
    "cx.location",
)
SPAN_KEYS = (
    "cx.step.name",
    "cx.step.type",
    "cx.layer",
    "http.response.status_code",
    "server.address",
    "error.type",
)
_STEPS = ("dns", "tcp", "tls", "http", "websocket", "grpc-health", "sip", "voice-path")
_PHASES = ("dns", "connect", "tls", "ttfb", "transfer")


def _text(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _request(rng: random.Random, resources: int, spans_per_resource: int) -> bytes:
    request = ExportTraceServiceRequest()
    for r in range(resources):
        resource_spans = request.resource_spans.add()
        journey = f"journey-{rng.randrange(40)}"
        resource_spans.resource.attributes.extend(
            [
                _text("service.name", "cxj-probe"),
                _text("cx.journey.name", journey),
                _text("cx.journey.namespace", "contact-center"),
                _text("cx.journey.type", rng.choice(("voice", "chat", "agent-desktop"))),
                _text("cx.location", f"site-{r % 7}"),
                _text("telemetry.sdk.language", "python"),
                _text("telemetry.sdk.version", "1.30.0"),
            ]
        )
        scope = resource_spans.scope_spans.add()
        scope.scope.name = "cxj_probe"
        trace_id = rng.randbytes(16)
        root = rng.randbytes(8)
        start = 1_750_000_000_000_000_000 + rng.randrange(10**12)
        for s in range(spans_per_resource):
            step = rng.choice(_STEPS)
            span = scope.spans.add(
                trace_id=trace_id,
                span_id=root if s == 0 else rng.randbytes(8),
                parent_span_id=b"" if s == 0 else root,
                name=f"journey {journey}" if s == 0 else f"{step} {rng.choice(_PHASES)}",
                kind=Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=start + s * 1000,
                end_time_unix_nano=start + s * 1000 + rng.randrange(10**8),
            )
            attributes = [
                _text("cx.step.name", f"step-{s}"),
                _text("cx.step.type", step),
                _text("cx.layer", rng.choice(("endpoint", "network", "platform", "dependency"))),
                KeyValue(key="http.response.status_code", value=AnyValue(int_value=200)),
                _text("server.address", f"agent-{rng.randrange(100)}.example.test"),
            ]
            extra = rng.randrange(0, 6)
            attributes += [
                _text(f"probe.detail.{i}", "x" * rng.randrange(4, 24)) for i in range(extra)
            ]
            span.attributes.extend(attributes)
            span.status.code = (
                Status.STATUS_CODE_ERROR if rng.random() < 0.05 else Status.STATUS_CODE_OK
            )
    return request.SerializeToString()


def corpus(seed: int = 7) -> list[bytes]:
    """Probe-like requests: many of 50 resources x 20 spans, and a few of 10 000+ spans."""
    rng = random.Random(seed)
    typical = [_request(rng, 50, rng.randrange(15, 26)) for _ in range(60)]
    large = [_request(rng, 500, 25) for _ in range(3)]
    return typical + large


def baseline(payload: bytes) -> int:
    """protobuf parse, then a Python loop pulling out what `SpanDecoder` extracts."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(payload)
    resource_values: list[list[object]] = []
    columns: list[list[object]] = [[] for _ in range(12)]
    span_values: list[list[object]] = []
    for r, resource_spans in enumerate(request.resource_spans):
        resource_values.append(_wanted(resource_spans.resource.attributes, RESOURCE_KEYS))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                trace_id = span.trace_id
                columns[0].append(r)
                columns[1].append(int.from_bytes(trace_id[:8], "big"))
                columns[2].append(int.from_bytes(trace_id[8:], "big"))
                columns[3].append(int.from_bytes(span.span_id, "big"))
                columns[4].append(int.from_bytes(span.parent_span_id, "big"))
                columns[5].append(hash(span.name))
                columns[6].append(span.kind)
                columns[7].append(span.start_time_unix_nano)
                columns[8].append(span.end_time_unix_nano)
                columns[9].append(span.status.code)
                span_values.append(_wanted(span.attributes, SPAN_KEYS))
    return len(columns[0])


def _wanted(attributes: Sequence[KeyValue], keys: Sequence[str]) -> list[object]:
    found: dict[str, object] = {}
    for attribute in attributes:
        if attribute.key in keys:
            value = attribute.value
            which = value.WhichOneof("value")
            if which == "string_value":
                found[attribute.key] = hash(value.string_value)
            elif which in ("int_value", "double_value", "bool_value"):
                found[attribute.key] = float(getattr(value, which))
            else:
                found[attribute.key] = None
    return [found.get(key) for key in keys]


def _rate(run: Callable[[bytes], int], payloads: list[bytes], seconds: float) -> float:
    """Spans per second of CPU time: other load on the machine then skews the figures less."""
    spans = 0
    start = time.process_time()
    while time.process_time() - start < seconds:
        for payload in payloads:
            spans += run(payload)
    return spans / (time.process_time() - start)


def main() -> None:
    started = time.perf_counter()
    decoder = SpanDecoder(RESOURCE_KEYS, SPAN_KEYS)
    decoder.decode(b"")
    print(f"first decode (JIT compile, or load from cache): {time.perf_counter() - started:.2f} s")
    payloads = corpus()
    total_bytes = sum(len(p) for p in payloads)
    total_spans = sum(len(decoder.decode(p)) for p in payloads)
    assert total_spans == sum(baseline(p) for p in payloads)
    print(
        f"corpus: {len(payloads)} requests, {total_spans} spans, {total_bytes / 1e6:.1f} MB "
        f"({total_bytes / total_spans:.0f} bytes/span), one core"
    )
    base = _rate(baseline, payloads, 3.0)
    ours = _rate(lambda p: len(decoder.decode(p)), payloads, 3.0)
    hot = _rate(lambda p: len(decoder.decode(p)), payloads[:1], 2.0)
    print(f"(a) protobuf ParseFromString + Python loop: {base:12,.0f} spans/s")
    print(f"(b) cxj wire decoder, whole corpus:         {ours:12,.0f} spans/s")
    megabytes = ours * total_bytes / total_spans / 1e6
    print(f"    ... as payload bytes:                   {megabytes:12,.0f} MB/s")
    print(f"    ... one 1 000-span request in cache:    {hot:12,.0f} spans/s")
    print(f"ratio (b / a): {ours / base:.1f}")


if __name__ == "__main__":
    main()
