"""From the processor's journey summary to status.experience and ExperienceDegraded (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cxj_operator import conditions as cond

OK, NO_TELEMETRY, UNREACHABLE, NOT_CONFIGURED = (
    "ok",
    "no-telemetry",
    "unreachable",
    "not-configured",
)
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Reading:
    """One attempt to read a journey's summary: what came back, or why nothing did."""

    outcome: str  # OK, NO_TELEMETRY, UNREACHABLE or NOT_CONFIGURED
    summary: Mapping[str, Any] | None = None
    detail: str = ""
    # True when it holds for every journey alike: no processor configured, or none
    # answering at all (as opposed to an error about one journey).
    shared: bool = False


def _percent(ratio: Any, digits: int) -> str:
    if not isinstance(ratio, int | float):
        return UNKNOWN
    return f"{ratio * 100:.{digits}f}%"


def _burn(fastest: Any) -> str:
    if not isinstance(fastest, Mapping) or not isinstance(fastest.get("rate"), int | float):
        return UNKNOWN
    rate, window = float(fastest["rate"]), fastest.get("window") or ""
    return f"{rate:.1f}x/{window}" if window else f"{rate:.1f}x"


def _source(reading: Reading, processor_url: str | None) -> str:
    if reading.outcome == OK:
        return f"processor {processor_url}"
    if reading.outcome == NO_TELEMETRY:
        return f"processor has no telemetry for this journey yet: {reading.detail}"
    if reading.outcome == UNREACHABLE:
        return f"processor unreachable: {reading.detail}"
    return "processor not configured: start the operator with --processor-url"


def experience_fields(reading: Reading, processor_url: str | None, now: str) -> dict[str, Any]:
    """status.experience for a reading.

    Without a summary the printer-column fields say "unknown" and source says why, so an
    old score never stands in for a current one.
    """
    fields: dict[str, Any] = {"source": _source(reading, processor_url)}
    summary = reading.summary
    if reading.outcome != OK or summary is None:
        fields.update(budgetRemaining=UNKNOWN, fastestBurnRate=UNKNOWN, suspectedLayer=UNKNOWN)
        return fields
    score = summary.get("score")
    if isinstance(score, int | float):
        fields["score"] = max(0, min(100, round(score)))
    apdex, threshold = summary.get("apdex"), summary.get("apdexThreshold")
    if isinstance(apdex, int | float):
        fields["apdex"] = (
            f"{apdex:.2f} [{threshold:g}]" if isinstance(threshold, int | float) else f"{apdex:.2f}"
        )
    fields["sloAttainment"] = _percent(summary.get("sloAttainment"), 2)
    fields["budgetRemaining"] = _percent(summary.get("budgetRemaining"), 0)
    fields["fastestBurnRate"] = _burn(summary.get("fastestBurn"))
    fields["suspectedLayer"] = str(summary.get("suspectedLayer") or "none")
    for key in ("failingStep", "exampleTraceId"):
        if isinstance(summary.get(key), str) and summary[key]:
            fields[key] = summary[key]
    fields["updatedAt"] = now
    return fields


def experience_condition(reading: Reading) -> cond.Condition:
    """ExperienceDegraded: True while a burn-rate alert fires, Unknown without a summary."""
    kind = cond.EXPERIENCE_DEGRADED
    summary = reading.summary or {}
    if reading.outcome == OK:
        firing = [str(s) for s in summary.get("firing") or ()]
        if firing:
            return cond.Condition(
                kind,
                cond.TRUE,
                "BurnRateAlertFiring",
                f"{' and '.join(firing)} burn-rate alert firing; fastest burn "
                f"{_burn(summary.get('fastestBurn'))}, suspected layer "
                f"{summary.get('suspectedLayer') or 'none'}",
            )
        return cond.Condition(kind, cond.FALSE, "WithinBudget", "no burn-rate alert is firing")
    reasons = {
        NO_TELEMETRY: "NoTelemetry",
        UNREACHABLE: "ProcessorUnreachable",
        NOT_CONFIGURED: "ProcessorNotConfigured",
    }
    return cond.Condition(kind, cond.UNKNOWN, reasons[reading.outcome], _source(reading, None))


def needs_write(
    previous: Mapping[str, Any] | None, fields: Mapping[str, Any], max_age_s: float, age_s: float
) -> bool:
    """Whether the new fields differ from the written ones, or the written ones grew old."""
    if previous is None:
        return True
    without_time = {k: v for k, v in fields.items() if k != "updatedAt"}
    before = {k: v for k, v in previous.items() if k != "updatedAt"}
    if without_time != before:
        return True
    return "updatedAt" in fields and age_s >= max_age_s
