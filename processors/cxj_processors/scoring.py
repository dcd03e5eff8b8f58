"""Apdex, voice MOS aggregates and the composite experience score (0-100) of a journey.

Pure functions of window totals; docs/scoring.md states every formula and the reasons.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from cxj_processors.kernels.layout import MOS_BINS, MOS_BINS_PER_UNIT, MOS_MIN
from cxj_processors.model import LAYERS, SeriesContract

# Apdex rating bands (lower bound of each, on the value rounded to two decimals).
APDEX_BANDS = ((0.94, "Excellent"), (0.85, "Good"), (0.70, "Fair"), (0.50, "Poor"))

# Voice points at the MOS of each ITU-T G.107 satisfaction band (R 90/80/70/60/50), 0 at the
# MOS floor: equivalent to 2·(R - 40) between R 50 and R 90, linear in MOS between anchors.
VOICE_ANCHORS = ((1.0, 0.0), (2.58, 20.0), (3.10, 40.0), (3.60, 60.0), (4.03, 80.0), (4.34, 100.0))

# Availability points when the hour exactly meets the SLO objective.
AVAILABILITY_AT_OBJECTIVE = 90.0


def apdex(satisfied: int, tolerating: int, total: int) -> float:
    """(satisfied + tolerating / 2) / total; NaN without samples."""
    if total <= 0:
        return math.nan
    return (satisfied + tolerating / 2.0) / total


def apdex_rating(value: float) -> str:
    """The Apdex band of a score: Excellent, Good, Fair, Poor or Unacceptable ("" for NaN)."""
    if math.isnan(value):
        return ""
    rounded = round(value, 2)
    for lower, name in APDEX_BANDS:
        if rounded >= lower:
            return name
    return "Unacceptable"


def format_apdex(value: float, apdex_t_s: float) -> str:
    """Apdex as the spec reports it, with its threshold in seconds: "0.91 [2.0]"."""
    tenths = apdex_t_s * 10.0
    threshold = f"{apdex_t_s:.1f}" if abs(tenths - round(tenths)) < 1e-9 else f"{apdex_t_s:g}"
    score = "NaN" if math.isnan(value) else f"{value:.2f}"
    return f"{score} [{threshold}]"


def mos_mean(total: float, count: int) -> float:
    """Mean MOS of a window from its sum and count; NaN without samples."""
    return total / count if count > 0 else math.nan


def mos_bin_midpoint(index: int) -> float:
    """The MOS value a histogram bin reports: the middle of [1 + i/10, 1 + (i+1)/10)."""
    return MOS_MIN + (index + 0.5) / MOS_BINS_PER_UNIT


def mos_quantile(histogram: npt.NDArray[np.int64] | Sequence[int], q: float) -> float:
    """The q-quantile of a MOS histogram: the midpoint of the bin holding rank ⌈q·n⌉.

    Resolution is one bin (0.1 MOS): the result is within 0.05 of the exact order statistic.
    NaN for an empty histogram.
    """
    counts: list[int] = np.asarray(histogram, dtype=np.int64).ravel().tolist()
    if len(counts) != MOS_BINS:
        raise ValueError(f"histogram: expected {MOS_BINS} bins, got {len(counts)}")
    total = sum(counts)
    if total <= 0:
        return math.nan
    rank = max(1, math.ceil(q * total - 1e-12))
    running = 0
    for index, count in enumerate(counts):
        running += count
        if running >= rank:
            return mos_bin_midpoint(index)
    return mos_bin_midpoint(MOS_BINS - 1)


def availability_points(good_ratio: float, objective: float) -> float:
    """0-100 points for the share of good runs (as the SLO counts them).

    With b = (1 - success) / (1 - objective), the share of the error budget the hour burns:
    100 - 10·b while b ≤ 1 (meeting the objective scores 90-100), then 90·(1 - ln b / ln b_max)
    where b_max = 1 / (1 - objective) is total failure, so points fall by the same amount for
    each doubling of the burn rate and reach 0 only when no run was good.
    """
    budget = 1.0 - objective
    burn = max(0.0, 1.0 - good_ratio) / budget
    if burn <= 1.0:
        return 100.0 - (100.0 - AVAILABILITY_AT_OBJECTIVE) * burn
    worst = 1.0 / budget
    points = AVAILABILITY_AT_OBJECTIVE * (1.0 - math.log(burn) / math.log(worst))
    return min(max(points, 0.0), AVAILABILITY_AT_OBJECTIVE)


def responsiveness_points(apdex_value: float) -> float:
    """0-100 points: Apdex x 100."""
    return min(max(apdex_value, 0.0), 1.0) * 100.0


def voice_points(mos: float) -> float:
    """0-100 points for a MOS, linear between the G.107 satisfaction-band anchors."""
    if mos <= VOICE_ANCHORS[0][0]:
        return 0.0
    for (low_mos, low_points), (high_mos, high_points) in itertools.pairwise(VOICE_ANCHORS):
        if mos <= high_mos:
            share = (mos - low_mos) / (high_mos - low_mos)
            return low_points + share * (high_points - low_points)
    return 100.0


def experience_score(
    *,
    good_ratio: float,
    objective: float,
    apdex_value: float,
    voice_mos: float,
    weight_availability: int,
    weight_responsiveness: int,
    weight_voice: int,
) -> float:
    """Weighted mean of availability, responsiveness and voice points, 0-100.

    `voice_mos` NaN means the journey had no voice data: the voice part and its weight drop
    out. NaN when no part with a positive weight has data.
    """
    parts = [
        (weight_availability, availability_points(good_ratio, objective)),
        (weight_responsiveness, responsiveness_points(apdex_value)),
    ]
    if not math.isnan(voice_mos):
        parts.append((weight_voice, voice_points(voice_mos)))
    weights = sum(weight for weight, _ in parts if weight > 0)
    if weights <= 0:
        return math.nan
    total = sum(weight * points for weight, points in parts if weight > 0)
    return min(max(total / weights, 0.0), 100.0)


def hour_score(
    *,
    runs: int,
    good: int,
    apdex_hour: float,
    mos_mean: Mapping[str, float],
    contract: SeriesContract,
) -> float:
    """The experience score of the last hour; NaN without runs.

    Availability is the share of good runs (succeeded, every step within its threshold, MOS
    at target: the SLO's definition), responsiveness the hour's Apdex, and voice the mean
    MOS of the worse direction that has samples (none: voice drops out).
    """
    if runs <= 0:
        return math.nan
    voiced = [m for m in mos_mean.values() if not math.isnan(m)]
    return experience_score(
        good_ratio=good / runs,
        objective=contract.objective,
        apdex_value=apdex_hour,
        voice_mos=min(voiced) if voiced else math.nan,
        weight_availability=contract.weight_availability,
        weight_responsiveness=contract.weight_responsiveness,
        weight_voice=contract.weight_voice,
    )  # fmt: skip


def attribution_shares(bad_by_layer: Sequence[int]) -> dict[str, float]:
    """Share of attributed bad runs per layer: sums to 1, or all 0 when none was attributed."""
    total = sum(bad_by_layer)
    return {
        layer: (count / total if total else 0.0)
        for layer, count in zip(LAYERS, bad_by_layer, strict=True)
    }
