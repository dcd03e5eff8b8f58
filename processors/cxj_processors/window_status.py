"""The status of one series from its window totals: pure assembly of SLO, Apdex, voice, score."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cxj_processors import scoring, slo
from cxj_processors.model import MOS_DIRECTIONS, WINDOWS, SeriesContract, SeriesStatus

P10 = 0.10


@dataclass(frozen=True)
class WindowTotals:
    """Everything the rings say about one series at one instant, as plain counts."""

    events: dict[str, tuple[int, int]]  # (good, total) per burn-rate window: runs or slices
    period_events: tuple[int, int]  # (good, total) over the SLO period: runs or slices
    period_runs: int
    timeslices: bool
    apdex_counts: dict[str, tuple[int, int, int]]  # (satisfied, tolerating, runs): 5m, 1h, 1d
    hour_runs: int
    hour_good: int  # runs of the hour that met the SLO's definition of good
    bad_by_layer: tuple[int, ...]  # attributed degraded and failed runs of the hour, by layer
    mos_hist: npt.NDArray[np.int64]  # (direction, bin) over the hour
    mos_sums: tuple[float, float]
    mos_counts: tuple[int, int]
    example_trace_id: str


def series_status(totals: WindowTotals, contract: SeriesContract) -> SeriesStatus:
    """The evaluate() result for one series, from its totals and its contract."""
    burn_rates = {
        name: slo.burn_rate(total - good, total, contract.objective)
        for name, (good, total) in ((n, totals.events[n]) for n in WINDOWS)
    }
    good, events = totals.period_events
    apdex = {name: scoring.apdex(*counts) for name, counts in totals.apdex_counts.items()}
    mos_mean = {
        direction: scoring.mos_mean(totals.mos_sums[i], totals.mos_counts[i])
        for i, direction in enumerate(MOS_DIRECTIONS)
    }
    return SeriesStatus(
        runs_total=totals.period_runs,
        attainment=slo.attainment(good, events),
        budget_remaining=slo.budget_remaining(good, events, contract.objective),
        burn_rates=burn_rates,
        alerts=slo.evaluate_alerts(burn_rates, slo.burn_rate_rules(contract.period_days)),
        apdex=apdex,
        mos_mean=mos_mean,
        mos_p10={
            direction: scoring.mos_quantile(totals.mos_hist[i], P10)
            for i, direction in enumerate(MOS_DIRECTIONS)
        },
        attribution=scoring.attribution_shares(totals.bad_by_layer),
        score=scoring.hour_score(
            runs=totals.hour_runs,
            good=totals.hour_good,
            apdex_hour=apdex["1h"],
            mos_mean=mos_mean,
            contract=contract,
        ),
        example_trace_id=totals.example_trace_id,
        slices_total=events if totals.timeslices else 0,
        apdex_t_s=contract.apdex_t_s,
    )
