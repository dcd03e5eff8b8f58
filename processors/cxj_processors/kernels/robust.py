"""Robust rolling baselines: median and MAD of each component's most recent values."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from cxj_processors.kernels import inlined, kernel
from cxj_processors.kernels.memory import AHEAD, prefetch_row

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation


@inlined
def _deviation_median(
    ordered: npt.NDArray[np.float32], component: int, count: int, median: float
) -> float:
    """Median of |x - median| over ordered[component, :count], which is sorted ascending.

    The deviations form two ascending runs outward from the median: below[i] = median -
    ordered[split - 1 - i] and above[j] = ordered[split + j] - median. The median deviation
    is the (count // 2)-th smallest of their merge (averaged with the one before it for an
    even count), found by bisecting how many of the smallest come from `below`: O(log count)
    comparisons instead of a merge walk whose every step is a branch the CPU cannot predict.
    """
    split = count // 2  # the first value >= median is here or just below
    while split > 0 and ordered[component, split - 1] >= median:
        split -= 1
    taken = count // 2 + 1  # the smallest deviations up to and including the median one
    lo = max(0, taken - (count - split))
    hi = min(taken, split)
    while lo < hi:  # the fewest from `below` such that its next is no smaller than `above`'s last
        i = (lo + hi) // 2
        below = median - np.float64(ordered[component, split - 1 - i])
        above = np.float64(ordered[component, split + taken - i - 1]) - median
        if above <= below:
            hi = i
        else:
            lo = i + 1
    from_below, from_above = lo, taken - lo
    last_below = -np.inf
    if from_below > 0:
        last_below = median - np.float64(ordered[component, split - from_below])
    last_above = -np.inf
    if from_above > 0:
        last_above = np.float64(ordered[component, split + from_above - 1]) - median
    if count % 2 == 1:
        return max(last_below, last_above)
    # Even count: also the deviation before it, the larger of what remains below the largest.
    if last_below >= last_above:
        before = last_above
        if from_below > 1:
            before = max(before, median - np.float64(ordered[component, split - from_below + 1]))
        return (last_below + before) / 2.0
    before = last_below
    if from_above > 1:
        before = max(before, np.float64(ordered[component, split + from_above - 2]) - median)
    return (last_above + before) / 2.0


@inlined
def _rank(ordered: npt.NDArray[np.float32], component: int, count: int, value: np.float32) -> int:
    """How many of ordered[component, :count] are below value (a branch-free count)."""
    below = 0
    for k in range(count):
        below += ordered[component, k] < value
    return below


@inlined
def _replace_ordered(  # noqa: PLR0917 - kernels take their arrays positionally
    ordered: npt.NDArray[np.float32],
    component: int,
    count: int,
    old: np.float32,
    new: np.float32,
    full: bool,
) -> None:
    """Keeps ordered[component, :count] sorted: removes `old` (when full), inserts `new`.

    Both places are found by counting (no data-dependent branch), in one pass; only the
    values between them move, by one. Indexes are unsigned, so that no move pays for
    Python's negative-index wraparound.
    """
    row = np.uintp(component)
    if not full:
        at = _rank(ordered, component, count, new)
        for k in range(count, at, -1):
            ordered[row, np.uintp(k)] = ordered[row, np.uintp(k - 1)]
        ordered[row, np.uintp(at)] = new
        return
    at = 0  # new's place
    gone = 0  # old's place (its first copy)
    for k in range(count):
        value = ordered[row, np.uintp(k)]
        at += value < new
        gone += value < old
    if gone < at:  # old is below new: the values between move down
        at -= 1
        for k in range(gone, at):
            ordered[row, np.uintp(k)] = ordered[row, np.uintp(k + 1)]
    else:  # old is at or above new: the values between move up
        for k in range(gone, at, -1):
            ordered[row, np.uintp(k)] = ordered[row, np.uintp(k - 1)]
    ordered[row, np.uintp(at)] = new


@kernel
def score_components(  # noqa: PLR0917 - kernels take their arrays positionally
    history: npt.NDArray[np.float32],
    ordered: npt.NDArray[np.float32],
    seen: npt.NDArray[np.int64],
    ids: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    wanted: npt.NDArray[np.bool_],
    min_samples: int,
    floor_abs: float,
    floor_rel: float,
    update: bool,
) -> npt.NDArray[np.float64]:
    """Each value's robust excess over its component's baseline, learnt in order if `update`.

    excess = (value - median) / (1.4826·MAD + max(floor_abs, floor_rel·|median|)) over the last
    `history.shape[1]` finite values of the component, scored before the value is learnt, and
    0 for a value at or below the median (the MAD is found only for values above it); NaN
    until the component has `min_samples` values, for a NaN value (never learnt), and for a
    value not `wanted` (learnt all the same: scoring is what costs, learning is needed).
    `ordered[c, :n]` holds the same n values as the ring `history[c]`, sorted, so the median
    is read off and the MAD found by bisection.
    """
    window = history.shape[1]
    out = np.empty(ids.shape[0], dtype=np.float64)
    for i in range(ids.shape[0]):
        if i + AHEAD < ids.shape[0]:  # components come in no order: ask for rows early
            prefetch_row(ordered, ids[i + AHEAD])
            prefetch_row(history, ids[i + AHEAD])
        component = ids[i]
        value = values[i]
        count = min(seen[component], window)
        if wanted[i] and count >= min_samples and np.isfinite(value):
            middle = count // 2
            if count % 2 == 1:
                median = np.float64(ordered[component, middle])
            else:
                median = (
                    np.float64(ordered[component, middle - 1])
                    + np.float64(ordered[component, middle])
                ) / 2.0
            if value > median:  # only a value above its baseline needs the MAD
                mad = _deviation_median(ordered, component, count, median)
                floor = max(floor_abs, floor_rel * abs(median))
                out[i] = (value - median) / (MAD_TO_SIGMA * mad + floor)
            else:
                out[i] = 0.0
        else:
            out[i] = np.nan
        if update and np.isfinite(value):
            slot = seen[component] % window
            learnt = np.float32(value)
            old = history[component, slot]
            _replace_ordered(ordered, component, count, old, learnt, count == window)
            history[component, slot] = learnt
            seen[component] += 1
    return out


@kernel
def order_windows(
    history: npt.NDArray[np.float32], seen: npt.NDArray[np.int64]
) -> npt.NDArray[np.float32]:
    """The sorted companion of every component's ring (for state loaded from a checkpoint)."""
    window = history.shape[1]
    ordered = np.zeros_like(history)
    for component in range(history.shape[0]):
        count = min(seen[component], window)
        ordered[component, :count] = np.sort(history[component, :count])
    return ordered


@kernel
def layer_of_largest_excess(
    run_of_value: npt.NDArray[np.int64],
    excess: npt.NDArray[np.float64],
    layer_of_value: npt.NDArray[np.int8],
    runs: int,
) -> npt.NDArray[np.int8]:
    """For each run, the layer of its component with the largest finite excess (-1: none).

    Ties go to the first such component in input order.
    """
    best = np.full(runs, -np.inf, dtype=np.float64)
    layer = np.full(runs, -1, dtype=np.int8)
    for i in range(run_of_value.shape[0]):
        run = run_of_value[i]
        if np.isfinite(excess[i]) and excess[i] > best[run]:
            best[run] = excess[i]
            layer[run] = layer_of_value[i]
    return layer
