"""A realistic corpus of journey telemetry: what probes send, as a Collector batches it.

1,000 journeys at 2 locations each (2,000 series), every resource carrying its journey's
SLO contract as the probe's do. A run is a root span, 3 to 6 steps and 2 to 5 phases per
step (the shape the probe emits); about 5 % of runs fail a step and voice journeys carry
MOS per direction. A request holds a number of resources with one run each, as a Collector
forwards them after batching many probes' exports.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from cxj_journey import telemetry as names

JOURNEYS = 1000
LOCATIONS = ("lon", "nyc")
TYPES = ("voice", "chat", "agent-desktop", "bot-handoff")
PHASES = ("dns", "connect", "tls", "ttfb", "transfer")
PHASE_LAYER = {"dns": "network", "connect": "network", "tls": "network"}
START_NS = 1_900_000_000 * 1_000_000_000


@dataclass(frozen=True)
class Corpus:
    """Serialized requests and how many spans and runs they hold."""

    requests: list[bytes]
    spans: int
    runs: int

    @property
    def bytes(self) -> int:
        """Total payload size."""
        return sum(len(r) for r in self.requests)


def _kv(key: str, value: str | float | int) -> KeyValue:
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(double_value=value))


def _resource(journey: int, location: str) -> list[KeyValue]:
    return [
        _kv("service.name", "cxj-probe"),
        _kv(names.JOURNEY_NAME, f"journey-{journey}"),
        _kv(names.JOURNEY_NAMESPACE, "contact-center"),
        _kv(names.JOURNEY_TYPE, TYPES[journey % len(TYPES)]),
        _kv(names.LOCATION, location),
        _kv(names.JOURNEY_REVISION, f"{journey:08x}"),
        _kv(names.SLO_OBJECTIVE, 99.5),
        _kv(names.SLO_PERIOD, 30),
        _kv(names.SLO_BUDGETING, "occurrences"),
        _kv(names.APDEX_THRESHOLD, 2.0),
        _kv("telemetry.sdk.language", "python"),
        _kv("telemetry.sdk.version", "1.39.0"),
    ]


def _root(
    trace_id: bytes, root_id: bytes, journey: int, times: tuple[int, int], outcome: str
) -> Span:
    """A run's root span, carrying its outcome."""
    root = Span(
        trace_id=trace_id,
        span_id=root_id,
        name=f"journey journey-{journey}",
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=times[0],
        end_time_unix_nano=times[1],
    )
    root.attributes.append(_kv(names.RUN_OUTCOME, outcome))
    return root


def _run(rng: random.Random, spans: list[Span], journey: int, start_ns: int) -> None:
    trace_id = rng.randbytes(16)
    root_id = rng.randbytes(8)
    voice = TYPES[journey % len(TYPES)] == "voice"
    failing = rng.randrange(6) if rng.random() < 0.05 else -1
    at = start_ns
    steps: list[Span] = []
    for index in range(3 + journey % 4):
        step_name = f"step-{index}"
        step_id = rng.randbytes(8)
        step_start = at
        for phase in PHASES[: 2 + (journey + index) % 4]:
            duration = rng.randrange(1_000_000, 40_000_000)
            phase_span = Span(
                trace_id=trace_id,
                span_id=rng.randbytes(8),
                parent_span_id=step_id,
                name=phase,
                kind=Span.SPAN_KIND_INTERNAL,
                start_time_unix_nano=at,
                end_time_unix_nano=at + duration,
            )
            phase_span.attributes.extend(
                [
                    _kv(names.STEP_NAME, step_name),
                    _kv(names.STEP_PHASE, phase),
                    _kv(names.LAYER, PHASE_LAYER.get(phase, "platform")),
                ]
            )
            steps.append(phase_span)
            at += duration
        step = Span(
            trace_id=trace_id,
            span_id=step_id,
            parent_span_id=root_id,
            name=step_name,
            kind=Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=step_start,
            end_time_unix_nano=at,
        )
        attributes = [
            _kv(names.STEP_NAME, step_name),
            _kv(names.STEP_TYPE, "http"),
            _kv(names.STEP_INDEX, index),
            _kv(names.LAYER, "platform"),
            _kv(names.STEP_THRESHOLD, 1.5),
            _kv("http.response.status_code", 200),
            _kv("server.address", f"agent-{journey % 97}.example.test"),
        ]
        if voice and index == 0:
            attributes += [
                _kv(names.VOICE_MIN_MOS, 3.6),
                _kv(names.voice_attribute("outbound", "mos"), 3.9 + rng.random() * 0.4),
                _kv(names.voice_attribute("inbound", "mos"), 3.9 + rng.random() * 0.4),
            ]
        step.attributes.extend(attributes)
        if index == failing:
            step.status.code = Status.STATUS_CODE_ERROR
            step.attributes.append(_kv(names.ERROR_TYPE, "timeout"))
        steps.append(step)
        if index == failing:
            break
    outcome = "failure" if failing >= 0 else "success"
    spans.extend([_root(trace_id, root_id, journey, (start_ns, at + 1_000_000), outcome), *steps])


def build(
    rounds: int = 3, per_request: int = 60, seed: int = 11, start_ns: int = START_NS
) -> Corpus:
    """Each series runs `rounds` times 30 s apart from `start_ns`; `per_request` runs a request."""
    rng = random.Random(seed)
    series = [(j, loc) for j in range(JOURNEYS) for loc in LOCATIONS]
    requests: list[bytes] = []
    spans = runs = 0
    for round_index in range(rounds):
        order = series[:]
        rng.shuffle(order)
        for first in range(0, len(order), per_request):
            request = ExportTraceServiceRequest()
            for journey, location in order[first : first + per_request]:
                resource_spans = request.resource_spans.add()
                resource_spans.resource.attributes.extend(_resource(journey, location))
                scope = resource_spans.scope_spans.add()
                scope.scope.name = "cxj_probe"
                run_spans: list[Span] = []
                start = start_ns + round_index * 30_000_000_000 + rng.randrange(10**9)
                _run(rng, run_spans, journey, start)
                scope.spans.extend(run_spans)
                spans += len(run_spans)
                runs += 1
            requests.append(request.SerializeToString())
    return Corpus(requests, spans, runs)


def _short_run(rng: random.Random, spans: list[Span], journey: int, start_ns: int) -> None:
    """A run of a root and its first step only: enough to fill a series' buckets."""
    trace_id, root_id, step_id = rng.randbytes(16), rng.randbytes(8), rng.randbytes(8)
    end_ns = start_ns + rng.randrange(1_000_000, 40_000_000)
    step = Span(
        trace_id=trace_id,
        span_id=step_id,
        parent_span_id=root_id,
        name="step-0",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=end_ns,
    )
    step.attributes.extend(
        [
            _kv(names.STEP_NAME, "step-0"),
            _kv(names.STEP_INDEX, 0),
            _kv(names.LAYER, "platform"),
            _kv(names.STEP_THRESHOLD, 1.5),
        ]
    )
    if TYPES[journey % len(TYPES)] == "voice":
        step.attributes.extend(
            [
                _kv(names.VOICE_MIN_MOS, 3.6),
                _kv(names.voice_attribute("outbound", "mos"), 3.9 + rng.random() * 0.4),
                _kv(names.voice_attribute("inbound", "mos"), 3.9 + rng.random() * 0.4),
            ]
        )
    spans.extend(
        [_root(trace_id, root_id, journey, (start_ns, end_ns + 1_000_000), "success"), step]
    )


def history(now_ns: int, days: int = 30, recent_hours: int = 7, seed: int = 5) -> Corpus:
    """Past runs that write every bucket a series keeps, as after `days` of operation.

    Per series: a run in every hour of the last `days` days (the hour ring) and in every
    minute of the last `recent_hours` hours (the minute rings), one request per series.
    """
    rng = random.Random(seed)
    hour_ns, minute_ns = 3600 * 10**9, 60 * 10**9
    starts = [now_ns - hour * hour_ns for hour in range(recent_hours, days * 24)]
    starts += [now_ns - minute * minute_ns for minute in range(1, recent_hours * 60 + 1)]
    requests: list[bytes] = []
    spans = runs = 0
    for journey in range(JOURNEYS):
        for location in LOCATIONS:
            request = ExportTraceServiceRequest()
            resource_spans = request.resource_spans.add()
            resource_spans.resource.attributes.extend(_resource(journey, location))
            scope = resource_spans.scope_spans.add()
            scope.scope.name = "cxj_probe"
            run_spans: list[Span] = []
            for start in starts:
                _short_run(rng, run_spans, journey, start - rng.randrange(10**9))
            scope.spans.extend(run_spans)
            spans += len(run_spans)
            runs += len(starts)
            requests.append(request.SerializeToString())
    return Corpus(requests, spans, runs)
