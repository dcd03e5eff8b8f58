"""Robust rolling baselines per component, for charging a bad run to the layer that moved most.

A component is one (series, step, phase) with a dense id assigned by the caller. Each keeps
its last `window` values (float32) in a ring; a new value is scored by how far it sits above
the ring's median, in robust standard deviations (1.4826·MAD), before it is learnt.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from cxj_processors.kernels.robust import layer_of_largest_excess, order_windows, score_components

DEFAULT_WINDOW = 32
DEFAULT_MIN_SAMPLES = 8
DEFAULT_FLOOR_ABS = 1e-3  # in the values' unit: 1 ms for durations in seconds
DEFAULT_FLOOR_REL = 0.05  # of |median|: a jitter-free component does not make 1 % look huge


class RobustBaselines:
    """Streaming median/MAD baselines with bounded memory: window x 8 bytes per component.

    Each ring has a sorted companion kept up to date as values come and go, so scoring a
    value costs O(window) rather than a sort of the window.
    """

    def __init__(
        self,
        *,
        window: int = DEFAULT_WINDOW,
        min_samples: int = DEFAULT_MIN_SAMPLES,
        floor_abs: float = DEFAULT_FLOOR_ABS,
        floor_rel: float = DEFAULT_FLOOR_REL,
    ) -> None:
        if window < 1:
            raise ValueError(f"window: must be at least 1 value, got {window}")
        if not 1 <= min_samples <= window:
            raise ValueError(
                f"min_samples: must be between 1 and window ({window}), got {min_samples}"
            )
        if not (floor_abs > 0 or floor_rel > 0):
            raise ValueError("floor_abs, floor_rel: at least one must be above 0")
        self.window = window
        self.min_samples = min_samples
        self.floor_abs = float(floor_abs)
        self.floor_rel = float(floor_rel)
        self.history = np.zeros((0, window), dtype=np.float32)
        self.ordered = np.zeros((0, window), dtype=np.float32)  # each ring's values, sorted
        self.seen = np.zeros(0, dtype=np.int64)
        self._components = 0

    def score(self, ids: npt.ArrayLike, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Each value's excess over its component's baseline, learning nothing."""
        return self._run(ids, values, update=False)

    def score_and_update(
        self, ids: npt.ArrayLike, values: npt.ArrayLike, wanted: npt.ArrayLike | None = None
    ) -> npt.NDArray[np.float64]:
        """Each value's excess over its baseline before the update, then learns the value.

        Values of the same component are taken in order, so the second of two in one batch is
        scored against a baseline that includes the first. NaN until a component has
        `min_samples` values; a NaN or infinite value is scored NaN and not learnt. With
        `wanted` (one flag per value), only flagged values are scored, the others read NaN
        and are learnt all the same.
        """
        return self._run(ids, values, update=True, wanted=wanted)

    def forget(self, ids: npt.ArrayLike) -> None:
        """Clears the components of a deleted journey; their ids may be reused."""
        for component in np.asarray(ids, dtype=np.int64).ravel().tolist():
            if 0 <= component < self._components:
                self.history[component] = 0
                self.ordered[component] = 0
                self.seen[component] = 0

    def component_count(self) -> int:
        """How many component ids the baselines hold (the highest id seen plus one)."""
        return self._components

    def nbytes(self) -> int:
        """Bytes held by the baselines' arrays (allocated capacity)."""
        return int(self.history.nbytes + self.ordered.nbytes + self.seen.nbytes)

    def state_arrays(self) -> dict[str, npt.NDArray[np.generic]]:
        """Every array, trimmed to the components in use (for checkpoints)."""
        n = self._components
        return {"history": self.history[:n].copy(), "seen": self.seen[:n].copy()}

    def load_state_arrays(self, arrays: dict[str, npt.NDArray[np.generic]]) -> None:
        """Replaces the contents with `state_arrays()` of baselines of the same window."""
        self.history = np.ascontiguousarray(arrays["history"], dtype=np.float32).copy()
        self.seen = np.ascontiguousarray(arrays["seen"], dtype=np.int64).copy()
        self.ordered = order_windows(self.history, self.seen)
        self._components = int(self.seen.shape[0])

    def _run(
        self,
        ids: npt.ArrayLike,
        values: npt.ArrayLike,
        *,
        update: bool,
        wanted: npt.ArrayLike | None = None,
    ) -> npt.NDArray[np.float64]:
        components = np.ascontiguousarray(ids, dtype=np.int64).ravel()
        samples = np.ascontiguousarray(values, dtype=np.float64).ravel()
        if components.shape != samples.shape:
            raise ValueError(
                f"values: has {samples.shape[0]} entries, ids has {components.shape[0]}"
            )
        if wanted is None:
            flags = np.ones(components.shape[0], dtype=np.bool_)
        else:
            flags = np.ascontiguousarray(wanted, dtype=np.bool_).ravel()
            if flags.shape != components.shape:
                raise ValueError(
                    f"wanted: has {flags.shape[0]} entries, ids has {components.shape[0]}"
                )
        if components.shape[0] == 0:
            return np.zeros(0, dtype=np.float64)
        lowest = int(components.min())
        if lowest < 0:
            raise ValueError(f"ids: component ids must be >= 0, got {lowest}")
        self._grow(int(components.max()) + 1)
        result: npt.NDArray[np.float64] = score_components(
            self.history, self.ordered, self.seen, components, samples, flags,
            self.min_samples, self.floor_abs, self.floor_rel, update,
        )  # fmt: skip
        return result

    def _grow(self, count: int) -> None:
        capacity = self.seen.shape[0]
        if count > capacity:
            capacity = max(count, capacity + capacity // 2)
            history = np.zeros((capacity, self.window), dtype=np.float32)
            ordered = np.zeros((capacity, self.window), dtype=np.float32)
            seen = np.zeros(capacity, dtype=np.int64)
            history[: self._components] = self.history[: self._components]
            ordered[: self._components] = self.ordered[: self._components]
            seen[: self._components] = self.seen[: self._components]
            self.history, self.ordered, self.seen = history, ordered, seen
        self._components = max(self._components, count)


def attribute_runs(
    run_of_value: npt.ArrayLike,
    excess: npt.ArrayLike,
    layer_of_value: npt.ArrayLike,
    runs: int,
) -> npt.NDArray[np.int8]:
    """The layer each run is charged to: that of its component with the largest excess.

    `run_of_value[i]` is the run (0..runs-1) and `layer_of_value[i]` the layer index of the
    component that produced `excess[i]`. A run none of whose components has a finite excess
    gets -1.
    """
    run_index = np.ascontiguousarray(run_of_value, dtype=np.int64).ravel()
    scores = np.ascontiguousarray(excess, dtype=np.float64).ravel()
    layers = np.ascontiguousarray(layer_of_value, dtype=np.int8).ravel()
    if not run_index.shape == scores.shape == layers.shape:
        raise ValueError(
            f"run_of_value, excess, layer_of_value: lengths differ "
            f"({run_index.shape[0]}, {scores.shape[0]}, {layers.shape[0]})"
        )
    if run_index.shape[0] and (run_index.min() < 0 or run_index.max() >= runs):
        raise ValueError(f"run_of_value: run indexes must be within 0..{runs - 1}")
    result: npt.NDArray[np.int8] = layer_of_largest_excess(run_index, scores, layers, runs)
    return result
