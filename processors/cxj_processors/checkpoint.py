"""Checkpoints of the windows and baselines as a flat dict of NumPy arrays (no file I/O here).

The caller writes the dict (e.g. with `np.savez`) atomically and reads it back; restoring it
yields a store and baselines whose evaluations equal those of the originals.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from cxj_processors.baselines import RobustBaselines
from cxj_processors.kernels.layout import (
    COARSE_FIELDS,
    FINE_FIELDS,
    GEO_COARSE_BUCKET_S,
    GEO_COARSE_SLOTS,
    GEO_FINE_BUCKET_S,
    GEO_FINE_SLOTS,
    GEO_FUTURE_SKEW_S,
    GEO_RECENT_SLOTS,
    GEO_SIZE,
    MOS_BINS,
    RECENT_FIELDS,
)
from cxj_processors.windows import WindowStore

FORMAT_VERSION = 1
_VERSION_KEY = "format_version"


class CheckpointError(ValueError):
    """A checkpoint that cannot be restored; the message names the array and the fix."""


def to_arrays(store: WindowStore, baselines: RobustBaselines) -> dict[str, npt.NDArray[np.generic]]:
    """The whole state as arrays keyed "store.<name>" and "baselines.<name>", plus a version."""
    arrays: dict[str, npt.NDArray[np.generic]] = {
        _VERSION_KEY: np.array([FORMAT_VERSION], dtype=np.int64),
        "store.max_period_days": np.array([store.max_period_days], dtype=np.int64),
        "baselines.settings": np.array([baselines.window, baselines.min_samples], dtype=np.int64),
        "baselines.floors": np.array([baselines.floor_abs, baselines.floor_rel], dtype=np.float64),
    }
    arrays.update({f"store.{k}": v for k, v in store.state_arrays().items()})
    arrays.update({f"baselines.{k}": v for k, v in baselines.state_arrays().items()})
    return arrays


def from_arrays(arrays: dict[str, npt.NDArray[np.generic]]) -> tuple[WindowStore, RobustBaselines]:
    """Rebuilds the store and baselines from `to_arrays` output, checking every array first."""
    version = _array(arrays, _VERSION_KEY, np.int64, (1,))
    if int(version[0]) != FORMAT_VERSION:
        raise CheckpointError(
            f"{_VERSION_KEY}: checkpoint format {int(version[0])} is not {FORMAT_VERSION}; "
            f"delete the checkpoint to start with empty windows"
        )
    geometry = _array(arrays, "store.geometry", np.int64, (GEO_SIZE,))
    max_period = int(_array(arrays, "store.max_period_days", np.int64, (1,))[0])
    store = WindowStore(
        fine_bucket_s=int(geometry[GEO_FINE_BUCKET_S]),
        fine_span_s=int(geometry[GEO_FINE_SLOTS] * geometry[GEO_FINE_BUCKET_S]),
        coarse_bucket_s=int(geometry[GEO_COARSE_BUCKET_S]),
        max_period_days=max_period,
        future_skew_s=int(geometry[GEO_FUTURE_SKEW_S]),
    )
    if not np.array_equal(store.geometry, geometry):
        raise CheckpointError(
            "store.geometry: does not describe a valid store; delete the checkpoint"
        )
    series = int(np.asarray(arrays.get("store.fine", np.zeros((0,)))).shape[0])
    recent_slots = int(store.geometry[GEO_RECENT_SLOTS])
    store.load_state_arrays({
        "fine": _array(arrays, "store.fine", np.uint32,
                       (series, int(geometry[GEO_FINE_SLOTS]), FINE_FIELDS)),
        "recent": _array(arrays, "store.recent", np.uint32, (series, recent_slots, RECENT_FIELDS)),
        "mos_hist": _array(arrays, "store.mos_hist", np.uint16,
                           (series, recent_slots, 2, MOS_BINS)),
        "mos_sum": _array(arrays, "store.mos_sum", np.float64, (series, recent_slots, 2)),
        "coarse": _array(arrays, "store.coarse", np.uint32,
                         (series, int(geometry[GEO_COARSE_SLOTS]), COARSE_FIELDS)),
        "last_bad_end": _array(arrays, "store.last_bad_end", np.float64, (series,)),
        "last_bad_trace": _array(arrays, "store.last_bad_trace", np.uint64, (series, 2)),
    })  # fmt: skip
    window, min_samples = (int(v) for v in _array(arrays, "baselines.settings", np.int64, (2,)))
    floor_abs, floor_rel = (float(v) for v in _array(arrays, "baselines.floors", np.float64, (2,)))
    baselines = RobustBaselines(
        window=window, min_samples=min_samples, floor_abs=floor_abs, floor_rel=floor_rel
    )
    components = int(np.asarray(arrays.get("baselines.seen", np.zeros(0))).shape[0])
    baselines.load_state_arrays({
        "history": _array(arrays, "baselines.history", np.float32, (components, window)),
        "seen": _array(arrays, "baselines.seen", np.int64, (components,)),
    })  # fmt: skip
    return store, baselines


def _array(
    arrays: dict[str, npt.NDArray[np.generic]],
    key: str,
    dtype: type[np.generic],
    shape: tuple[int, ...],
) -> npt.NDArray[np.generic]:
    if key not in arrays:
        raise CheckpointError(f"{key}: missing from the checkpoint; delete it to start afresh")
    array = np.asarray(arrays[key])
    if array.dtype != np.dtype(dtype):
        raise CheckpointError(
            f"{key}: dtype {array.dtype}, expected {np.dtype(dtype)}; the checkpoint was not "
            f"written by this version, delete it to start afresh"
        )
    if array.shape != shape:
        raise CheckpointError(
            f"{key}: shape {array.shape}, expected {shape}; the checkpoint is damaged or from "
            f"another configuration, delete it to start afresh"
        )
    return array
