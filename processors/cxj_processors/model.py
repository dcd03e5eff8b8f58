"""The contract between run extraction and the windows: runs in, per-series status out."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

OUTCOME_SUCCESS, OUTCOME_DEGRADED, OUTCOME_FAILURE = 0, 1, 2
LAYERS = ("endpoint", "network", "platform", "dependency")  # layer index = position; -1 none
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
WINDOW_SECONDS = (300, 1800, 3600, 7200, 21600, 86400, 259200)
APDEX_WINDOWS = ("5m", "1h", "1d")
MOS_DIRECTIONS = ("outbound", "inbound")
BUDGETING_METHODS = ("occurrences", "timeslices")


@dataclass(frozen=True)
class SeriesContract:
    """What one (journey namespace, journey name, location) series promises and how it scores."""

    objective: float  # ratio, e.g. 0.995
    period_days: int
    budgeting: str  # "occurrences" | "timeslices"
    timeslice_s: float  # 0 when not timeslices
    slice_objective: float  # ratio, e.g. 1.0
    apdex_t_s: float
    weight_availability: int
    weight_responsiveness: int
    weight_voice: int


@dataclass(frozen=True)
class RunRecords:
    """Journey runs in columns: every array has the same length N, one row per run."""

    series: npt.NDArray[np.int32]  # dense series id (assigned by the caller; the store grows)
    end_s: npt.NDArray[np.float64]  # unix seconds: event time of the run (its root span's end)
    duration_s: npt.NDArray[np.float64]
    outcome: npt.NDArray[np.int8]  # OUTCOME_*
    layer: npt.NDArray[np.int8]  # attributed layer of a degraded/failed run, -1 none
    mos_out: npt.NDArray[np.float64]  # NaN when the run has no voice data
    mos_in: npt.NDArray[np.float64]
    trace_hi: npt.NDArray[np.uint64]  # trace id of the run, for example trace ids of bad runs
    trace_lo: npt.NDArray[np.uint64]

    def __len__(self) -> int:
        return int(self.series.shape[0])


@dataclass(frozen=True)
class AddStats:
    """What `WindowStore.add` did with a batch: every run is counted in exactly one field."""

    accepted: int
    late_dropped: int  # older than the oldest retained bucket
    future_dropped: int  # more than future_skew_s ahead of now
    invalid_dropped: int = 0  # end_s not a finite time >= 0, or outcome/layer out of range


@dataclass(frozen=True)
class SeriesStatus:
    """The evaluation of one series at `now`."""

    runs_total: int  # over the SLO period
    attainment: float  # over the SLO period (NaN no data)
    budget_remaining: float  # ratio of the period's error budget left (can go negative)
    burn_rates: dict[str, float]  # by WINDOWS name
    alerts: dict[str, bool]  # {"page": ..., "ticket": ...}
    apdex: dict[str, float]  # by window name: "5m", "1h", "1d"
    mos_mean: dict[str, float]  # {"outbound": .., "inbound": ..} over 1h, NaN none
    mos_p10: dict[str, float]
    attribution: dict[str, float]  # share of degraded+failed runs per layer over 1h
    score: float  # 0..100, NaN when no runs in the last hour
    example_trace_id: str  # 32 hex chars of the most recent bad run ("" none)
    slices_total: int = 0  # timeslices budgeting: slices with runs over the period
    apdex_t_s: float = field(default=float("nan"))  # the T the Apdex values were computed with
