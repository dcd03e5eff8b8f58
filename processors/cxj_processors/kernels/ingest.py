"""Adding a batch of runs to the rings, in one pass and in event time."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from cxj_processors.kernels import in_place, inlined, kernel
from cxj_processors.kernels.layout import (
    COARSE_GOOD,
    COARSE_GOOD_SLICES,
    COARSE_RUNS,
    COARSE_SATISFIED,
    COARSE_SLICES,
    COARSE_TOLERATING,
    FINE_GOOD,
    FINE_RUNS,
    GEO_COARSE_BUCKET_S,
    GEO_COARSE_SLOTS,
    GEO_FINE_BUCKET_S,
    GEO_FINE_SLOTS,
    GEO_FUTURE_SKEW_S,
    GEO_RECENT_SLOTS,
    MOS_BIN_LIMIT,
    MOS_BINS,
    MOS_BINS_PER_UNIT,
    MOS_MAX,
    MOS_MIN,
    RECENT_BAD_LAYER,
    RECENT_FAILED,
    RECENT_MOS_COUNT,
    RECENT_RUNS,
    RECENT_SATISFIED,
    RECENT_TOLERATING,
    STAT_ACCEPTED,
    STAT_FUTURE,
    STAT_INVALID,
    STAT_LATE,
    TAG,
)
from cxj_processors.kernels.slices import slice_verdict

_SUCCESS = 0
_FAILURE = 2


@inlined
def claim_slot(ring: npt.NDArray[np.uint32], series: int, bucket: int) -> int:
    """The slot of `bucket` in a ring, cleared first if it still holds an older bucket."""
    slot: int = bucket % ring.shape[1]
    if int(ring[series, slot, TAG]) != bucket + 1:
        ring[series, slot, :] = 0
        ring[series, slot, TAG] = bucket + 1
    return slot


@inlined
def claim_recent_slot(
    recent: npt.NDArray[np.uint32],
    mos_hist: npt.NDArray[np.uint16],
    mos_sum: npt.NDArray[np.float64],
    series: int,
    bucket: int,
) -> int:
    """Like `claim_slot` for the recent ring, whose slots also own a MOS histogram and sums.

    The histogram and sums are cleared only when the slot counted MOS samples: every sample
    is counted (`add_voice`), so a slot without any holds zeros there already. A series
    without voice then never writes its histogram rows, which the store allocates untouched,
    so they never take memory.
    """
    slot: int = bucket % recent.shape[1]
    if int(recent[series, slot, TAG]) != bucket + 1:
        voice = recent[series, slot, RECENT_MOS_COUNT] or recent[series, slot, RECENT_MOS_COUNT + 1]
        recent[series, slot, :] = 0
        recent[series, slot, TAG] = bucket + 1
        if voice:
            mos_hist[series, slot, :, :] = 0
            mos_sum[series, slot, :] = 0.0
    return slot


@inlined
def mos_bin(mos: float) -> int:
    """Histogram bin of a MOS value already clamped to [MOS_MIN, MOS_MAX]."""
    index = int(np.floor((mos - MOS_MIN) * MOS_BINS_PER_UNIT))
    return min(max(index, 0), MOS_BINS - 1)


@inlined
def add_voice(  # noqa: PLR0917 - kernels take their arrays positionally
    mos_hist: npt.NDArray[np.uint16],
    mos_sum: npt.NDArray[np.float64],
    recent: npt.NDArray[np.uint32],
    series: int,
    slot: int,
    direction: int,
    mos: float,
) -> None:
    """Counts one MOS sample (NaN: no voice data) in a recent slot."""
    if np.isnan(mos):
        return
    value = min(max(mos, MOS_MIN), MOS_MAX)
    index = mos_bin(value)
    if mos_hist[series, slot, direction, index] < MOS_BIN_LIMIT:
        mos_hist[series, slot, direction, index] += 1
    mos_sum[series, slot, direction] += value
    recent[series, slot, RECENT_MOS_COUNT + direction] += 1


@inlined
def add_slice_delta(
    coarse: npt.NDArray[np.uint32],
    series: int,
    coarse_bucket: int,
    slices_delta: int,
    good_delta: int,
) -> None:
    """Moves a slice's tally in the coarse bucket holding its start (never below zero)."""
    if slices_delta == 0 and good_delta == 0:
        return
    slot = claim_slot(coarse, series, coarse_bucket)
    slices = int(coarse[series, slot, COARSE_SLICES]) + slices_delta
    good = int(coarse[series, slot, COARSE_GOOD_SLICES]) + good_delta
    coarse[series, slot, COARSE_SLICES] = max(slices, 0)
    coarse[series, slot, COARSE_GOOD_SLICES] = max(good, 0)


@inlined
def apdex_zone(duration_s: float, failed: bool, apdex_t_s: float) -> tuple[int, int]:
    """(satisfied, tolerating) flags of a run: y <= T, T < y <= 4T; failed or unknown: neither."""
    if failed:
        return 0, 0
    if duration_s <= apdex_t_s:
        return 1, 0
    if duration_s <= 4.0 * apdex_t_s:
        return 0, 1
    return 0, 0


@inlined
def add_fine(  # noqa: PLR0917 - kernels take their arrays positionally
    fine: npt.NDArray[np.uint32],
    coarse: npt.NDArray[np.uint32],
    series: int,
    fine_bucket: int,
    good: int,
    oldest_fine: int,
    slice_buckets: int,
    slice_objective: float,
    fine_s: int,
    coarse_s: int,
) -> None:
    """Counts a run in the fine ring and moves its time slice's tally in the coarse ring."""
    start = fine_bucket - fine_bucket % slice_buckets if slice_buckets > 0 else 0
    # A slice's tally moves only while all of it is retained, so the verdicts before and
    # after this run are read from complete data.
    tracked = slice_buckets > 0 and start >= oldest_fine
    had_runs, was_good = 0, 0
    if tracked:
        had_runs, was_good = slice_verdict(fine, series, start, slice_buckets, slice_objective)
    slot = claim_slot(fine, series, fine_bucket)
    fine[series, slot, FINE_RUNS] += 1
    fine[series, slot, FINE_GOOD] += good
    if tracked:
        has_runs, is_good = slice_verdict(fine, series, start, slice_buckets, slice_objective)
        start_coarse = (start * fine_s) // coarse_s
        add_slice_delta(coarse, series, start_coarse, has_runs - had_runs, is_good - was_good)


@inlined
def add_recent(  # noqa: PLR0917 - kernels take their arrays positionally
    recent: npt.NDArray[np.uint32],
    mos_hist: npt.NDArray[np.uint16],
    mos_sum: npt.NDArray[np.float64],
    series: int,
    fine_bucket: int,
    zones: tuple[int, int, int, int],
    layer: int,
    mos_out: float,
    mos_in: float,
) -> None:
    """Counts a run in the recent ring; `zones` is (good, failed, satisfied, tolerating)."""
    good, failed, satisfied, tolerating = zones
    slot = claim_recent_slot(recent, mos_hist, mos_sum, series, fine_bucket)
    recent[series, slot, RECENT_RUNS] += 1
    recent[series, slot, RECENT_FAILED] += failed
    recent[series, slot, RECENT_SATISFIED] += satisfied
    recent[series, slot, RECENT_TOLERATING] += tolerating
    if good == 0 and layer >= 0:
        recent[series, slot, RECENT_BAD_LAYER + layer] += 1
    add_voice(mos_hist, mos_sum, recent, series, slot, 0, mos_out)
    add_voice(mos_hist, mos_sum, recent, series, slot, 1, mos_in)


@inlined
def is_valid(series: int, capacity: int, end_s: float, outcome: int, layer: int) -> bool:
    """A run the store can count: a known series, a finite time >= 0, a known outcome/layer."""
    return (
        0 <= series < capacity
        and end_s >= 0.0
        and np.isfinite(end_s)
        and 0 <= outcome <= _FAILURE
        and -1 <= layer <= 3
    )


@kernel
def add_runs(  # noqa: PLR0917 - kernels take their arrays positionally
    fine: npt.NDArray[np.uint32],
    recent: npt.NDArray[np.uint32],
    mos_hist: npt.NDArray[np.uint16],
    mos_sum: npt.NDArray[np.float64],
    coarse: npt.NDArray[np.uint32],
    last_bad_end: npt.NDArray[np.float64],
    last_bad_trace: npt.NDArray[np.uint64],
    series: npt.NDArray[np.int32],
    end_s: npt.NDArray[np.float64],
    duration_s: npt.NDArray[np.float64],
    outcome: npt.NDArray[np.int8],
    layer: npt.NDArray[np.int8],
    mos_out: npt.NDArray[np.float64],
    mos_in: npt.NDArray[np.float64],
    trace_hi: npt.NDArray[np.uint64],
    trace_lo: npt.NDArray[np.uint64],
    apdex_t_s: npt.NDArray[np.float64],
    slice_buckets: npt.NDArray[np.int64],
    slice_objective: npt.NDArray[np.float64],
    geometry: npt.NDArray[np.int64],
    now_s: float,
    order: npt.NDArray[np.int64],
    stats: npt.NDArray[np.int64],
) -> None:
    """Adds every run to the buckets of its event time; counts what it accepted and dropped.

    `apdex_t_s`, `slice_buckets` and `slice_objective` are indexed by series id
    (`slice_buckets` 0 means occurrences budgeting). A run ahead of now by at most the future
    skew counts at now; further ahead it is dropped, as is a run older than the coarse ring.
    Runs are visited in `order`: grouping a series' runs keeps its rings in cache, and keeping
    their arrival order within the series keeps the result the same as in arrival order.
    """
    _add_each(
        fine, recent, mos_hist, mos_sum, coarse, last_bad_end, last_bad_trace,
        series, end_s, duration_s, outcome, layer, mos_out, mos_in, trace_hi, trace_lo,
        apdex_t_s, slice_buckets, slice_objective, geometry, now_s, order, stats,
    )  # fmt: skip


@in_place
def _add_each(  # noqa: PLR0917 - kernels take their arrays positionally
    fine: npt.NDArray[np.uint32],
    recent: npt.NDArray[np.uint32],
    mos_hist: npt.NDArray[np.uint16],
    mos_sum: npt.NDArray[np.float64],
    coarse: npt.NDArray[np.uint32],
    last_bad_end: npt.NDArray[np.float64],
    last_bad_trace: npt.NDArray[np.uint64],
    series: npt.NDArray[np.int32],
    end_s: npt.NDArray[np.float64],
    duration_s: npt.NDArray[np.float64],
    outcome: npt.NDArray[np.int8],
    layer: npt.NDArray[np.int8],
    mos_out: npt.NDArray[np.float64],
    mos_in: npt.NDArray[np.float64],
    trace_hi: npt.NDArray[np.uint64],
    trace_lo: npt.NDArray[np.uint64],
    apdex_t_s: npt.NDArray[np.float64],
    slice_buckets: npt.NDArray[np.int64],
    slice_objective: npt.NDArray[np.float64],
    geometry: npt.NDArray[np.int64],
    now_s: float,
    order: npt.NDArray[np.int64],
    stats: npt.NDArray[np.int64],
) -> None:
    """The loop of `add_runs` (see `in_place` for why it is a kernel of its own)."""
    fine_s = geometry[GEO_FINE_BUCKET_S]
    coarse_s = geometry[GEO_COARSE_BUCKET_S]
    now_fine = int(np.floor(now_s / fine_s))
    oldest_fine = now_fine - geometry[GEO_FINE_SLOTS] + 1
    oldest_recent = now_fine - geometry[GEO_RECENT_SLOTS] + 1
    oldest_coarse = int(np.floor(now_s / coarse_s)) - geometry[GEO_COARSE_SLOTS] + 1
    for i in order:
        s = int(series[i])
        t = end_s[i]
        kind = int(outcome[i])
        if not is_valid(s, fine.shape[0], t, kind, int(layer[i])):
            stats[STAT_INVALID] += 1
            continue
        if t > now_s + geometry[GEO_FUTURE_SKEW_S]:
            stats[STAT_FUTURE] += 1
            continue
        t = min(t, now_s)
        coarse_bucket = int(np.floor(t / coarse_s))
        if coarse_bucket < oldest_coarse:
            stats[STAT_LATE] += 1
            continue
        stats[STAT_ACCEPTED] += 1
        good = 1 if kind == _SUCCESS else 0
        failed = 1 if kind == _FAILURE else 0
        satisfied, tolerating = apdex_zone(duration_s[i], failed == 1, apdex_t_s[s])

        slot = claim_slot(coarse, s, coarse_bucket)
        coarse[s, slot, COARSE_RUNS] += 1
        coarse[s, slot, COARSE_GOOD] += good
        coarse[s, slot, COARSE_SATISFIED] += satisfied
        coarse[s, slot, COARSE_TOLERATING] += tolerating

        fine_bucket = int(np.floor(t / fine_s))
        if fine_bucket >= oldest_fine:
            add_fine(
                fine, coarse, s, fine_bucket, good, oldest_fine,
                slice_buckets[s], slice_objective[s], fine_s, coarse_s,
            )  # fmt: skip
        if fine_bucket >= oldest_recent:
            add_recent(
                recent, mos_hist, mos_sum, s, fine_bucket,
                (good, failed, satisfied, tolerating), int(layer[i]), mos_out[i], mos_in[i],
            )  # fmt: skip
        if good == 0 and (trace_hi[i] != 0 or trace_lo[i] != 0) and t >= last_bad_end[s]:
            last_bad_end[s] = t
            last_bad_trace[s, 0] = trace_hi[i]
            last_bad_trace[s, 1] = trace_lo[i]
