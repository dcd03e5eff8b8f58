"""From decoded spans to journey runs: which runs were good, degraded or failed, and why.

A run is one trace whose root span carries a journey's resource. It is good when it
succeeded and every step met its threshold (and voice MOS its target, if set). A failed
run is charged to its failing step's layer; a degraded run to the layer of the step or
phase that departed most from its robust rolling baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from cxj_journey import telemetry as names
from cxj_processors.kernels import in_place, inlined, kernel
from cxj_processors.kernels.lookup import mix64
from cxj_processors.wire import fnv1a64

ROOT, STEP, PHASE = 0, 1, 2
LAYER_HASHES = np.array([fnv1a64(layer.encode()) for layer in names.LAYERS], dtype=np.uint64)
_NAME_RESOLUTION = fnv1a64(b"name_resolution")
NETWORK = names.LAYERS.index("network")


@dataclass
class SpanRows:
    """The journey spans of one or more batches, one row per span (columnar)."""

    series: npt.NDArray[np.int32]
    trace_hi: npt.NDArray[np.uint64]
    trace_lo: npt.NDArray[np.uint64]
    kind: npt.NDArray[np.int8]  # ROOT, STEP or PHASE
    failed: npt.NDArray[np.bool_]
    start_ns: npt.NDArray[np.int64]
    end_ns: npt.NDArray[np.int64]
    threshold_s: npt.NDArray[np.float64]  # NaN when the step has none
    min_mos: npt.NDArray[np.float64]
    mos_out: npt.NDArray[np.float64]
    mos_in: npt.NDArray[np.float64]
    layer: npt.NDArray[np.int8]  # -1 unknown
    dns_error: npt.NDArray[np.bool_]
    excess: npt.NDArray[np.float64]  # robust excess over the component's baseline, NaN none
    step_hash: npt.NDArray[np.uint64]  # cx.step.name hash, 0 on root spans
    arrived_s: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.series)

    def take(self, mask: npt.NDArray[np.bool_]) -> SpanRows:
        """Returns the rows where mask is true."""
        return SpanRows(**{f.name: getattr(self, f.name)[mask] for f in fields(self)})

    @staticmethod
    def concat(parts: list[SpanRows]) -> SpanRows:
        """Returns the rows of several parts, in order."""
        return SpanRows(
            **{
                f.name: np.concatenate([getattr(p, f.name) for p in parts])
                for f in fields(SpanRows)
            }
        )


@dataclass(frozen=True)
class FoldedRuns:
    """Runs found in a set of rows, and which rows they consumed."""

    root_rows: npt.NDArray[np.int64]  # row index of each run's root span
    outcome: npt.NDArray[np.int8]
    layer: npt.NDArray[np.int8]
    mos_out: npt.NDArray[np.float64]
    mos_in: npt.NDArray[np.float64]
    blamed_row: npt.NDArray[np.int64]  # row of the step or phase a bad run is charged to, -1
    consumed: npt.NDArray[np.bool_]  # rows that belong to a run found here


def fold_runs(rows: SpanRows, order: npt.NDArray[np.int64] | None = None) -> FoldedRuns:
    """Groups rows by trace and judges every trace whose root span is present.

    `order` is `group_by_trace` of the rows, when the caller has it already.
    """
    if order is None:
        order = group_by_trace(rows.trace_hi, rows.trace_lo)
    root_rows, outcome, layer, mos_out, mos_in, blamed, consumed = _fold(  # type: ignore[no-untyped-call]
        order,
        rows.trace_hi,
        rows.trace_lo,
        rows.kind,
        rows.failed,
        rows.start_ns,
        rows.end_ns,
        rows.threshold_s,
        rows.min_mos,
        rows.mos_out,
        rows.mos_in,
        rows.layer,
        rows.dns_error,
        rows.excess,
    )
    return FoldedRuns(root_rows, outcome, layer, mos_out, mos_in, blamed, consumed)


@inlined
def _group_end(
    order: npt.NDArray[np.int64],
    trace_hi: npt.NDArray[np.uint64],
    trace_lo: npt.NDArray[np.uint64],
    start: int,
) -> int:
    """Where the rows of the trace whose group begins at order[start] end in `order`."""
    first = order[start]
    end = start + 1
    while (
        end < order.shape[0]
        and trace_hi[order[end]] == trace_hi[first]
        and trace_lo[order[end]] == trace_lo[first]
    ):
        end += 1
    return end


@inlined
def _over_threshold(
    row: int,
    start_ns: npt.NDArray[np.int64],
    end_ns: npt.NDArray[np.int64],
    threshold_s: npt.NDArray[np.float64],
) -> bool:
    """A step that took longer than its threshold (a step without one never does)."""
    duration = (end_ns[row] - start_ns[row]) / 1e9
    return not np.isnan(threshold_s[row]) and duration > threshold_s[row]


@inlined
def _below_mos_target(
    row: int,
    min_mos: npt.NDArray[np.float64],
    mos_out: npt.NDArray[np.float64],
    mos_in: npt.NDArray[np.float64],
) -> bool:
    """A voice step whose worse direction scored below its MOS target, if it has one."""
    if np.isnan(min_mos[row]):
        return False
    worst = min(mos_out[row], mos_in[row])
    return not np.isnan(worst) and worst < min_mos[row]


@kernel
def needs_excess(  # noqa: PLR0917 - kernels take their arrays positionally
    order: npt.NDArray[np.int64],
    trace_hi: npt.NDArray[np.uint64],
    trace_lo: npt.NDArray[np.uint64],
    kind: npt.NDArray[np.int8],
    start_ns: npt.NDArray[np.int64],
    end_ns: npt.NDArray[np.int64],
    threshold_s: npt.NDArray[np.float64],
    min_mos: npt.NDArray[np.float64],
    mos_out: npt.NDArray[np.float64],
    mos_in: npt.NDArray[np.float64],
) -> npt.NDArray[np.bool_]:
    """Which rows the fold may read an excess from (`order` is `group_by_trace` of the rows).

    Those of a trace that has a step over its threshold or below its MOS target (it may be
    judged degraded), or that has no root yet (it may become so with rows still to come).
    The fold reads the excess of degraded runs only, so a row outside these needs none:
    scoring only these rows against their baselines gives the same runs.
    """
    wanted = np.zeros(order.shape[0], np.bool_)
    _mark_wanted(
        order, trace_hi, trace_lo, kind, start_ns, end_ns, threshold_s, min_mos, mos_out,
        mos_in, wanted,
    )  # fmt: skip
    return wanted


@in_place
def _mark_wanted(  # noqa: PLR0917 - kernels take their arrays positionally
    order: npt.NDArray[np.int64],
    trace_hi: npt.NDArray[np.uint64],
    trace_lo: npt.NDArray[np.uint64],
    kind: npt.NDArray[np.int8],
    start_ns: npt.NDArray[np.int64],
    end_ns: npt.NDArray[np.int64],
    threshold_s: npt.NDArray[np.float64],
    min_mos: npt.NDArray[np.float64],
    mos_out: npt.NDArray[np.float64],
    mos_in: npt.NDArray[np.float64],
    wanted: npt.NDArray[np.bool_],
) -> None:
    """The loop of `needs_excess`: sets `wanted` (all false) for the rows it names."""
    n = order.shape[0]
    group_start = 0
    while group_start < n:
        group_end = _group_end(order, trace_hi, trace_lo, group_start)
        rooted = False
        degraded = False
        for k in range(group_start, group_end):
            row = order[k]
            rooted = rooted or kind[row] == 0
            if kind[row] == 1 and (
                _over_threshold(row, start_ns, end_ns, threshold_s)
                or _below_mos_target(row, min_mos, mos_out, mos_in)
            ):
                degraded = True
        if degraded or not rooted:
            for k in range(group_start, group_end):
                wanted[order[k]] = True
        group_start = group_end


@kernel
def run_columns(  # noqa: PLR0917 - kernels take their arrays positionally
    root_rows: npt.NDArray[np.int64],
    series: npt.NDArray[np.int32],
    start_ns: npt.NDArray[np.int64],
    end_ns: npt.NDArray[np.int64],
    trace_hi: npt.NDArray[np.uint64],
    trace_lo: npt.NDArray[np.uint64],
) -> tuple[
    npt.NDArray[np.int32],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.uint64],
    npt.NDArray[np.uint64],
]:
    """Each run's (series, end s, duration s, trace id high and low words) from its root row."""
    n = root_rows.shape[0]
    run_series = np.empty(n, np.int32)
    end_s = np.empty(n, np.float64)
    duration_s = np.empty(n, np.float64)
    run_hi = np.empty(n, np.uint64)
    run_lo = np.empty(n, np.uint64)
    for index in range(n):
        row = root_rows[index]
        run_series[index] = series[row]
        end_s[index] = end_ns[row] / 1e9
        duration_s[index] = (end_ns[row] - start_ns[row]) / 1e9
        run_hi[index] = trace_hi[row]
        run_lo[index] = trace_lo[row]
    return run_series, end_s, duration_s, run_hi, run_lo


@kernel
def group_by_trace(
    trace_hi: npt.NDArray[np.uint64], trace_lo: npt.NDArray[np.uint64]
) -> npt.NDArray[np.int64]:
    """Row indexes ordered so that each trace's rows are adjacent, in arrival order.

    Traces are taken in the order of their first row, rows of a trace in their own order:
    one hash-table pass and a counting sort, instead of sorting by trace id. A row of the same
    trace as the row before it (a run's spans usually travel together) skips the table.
    """
    n = trace_hi.shape[0]
    size = 16
    while size < 2 * n:
        size *= 2
    mask = np.uint64(size - 1)
    slot_hi = np.empty(size, np.uint64)
    slot_lo = np.empty(size, np.uint64)
    slot_group = np.full(size, -1, np.int64)
    group = np.empty(n, np.int64)
    groups = 0
    for row in range(n):
        hi, lo = trace_hi[row], trace_lo[row]
        if row > 0 and hi == trace_hi[row - 1] and lo == trace_lo[row - 1]:
            group[row] = group[row - 1]
            continue
        slot = mix64(hi ^ mix64(lo)) & mask
        while slot_group[slot] >= 0 and (slot_hi[slot] != hi or slot_lo[slot] != lo):
            slot = (slot + np.uint64(1)) & mask
        if slot_group[slot] < 0:
            slot_hi[slot], slot_lo[slot], slot_group[slot] = hi, lo, groups
            groups += 1
        group[row] = slot_group[slot]
    start = np.zeros(groups + 1, np.int64)
    for row in range(n):
        start[group[row] + 1] += 1
    for index in range(groups):
        start[index + 1] += start[index]
    order = np.empty(n, np.int64)
    for row in range(n):
        order[start[group[row]]] = row
        start[group[row]] += 1
    return order


@kernel
def _fold(  # type: ignore[no-untyped-def]  # noqa: PLR0917 - kernels take their arrays positionally
    order,
    trace_hi,
    trace_lo,
    kind,
    failed,
    start_ns,
    end_ns,
    threshold_s,
    min_mos,
    mos_out,
    mos_in,
    layer,
    dns_error,
    excess,
):
    n = order.shape[0]
    root_rows = np.empty(n, np.int64)
    outcome = np.empty(n, np.int8)
    run_layer = np.empty(n, np.int8)
    run_mos_out = np.empty(n, np.float64)
    run_mos_in = np.empty(n, np.float64)
    blamed = np.empty(n, np.int64)
    consumed = np.zeros(n, np.bool_)
    runs = _fold_into(
        order, trace_hi, trace_lo, kind, failed, start_ns, end_ns, threshold_s, min_mos,
        mos_out, mos_in, layer, dns_error, excess,
        root_rows, outcome, run_layer, run_mos_out, run_mos_in, blamed, consumed,
    )  # fmt: skip
    return (
        root_rows[:runs],
        outcome[:runs],
        run_layer[:runs],
        run_mos_out[:runs],
        run_mos_in[:runs],
        blamed[:runs],
        consumed,
    )


@in_place
def _fold_into(  # noqa: PLR0912, PLR0915, PLR0917 - one pass over the rows
    order: npt.NDArray[np.int64],
    trace_hi: npt.NDArray[np.uint64],
    trace_lo: npt.NDArray[np.uint64],
    kind: npt.NDArray[np.int8],
    failed: npt.NDArray[np.bool_],
    start_ns: npt.NDArray[np.int64],
    end_ns: npt.NDArray[np.int64],
    threshold_s: npt.NDArray[np.float64],
    min_mos: npt.NDArray[np.float64],
    mos_out: npt.NDArray[np.float64],
    mos_in: npt.NDArray[np.float64],
    layer: npt.NDArray[np.int8],
    dns_error: npt.NDArray[np.bool_],
    excess: npt.NDArray[np.float64],
    root_rows: npt.NDArray[np.int64],
    outcome: npt.NDArray[np.int8],
    run_layer: npt.NDArray[np.int8],
    run_mos_out: npt.NDArray[np.float64],
    run_mos_in: npt.NDArray[np.float64],
    blamed: npt.NDArray[np.int64],
    consumed: npt.NDArray[np.bool_],
) -> int:
    """The loop of `_fold`: fills its outputs (`consumed` all false); returns the runs found."""
    n = order.shape[0]
    runs = 0
    group_start = 0
    while group_start < n:
        group_end = _group_end(order, trace_hi, trace_lo, group_start)
        root = -1
        for k in range(group_start, group_end):
            if kind[order[k]] == 0:
                root = order[k]
        if root >= 0:
            fail_layer = -1
            fail_row = -1
            slow_row = -1
            best_row = -1
            fail_start = np.int64(0)
            any_failed = failed[root]
            slow_layer = -1
            best_excess = 0.0
            best_layer = -1
            m_out = np.nan
            m_in = np.nan
            degraded = False
            for k in range(group_start, group_end):
                row = order[k]
                consumed[row] = True
                if kind[row] == 1:
                    if failed[row] and (fail_layer < 0 or start_ns[row] < fail_start):
                        fail_layer = 1 if dns_error[row] else layer[row]  # 1: network
                        fail_row = row
                        fail_start = start_ns[row]
                        any_failed = True
                    if _over_threshold(row, start_ns, end_ns, threshold_s):
                        degraded = True
                        if slow_layer < 0:
                            slow_layer = layer[row]
                            slow_row = row
                    if not np.isnan(mos_out[row]):
                        m_out = mos_out[row]
                    if not np.isnan(mos_in[row]):
                        m_in = mos_in[row]
                    if _below_mos_target(row, min_mos, mos_out, mos_in):
                        degraded = True
                        if slow_layer < 0:
                            slow_layer = 1  # voice quality is the media path's: network
                            slow_row = row
                if (
                    kind[row] != 0
                    and not np.isnan(excess[row])
                    and excess[row] > best_excess
                    and layer[row] >= 0
                ):
                    best_excess = excess[row]
                    best_layer = layer[row]
                    best_row = row
            root_rows[runs] = root
            run_mos_out[runs] = m_out
            run_mos_in[runs] = m_in
            if any_failed:
                outcome[runs] = 2
                run_layer[runs] = fail_layer
                blamed[runs] = fail_row
            elif degraded:
                outcome[runs] = 1
                run_layer[runs] = best_layer if best_layer >= 0 else slow_layer
                blamed[runs] = best_row if best_layer >= 0 else slow_row
            else:
                outcome[runs] = 0
                run_layer[runs] = -1
                blamed[runs] = -1
            runs += 1
        group_start = group_end
    return runs
