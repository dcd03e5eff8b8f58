"""The verdict of one time slice, read from the fine ring."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from cxj_processors.kernels import inlined
from cxj_processors.kernels.layout import FINE_GOOD, FINE_RUNS, SLICE_TOLERANCE, TAG


@inlined
def slice_verdict(
    fine: npt.NDArray[np.uint32],
    series: int,
    start_bucket: int,
    slice_buckets: int,
    slice_objective: float,
) -> tuple[int, int]:
    """(has runs, is good) of the slice of `slice_buckets` fine buckets from `start_bucket`.

    A slice with no runs is neither counted nor good; otherwise it is good when its share of
    good runs reaches the slice objective.
    """
    slots = fine.shape[1]
    runs = 0
    good = 0
    for bucket in range(start_bucket, start_bucket + slice_buckets):
        if bucket < 0:
            continue
        slot = bucket % slots
        if int(fine[series, slot, TAG]) == bucket + 1:
            runs += int(fine[series, slot, FINE_RUNS])
            good += int(fine[series, slot, FINE_GOOD])
    if runs == 0:
        return 0, 0
    if good >= (slice_objective - SLICE_TOLERANCE) * runs:
        return 1, 1
    return 1, 0
