"""Selecting a decoded batch's journey spans and the columns the run fold reads, in one pass.

A span takes part in a run when its resource belongs to a journey series and it is either
the run's root (no parent, no step name) or carries a step name (a step, or a phase when it
also names a phase). Everything else in the batch (other services' spans, the probe's
helper spans) is left out.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from cxj_processors.kernels import kernel
from cxj_processors.kernels.lookup import triple_signature

ROOT, STEP, PHASE = 0, 1, 2
STATUS_ERROR = 2

# Positions of the span attribute columns the gather reads, in its `columns` argument.
COL_STEP_NAME = 0
COL_STEP_PHASE = 1
COL_LAYER = 2
COL_THRESHOLD = 3
COL_ERROR_TYPE = 4
COL_MIN_MOS = 5
COL_MOS_OUT = 6
COL_MOS_IN = 7
COLUMNS = 8


@kernel
def gather_journey_spans(  # noqa: PLR0915, PLR0917 - one pass over the spans, one kernel
    resource_series: npt.NDArray[np.int32],
    resource_index: npt.NDArray[np.int32],
    trace_hi: npt.NDArray[np.uint64],
    trace_lo: npt.NDArray[np.uint64],
    parent_span_id: npt.NDArray[np.uint64],
    start_ns: npt.NDArray[np.int64],
    end_ns: npt.NDArray[np.int64],
    status_code: npt.NDArray[np.int8],
    attr_hash: npt.NDArray[np.uint64],
    attr_num: npt.NDArray[np.float64],
    columns: npt.NDArray[np.int64],
    layer_hashes: npt.NDArray[np.uint64],
    name_resolution: np.uint64,
) -> tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.int32],
    npt.NDArray[np.int8],
    npt.NDArray[np.bool_],
    npt.NDArray[np.uint64],
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
    npt.NDArray[np.int8],
    npt.NDArray[np.bool_],
    npt.NDArray[np.int64],
    npt.NDArray[np.uint64],
    npt.NDArray[np.float64],
]:
    """The journey spans' columns, as (rows, series, kind, failed, ids, times, numbers, ...).

    The tuple goes on with `layer`, `dns_error`, then the measured spans (steps and phases):
    `measured` (their positions among the selected spans), `signatures` (of their
    (series, step, phase) component) and `durations` (seconds).
    `ids` has four rows: trace id high and low words, step name hash and phase name hash;
    `times` two: start and end (ns); `numbers` four: threshold, minimum MOS, outbound MOS
    and inbound MOS (NaN when absent). `layer` is the index of the span's cx.layer value in
    `layer_hashes`, or -1.
    """
    n = resource_index.shape[0]
    rows = np.empty(n, np.int64)
    series = np.empty(n, np.int32)
    kind = np.empty(n, np.int8)
    failed = np.empty(n, np.bool_)
    ids = np.empty((4, n), np.uint64)
    times = np.empty((2, n), np.int64)
    numbers = np.empty((4, n), np.float64)
    layer = np.empty(n, np.int8)
    dns_error = np.empty(n, np.bool_)
    measured = np.empty(n, np.int64)
    signatures = np.empty(n, np.uint64)
    durations = np.empty(n, np.float64)
    measured_count = 0
    # The column positions as locals: the stores below might alias `columns` as far as the
    # compiler knows, so reading them in the loop would reload them for every span.
    step_column, phase_column = columns[COL_STEP_NAME], columns[COL_STEP_PHASE]
    layer_column, error_column = columns[COL_LAYER], columns[COL_ERROR_TYPE]
    threshold_column, min_mos_column = columns[COL_THRESHOLD], columns[COL_MIN_MOS]
    mos_out_column, mos_in_column = columns[COL_MOS_OUT], columns[COL_MOS_IN]
    count = 0
    for row in range(n):
        resource = resource_index[row]
        if resource < 0 or resource >= resource_series.shape[0]:
            continue
        owner = resource_series[resource]
        if owner < 0:
            continue
        has_step = attr_hash[row, step_column] != 0
        if has_step:
            kind[count] = PHASE if attr_hash[row, phase_column] != 0 else STEP
        elif parent_span_id[row] == 0:
            kind[count] = ROOT
        else:
            continue
        rows[count] = row
        ids[0, count] = trace_hi[row]
        ids[1, count] = trace_lo[row]
        ids[2, count] = attr_hash[row, step_column]
        ids[3, count] = attr_hash[row, phase_column]
        times[0, count] = start_ns[row]
        times[1, count] = end_ns[row]
        series[count] = owner
        failed[count] = status_code[row] == STATUS_ERROR
        numbers[0, count] = attr_num[row, threshold_column]
        numbers[1, count] = attr_num[row, min_mos_column]
        numbers[2, count] = attr_num[row, mos_out_column]
        numbers[3, count] = attr_num[row, mos_in_column]
        value = attr_hash[row, layer_column]
        found = -1
        for index in range(layer_hashes.shape[0]):
            if value != 0 and layer_hashes[index] == value:
                found = index
        layer[count] = found
        dns_error[count] = attr_hash[row, error_column] == name_resolution
        if has_step:
            measured[measured_count] = count
            signatures[measured_count] = triple_signature(owner, ids[2, count], ids[3, count])
            durations[measured_count] = (end_ns[row] - start_ns[row]) / 1e9
            measured_count += 1
        count += 1
    return (
        rows[:count],
        series[:count],
        kind[:count],
        failed[:count],
        ids[:, :count],
        times[:, :count],
        numbers[:, :count],
        layer[:count],
        dns_error[:count],
        measured[:measured_count],
        signatures[:measured_count],
        durations[:measured_count],
    )
