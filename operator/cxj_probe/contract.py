"""The journey's contract as OpenTelemetry resource attributes, so telemetry describes itself."""

from __future__ import annotations

from cxj_journey import telemetry as names
from cxj_journey.model import Journey, spec_revision

AttributeValue = str | bool | int | float | tuple[str, ...] | tuple[float, ...]


def resource_attributes(
    journey: Journey, location: str, location_attributes: dict[str, str] | None = None
) -> dict[str, AttributeValue]:
    """Returns the resource attributes of one journey's telemetry at one location."""
    slo = journey.slo
    weights = journey.experience.weights
    attributes: dict[str, AttributeValue] = {
        "service.name": "cxj-probe",
        "service.namespace": "cxjourney",
        names.JOURNEY_NAME: journey.name,
        names.JOURNEY_NAMESPACE: journey.namespace,
        names.JOURNEY_TYPE: journey.type,
        names.JOURNEY_INTERVAL: journey.interval_s,
        names.JOURNEY_REVISION: spec_revision(journey.spec),
        names.LOCATION: location,
        names.SLO_OBJECTIVE: slo.objective_percent,
        names.SLO_PERIOD: slo.period_days,
        names.SLO_BUDGETING: slo.budgeting,
        names.SLO_SLICE_OBJECTIVE: slo.slice_objective_percent,
        names.APDEX_THRESHOLD: journey.experience.apdex_threshold_s,
        names.WEIGHT_AVAILABILITY: weights.availability,
        names.WEIGHT_RESPONSIVENESS: weights.responsiveness,
        names.WEIGHT_VOICE_QUALITY: weights.voice_quality,
        names.STEP_NAMES: tuple(step.name for step in journey.steps),
        names.STEP_THRESHOLDS: tuple(step.threshold_s or 0.0 for step in journey.steps),
        names.STEP_LAYERS: tuple(step.layer for step in journey.steps),
    }
    if slo.timeslice_s is not None:
        attributes[names.SLO_TIMESLICE] = slo.timeslice_s
    for key, value in (location_attributes or {}).items():
        attributes.setdefault(key, value)
    return attributes
