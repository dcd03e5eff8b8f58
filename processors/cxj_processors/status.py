"""The status API's documents: per journey and location, and a per-journey summary (pure)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from cxj_processors.model import LAYERS
from cxj_processors.pipeline import JourneyStatus


def _number(value: float, digits: int = 4) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), digits)


def suspected_layer(attribution: dict[str, float]) -> str:
    """The layer with the largest share of bad runs, or "none"."""
    if not attribution or max(attribution.values(), default=0.0) <= 0.0:
        return "none"
    return max(LAYERS, key=lambda layer: attribution.get(layer, 0.0))


def journey_document(entry: JourneyStatus) -> dict[str, Any]:
    """One series as the status API shows it."""
    status, contract = entry.status, entry.contract
    burn = {window: _number(rate) for window, rate in status.burn_rates.items()}
    fastest = max(
        ((rate, window) for window, rate in status.burn_rates.items() if not math.isnan(rate)),
        default=(0.0, ""),
    )
    return {
        "namespace": entry.key.namespace,
        "name": entry.key.journey,
        "location": entry.key.location,
        "type": entry.journey_type,
        "score": _number(status.score, 1),
        "apdex": {window: _number(value) for window, value in status.apdex.items()},
        "apdexThreshold": contract.apdex_t_s,
        "slo": {
            "objective": round(contract.objective * 100, 4),
            "periodDays": contract.period_days,
            "budgeting": contract.budgeting,
            "attainment": _number(status.attainment, 6),
            "budgetRemaining": _number(status.budget_remaining),
            "burnRates": burn,
            "fastestBurn": {"rate": _number(fastest[0]), "window": fastest[1]},
        },
        "alerts": dict(status.alerts),
        "firing": [severity for severity, firing in status.alerts.items() if firing],
        "mos": {
            "mean": {d: _number(v) for d, v in status.mos_mean.items()},
            "p10": {d: _number(v) for d, v in status.mos_p10.items()},
        },
        "attribution": {layer: _number(share) for layer, share in status.attribution.items()},
        "suspectedLayer": suspected_layer(status.attribution),
        "failingStep": entry.failing_step,
        "exampleTraceId": status.example_trace_id,
        "runs": status.runs_total,
    }


def summarize(documents: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """The journey-wide summary across locations: the worst location speaks for it."""
    items = list(documents)
    if not items:
        return None
    scored = [d for d in items if d["score"] is not None]
    worst = min(scored, key=lambda d: d["score"]) if scored else items[0]
    budgets = [
        d["slo"]["budgetRemaining"] for d in items if d["slo"]["budgetRemaining"] is not None
    ]
    fastest = max(items, key=lambda d: d["slo"]["fastestBurn"]["rate"] or 0.0)
    return {
        "namespace": worst["namespace"],
        "name": worst["name"],
        "score": worst["score"],
        "apdex": worst["apdex"].get("1h"),
        "mos": {d: v for d, v in worst["mos"]["mean"].items() if v is not None},
        "apdexThreshold": worst["apdexThreshold"],
        "sloAttainment": worst["slo"]["attainment"],
        "budgetRemaining": min(budgets) if budgets else None,
        "fastestBurn": fastest["slo"]["fastestBurn"],
        "firing": sorted({s for d in items for s in d["firing"]}),
        "suspectedLayer": worst["suspectedLayer"],
        "failingStep": worst["failingStep"],
        "exampleTraceId": worst["exampleTraceId"],
        "locations": [d["location"] for d in items],
    }
