"""Multi-resolution event-time windows of journey runs, and their evaluation into a status.

Three rings per series, each indexed by absolute bucket number (slot = bucket mod slots, the
slot's tag says which bucket it holds): fine (1-minute buckets over 7 h: burn rates up to 6 h,
time slices), recent (1-minute buckets over the last hour: Apdex, attribution, voice, score)
and coarse (1-hour buckets over the longest SLO period: 1d, 3d and the period). A run lands in
every ring that still retains its bucket; docs/scoring.md describes the layout and limits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from cxj_processors import slo
from cxj_processors.heap import without_huge_pages
from cxj_processors.kernels import layout as L
from cxj_processors.kernels.ingest import add_runs
from cxj_processors.kernels.totals import slice_window_totals, voice_window, window_sums
from cxj_processors.model import (
    WINDOW_SECONDS,
    WINDOWS,
    AddStats,
    RunRecords,
    SeriesContract,
    SeriesStatus,
)
from cxj_processors.window_status import WindowTotals, series_status

RECENT_SPAN_S = 3600  # the hour behind Apdex 1h, attribution, voice and the score
# Burn-rate windows read from the fine ring, and those read from the coarse ring.
FINE = ("5m", "30m", "1h", "2h", "6h")
FINE_HOUR = FINE.index("1h")
COARSE = {"1d": 86400, "3d": 259200}

_RUN_COLUMNS = (
    ("series", np.int32),
    ("end_s", np.float64),
    ("duration_s", np.float64),
    ("outcome", np.int8),
    ("layer", np.int8),
    ("mos_out", np.float64),
    ("mos_in", np.float64),
    ("trace_hi", np.uint64),
    ("trace_lo", np.uint64),
)


class WindowStore:
    """Per-series time-bucketed counts of journey runs, bucketed by event time."""

    def __init__(
        self,
        *,
        fine_bucket_s: int = 60,
        fine_span_s: int = 6 * 3600 + 3600,
        coarse_bucket_s: int = 3600,
        max_period_days: int = 30,
        future_skew_s: int = 300,
    ) -> None:
        _check_geometry(fine_bucket_s, fine_span_s, coarse_bucket_s, max_period_days, future_skew_s)
        self.fine_bucket_s = fine_bucket_s
        self.fine_span_s = fine_span_s
        self.coarse_bucket_s = coarse_bucket_s
        self.max_period_days = max_period_days
        self.future_skew_s = future_skew_s
        self.geometry = np.zeros(L.GEO_SIZE, dtype=np.int64)
        self.geometry[L.GEO_FINE_BUCKET_S] = fine_bucket_s
        self.geometry[L.GEO_FINE_SLOTS] = fine_span_s // fine_bucket_s
        self.geometry[L.GEO_RECENT_SLOTS] = RECENT_SPAN_S // fine_bucket_s
        self.geometry[L.GEO_COARSE_BUCKET_S] = coarse_bucket_s
        self.geometry[L.GEO_COARSE_SLOTS] = max(max_period_days, 3) * 86400 // coarse_bucket_s
        self.geometry[L.GEO_FUTURE_SKEW_S] = future_skew_s
        self._series = 0
        # Series bound to their contract as of `_bound_version` (see _bind_contracts);
        # None: the contracts given carry no version, so every add binds its series again.
        self._bound = np.zeros(0, dtype=np.bool_)
        self._bound_version: int | None = None
        self._allocate(0)
        seconds = dict(zip(WINDOWS, WINDOW_SECONDS, strict=True))
        self._fine_lengths = np.array([seconds[n] // fine_bucket_s for n in FINE], dtype=np.int64)
        self._coarse_lengths_cache: dict[int, npt.NDArray[np.int64]] = {}
        self._recent_lengths = np.array(
            [300 // fine_bucket_s, RECENT_SPAN_S // fine_bucket_s], dtype=np.int64
        )

    # -- state ------------------------------------------------------------------------------

    def _allocate(self, capacity: int) -> None:
        geo = self.geometry
        self.fine = np.zeros((capacity, geo[L.GEO_FINE_SLOTS], L.FINE_FIELDS), dtype=np.uint32)
        self.recent = np.zeros(
            (capacity, geo[L.GEO_RECENT_SLOTS], L.RECENT_FIELDS), dtype=np.uint32
        )
        with without_huge_pages():  # written only by series with voice
            self.mos_hist = np.zeros(
                (capacity, geo[L.GEO_RECENT_SLOTS], 2, L.MOS_BINS), dtype=np.uint16
            )
            self.mos_sum = np.zeros((capacity, geo[L.GEO_RECENT_SLOTS], 2), dtype=np.float64)
        self.coarse = np.zeros(
            (capacity, geo[L.GEO_COARSE_SLOTS], L.COARSE_FIELDS), dtype=np.uint32
        )
        self.last_bad_end = np.full(capacity, -np.inf, dtype=np.float64)
        self.last_bad_trace = np.zeros((capacity, 2), dtype=np.uint64)
        self.apdex_t_s = np.zeros(capacity, dtype=np.float64)
        self.slice_buckets = np.zeros(capacity, dtype=np.int64)
        self.slice_objective = np.ones(capacity, dtype=np.float64)

    def state_arrays(self) -> dict[str, npt.NDArray[np.generic]]:
        """Every array of the store, trimmed to the series in use (for checkpoints)."""
        n = self._series
        return {
            "geometry": self.geometry.copy(),
            "fine": self.fine[:n].copy(),
            "recent": self.recent[:n].copy(),
            "mos_hist": self.mos_hist[:n].copy(),
            "mos_sum": self.mos_sum[:n].copy(),
            "coarse": self.coarse[:n].copy(),
            "last_bad_end": self.last_bad_end[:n].copy(),
            "last_bad_trace": self.last_bad_trace[:n].copy(),
        }

    def load_state_arrays(self, arrays: dict[str, npt.NDArray[np.generic]]) -> None:
        """Replaces the contents with `state_arrays()` of a store of the same geometry."""
        n = int(arrays["fine"].shape[0])
        self._allocate(n)
        self._series = n
        self._bound_version = None  # contracts are bound again by the next add
        self.fine[:] = arrays["fine"]
        self.recent[:] = arrays["recent"]
        _copy_written_rows(self.mos_hist, arrays["mos_hist"])
        _copy_written_rows(self.mos_sum, arrays["mos_sum"])
        self.coarse[:] = arrays["coarse"]
        self.last_bad_end[:] = arrays["last_bad_end"]
        self.last_bad_trace[:] = arrays["last_bad_trace"]

    def _ensure_series(self, count: int) -> None:
        if count <= self.fine.shape[0]:
            self._series = max(self._series, count)
            return
        capacity = max(count, self.fine.shape[0] + self.fine.shape[0] // 2)
        old = {name: getattr(self, name) for name in _PER_SERIES}
        self._allocate(capacity)
        for name, array in old.items():
            _copy_written_rows(getattr(self, name), array)
        self._series = count

    def series_count(self) -> int:
        """How many series ids the store holds (the highest id seen plus one)."""
        return self._series

    def forget(self, series: int) -> None:
        """Clears a series (its journey was deleted); its id may be reused."""
        if 0 <= series < self._series:
            for name in _PER_SERIES:
                array = getattr(self, name)
                array[series] = -np.inf if name == "last_bad_end" else 0
            self.slice_objective[series] = 1.0

    def nbytes(self) -> int:
        """Bytes held by the store's arrays (allocated capacity)."""
        return sum(int(getattr(self, name).nbytes) for name in _PER_SERIES)

    # -- ingest -----------------------------------------------------------------------------

    def add(self, runs: RunRecords, contracts: Sequence[SeriesContract], now_s: float) -> AddStats:
        """Adds runs to the buckets of their event time (end_s), in one compiled pass.

        `contracts[i]` is the contract of series i. Runs older than the coarse ring are counted
        as late_dropped, runs more than future_skew_s ahead of now as future_dropped, and runs
        with a non-finite time or an out-of-range outcome or layer as invalid_dropped.
        """
        _check_now(now_s)
        columns = _columns(runs)
        series = columns["series"]
        if series.shape[0] == 0:
            return AddStats(0, 0, 0, 0)
        lowest = int(series.min())
        if lowest < 0:
            raise ValueError(f"RunRecords.series: ids must be >= 0, got {lowest}")
        self._ensure_series(int(series.max()) + 1)
        self._bind_contracts(series, contracts)
        stats = np.zeros(L.STAT_SIZE, dtype=np.int64)
        add_runs(
            self.fine, self.recent, self.mos_hist, self.mos_sum, self.coarse,
            self.last_bad_end, self.last_bad_trace,
            series, columns["end_s"], columns["duration_s"], columns["outcome"],
            columns["layer"], columns["mos_out"], columns["mos_in"],
            columns["trace_hi"], columns["trace_lo"],
            self.apdex_t_s, self.slice_buckets, self.slice_objective,
            self.geometry, float(now_s), np.argsort(series, kind="stable"), stats,
        )  # fmt: skip
        return AddStats(
            accepted=int(stats[L.STAT_ACCEPTED]),
            late_dropped=int(stats[L.STAT_LATE]),
            future_dropped=int(stats[L.STAT_FUTURE]),
            invalid_dropped=int(stats[L.STAT_INVALID]),
        )

    def _bind_contracts(
        self, series: npt.NDArray[np.int32], contracts: Sequence[SeriesContract]
    ) -> None:
        """Binds each series of a batch to its contract (its Apdex T and time slices).

        Contracts that carry a `version` (which moves whenever any contract changes) bind
        each series once per version, so the steady state costs no Python per series.
        """
        version = getattr(contracts, "version", None)
        if version is None or version != self._bound_version:
            self._bound = np.zeros(self._series, dtype=np.bool_)
            self._bound_version = version
        elif self._bound.shape[0] < self._series:
            grown = np.zeros(self._series, dtype=np.bool_)
            grown[: self._bound.shape[0]] = self._bound
            self._bound = grown
        unchecked = series[~self._bound[series]]
        if unchecked.shape[0] == 0:
            return  # the steady state
        for index in np.unique(unchecked).tolist():
            self._bind_contract(index, _contract_of(contracts, index))
            self._bound[index] = True

    def _bind_contract(self, series: int, contract: SeriesContract) -> None:
        if not contract.apdex_t_s > 0:
            raise ValueError(
                f"contracts[{series}].apdex_t_s: must be above 0 s, got {contract.apdex_t_s}"
            )
        self.apdex_t_s[series] = contract.apdex_t_s
        self.slice_buckets[series] = slo.slice_buckets(
            contract, self.fine_bucket_s, self.coarse_bucket_s
        )
        self.slice_objective[series] = contract.slice_objective

    # -- evaluation -------------------------------------------------------------------------

    def evaluate(self, series: int, contract: SeriesContract, now_s: float) -> SeriesStatus:
        """SLO, burn rates, alerts, Apdex, voice, attribution and score of a series at now."""
        return series_status(self.totals(series, contract, now_s), contract)

    def totals(self, series: int, contract: SeriesContract, now_s: float) -> WindowTotals:
        """The counts behind `evaluate`: each window's sums read from the rings."""
        _check_now(now_s)
        slo.check_budgeting(contract)
        period = contract.period_days * 86400 // self.coarse_bucket_s
        if contract.period_days > max(self.max_period_days, 3):
            raise ValueError(
                f"period_days: {contract.period_days} exceeds the store's max_period_days "
                f"{self.max_period_days}; construct WindowStore(max_period_days="
                f"{contract.period_days}) or shorten slo.period"
            )
        known = 0 <= series < self._series
        row = series if known else 0
        store: WindowStore | _EmptyRings = self if known else _EmptyRings(self)
        now_fine = math.floor(now_s / self.fine_bucket_s)
        now_coarse = math.floor(now_s / self.coarse_bucket_s)
        slices = slo.slice_buckets(contract, self.fine_bucket_s, self.coarse_bucket_s)
        lengths = self._coarse_lengths(period)
        fine = window_sums(store.fine, row, now_fine, self._fine_lengths)
        coarse = dict(
            zip(lengths.tolist(), window_sums(store.coarse, row, now_coarse, lengths), strict=True)
        )
        recent = window_sums(store.recent, row, now_fine, self._recent_lengths)
        day, period_row, hour = coarse[86400 // self.coarse_bucket_s], coarse[period], recent[1]
        if slices:
            sliced = slice_window_totals(
                store.fine, row, now_fine, self._fine_lengths, slices, contract.slice_objective
            )
            events = {n: (int(sliced[i, 1]), int(sliced[i, 0])) for i, n in enumerate(FINE)}
            good, total = L.COARSE_GOOD_SLICES - 1, L.COARSE_SLICES - 1
        else:
            events = {n: (int(fine[i, L.FINE_GOOD - 1]), int(fine[i, L.FINE_RUNS - 1]))
                      for i, n in enumerate(FINE)}  # fmt: skip
            good, total = L.COARSE_GOOD - 1, L.COARSE_RUNS - 1
        for name, seconds in COARSE.items():
            sums = coarse[seconds // self.coarse_bucket_s]
            events[name] = (int(sums[good]), int(sums[total]))
        hist, mos_sums, mos_counts = voice_window(
            store.recent, store.mos_hist, store.mos_sum, row, now_fine,
            int(self._recent_lengths[1]),
        )  # fmt: skip
        return WindowTotals(
            events=events,
            period_events=(int(period_row[good]), int(period_row[total])),
            period_runs=int(period_row[L.COARSE_RUNS - 1]),
            timeslices=bool(slices),
            apdex_counts={
                "5m": _apdex_counts(
                    recent[0], L.RECENT_SATISFIED, L.RECENT_TOLERATING, L.RECENT_RUNS
                ),
                "1h": _apdex_counts(hour, L.RECENT_SATISFIED, L.RECENT_TOLERATING, L.RECENT_RUNS),
                "1d": _apdex_counts(day, L.COARSE_SATISFIED, L.COARSE_TOLERATING, L.COARSE_RUNS),
            },
            hour_runs=int(fine[FINE_HOUR, L.FINE_RUNS - 1]),
            hour_good=int(fine[FINE_HOUR, L.FINE_GOOD - 1]),
            bad_by_layer=tuple(hour[L.RECENT_BAD_LAYER - 1 : L.RECENT_BAD_LAYER + 3].tolist()),
            mos_hist=hist,
            mos_sums=(float(mos_sums[0]), float(mos_sums[1])),
            mos_counts=(int(mos_counts[0]), int(mos_counts[1])),
            example_trace_id=self._example_trace(series, now_coarse - period + 1) if known else "",
        )

    def _coarse_lengths(self, period_buckets: int) -> npt.NDArray[np.int64]:
        """Coarse buckets in 1d, 3d and the period, ascending and distinct (cached)."""
        lengths = self._coarse_lengths_cache.get(period_buckets)
        if lengths is None:
            day = 86400 // self.coarse_bucket_s
            lengths = np.array(sorted({day, 3 * day, period_buckets}), dtype=np.int64)
            self._coarse_lengths_cache[period_buckets] = lengths
        return lengths

    def _example_trace(self, series: int, oldest_coarse: int) -> str:
        if series < 0:
            return ""
        end = float(self.last_bad_end[series])
        if not math.isfinite(end) or math.floor(end / self.coarse_bucket_s) < oldest_coarse:
            return ""
        hi, lo = (int(v) for v in self.last_bad_trace[series])
        return f"{hi:016x}{lo:016x}"


_PER_SERIES = (
    "fine",
    "recent",
    "mos_hist",
    "mos_sum",
    "coarse",
    "last_bad_end",
    "last_bad_trace",
    "apdex_t_s",
    "slice_buckets",
    "slice_objective",
)


def _apdex_counts(
    sums: npt.NDArray[np.int64], satisfied: int, tolerating: int, runs: int
) -> tuple[int, int, int]:
    return int(sums[satisfied - 1]), int(sums[tolerating - 1]), int(sums[runs - 1])


def _copy_written_rows(target: npt.NDArray[Any], source: npt.NDArray[Any]) -> None:
    """target[:len(source)] = source, writing only the rows of source that are not all zero.

    A fresh store array is zero and not yet resident (the allocator maps it untouched); rows
    no series has written, such as the MOS histograms of series without voice, stay so.
    An array whose empty value is not zero is copied whole.
    """
    if target.shape[0] and np.any(target[0] != 0):
        target[: source.shape[0]] = source
        return
    if source.shape[0] == 0:
        return
    written = np.flatnonzero(source.reshape(source.shape[0], -1).any(axis=1))
    target[written] = source[written]


def _columns(runs: RunRecords) -> dict[str, npt.NDArray[Any]]:
    columns: dict[str, npt.NDArray[Any]] = {}
    length = -1
    for name, dtype in _RUN_COLUMNS:
        column = np.ascontiguousarray(getattr(runs, name), dtype=dtype)
        if column.ndim != 1:
            raise ValueError(f"RunRecords.{name}: must be one-dimensional, got {column.ndim} dims")
        if length >= 0 and column.shape[0] != length:
            raise ValueError(
                f"RunRecords.{name}: has {column.shape[0]} rows, RunRecords.series has {length}"
            )
        length = column.shape[0]
        columns[name] = column
    return columns


def _contract_of(contracts: Sequence[SeriesContract], series: int) -> SeriesContract:
    try:
        return contracts[series]
    except (IndexError, KeyError):
        raise ValueError(
            f"contracts[{series}]: no contract for series {series}; pass one per series id"
        ) from None


def _check_now(now_s: float) -> None:
    if not (math.isfinite(now_s) and now_s >= 0):
        raise ValueError(f"now_s: must be a finite unix time >= 0, got {now_s}")


def _check_geometry(
    fine_bucket_s: int,
    fine_span_s: int,
    coarse_bucket_s: int,
    max_period_days: int,
    future_skew_s: int,
) -> None:
    problems = []
    if fine_bucket_s < 1 or 300 % fine_bucket_s:
        problems.append(f"fine_bucket_s: must divide 300 s (the 5m window), got {fine_bucket_s}")
    elif (
        coarse_bucket_s < fine_bucket_s
        or coarse_bucket_s % fine_bucket_s
        or 86400 % coarse_bucket_s
    ):
        problems.append(
            f"coarse_bucket_s: must be a multiple of fine_bucket_s that divides 86400 s, "
            f"got {coarse_bucket_s}"
        )
    elif fine_span_s < 21600 or fine_span_s % fine_bucket_s:
        problems.append(
            f"fine_span_s: must be a multiple of fine_bucket_s of at least 21600 s (the 6h "
            f"window), got {fine_span_s}"
        )
    if max_period_days < 1:
        problems.append(f"max_period_days: must be at least 1, got {max_period_days}")
    if future_skew_s < 0:
        problems.append(f"future_skew_s: must be >= 0, got {future_skew_s}")
    if problems:
        raise ValueError("; ".join(problems))


class _EmptyRings:
    """Rings of one never-written series: what an unknown series id reads."""

    def __init__(self, store: WindowStore) -> None:
        geo = store.geometry
        self.fine = np.zeros((1, geo[L.GEO_FINE_SLOTS], L.FINE_FIELDS), dtype=np.uint32)
        self.recent = np.zeros((1, geo[L.GEO_RECENT_SLOTS], L.RECENT_FIELDS), dtype=np.uint32)
        self.mos_hist = np.zeros((1, geo[L.GEO_RECENT_SLOTS], 2, L.MOS_BINS), dtype=np.uint16)
        self.mos_sum = np.zeros((1, geo[L.GEO_RECENT_SLOTS], 2), dtype=np.float64)
        self.coarse = np.zeros((1, geo[L.GEO_COARSE_SLOTS], L.COARSE_FIELDS), dtype=np.uint32)
