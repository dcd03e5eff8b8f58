"""Running journeys: one trace per run, a span per step and phase, metrics per run and step.

Each journey runs in its own asyncio task on its own schedule, so one journey's hang or
failure never delays another; every step is bounded by its timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.metrics import Meter
from opentelemetry.propagate import inject
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from cxj_journey import telemetry as names
from cxj_journey.model import Journey, Step, VoicePathStep
from cxj_probe.steps.base import (
    AttributeValue,
    SecretResolver,
    StepContext,
    StepFailure,
    StepOutcome,
    now_ns,
)

Executor = Callable[[Step, StepContext], Awaitable[StepOutcome]]

log = logging.getLogger("cxj.probe")

_NETWORK_KINDS = frozenset(
    {"dns", "tcp", "tls", "http", "websocket", "grpcHealth", "sip", "voicePath"}
)


@dataclass
class RunResult:
    """The outcome of one run of a journey."""

    outcome: str  # success | degraded | failure
    duration_s: float
    trace_id: str
    steps: list[tuple[Step, StepOutcome]] = field(default_factory=list)
    failed_step: str | None = None


class JourneyRunner:
    """Runs one journey at one location and records its telemetry."""

    def __init__(
        self,
        journey: Journey,
        location: str,
        *,
        tracer: Tracer,
        meter: Meter,
        executors: Mapping[str, Executor],
        secrets: SecretResolver,
    ) -> None:
        self.journey = journey
        self.location = location
        self.tracer = tracer
        self.executors = executors
        self.secrets = secrets
        self.runs = meter.create_counter(
            names.METRIC_RUNS, unit="{run}", description="Journey runs by outcome"
        )
        self.run_duration = meter.create_histogram(
            names.METRIC_JOURNEY_DURATION, unit="s", description="Duration of a whole run"
        )
        self.step_duration = meter.create_histogram(
            names.METRIC_STEP_DURATION,
            unit="s",
            description="Duration of each step and, with cx.step.phase, of each phase",
        )
        self.voice_gauges = {
            "rtt": meter.create_gauge(
                names.METRIC_VOICE_RTT, unit="s", description="Voice path round-trip time"
            ),
            "jitter": meter.create_gauge(
                names.METRIC_VOICE_JITTER,
                unit="s",
                description="RFC 3550 interarrival jitter per direction",
            ),
            "loss_ratio": meter.create_gauge(
                names.METRIC_VOICE_LOSS, unit="1", description="Effective packet loss per direction"
            ),
            "mos": meter.create_gauge(
                names.METRIC_VOICE_MOS, unit="1", description="E-model MOS per direction"
            ),
        }

    async def run_once(self) -> RunResult:
        """Runs every step in order, stopping at the first failure, and records the run."""
        base = {names.JOURNEY_NAME: self.journey.name, names.LOCATION: self.location}
        started = time.perf_counter()
        with self.tracer.start_as_current_span(
            f"journey {self.journey.name}",
            kind=SpanKind.INTERNAL,
            attributes={**base, names.JOURNEY_TYPE: self.journey.type, names.SYNTHETIC: "test"},
        ) as root:
            result = RunResult("success", 0.0, format(root.get_span_context().trace_id, "032x"))
            variables: dict[str, str] = {}
            for index, step in enumerate(self.journey.steps):
                outcome = await self._run_step(index, step, variables)
                result.steps.append((step, outcome))
                variables.update(outcome.variables)
                if not outcome.ok:
                    result.outcome, result.failed_step = "failure", step.name
                    break
                if result.outcome == "success" and self._degraded(step, outcome):
                    result.outcome = "degraded"
            result.duration_s = time.perf_counter() - started
            root.set_attribute(names.RUN_OUTCOME, result.outcome)
            if result.failed_step is not None:
                root.set_status(Status(StatusCode.ERROR, f"step {result.failed_step} failed"))
        self.runs.add(1, {**base, "outcome": result.outcome})
        self.run_duration.record(result.duration_s, {**base, "outcome": result.outcome})
        return result

    async def _run_step(self, index: int, step: Step, variables: dict[str, str]) -> StepOutcome:
        attributes: dict[str, AttributeValue] = {
            names.JOURNEY_NAME: self.journey.name,
            names.LOCATION: self.location,
            names.STEP_NAME: step.name,
            names.STEP_TYPE: step.kind,
            names.STEP_INDEX: index,
            names.LAYER: step.layer,
        }
        if step.threshold_s is not None:
            attributes[names.STEP_THRESHOLD] = step.threshold_s
        if isinstance(step.action, VoicePathStep) and step.action.min_mos is not None:
            attributes[names.VOICE_MIN_MOS] = step.action.min_mos
        kind = SpanKind.CLIENT if step.kind in _NETWORK_KINDS else SpanKind.INTERNAL
        with self.tracer.start_as_current_span(
            step.name,
            kind=kind,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            headers: dict[str, str] = {}
            inject(headers)
            context = StepContext(
                variables=dict(variables),
                secrets=self.secrets,
                trace_headers=headers,
                timeout_s=step.timeout_s,
            )
            outcome = await self._execute(step, context)
            for phase in outcome.phases:
                layer = names.PHASE_LAYERS.get(phase.name, step.layer)
                if step.layer == "dependency" and phase.name == "ttfb":
                    layer = "dependency"  # the dependency's own think time
                child = self.tracer.start_span(
                    phase.name,
                    start_time=phase.start_ns,
                    attributes={
                        names.STEP_NAME: step.name,
                        names.STEP_PHASE: phase.name,
                        names.LAYER: layer,
                    },
                )
                child.end(end_time=phase.end_ns)
                self.step_duration.record(
                    (phase.end_ns - phase.start_ns) / 1e9,
                    {
                        names.JOURNEY_NAME: self.journey.name,
                        names.LOCATION: self.location,
                        names.STEP_NAME: step.name,
                        names.STEP_PHASE: phase.name,
                    },
                )
            span.set_attributes(outcome.attributes)
            for key, value in outcome.measurements.items():
                span.set_attribute(key, value)
            if not outcome.ok:
                span.set_attribute(names.ERROR_TYPE, outcome.error_type or "error")
                span.set_status(Status(StatusCode.ERROR, outcome.error_message))
            self.step_duration.record(
                outcome.duration_s,
                {
                    names.JOURNEY_NAME: self.journey.name,
                    names.LOCATION: self.location,
                    names.STEP_NAME: step.name,
                },
            )
            self._record_voice(outcome)
        return outcome

    async def _execute(self, step: Step, context: StepContext) -> StepOutcome:
        start = now_ns()
        executor = self.executors.get(step.kind)
        if executor is None:
            return StepOutcome(
                start, now_ns(), "unsupported", f"this probe cannot run {step.kind} steps"
            )
        try:
            async with asyncio.timeout(step.timeout_s):
                return await executor(step, context)
        except TimeoutError:
            return StepOutcome(
                start, now_ns(), "timeout", f"{step.name} did not finish within {step.timeout_s:g}s"
            )
        except StepFailure as failure:
            return StepOutcome(start, now_ns(), failure.error_type, failure.message)
        except Exception as error:  # an executor bug must not stop the journey's schedule
            log.exception("step %s of %s raised", step.name, self.journey.name)
            return StepOutcome(start, now_ns(), "internal", f"{type(error).__name__}: {error}")

    def _degraded(self, step: Step, outcome: StepOutcome) -> bool:
        if step.threshold_s is not None and outcome.duration_s > step.threshold_s:
            return True
        action = step.action
        if not isinstance(action, VoicePathStep):
            return False
        for direction in names.VOICE_DIRECTIONS:
            m = outcome.measurements
            mos = m.get(names.voice_attribute(direction, "mos"))
            jitter = m.get(names.voice_attribute(direction, "jitter"))
            loss = m.get(names.voice_attribute(direction, "loss_ratio"))
            if action.min_mos is not None and mos is not None and mos < action.min_mos:
                return True
            if (
                action.max_jitter_ms is not None
                and jitter is not None
                and jitter * 1000.0 > action.max_jitter_ms
            ):
                return True
            if (
                action.max_loss_pct is not None
                and loss is not None
                and loss * 100.0 > action.max_loss_pct
            ):
                return True
        return False

    def _record_voice(self, outcome: StepOutcome) -> None:
        base = {names.JOURNEY_NAME: self.journey.name, names.LOCATION: self.location}
        rtt = outcome.measurements.get(names.VOICE_RTT)
        if rtt is not None:
            self.voice_gauges["rtt"].set(rtt, base)
        for direction in names.VOICE_DIRECTIONS:
            for measure in ("jitter", "loss_ratio", "mos"):
                value = outcome.measurements.get(names.voice_attribute(direction, measure))
                if value is not None:
                    self.voice_gauges[measure].set(value, {**base, "cx.voice.direction": direction})


class Schedule:
    """Runs a journey every interval until stopped, with bounded drift.

    Runs start on a fixed grid (start + k·interval). A run that overruns its slot makes
    the schedule skip the slots it missed instead of bunching runs together.
    """

    def __init__(
        self,
        runner: JourneyRunner,
        interval_s: float,
        on_result: Callable[[RunResult], None] | None = None,
    ) -> None:
        self.runner = runner
        self.interval_s = interval_s
        self.on_result = on_result
        self.skipped = 0

    async def run(self, stop: asyncio.Event, *, once: bool = False) -> None:
        """Runs until `stop` is set (or once)."""
        loop = asyncio.get_running_loop()
        next_start = loop.time()
        while not stop.is_set():
            result = await self.runner.run_once()
            if self.on_result is not None:
                self.on_result(result)
            if once:
                return
            next_start += self.interval_s
            now = loop.time()
            if next_start < now:
                missed = int((now - next_start) // self.interval_s) + 1
                self.skipped += missed
                next_start += missed * self.interval_s
            try:
                await asyncio.wait_for(stop.wait(), timeout=next_start - now)
            except TimeoutError:
                continue


def current_trace_id() -> str:
    """Returns the trace id of the active span, for log lines."""
    return format(trace.get_current_span().get_span_context().trace_id, "032x")
