"""Turning decoded span batches into journey runs, with the journey contracts they carry.

Telemetry describes itself: each probe's resource holds its journey's name, location and
SLO contract, so the processor needs no Kubernetes access. Spans of a run that arrive
before their root span wait (bounded in time) until it comes.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from cxj_journey import telemetry as names
from cxj_processors.baselines import RobustBaselines
from cxj_processors.kernels.gather import gather_journey_spans
from cxj_processors.kernels.lookup import MISSING, KeyTable, row_signatures
from cxj_processors.model import RunRecords, SeriesContract
from cxj_processors.runs import (
    LAYER_HASHES,
    SpanRows,
    fold_runs,
    group_by_trace,
    needs_excess,
    run_columns,
)
from cxj_processors.wire import SpanBatch, SpanDecoder, fnv1a64

RESOURCE_KEYS = (
    names.JOURNEY_NAME,
    names.JOURNEY_NAMESPACE,
    names.LOCATION,
    names.JOURNEY_TYPE,
    names.SLO_OBJECTIVE,
    names.SLO_PERIOD,
    names.SLO_BUDGETING,
    names.SLO_TIMESLICE,
    names.SLO_SLICE_OBJECTIVE,
    names.APDEX_THRESHOLD,
    names.WEIGHT_AVAILABILITY,
    names.WEIGHT_RESPONSIVENESS,
    names.WEIGHT_VOICE_QUALITY,
    names.JOURNEY_REVISION,
)
SPAN_KEYS = (
    names.STEP_NAME,
    names.STEP_PHASE,
    names.LAYER,
    names.STEP_THRESHOLD,
    names.ERROR_TYPE,
    names.VOICE_MIN_MOS,
    names.voice_attribute("outbound", "mos"),
    names.voice_attribute("inbound", "mos"),
)
_R = {key: i for i, key in enumerate(RESOURCE_KEYS)}
_S = {key: i for i, key in enumerate(SPAN_KEYS)}
_NAME_RESOLUTION = fnv1a64(b"name_resolution")
_GATHER_COLUMNS = np.array(
    [
        _S[names.STEP_NAME],
        _S[names.STEP_PHASE],
        _S[names.LAYER],
        _S[names.STEP_THRESHOLD],
        _S[names.ERROR_TYPE],
        _S[names.VOICE_MIN_MOS],
        _S[names.voice_attribute("outbound", "mos")],
        _S[names.voice_attribute("inbound", "mos")],
    ],
    dtype=np.int64,
)
PENDING_TTL_S = 300.0
RESOURCE_CACHE_LIMIT = 1 << 16  # distinct resources remembered before the cache starts over
_NOT_JOURNEY = -2
_REJECTED = -3


def make_decoder() -> SpanDecoder:
    """Returns the span decoder configured for the attributes the processor reads."""
    return SpanDecoder(resource_keys=RESOURCE_KEYS, span_keys=SPAN_KEYS, hash_names=False)


@dataclass(frozen=True)
class SeriesKey:
    """One journey at one location."""

    namespace: str
    journey: str
    location: str


@dataclass
class Series:
    """What the processor knows about a series: its key, contract and revision."""

    key: SeriesKey
    journey_type: str
    contract: SeriesContract
    revision: str
    steps: dict[int, str] = field(default_factory=dict)  # step-name hash → name


@dataclass
class ExtractStats:
    """Counters of one extraction, for the processor's own telemetry."""

    spans: int = 0
    journey_spans: int = 0
    runs: int = 0
    orphaned: int = 0
    rejected_resources: int = 0
    rejected_reason: str = ""
    blamed_steps: list[tuple[int, float, str]] = field(default_factory=list)


def _number(batch: SpanBatch, row: int, key: str, default: float) -> float:
    value = float(batch.resource_attr_num[row, _R[key]])
    return default if math.isnan(value) else value


def _text(batch: SpanBatch, row: int, key: str) -> str | None:
    column = _R[key]
    if batch.resource_attr_hash[row, column] == 0:
        return None
    return batch.string(
        int(batch.resource_attr_off[row, column]), int(batch.resource_attr_len[row, column])
    )


def contract_from_resource(batch: SpanBatch, row: int) -> SeriesContract:
    """Reads a journey's SLO and scoring contract from its resource attributes.

    Raises:
        ValueError: naming the attribute, when a value is out of range.
    """
    objective = _number(batch, row, names.SLO_OBJECTIVE, 99.5)
    if not 0.0 < objective < 100.0:
        raise ValueError(f"{names.SLO_OBJECTIVE} must be between 0 and 100, got {objective}")
    period = _number(batch, row, names.SLO_PERIOD, 30.0)
    if not 1.0 <= period <= 99.0:
        raise ValueError(f"{names.SLO_PERIOD} must be 1 to 99 days, got {period}")
    budgeting = _text(batch, row, names.SLO_BUDGETING) or "occurrences"
    if budgeting not in ("occurrences", "timeslices"):
        raise ValueError(f"{names.SLO_BUDGETING} must be occurrences or timeslices")
    return SeriesContract(
        objective=objective / 100.0,
        period_days=int(period),
        budgeting=budgeting,
        timeslice_s=_number(batch, row, names.SLO_TIMESLICE, 0.0),
        slice_objective=_number(batch, row, names.SLO_SLICE_OBJECTIVE, 100.0) / 100.0,
        apdex_t_s=_number(batch, row, names.APDEX_THRESHOLD, 2.0),
        weight_availability=int(_number(batch, row, names.WEIGHT_AVAILABILITY, 50.0)),
        weight_responsiveness=int(_number(batch, row, names.WEIGHT_RESPONSIVENESS, 30.0)),
        weight_voice=int(_number(batch, row, names.WEIGHT_VOICE_QUALITY, 20.0)),
    )


class RunExtractor:
    """Stateful: the series registry, step baselines and spans waiting for their root."""

    def __init__(self, baselines: RobustBaselines | None = None) -> None:
        self.series: list[Series] = []
        self._series_ids: dict[SeriesKey, int] = {}
        self._components: dict[tuple[int, int, int], int] = {}
        self._component_table = KeyTable()  # an index over _components
        self._resources = KeyTable()  # resource signature → series (a cache)
        self._rejections: dict[int, str] = {}  # resource signature → why it was rejected
        self.component_names: list[tuple[int, str, str]] = []  # (series, step, phase)
        self.baselines = baselines or RobustBaselines()
        self._pending: SpanRows | None = None
        self._lock = threading.Lock()
        self.contracts_version = 0  # moves whenever series_id registers or updates a series

    def series_id(
        self, key: SeriesKey, journey_type: str, contract: SeriesContract, revision: str
    ) -> int:
        """Returns the dense id of a series, registering it or updating its contract."""
        self.contracts_version += 1
        index = self._series_ids.get(key)
        if index is None:
            index = len(self.series)
            self._series_ids[key] = index
            self.series.append(Series(key, journey_type, contract, revision))
        else:
            current = self.series[index]
            current.contract, current.revision, current.journey_type = (
                contract,
                revision,
                journey_type,
            )
        return index

    def _resource_series(self, batch: SpanBatch, stats: ExtractStats) -> npt.NDArray[np.int32]:
        """Each resource row's series (-1: not journey telemetry, or a rejected contract).

        Resources are recognised by the signature of their configured attribute values, so a
        probe's resource is read in Python once, when first seen (or when its contract or
        revision changes, which changes the signature).
        """
        if batch.resource_attr_hash.shape[0] == 0:
            return np.empty(0, dtype=np.int32)
        signatures = row_signatures(
            batch.resource_attr_hash, batch.resource_attr_num.view(np.uint64)
        )
        out, missing = self._resources.find(signatures)
        if missing:
            if len(self._resources) > RESOURCE_CACHE_LIMIT:
                self._resources.clear()
                self._rejections.clear()
            new_rows = np.flatnonzero(out == MISSING)
            for row in new_rows.tolist():
                out[row] = self._read_resource(batch, row, int(signatures[row]))
            self._resources.put(signatures[new_rows], out[new_rows])
        rejected = out == _REJECTED
        if rejected.any():
            stats.rejected_resources += int(rejected.sum())
            last = int(np.flatnonzero(rejected)[-1])
            stats.rejected_reason = self._rejections[int(signatures[last])]
        out[out < 0] = -1
        return out

    def _read_resource(self, batch: SpanBatch, row: int, signature: int) -> int:
        """Registers a resource row's series; _NOT_JOURNEY or _REJECTED when it has none."""
        journey = _text(batch, row, names.JOURNEY_NAME)
        if journey is None:
            return _NOT_JOURNEY  # not journey telemetry: accepted, passed through, not judged
        try:
            contract = contract_from_resource(batch, row)
        except ValueError as error:
            self._rejections[signature] = f"journey {journey}: {error}"
            return _REJECTED
        key = SeriesKey(
            _text(batch, row, names.JOURNEY_NAMESPACE) or "default",
            journey,
            _text(batch, row, names.LOCATION) or "unknown",
        )
        return self.series_id(
            key,
            _text(batch, row, names.JOURNEY_TYPE) or "custom",
            contract,
            _text(batch, row, names.JOURNEY_REVISION) or "",
        )

    def _component_ids(  # noqa: PLR0917 - the gather's columns, passed on as they came
        self,
        batch: SpanBatch,
        rows: npt.NDArray[np.int64],
        series: npt.NDArray[np.int32],
        ids: npt.NDArray[np.uint64],
        measured: npt.NDArray[np.int64],
        signatures: npt.NDArray[np.uint64],
    ) -> npt.NDArray[np.int32]:
        """The baseline component of each measured span, registering new ones.

        A component is a (series, step, phase); `signatures` identify them, `ids` rows 2 and
        3 hold the step and phase name hashes of the selected spans.
        """
        components, missing = self._component_table.find(signatures)
        if not missing:
            return components
        new = np.flatnonzero(components == MISSING)
        for i in new.tolist():
            at = int(measured[i])
            s, step, phase = int(series[at]), int(ids[2, at]), int(ids[3, at])
            component = self._components.get((s, step, phase))
            if component is None:
                component = len(self.component_names)
                self._components[(s, step, phase)] = component
                row = int(rows[at])
                step_name = batch.string(
                    int(batch.span_attr_off[row, _S[names.STEP_NAME]]),
                    int(batch.span_attr_len[row, _S[names.STEP_NAME]]),
                )
                phase_name = (
                    ""
                    if phase == 0
                    else batch.string(
                        int(batch.span_attr_off[row, _S[names.STEP_PHASE]]),
                        int(batch.span_attr_len[row, _S[names.STEP_PHASE]]),
                    )
                )
                self.component_names.append((s, step_name, phase_name))
                self.series[s].steps[step] = step_name
            components[i] = component
        self._component_table.put(signatures[new], components[new])
        return components

    def extract(self, batch: SpanBatch, now_s: float) -> tuple[RunRecords, ExtractStats]:
        """Returns the runs completed by this batch (and earlier waiting spans)."""
        with self._lock:
            return self._extract(batch, now_s)

    def _extract(self, batch: SpanBatch, now_s: float) -> tuple[RunRecords, ExtractStats]:
        stats = ExtractStats(spans=len(batch))
        resource_series = self._resource_series(batch, stats)
        (rows, series, kind, failed, ids, times, numbers, layer, dns_error, measured,
         signatures, durations) = gather_journey_spans(
            resource_series,
            batch.resource_index,
            batch.trace_id_hi,
            batch.trace_id_lo,
            batch.parent_span_id,
            batch.start_ns,
            batch.end_ns,
            batch.status_code,
            batch.span_attr_hash,
            batch.span_attr_num,
            _GATHER_COLUMNS,
            LAYER_HASHES,
            np.uint64(_NAME_RESOLUTION),
        )  # fmt: skip
        trace_hi, trace_lo, step_hash, _ = ids
        start_ns, end_ns = times
        stats.journey_spans = len(rows)
        new = SpanRows(
            series=series,
            trace_hi=trace_hi,
            trace_lo=trace_lo,
            kind=kind,
            failed=failed,
            start_ns=start_ns,
            end_ns=end_ns,
            threshold_s=numbers[0],
            min_mos=numbers[1],
            mos_out=numbers[2],
            mos_in=numbers[3],
            layer=layer,
            dns_error=dns_error,
            excess=np.full(len(rows), np.nan),
            step_hash=step_hash,
            arrived_s=np.full(len(rows), now_s),
        )
        pool = new if self._pending is None else SpanRows.concat([self._pending, new])
        order = group_by_trace(pool.trace_hi, pool.trace_lo)
        if len(measured):
            components = self._component_ids(batch, rows, series, ids, measured, signatures)
            # Every value is learnt; only those of runs that may be judged degraded are scored.
            at = measured + (len(pool) - len(new))
            wanted = needs_excess(
                order, pool.trace_hi, pool.trace_lo, pool.kind, pool.start_ns, pool.end_ns,
                pool.threshold_s, pool.min_mos, pool.mos_out, pool.mos_in,
            )[at]  # fmt: skip
            pool.excess[at] = self.baselines.score_and_update(components, durations, wanted)
        folded = fold_runs(pool, order)
        if folded.consumed.all():
            self._pending = None
        else:
            waiting = pool.take(~folded.consumed)
            fresh = waiting.arrived_s >= now_s - PENDING_TTL_S
            stats.orphaned = int((~fresh).sum())
            self._pending = waiting.take(fresh) if fresh.any() else None
        roots = folded.root_rows
        run_series, end_s, duration_s, run_hi, run_lo = run_columns(
            roots, pool.series, pool.start_ns, pool.end_ns, pool.trace_hi, pool.trace_lo
        )
        runs = RunRecords(
            series=run_series,
            end_s=end_s,
            duration_s=duration_s,
            outcome=folded.outcome,
            layer=folded.layer,
            mos_out=folded.mos_out,
            mos_in=folded.mos_in,
            trace_hi=run_hi,
            trace_lo=run_lo,
        )
        stats.runs = len(roots)
        bad = np.flatnonzero(folded.blamed_row >= 0)
        if bad.shape[0]:  # read as lists: no NumPy scalar per run
            stats.blamed_steps = [
                (index, end_s, self.series[index].steps.get(step_hash, ""))
                for index, end_s, step_hash in zip(
                    pool.series[roots[bad]].tolist(),
                    runs.end_s[bad].tolist(),
                    pool.step_hash[folded.blamed_row[bad]].tolist(),
                    strict=True,
                )
            ]
        return runs, stats

    def pending_count(self) -> int:
        """Spans waiting for their run's root span."""
        return 0 if self._pending is None else len(self._pending)
