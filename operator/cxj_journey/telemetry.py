"""The public telemetry contract: attribute and metric names probes emit and the processor reads.

Dashboards are built on these names; docs/telemetry.md documents each one. The probe
writes them and the processor reads them, so both take them from here.
"""

from __future__ import annotations

from typing import Final

# Resource attributes: the journey's contract travels with its telemetry.
JOURNEY_NAME: Final = "cx.journey.name"
JOURNEY_NAMESPACE: Final = "cx.journey.namespace"
JOURNEY_TYPE: Final = "cx.journey.type"
JOURNEY_INTERVAL: Final = "cx.journey.interval"  # seconds
JOURNEY_REVISION: Final = "cx.journey.revision"  # hash of the spec the probe runs
LOCATION: Final = "cx.location"
SLO_OBJECTIVE: Final = "cx.slo.objective"  # percent, e.g. 99.5
SLO_PERIOD: Final = "cx.slo.period"  # days
SLO_BUDGETING: Final = "cx.slo.budgeting"  # occurrences | timeslices
SLO_TIMESLICE: Final = "cx.slo.timeslice"  # seconds
SLO_SLICE_OBJECTIVE: Final = "cx.slo.slice_objective"  # percent
APDEX_THRESHOLD: Final = "cx.apdex.threshold"  # seconds
WEIGHT_AVAILABILITY: Final = "cx.experience.weight.availability"
WEIGHT_RESPONSIVENESS: Final = "cx.experience.weight.responsiveness"
WEIGHT_VOICE_QUALITY: Final = "cx.experience.weight.voice_quality"
STEP_NAMES: Final = "cx.journey.steps"  # string array, in order
STEP_THRESHOLDS: Final = "cx.journey.step_thresholds"  # double array, seconds, 0 = none
STEP_LAYERS: Final = "cx.journey.step_layers"  # string array

# Span attributes.
STEP_NAME: Final = "cx.step.name"
STEP_TYPE: Final = "cx.step.type"
STEP_INDEX: Final = "cx.step.index"
STEP_PHASE: Final = "cx.step.phase"
STEP_THRESHOLD: Final = "cx.step.threshold"  # seconds
LAYER: Final = "cx.layer"
RUN_OUTCOME: Final = "cx.run.outcome"  # success | degraded | failure (root span)
ERROR_TYPE: Final = "error.type"
SYNTHETIC: Final = "user_agent.synthetic.type"
VOICE_MIN_MOS: Final = "cx.voice.mos.min"
VOICE_RTT: Final = "cx.voice.rtt"  # seconds
# Per direction (outbound: probe → reflector, inbound: reflector → probe).
VOICE_DIRECTIONS: Final = ("outbound", "inbound")


def voice_attribute(direction: str, measure: str) -> str:
    """Returns the span attribute of one directional voice measure, e.g. cx.voice.inbound.mos.

    Measures: delay (s), jitter (s), loss_ratio, burst_ratio, r, mos.
    """
    return f"cx.voice.{direction}.{measure}"


# Metrics the probe emits.
METRIC_RUNS: Final = "cx.journey.runs"
METRIC_JOURNEY_DURATION: Final = "cx.journey.duration"
METRIC_STEP_DURATION: Final = "cx.step.duration"
METRIC_VOICE_RTT: Final = "cx.voice.rtt"
METRIC_VOICE_JITTER: Final = "cx.voice.jitter"
METRIC_VOICE_LOSS: Final = "cx.voice.loss_ratio"
METRIC_VOICE_MOS: Final = "cx.voice.mos"

LAYERS: Final = ("endpoint", "network", "platform", "dependency")

# Layer of each phase of an http step: name resolution and the wire are the network's;
# the handshake and the time to first byte are the serving platform's.
PHASE_LAYERS: Final = {
    "dns": "network",
    "connect": "network",
    "tls": "platform",
    "ttfb": "platform",
    "transfer": "network",
}
