"""Window totals read back from the rings: sums over the last n buckets, slices, voice."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from cxj_processors.kernels import kernel
from cxj_processors.kernels.layout import MOS_BINS, RECENT_MOS_COUNT, TAG
from cxj_processors.kernels.slices import slice_verdict


@kernel
def window_sums(
    ring: npt.NDArray[np.uint32],
    series: int,
    last_bucket: int,
    lengths: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """Sums of every field but the tag over windows of the last `lengths[w]` buckets.

    Each window ends with (and includes) `last_bucket`; `lengths` must be ascending. Returns
    an int64 array shaped (windows, fields - 1). Stale and never-written slots count as zero.
    """
    fields = ring.shape[2] - 1
    slots = ring.shape[1]
    out = np.zeros((lengths.shape[0], fields), dtype=np.int64)
    running = np.zeros(fields, dtype=np.int64)
    window = 0
    longest = lengths[lengths.shape[0] - 1] if lengths.shape[0] > 0 else 0
    for back in range(longest):
        bucket = last_bucket - back
        if bucket >= 0:
            slot = bucket % slots
            if int(ring[series, slot, TAG]) == bucket + 1:
                for f in range(fields):
                    running[f] += int(ring[series, slot, f + 1])
        while window < lengths.shape[0] and lengths[window] == back + 1:
            out[window, :] = running
            window += 1
    return out


@kernel
def slice_window_totals(  # noqa: PLR0917 - kernels take their arrays positionally
    fine: npt.NDArray[np.uint32],
    series: int,
    last_bucket: int,
    lengths: npt.NDArray[np.int64],
    slice_buckets: int,
    slice_objective: float,
) -> npt.NDArray[np.int64]:
    """(slices with runs, good slices) per window, over the slices starting inside it.

    Slices are aligned to absolute bucket numbers (slice k starts at bucket k·slice_buckets);
    the one in progress counts with the runs it has so far. Shape (windows, 2).
    """
    out = np.zeros((lengths.shape[0], 2), dtype=np.int64)
    for w in range(lengths.shape[0]):
        first = last_bucket - lengths[w] + 1
        start = -((-first) // slice_buckets) * slice_buckets
        while start <= last_bucket:
            has_runs, is_good = slice_verdict(fine, series, start, slice_buckets, slice_objective)
            out[w, 0] += has_runs
            out[w, 1] += is_good
            start += slice_buckets
    return out


@kernel
def voice_window(  # noqa: PLR0917 - kernels take their arrays positionally
    recent: npt.NDArray[np.uint32],
    mos_hist: npt.NDArray[np.uint16],
    mos_sum: npt.NDArray[np.float64],
    series: int,
    last_bucket: int,
    length: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """MOS histogram (2, bins), sums (2,) and sample counts (2,) over the last `length` buckets.

    Direction 0 is outbound, 1 inbound.
    """
    slots = recent.shape[1]
    hist = np.zeros((2, MOS_BINS), dtype=np.int64)
    sums = np.zeros(2, dtype=np.float64)
    counts = np.zeros(2, dtype=np.int64)
    for back in range(length):
        bucket = last_bucket - back
        if bucket < 0:
            break
        slot = bucket % slots
        if int(recent[series, slot, TAG]) != bucket + 1:
            continue
        for direction in range(2):
            counts[direction] += int(recent[series, slot, RECENT_MOS_COUNT + direction])
            sums[direction] += mos_sum[series, slot, direction]
            for index in range(MOS_BINS):
                hist[direction, index] += int(mos_hist[series, slot, direction, index])
    return hist, sums, counts
