"""From OTLP bytes to judged runs: outcomes, attribution and runs split across requests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tests.harness.spans import Recorder, StepSpec, encode

from cxj_processors.extract import RunExtractor, make_decoder
from cxj_processors.model import LAYERS


@pytest.fixture
def setup() -> tuple[Recorder, RunExtractor]:
    return Recorder(), RunExtractor()


def judge(extractor: RunExtractor, spans: list[ReadableSpan], now: float = 2e9) -> Any:
    runs, stats = extractor.extract(make_decoder().decode(encode(spans)), now)
    return runs, stats


def warm(
    recorder: Recorder, extractor: RunExtractor, steps: list[StepSpec], count: int = 40
) -> None:
    for _ in range(count):
        runs, _ = judge(extractor, recorder.run(steps))
        assert list(runs.outcome) == [0]


def test_a_clean_run_is_good_and_carries_the_contract(setup: tuple[Recorder, RunExtractor]) -> None:
    recorder, extractor = setup
    runs, stats = judge(extractor, recorder.run([StepSpec("login"), StepSpec("crm")]))
    assert (list(runs.outcome), list(runs.layer)) == ([0], [-1])
    assert stats.runs == 1
    (series,) = extractor.series
    assert (series.key.journey, series.key.location, series.contract.objective) == (
        "desk",
        "lon",
        pytest.approx(0.995),
    )
    assert runs.duration_s[0] == pytest.approx(0.051)


@pytest.mark.parametrize(
    ("step", "layer"),
    [
        (StepSpec("crm", layer="dependency", error="connection_refused"), "dependency"),
        (StepSpec("login", layer="platform", error="name_resolution"), "network"),
        (StepSpec("login", layer="platform", error="http_status"), "platform"),
    ],
    ids=["dependency-refused", "dns-failure-is-network", "server-error-is-platform"],
)
def test_failed_runs_are_charged_to_the_failing_step(
    setup: tuple[Recorder, RunExtractor], step: StepSpec, layer: str
) -> None:
    recorder, extractor = setup
    runs, stats = judge(extractor, recorder.run([StepSpec("open"), step]))
    assert list(runs.outcome) == [2]
    assert LAYERS[runs.layer[0]] == layer
    assert stats.blamed_steps[0][2] == step.name


@pytest.mark.parametrize(
    ("phases", "layer"),
    [
        ({"connect": 400, "ttfb": 20}, "network"),
        ({"connect": 5, "ttfb": 900}, "platform"),
    ],
    ids=["slow-connect-is-network", "slow-server-is-platform"],
)
def test_degraded_runs_are_charged_to_the_phase_that_left_its_baseline(
    setup: tuple[Recorder, RunExtractor], phases: dict[str, int], layer: str
) -> None:
    recorder, extractor = setup
    normal = [StepSpec("open", threshold_ms=300)]
    warm(recorder, extractor, normal)
    runs, _ = judge(extractor, recorder.run([StepSpec("open", threshold_ms=300, phases=phases)]))
    assert list(runs.outcome) == [1]
    assert LAYERS[runs.layer[0]] == layer


def test_voice_below_its_target_is_degraded_and_network(
    setup: tuple[Recorder, RunExtractor],
) -> None:
    recorder, extractor = setup
    voice = StepSpec(
        "media",
        layer="network",
        phases={"stream": 10},
        voice={"cx.voice.mos.min": 3.6, "cx.voice.outbound.mos": 4.3, "cx.voice.inbound.mos": 2.9},
    )
    runs, _ = judge(extractor, recorder.run([voice]))
    assert list(runs.outcome) == [1]
    assert LAYERS[runs.layer[0]] == "network"
    assert (runs.mos_out[0], runs.mos_in[0]) == (4.3, 2.9)


def test_a_run_split_across_requests_is_judged_once_its_root_arrives(
    setup: tuple[Recorder, RunExtractor],
) -> None:
    recorder, extractor = setup
    spans = recorder.run([StepSpec("login", error="timeout")])
    steps = [s for s in spans if s.parent is not None]
    roots = [s for s in spans if s.parent is None]
    runs, _ = judge(extractor, steps)
    assert len(runs.outcome) == 0
    assert extractor.pending_count() == len(steps)
    runs, _ = judge(extractor, roots)
    assert list(runs.outcome) == [2]
    assert extractor.pending_count() == 0


def test_a_degraded_run_whose_phases_come_before_its_root_is_charged_to_the_slow_phase(
    setup: tuple[Recorder, RunExtractor],
) -> None:
    recorder, extractor = setup
    warm(recorder, extractor, [StepSpec("open", threshold_ms=300)])
    spans = recorder.run([StepSpec("open", threshold_ms=300, phases={"connect": 5, "ttfb": 900})])
    steps = [s for s in spans if s.parent is not None]
    runs, _ = judge(extractor, steps)
    assert len(runs.outcome) == 0
    runs, _ = judge(extractor, [s for s in spans if s.parent is None])
    assert list(runs.outcome) == [1]
    assert LAYERS[runs.layer[0]] == "platform"


def test_steps_whose_root_never_comes_are_counted_as_orphans(
    setup: tuple[Recorder, RunExtractor],
) -> None:
    recorder, extractor = setup
    steps = [s for s in recorder.run([StepSpec("login")]) if s.parent is not None]
    judge(extractor, steps, now=1000.0)
    _, stats = judge(extractor, [], now=1000.0 + 301)
    assert stats.orphaned == len(steps)
    assert extractor.pending_count() == 0


def test_spans_of_other_services_are_accepted_but_not_judged() -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "crm"}))
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("GET /customers"):
        pass
    runs, stats = RunExtractor().extract(
        make_decoder().decode(encode(list(exporter.get_finished_spans()))), 2e9
    )
    assert (len(runs.outcome), stats.spans, stats.journey_spans) == (0, 1, 0)
    assert np.asarray(runs.series).dtype == np.int32
