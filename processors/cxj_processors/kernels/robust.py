"""Robust rolling baselines: median and MAD of each component's most recent values."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from cxj_processors.kernels import kernel

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation


@kernel
def median_of(values: npt.NDArray[np.float64], count: int) -> float:
    """Median of values[:count] (mean of the two middle values for an even count).

    Sorts `values[:count]` in place (insertion sort: count is a few dozen at most).
    """
    for i in range(1, count):
        item = values[i]
        j = i - 1
        while j >= 0 and values[j] > item:
            values[j + 1] = values[j]
            j -= 1
        values[j + 1] = item
    middle = count // 2
    if count % 2 == 1:
        return float(values[middle])
    return float((values[middle - 1] + values[middle]) / 2.0)


@kernel
def score_components(  # noqa: PLR0917 - kernels take their arrays positionally
    history: npt.NDArray[np.float32],
    seen: npt.NDArray[np.int64],
    ids: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    min_samples: int,
    floor_abs: float,
    floor_rel: float,
    update: bool,
) -> npt.NDArray[np.float64]:
    """Each value's robust excess over its component's baseline, learnt in order if `update`.

    excess = (value - median) / (1.4826·MAD + max(floor_abs, floor_rel·|median|)) over the last
    `history.shape[1]` finite values of the component, scored before the value is learnt; NaN
    until the component has `min_samples` values, and for a NaN value (never learnt).
    """
    window = history.shape[1]
    scratch = np.empty(window, dtype=np.float64)
    out = np.empty(ids.shape[0], dtype=np.float64)
    for i in range(ids.shape[0]):
        component = ids[i]
        value = values[i]
        count = min(seen[component], window)
        if count >= min_samples and np.isfinite(value):
            for k in range(count):
                scratch[k] = history[component, k]
            median = median_of(scratch, count)
            for k in range(count):
                scratch[k] = abs(scratch[k] - median)
            mad = median_of(scratch, count)
            floor = max(floor_abs, floor_rel * abs(median))
            out[i] = (value - median) / (MAD_TO_SIGMA * mad + floor)
        else:
            out[i] = np.nan
        if update and np.isfinite(value):
            history[component, seen[component] % window] = value
            seen[component] += 1
    return out


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
