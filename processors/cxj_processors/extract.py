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
from cxj_processors.model import RunRecords, SeriesContract
from cxj_processors.runs import PHASE, ROOT, STEP, SpanRows, fold_runs, layer_index
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
    names.RUN_OUTCOME,
)
_R = {key: i for i, key in enumerate(RESOURCE_KEYS)}
_S = {key: i for i, key in enumerate(SPAN_KEYS)}
_NAME_RESOLUTION = fnv1a64(b"name_resolution")
PENDING_TTL_S = 300.0


def make_decoder() -> SpanDecoder:
    """Returns the span decoder configured for the attributes the processor reads."""
    return SpanDecoder(resource_keys=RESOURCE_KEYS, span_keys=SPAN_KEYS)


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
        self.component_names: list[tuple[int, str, str]] = []  # (series, step, phase)
        self.baselines = baselines or RobustBaselines()
        self._pending: SpanRows | None = None
        self._lock = threading.Lock()

    def series_id(
        self, key: SeriesKey, journey_type: str, contract: SeriesContract, revision: str
    ) -> int:
        """Returns the dense id of a series, registering it or updating its contract."""
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
        count = batch.resource_attr_hash.shape[0]
        out = np.full(count, -1, dtype=np.int32)
        for row in range(count):
            journey = _text(batch, row, names.JOURNEY_NAME)
            if journey is None:
                continue  # not journey telemetry: accepted, passed through, not judged
            try:
                contract = contract_from_resource(batch, row)
            except ValueError as error:
                stats.rejected_resources += 1
                stats.rejected_reason = f"journey {journey}: {error}"
                continue
            key = SeriesKey(
                _text(batch, row, names.JOURNEY_NAMESPACE) or "default",
                journey,
                _text(batch, row, names.LOCATION) or "unknown",
            )
            out[row] = self.series_id(
                key,
                _text(batch, row, names.JOURNEY_TYPE) or "custom",
                contract,
                _text(batch, row, names.JOURNEY_REVISION) or "",
            )
        return out

    def _component_ids(
        self, batch: SpanBatch, rows: npt.NDArray[np.int64], series: npt.NDArray[np.int32]
    ) -> npt.NDArray[np.int32]:
        step_hash = batch.span_attr_hash[rows, _S[names.STEP_NAME]]
        phase_hash = batch.span_attr_hash[rows, _S[names.STEP_PHASE]]
        keys = np.stack([series.astype(np.uint64), step_hash, phase_hash], axis=1)
        unique, inverse = np.unique(keys, axis=0, return_inverse=True)
        ids = np.empty(len(unique), dtype=np.int32)
        for index, (s, step, phase) in enumerate(unique.tolist()):
            key = (int(s), int(step), int(phase))
            component = self._components.get(key)
            if component is None:
                component = len(self.component_names)
                self._components[key] = component
                first = int(np.argmax((step_hash == step) & (phase_hash == phase)))
                row = int(rows[first])
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
                self.component_names.append((int(s), step_name, phase_name))
                self.series[int(s)].steps[int(step)] = step_name
            ids[index] = component
        return ids[inverse.reshape(-1)]

    def extract(self, batch: SpanBatch, now_s: float) -> tuple[RunRecords, ExtractStats]:
        """Returns the runs completed by this batch (and earlier waiting spans)."""
        with self._lock:
            return self._extract(batch, now_s)

    def _extract(self, batch: SpanBatch, now_s: float) -> tuple[RunRecords, ExtractStats]:
        stats = ExtractStats(spans=len(batch))
        resource_series = self._resource_series(batch, stats)
        span_series = resource_series[batch.resource_index] if len(batch) else np.empty(0, np.int32)
        has_step = batch.span_attr_hash[:, _S[names.STEP_NAME]] != 0
        has_phase = batch.span_attr_hash[:, _S[names.STEP_PHASE]] != 0
        is_root = (batch.parent_span_id == 0) & ~has_step
        rows = np.flatnonzero((span_series >= 0) & (is_root | has_step)).astype(np.int64)
        stats.journey_spans = len(rows)
        series = span_series[rows]
        kind = np.where(is_root[rows], ROOT, np.where(has_phase[rows], PHASE, STEP)).astype(np.int8)
        measured = kind != ROOT
        excess = np.full(len(rows), np.nan)
        if measured.any():
            components = self._component_ids(batch, rows[measured], series[measured])
            durations = (batch.end_ns[rows[measured]] - batch.start_ns[rows[measured]]) / 1e9
            excess[measured] = self.baselines.score_and_update(components, durations)
        new = SpanRows(
            series=series,
            trace_hi=batch.trace_id_hi[rows],
            trace_lo=batch.trace_id_lo[rows],
            kind=kind,
            failed=batch.status_code[rows] == 2,
            start_ns=batch.start_ns[rows],
            end_ns=batch.end_ns[rows],
            threshold_s=batch.span_attr_num[rows, _S[names.STEP_THRESHOLD]],
            min_mos=batch.span_attr_num[rows, _S[names.VOICE_MIN_MOS]],
            mos_out=batch.span_attr_num[rows, _S[names.voice_attribute("outbound", "mos")]],
            mos_in=batch.span_attr_num[rows, _S[names.voice_attribute("inbound", "mos")]],
            layer=layer_index(batch.span_attr_hash[rows, _S[names.LAYER]]),
            dns_error=batch.span_attr_hash[rows, _S[names.ERROR_TYPE]] == _NAME_RESOLUTION,
            excess=excess,
            step_hash=batch.span_attr_hash[rows, _S[names.STEP_NAME]],
            arrived_s=np.full(len(rows), now_s),
        )
        pool = new if self._pending is None else SpanRows.concat([self._pending, new])
        folded = fold_runs(pool)
        waiting = pool.take(~folded.consumed)
        fresh = waiting.arrived_s >= now_s - PENDING_TTL_S
        stats.orphaned = int((~fresh).sum())
        self._pending = waiting.take(fresh) if len(waiting) else None
        roots = folded.root_rows
        runs = RunRecords(
            series=pool.series[roots],
            end_s=pool.end_ns[roots] / 1e9,
            duration_s=(pool.end_ns[roots] - pool.start_ns[roots]) / 1e9,
            outcome=folded.outcome,
            layer=folded.layer,
            mos_out=folded.mos_out,
            mos_in=folded.mos_in,
            trace_hi=pool.trace_hi[roots],
            trace_lo=pool.trace_lo[roots],
        )
        stats.runs = len(roots)
        blamed = folded.blamed_row
        for index in np.flatnonzero(blamed >= 0).tolist():
            series_index = int(pool.series[roots[index]])
            step = self.series[series_index].steps.get(int(pool.step_hash[blamed[index]]), "")
            stats.blamed_steps.append((series_index, float(runs.end_s[index]), step))
        return runs, stats

    def pending_count(self) -> int:
        """Spans waiting for their run's root span."""
        return 0 if self._pending is None else len(self._pending)
