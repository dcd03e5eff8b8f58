"""The simulated contact center of `cxj demo`: every example journey succeeds on it, each
fault shows up where a user would look for it, and the stack recovers when faults clear.

Journeys run through the real probe run loop and step executors; the only changes to the
examples are the ports (free ones), a 2 s voice stream, a 1 s call hold, and the stack's
DNS server as the resolver (the system resolver is off the machine).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tests.harness.processes import REPO, free_port
from tests.harness.telemetry import closed_after_test

from cxj_journey import telemetry as names
from cxj_journey.model import Journey, parse_journey
from cxj_probe.contract import resource_attributes
from cxj_probe.otel import Telemetry, build_telemetry
from cxj_probe.runner import JourneyRunner, RunResult
from cxj_probe.steps.base import StepOutcome
from cxj_probe.steps.registry import EXECUTORS
from cxj_standalone.stack import ContactCenterStack, Impairment, StackPorts

EXAMPLES = REPO / "crds" / "examples"
CREDENTIALS = "Basic ZGVtby1hZ2VudDpkZW1v"
VOICE_STREAM = "2s"
# voice-call.yaml holds its call for 2 s under a 2 s threshold, so its place-call step is
# over threshold on any server; a 1 s hold keeps the threshold meaningful (as `cxj demo`
# shortens it too) until the example is corrected.
CALL_HOLD = "1s"
# The demo's voice fault: jitter and bursty loss on the path back from the contact center.
BAD_VOICE_PATH = Impairment(delay_ms=60.0, jitter_ms=30.0, loss_pct=8.0, burst_length=3.0, seed=7)


def stack_ports() -> StackPorts:
    """Six distinct ports free right now."""
    ports: list[int] = []
    while len(ports) < 6:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return StackPorts(*ports)


def example(name: str, ports: StackPorts) -> Journey:
    """An example journey aimed at a stack on other ports, with a short voice stream."""
    document = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    document["spec"]["steps"] = retarget(document["spec"]["steps"], ports.replacements())
    for step in document["spec"]["steps"]:
        if "voicePath" in step:
            step["voicePath"]["duration"] = VOICE_STREAM
        if "dns" in step:
            step["dns"]["resolver"] = f"127.0.0.1:{ports.dns}"
        if "holdFor" in step.get("sip", {}):
            step["sip"]["holdFor"] = CALL_HOLD
    return parse_journey(document)


def retarget(node: Any, replacements: dict[int, int]) -> Any:
    """Moves every loopback target to the stack's ports: `port:` fields, host:port in strings."""
    if isinstance(node, list):
        return [retarget(item, replacements) for item in node]
    if isinstance(node, dict):
        return {
            key: replacements.get(value, value)
            if key == "port" and isinstance(value, int)
            else retarget(value, replacements)
            for key, value in node.items()
        }
    if isinstance(node, str):
        for old, new in replacements.items():
            node = node.replace(f"127.0.0.1:{old}", f"127.0.0.1:{new}")
        return node
    return node


def journey(name: str, steps: list[dict[str, Any]]) -> Journey:
    return parse_journey(
        {
            "apiVersion": "cxjourney.dev/v1alpha1",
            "kind": "CxJourney",
            "metadata": {"name": name},
            "spec": {"type": "agent-desktop", "steps": steps, "locations": [{"name": "test"}]},
        }
    )


@dataclass
class Probe:
    """One journey's run loop with in-memory telemetry."""

    journey: Journey
    runner: JourneyRunner
    spans: InMemorySpanExporter
    telemetry: Telemetry

    async def run(self) -> RunResult:
        return await self.runner.run_once()

    def finished_spans(self) -> list[ReadableSpan]:
        self.telemetry.tracer_provider.force_flush()
        return list(self.spans.get_finished_spans())


def probe(journey: Journey) -> Probe:
    location = journey.locations[0].name
    spans = InMemorySpanExporter()
    telemetry = closed_after_test(
        build_telemetry(
            resource_attributes(journey, location),
            span_exporter=spans,
            metric_reader=InMemoryMetricReader(),
        )
    )
    runner = JourneyRunner(
        journey,
        location,
        tracer=telemetry.tracer,
        meter=telemetry.meter,
        executors=EXECUTORS,
        secrets=lambda name, key: CREDENTIALS,
    )
    return Probe(journey, runner, spans, telemetry)


def on_stack(
    body: Callable[[ContactCenterStack], Awaitable[None]], **options: Any
) -> ContactCenterStack:
    """Runs body against a freshly started stack on free ports; the stack is stopped after."""
    stack = ContactCenterStack(stack_ports(), **options)

    async def main() -> None:
        async with stack:
            await body(stack)

    asyncio.run(main())
    return stack


def report(result: RunResult) -> str:
    lines = [f"outcome {result.outcome} in {result.duration_s:.2f}s"]
    for step, outcome in result.steps:
        error = f" {outcome.error_type}: {outcome.error_message}" if not outcome.ok else ""
        limit = f" (threshold {step.threshold_s:g}s)" if step.threshold_s is not None else ""
        mos = [
            f"{direction} {outcome.measurements[key]:.2f}"
            for direction in names.VOICE_DIRECTIONS
            if (key := names.voice_attribute(direction, "mos")) in outcome.measurements
        ]
        voice = f" MOS {', '.join(mos)}" if mos else ""
        lines.append(f"  {step.name}: {outcome.duration_s:.3f}s{limit}{voice}{error}")
    return "\n".join(lines)


def step_outcome(result: RunResult, name: str) -> StepOutcome:
    return next(outcome for step, outcome in result.steps if step.name == name)


def inbound_mos(result: RunResult) -> float:
    return step_outcome(result, "media-path").measurements[names.voice_attribute("inbound", "mos")]


def phase_layer(spans: list[ReadableSpan], step: str, phase: str) -> object:
    attributes = [
        span.attributes or {}
        for span in spans
        if (span.attributes or {}).get(names.STEP_PHASE) == phase
        and (span.attributes or {}).get(names.STEP_NAME) == step
    ]
    assert attributes, f"no {phase} span for {step}"
    return attributes[-1].get(names.LAYER)


def example_journeys() -> list[str]:
    """Every example of kind CxJourney: each must run against the demo stack."""
    return sorted(
        path.stem
        for path in EXAMPLES.glob("*.yaml")
        if yaml.safe_load(path.read_text()).get("kind") == "CxJourney"
    )


@pytest.mark.parametrize("name", example_journeys())
def test_example_journey_succeeds_on_the_healthy_stack(name: str) -> None:
    results: list[RunResult] = []

    async def body(stack: ContactCenterStack) -> None:
        journey = example(name, stack.ports)
        results.append(await probe(journey).run())

    stack = on_stack(body)
    result = results[0]
    print(f"\n{name}: {report(result)}")
    targets = str(example(name, stack.ports).spec["steps"])
    for old in StackPorts().replacements():
        assert str(old) not in targets, f"{name}.yaml still targets port {old} after rewriting"
    assert result.outcome == "success", report(result)
    assert len(result.steps) == len(example(name, StackPorts()).steps)


def test_voice_fault_lowers_mos_while_signalling_and_the_desktop_stay_fast() -> None:
    seen: dict[str, RunResult] = {}

    async def body(stack: ContactCenterStack) -> None:
        voice = probe(example("voice-call", stack.ports))
        desktop = probe(example("agent-desktop", stack.ports))
        stack.set_voice_impairment(BAD_VOICE_PATH)
        seen["voice"], seen["desktop"] = await asyncio.gather(voice.run(), desktop.run())
        stack.clear_faults()
        seen["recovered"] = await voice.run()

    on_stack(body)
    voice, desktop, recovered = seen["voice"], seen["desktop"], seen["recovered"]
    print(f"\nimpaired: {report(voice)}\ndesktop meanwhile: {report(desktop)}")
    print(f"recovered: {report(recovered)}")
    min_mos = 3.6  # voice-call.yaml's media-path minMos
    assert voice.outcome == "degraded", report(voice)
    assert inbound_mos(voice) < min_mos, report(voice)
    # Only the path back was impaired: the outbound direction keeps its quality.
    mos_out = step_outcome(voice, "media-path").measurements[
        names.voice_attribute("outbound", "mos")
    ]
    assert mos_out >= min_mos
    for step, outcome in voice.steps:
        if step.kind == "sip":
            assert step.threshold_s is not None
            assert outcome.ok, report(voice)
            assert outcome.duration_s <= step.threshold_s, report(voice)
    assert desktop.outcome == "success", report(desktop)
    assert recovered.outcome == "success", report(recovered)
    assert inbound_mos(recovered) >= min_mos


def test_desktop_delay_makes_the_desktop_journey_slow_at_the_platform() -> None:
    seen: dict[str, RunResult] = {}
    spans: list[ReadableSpan] = []

    async def body(stack: ContactCenterStack) -> None:
        desktop = probe(example("agent-desktop", stack.ports))
        stack.set_desktop_delay(2.0)
        seen["slow"] = await desktop.run()
        spans.extend(desktop.finished_spans())
        stack.clear_faults()
        seen["recovered"] = await desktop.run()

    on_stack(body)
    slow, recovered = seen["slow"], seen["recovered"]
    assert slow.outcome == "degraded", report(slow)
    load = step_outcome(slow, "load-desktop")
    assert load.ok, report(slow)
    assert load.duration_s > 1.5, report(slow)  # the step's threshold
    assert phase_layer(spans, "load-desktop", "ttfb") == "platform"
    assert recovered.outcome == "success", report(recovered)


def test_crm_delay_makes_the_crm_lookup_slow_at_the_dependency() -> None:
    seen: dict[str, RunResult] = {}
    spans: list[ReadableSpan] = []

    async def body(stack: ContactCenterStack) -> None:
        desktop = probe(example("agent-desktop", stack.ports))
        stack.set_crm_delay(1.5)
        seen["slow"] = await desktop.run()
        spans.extend(desktop.finished_spans())
        stack.clear_faults()
        seen["recovered"] = await desktop.run()

    on_stack(body)
    slow, recovered = seen["slow"], seen["recovered"]
    assert slow.outcome == "degraded", report(slow)
    crm = step_outcome(slow, "crm-lookup")
    assert crm.ok, report(slow)
    assert crm.duration_s > 1.0, report(slow)  # the step's threshold
    load = step_outcome(slow, "load-desktop")
    assert load.duration_s <= 1.5, report(slow)  # the desktop page itself is unaffected
    assert phase_layer(spans, "crm-lookup", "ttfb") == "dependency"
    assert recovered.outcome == "success", report(recovered)
    assert step_outcome(recovered, "crm-lookup").duration_s <= 1.0, report(recovered)


def http_check(
    name: str, url: str, *assertions: dict[str, str], authorization: str | None = None
) -> dict[str, Any]:
    step: dict[str, Any] = {"name": name, "http": {"url": url, "assertions": list(assertions)}}
    if authorization is not None:
        step["http"]["headers"] = [{"name": "Authorization", "value": authorization}]
    return step


def status_is(code: int) -> dict[str, str]:
    return {"source": "status", "operator": "equals", "value": str(code)}


def body_has(text: str) -> dict[str, str]:
    return {"source": "body", "operator": "contains", "value": text}


def content_type_has(text: str) -> dict[str, str]:
    return {"source": "header", "property": "Content-Type", "operator": "contains", "value": text}


def test_desktop_page_needs_sign_in_and_serves_its_assets() -> None:
    results: list[RunResult] = []

    async def body(stack: ContactCenterStack) -> None:
        base = f"http://127.0.0.1:{stack.ports.desktop}"
        crm = f"{base}/api/crm/customers/probe-customer"
        checks = journey(
            "desktop-assets",
            [
                http_check("anonymous", f"{base}/desktop", status_is(401)),
                http_check(
                    "page",
                    f"{base}/desktop",
                    body_has("/assets/desktop.css"),
                    body_has("/assets/desktop.js"),
                    authorization=CREDENTIALS,
                ),
                http_check("css", f"{base}/assets/desktop.css", content_type_has("text/css")),
                http_check(
                    "js",
                    f"{base}/assets/desktop.js",
                    content_type_has("javascript"),
                    body_has("/api/crm/customers/"),
                ),
                http_check("crm-foreign-token", crm, status_is(401), authorization="Bearer forged"),
            ],
        )
        results.append(await probe(checks).run())

    on_stack(body)
    assert results[0].outcome == "success", report(results[0])


def test_without_sipp_the_stack_says_so_and_sip_steps_fail() -> None:
    results: list[RunResult] = []
    described: list[str] = []

    async def body(stack: ContactCenterStack) -> None:
        described.append(stack.describe())
        results.append(await probe(example("voice-call", stack.ports)).run())

    on_stack(body, sipp="/nonexistent/sipp")
    assert "SIPp not found at /nonexistent/sipp" in described[0]
    result = results[0]
    assert result.outcome == "failure", report(result)
    assert result.failed_step == "sip-options"
    assert step_outcome(result, "sip-options").error_type == "connection_refused", report(result)


def test_describe_lists_every_endpoint_and_the_faults_in_force() -> None:
    described: list[str] = []

    async def body(stack: ContactCenterStack) -> None:
        described.append(stack.describe())
        stack.set_voice_impairment(BAD_VOICE_PATH)
        stack.set_desktop_delay(2.5)
        stack.set_crm_delay(1.0)
        described.append(stack.describe())
        stack.clear_faults()
        described.append(stack.describe())

    stack = on_stack(body)
    healthy, faulty, cleared = described
    for port in stack.ports.replacements().values():
        assert f":{port}" in healthy
    assert "faults: none" in healthy
    assert "[" not in healthy  # no service reports a problem
    assert "8 % loss" in faulty
    assert "(network)" in faulty
    assert "desktop server +2.5 s (platform)" in faulty
    assert "CRM +1 s (dependency)" in faulty
    assert "faults: none" in cleared


def test_a_taken_port_is_named_and_the_running_stack_is_untouched() -> None:
    results: list[RunResult] = []

    async def body(stack: ContactCenterStack) -> None:
        second = ContactCenterStack(stack.ports)
        with pytest.raises(OSError, match=f"dns: cannot listen on udp 127.0.0.1:{stack.ports.dns}"):
            await second.start()
        results.append(await probe(example("minimal", stack.ports)).run())

    on_stack(body)
    assert results[0].outcome == "success", report(results[0])


def test_faults_reject_impossible_delays() -> None:
    stack = ContactCenterStack(stack_ports())
    with pytest.raises(ValueError, match="set_desktop_delay: seconds must be between 0 and 600"):
        stack.set_desktop_delay(-1.0)
    with pytest.raises(ValueError, match="set_crm_delay"):
        stack.set_crm_delay(float("nan"))
