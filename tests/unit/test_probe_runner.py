"""The probe's run loop: traces, metrics, outcomes and scheduling, with scripted executors.

The executors here are scripted stand-ins; the real ones are tested against real peers in
tests/integration.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from tests.harness.telemetry import closed_after_test

from cxj_journey.model import Journey, Step, parse_journey
from cxj_probe.contract import resource_attributes
from cxj_probe.otel import build_telemetry
from cxj_probe.runner import JourneyRunner, Schedule
from cxj_probe.steps.base import Phase, StepContext, StepOutcome, now_ns


def journey(steps: list[dict[str, Any]], name: str = "desk", interval: str = "1s") -> Journey:
    return parse_journey(
        {
            "apiVersion": "cxjourney.dev/v1alpha1",
            "kind": "CxJourney",
            "metadata": {"name": name, "namespace": "cx"},
            "spec": {
                "type": "agent-desktop",
                "interval": interval,
                "steps": steps,
                "locations": [{"name": "lon"}],
            },
        }
    )


def http_step(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "http": {"url": f"http://127.0.0.1/{name}"}, **extra}


class Script:
    """Executors that do what each step name says, and remember what they saw."""

    def __init__(self, behaviour: dict[str, Any]) -> None:
        self.behaviour = behaviour
        self.contexts: dict[str, StepContext] = {}

    async def __call__(self, step: Step, context: StepContext) -> StepOutcome:
        self.contexts[step.name] = context
        start = now_ns()
        action = self.behaviour.get(step.name, "ok")
        if action == "hang":
            await asyncio.sleep(3600)
        if action == "raise":
            raise RuntimeError("executor bug")
        if isinstance(action, float):
            await asyncio.sleep(action)
        end = now_ns()
        outcome = StepOutcome(
            start,
            end,
            phases=[
                Phase("connect", start, start + (end - start) // 2),
                Phase("ttfb", start + (end - start) // 2, end),
            ],
        )
        if action == "fail":
            outcome.error_type, outcome.error_message = "connection_refused", "refused"
        if action == "extract":
            outcome.variables["token"] = "abc"
        return outcome


def make_runner(
    j: Journey, script: Script
) -> tuple[JourneyRunner, InMemorySpanExporter, InMemoryMetricReader]:
    spans = InMemorySpanExporter()
    metrics = InMemoryMetricReader()
    telemetry = closed_after_test(
        build_telemetry(resource_attributes(j, "lon"), span_exporter=spans, metric_reader=metrics)
    )
    runner = JourneyRunner(
        j,
        "lon",
        tracer=telemetry.tracer,
        meter=telemetry.meter,
        executors={"http": script, "wait": script},
        secrets=lambda n, k: "s3cret",
    )
    runner.telemetry = telemetry  # type: ignore[attr-defined]
    return runner, spans, metrics


def finished(runner: JourneyRunner, spans: InMemorySpanExporter) -> list[Any]:
    runner.telemetry.tracer_provider.force_flush()  # type: ignore[attr-defined]
    return list(spans.get_finished_spans())


def test_one_trace_per_run_with_step_and_phase_spans() -> None:
    j = journey([http_step("login", threshold="10s"), http_step("crm", layer="dependency")])
    runner, spans, _ = make_runner(j, Script({}))
    result = asyncio.run(runner.run_once())
    assert result.outcome == "success"
    recorded = finished(runner, spans)
    assert len({s.context.trace_id for s in recorded}) == 1
    by_name = {s.name: s for s in recorded if s.name in ("journey desk", "login", "crm")}
    root = by_name["journey desk"]
    assert root.parent is None
    assert root.attributes["user_agent.synthetic.type"] == "test"
    assert root.attributes["cx.run.outcome"] == "success"
    for step in ("login", "crm"):
        assert by_name[step].parent.span_id == root.context.span_id
    assert by_name["login"].attributes["cx.step.threshold"] == 10.0
    assert by_name["crm"].attributes["cx.layer"] == "dependency"
    phases = [s for s in recorded if s.attributes.get("cx.step.phase")]
    assert {(p.attributes["cx.step.name"], p.name) for p in phases} == {
        ("login", "connect"),
        ("login", "ttfb"),
        ("crm", "connect"),
        ("crm", "ttfb"),
    }
    ttfb_layers = {
        p.attributes["cx.step.name"]: p.attributes["cx.layer"] for p in phases if p.name == "ttfb"
    }
    assert ttfb_layers == {"login": "platform", "crm": "dependency"}
    assert recorded[0].resource.attributes["cx.slo.objective"] == 99.5


def test_failure_stops_the_run_and_marks_the_step() -> None:
    j = journey([http_step("login"), http_step("crm"), http_step("after")])
    runner, spans, _ = make_runner(j, Script({"crm": "fail"}))
    result = asyncio.run(runner.run_once())
    assert (result.outcome, result.failed_step) == ("failure", "crm")
    names = [s.name for s in finished(runner, spans)]
    assert "after" not in names
    crm = next(s for s in finished(runner, spans) if s.name == "crm")
    assert crm.status.status_code == StatusCode.ERROR
    assert crm.attributes["error.type"] == "connection_refused"


@pytest.mark.parametrize(
    ("behaviour", "error_type"),
    [("hang", "timeout"), ("raise", "internal")],
    ids=["hang-times-out", "executor-bug-is-contained"],
)
def test_hangs_and_bugs_become_step_errors(behaviour: str, error_type: str) -> None:
    j = journey([http_step("slow", timeout="200ms")])
    runner, spans, _ = make_runner(j, Script({"slow": behaviour}))
    result = asyncio.run(runner.run_once())
    assert result.outcome == "failure"
    (step_span,) = [s for s in finished(runner, spans) if s.name == "slow"]
    assert step_span.attributes["error.type"] == error_type


def test_threshold_exceeded_is_degraded() -> None:
    j = journey([http_step("slow", threshold="50ms")])
    runner, _, _ = make_runner(j, Script({"slow": 0.08}))
    assert asyncio.run(runner.run_once()).outcome == "degraded"


def test_variables_and_trace_context_reach_later_steps() -> None:
    j = journey(
        [
            http_step("login", extract=[{"name": "token", "source": "body"}]),
            {"name": "crm", "http": {"url": "http://127.0.0.1/${token}"}},
        ]
    )
    script = Script({"login": "extract"})
    runner, spans, _ = make_runner(j, script)
    asyncio.run(runner.run_once())
    assert script.contexts["crm"].variables == {"token": "abc"}
    crm = next(s for s in finished(runner, spans) if s.name == "crm")
    traceparent = script.contexts["crm"].trace_headers["traceparent"]
    version, trace_id, parent_id, flags = traceparent.split("-")
    assert (version, trace_id, parent_id) == (
        "00",
        f"{crm.context.trace_id:032x}",
        f"{crm.context.span_id:016x}",
    )
    assert int(flags, 16) & 1 == 1  # sampled


def test_run_and_step_metrics_are_recorded_with_exponential_histograms() -> None:
    j = journey([http_step("login")])
    runner, _, metrics = make_runner(j, Script({}))
    asyncio.run(runner.run_once())
    data = metrics.get_metrics_data()
    found = {
        m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
    }
    runs = found["cx.journey.runs"].data.data_points
    assert [(p.attributes["outcome"], p.value) for p in runs] == [("success", 1)]
    step_points = found["cx.step.duration"].data.data_points
    assert type(found["cx.step.duration"].data).__name__ == "ExponentialHistogram"
    assert {p.attributes.get("cx.step.phase") for p in step_points} == {None, "connect", "ttfb"}


def test_a_hanging_journey_never_delays_another() -> None:
    hanging = journey([http_step("stuck", timeout="900ms")], name="hangs", interval="1s")
    quick = journey([http_step("fast")], name="quick", interval="1s")
    runs: dict[str, int] = {"hangs": 0, "quick": 0}

    async def scenario() -> None:
        stop = asyncio.Event()
        schedules = []
        for j, behaviour in ((hanging, {"stuck": "hang"}), (quick, {})):
            runner, _, _ = make_runner(j, Script(behaviour))
            schedules.append(
                Schedule(runner, 0.1, lambda r, n=j.name: runs.__setitem__(n, runs[n] + 1))
            )
        tasks = [asyncio.create_task(s.run(stop)) for s in schedules]
        started = time.monotonic()
        while runs["quick"] < 5 and time.monotonic() - started < 10:
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.gather(*tasks)

    asyncio.run(scenario())
    assert runs["quick"] >= 5
    assert runs["hangs"] <= 1
