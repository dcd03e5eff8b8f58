"""Slow, obviously correct reference implementations of the processor's windows and scores.

Everything here is plain Python over lists of runs: it keeps every accepted run and answers
each question by filtering that list, following the rules in docs/scoring.md literally. The
kernels and pure functions in cxj_processors are tested against it; nothing here is fast and
nothing here may import the code it checks (only the contract dataclasses).

Assumption shared with the store: `now` never goes backwards between calls.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cxj_processors.model import (
    LAYERS,
    OUTCOME_FAILURE,
    OUTCOME_SUCCESS,
    WINDOW_SECONDS,
    WINDOWS,
    AddStats,
    RunRecords,
    SeriesContract,
    SeriesStatus,
)

FINE_WINDOWS = ("5m", "30m", "1h", "2h", "6h")
RULES = (  # severity, long, short, budget fraction (Google SRE workbook, 30-day table)
    ("page", "1h", "5m", 0.02),
    ("page", "6h", "30m", 0.05),
    ("ticket", "1d", "2h", 0.10),
    ("ticket", "3d", "6h", 0.10),
)
SECONDS = dict(zip(WINDOWS, WINDOW_SECONDS, strict=True))


# -- SLO ---------------------------------------------------------------------------------------


def alert_factor(budget_fraction: float, period_days: int, long_window: str) -> float:
    """Burn-rate factor: spend `budget_fraction` of the budget in `long_window`."""
    return budget_fraction * (period_days * 24 * 3600) / SECONDS[long_window]


def burn_rate(good_flags: Sequence[bool], objective: float) -> float:
    """Share of bad events over the budget ratio; 0 without events."""
    if not good_flags:
        return 0.0
    bad = sum(1 for g in good_flags if not g)
    return (bad / len(good_flags)) / (1 - objective)


def attainment(good_flags: Sequence[bool]) -> float:
    """Share of good events; NaN without events."""
    if not good_flags:
        return math.nan
    return sum(1 for g in good_flags if g) / len(good_flags)


def budget_remaining(good_flags: Sequence[bool], objective: float) -> float:
    """1 - spent budget share; 1 without events."""
    return 1.0 - burn_rate(good_flags, objective)


def alerts(burn_rates: dict[str, float], period_days: int) -> dict[str, bool]:
    """Multiwindow, multi-burn-rate alerts."""
    fired = {"page": False, "ticket": False}
    for severity, long_window, short_window, fraction in RULES:
        factor = alert_factor(fraction, period_days, long_window)
        if burn_rates[long_window] > factor and burn_rates[short_window] > factor:
            fired[severity] = True
    return fired


def slice_good(good: int, runs: int, slice_objective: float) -> bool:
    """A slice is good when its good share reaches the objective (1e-9 tolerance)."""
    return good >= (slice_objective - 1e-9) * runs


def slice_length_buckets(contract: SeriesContract, fine_bucket_s: int, coarse_bucket_s: int) -> int:
    """Fine buckets per slice: nearest whole number, between 1 and one coarse bucket."""
    if contract.budgeting != "timeslices":
        return 0
    buckets = math.floor(contract.timeslice_s / fine_bucket_s + 0.5)
    return max(1, min(buckets, coarse_bucket_s // fine_bucket_s))


# -- scores ------------------------------------------------------------------------------------


def apdex_class(duration_s: float, failed: bool, t_s: float) -> str:
    """satisfied (≤ T), tolerating (≤ 4T) or frustrated (above, unknown or failed)."""
    if failed or not duration_s <= 4 * t_s:
        return "frustrated"
    return "satisfied" if duration_s <= t_s else "tolerating"


def apdex(classes: Sequence[str]) -> float:
    """(satisfied + tolerating/2) / total; NaN without samples."""
    if not classes:
        return math.nan
    satisfied = sum(1 for c in classes if c == "satisfied")
    tolerating = sum(1 for c in classes if c == "tolerating")
    return (satisfied + tolerating / 2) / len(classes)


def clamp_mos(value: float) -> float:
    """MOS as the store keeps it: within [1, 4.5]."""
    return min(max(value, 1.0), 4.5)


def mos_p10(values: Sequence[float]) -> float:
    """Midpoint of the 0.1-wide bin holding the ⌈n/10⌉-th smallest value; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(clamp_mos(v) for v in values)
    value = ordered[(len(ordered) + 9) // 10 - 1]
    index = min(max(math.floor((value - 1.0) * 10.0), 0), 34)
    return 1.0 + (index + 0.5) / 10


def availability_points(good_ratio: float, objective: float) -> float:
    """100 - 10·b up to the budget, then 90·(1 - ln b / ln b_max), b = error / budget."""
    b = (1 - good_ratio) / (1 - objective)
    if b <= 1:
        return 100 - 10 * b
    b_max = 1 / (1 - objective)
    return min(90.0, max(0.0, 90 * (1 - math.log(b) / math.log(b_max))))


def voice_points(mos: float) -> float:
    """Linear between (1, 0), (2.58, 20), (3.10, 40), (3.60, 60), (4.03, 80), (4.34, 100)."""
    anchors = [(1.0, 0.0), (2.58, 20.0), (3.10, 40.0), (3.60, 60.0), (4.03, 80.0), (4.34, 100.0)]
    if mos <= 1.0:
        return 0.0
    if mos >= 4.34:
        return 100.0
    for (x0, y0), (x1, y1) in itertools.pairwise(anchors):
        if x0 < mos <= x1:
            return y0 + (mos - x0) / (x1 - x0) * (y1 - y0)
    raise AssertionError(mos)


def experience_score(
    good_ratio: float, objective: float, apdex_value: float, mos: float, weights: Sequence[int]
) -> float:
    """Weighted mean of the parts that have data and a positive weight."""
    parts = [(weights[0], availability_points(good_ratio, objective))]
    parts.append((weights[1], min(max(apdex_value, 0.0), 1.0) * 100))
    if not math.isnan(mos):
        parts.append((weights[2], voice_points(mos)))
    used = [(w, p) for w, p in parts if w > 0]
    if not used:
        return math.nan
    return sum(w * p for w, p in used) / sum(w for w, _ in used)


# -- the store ---------------------------------------------------------------------------------


@dataclass
class NaiveRun:
    """One accepted run, with what was decided about it when it arrived."""

    series: int
    t: float  # event time, clamped to now at arrival
    outcome: int
    layer: int
    apdex_class: str
    mos_out: float
    mos_in: float
    trace: tuple[int, int]
    slice_start: int  # fine bucket the run's slice starts at (-1: occurrences)
    slice_tracked: bool  # the whole slice was retained when the run arrived
    arrival: int


class NaiveStore:
    """The WindowStore's semantics over a plain list of every accepted run."""

    def __init__(
        self,
        fine_bucket_s: int = 60,
        fine_span_s: int = 7 * 3600,
        coarse_bucket_s: int = 3600,
        max_period_days: int = 30,
        future_skew_s: int = 300,
    ) -> None:
        self.fb = fine_bucket_s
        self.fine_slots = fine_span_s // fine_bucket_s
        self.cb = coarse_bucket_s
        self.coarse_slots = max(max_period_days, 3) * 86400 // coarse_bucket_s
        self.skew = future_skew_s
        self.runs: list[NaiveRun] = []
        self.arrivals = 0

    def add(self, records: RunRecords, contracts: Sequence[SeriesContract], now: float) -> AddStats:
        """Accepts or drops each run in order, as documented."""
        accepted = late = future = invalid = 0
        for i in range(len(records.series)):
            s = int(records.series[i])
            t = float(records.end_s[i])
            outcome = int(records.outcome[i])
            layer = int(records.layer[i])
            if (
                not (math.isfinite(t) and t >= 0)
                or outcome not in (0, 1, 2)
                or not -1 <= layer <= 3
            ):
                invalid += 1
                continue
            if t > now + self.skew:
                future += 1
                continue
            t = min(t, now)
            if math.floor(t / self.cb) < math.floor(now / self.cb) - self.coarse_slots + 1:
                late += 1
                continue
            accepted += 1
            contract = contracts[s]
            length = slice_length_buckets(contract, self.fb, self.cb)
            bucket = math.floor(t / self.fb)
            oldest_fine = math.floor(now / self.fb) - self.fine_slots + 1
            start = bucket - bucket % length if length else -1
            self.arrivals += 1
            self.runs.append(
                NaiveRun(
                    series=s,
                    t=t,
                    outcome=outcome,
                    layer=layer,
                    apdex_class=apdex_class(
                        float(records.duration_s[i]), outcome == OUTCOME_FAILURE, contract.apdex_t_s
                    ),
                    mos_out=float(records.mos_out[i]),
                    mos_in=float(records.mos_in[i]),
                    trace=(int(records.trace_hi[i]), int(records.trace_lo[i])),
                    slice_start=start,
                    slice_tracked=bool(length) and bucket >= oldest_fine and start >= oldest_fine,
                    arrival=self.arrivals,
                )
            )
        return AddStats(accepted, late, future, invalid)

    def forget(self, series: int) -> None:
        """Drops every run of a series."""
        self.runs = [r for r in self.runs if r.series != series]

    def _fine_window(self, series: int, now: float, seconds: int) -> list[NaiveRun]:
        last = math.floor(now / self.fb)
        first = last - seconds // self.fb + 1
        return [
            r
            for r in self.runs
            if r.series == series and first <= math.floor(r.t / self.fb) <= last
        ]

    def _coarse_window(self, series: int, now: float, seconds: int) -> list[NaiveRun]:
        last = math.floor(now / self.cb)
        first = last - seconds // self.cb + 1
        return [
            r
            for r in self.runs
            if r.series == series and first <= math.floor(r.t / self.cb) <= last
        ]

    def _fine_slices(
        self, series: int, now: float, seconds: int, length: int, objective: float
    ) -> list[bool]:
        """Verdicts of the slices starting inside a fine window, from the runs they hold."""
        last = math.floor(now / self.fb)
        first = last - seconds // self.fb + 1
        verdicts = []
        for start in range(first, last + 1):
            if start % length:
                continue
            members = [
                r
                for r in self.runs
                if r.series == series and start <= math.floor(r.t / self.fb) < start + length
            ]
            if members:
                good = sum(1 for r in members if r.outcome == OUTCOME_SUCCESS)
                verdicts.append(slice_good(good, len(members), objective))
        return verdicts

    def _coarse_slices(self, series: int, now: float, seconds: int, objective: float) -> list[bool]:
        """Verdicts of tracked slices whose start falls in a coarse window."""
        last = math.floor(now / self.cb)
        first = last - seconds // self.cb + 1
        groups: dict[int, list[NaiveRun]] = {}
        for r in self.runs:
            if r.series == series and r.slice_tracked:
                groups.setdefault(r.slice_start, []).append(r)
        verdicts = []
        for start, members in sorted(groups.items()):
            if first <= math.floor(start * self.fb / self.cb) <= last:
                good = sum(1 for r in members if r.outcome == OUTCOME_SUCCESS)
                verdicts.append(slice_good(good, len(members), objective))
        return verdicts

    def evaluate(self, series: int, contract: SeriesContract, now: float) -> SeriesStatus:
        """Every figure of the status, each computed directly from the runs."""
        length = slice_length_buckets(contract, self.fb, self.cb)
        period_s = contract.period_days * 86400
        events: dict[str, list[bool]] = {}
        for name in WINDOWS:
            seconds = SECONDS[name]
            if length:
                if name in FINE_WINDOWS:
                    events[name] = self._fine_slices(
                        series, now, seconds, length, contract.slice_objective
                    )
                else:
                    events[name] = self._coarse_slices(
                        series, now, seconds, contract.slice_objective
                    )
            else:
                runs = (
                    self._fine_window(series, now, seconds)
                    if name in FINE_WINDOWS
                    else self._coarse_window(series, now, seconds)
                )
                events[name] = [r.outcome == OUTCOME_SUCCESS for r in runs]
        period_runs = self._coarse_window(series, now, period_s)
        if length:
            period_events = self._coarse_slices(series, now, period_s, contract.slice_objective)
        else:
            period_events = [r.outcome == OUTCOME_SUCCESS for r in period_runs]
        burn = {name: burn_rate(flags, contract.objective) for name, flags in events.items()}
        hour = self._fine_window(series, now, 3600)
        five = self._fine_window(series, now, 300)
        day = self._coarse_window(series, now, 86400)
        mos_out = [clamp_mos(r.mos_out) for r in hour if not math.isnan(r.mos_out)]
        mos_in = [clamp_mos(r.mos_in) for r in hour if not math.isnan(r.mos_in)]
        mean = {
            "outbound": statistics.fmean(mos_out) if mos_out else math.nan,
            "inbound": statistics.fmean(mos_in) if mos_in else math.nan,
        }
        bad_layers = [r.layer for r in hour if r.outcome != OUTCOME_SUCCESS and r.layer >= 0]
        attribution = {
            name: (bad_layers.count(i) / len(bad_layers) if bad_layers else 0.0)
            for i, name in enumerate(LAYERS)
        }
        apdex_hour = apdex([r.apdex_class for r in hour])
        if hour:
            good = sum(1 for r in hour if r.outcome == OUTCOME_SUCCESS) / len(hour)
            voiced = [m for m in mean.values() if not math.isnan(m)]
            score = experience_score(
                good,
                contract.objective,
                apdex_hour,
                min(voiced) if voiced else math.nan,
                (
                    contract.weight_availability,
                    contract.weight_responsiveness,
                    contract.weight_voice,
                ),
            )
        else:
            score = math.nan
        bad = [
            r
            for r in self._coarse_window(series, now, period_s)
            if r.outcome != OUTCOME_SUCCESS and r.trace != (0, 0)
        ]
        example = ""
        if bad:
            latest = max(bad, key=lambda r: (r.t, r.arrival))
            example = f"{latest.trace[0]:016x}{latest.trace[1]:016x}"
        return SeriesStatus(
            runs_total=len(period_runs),
            attainment=attainment(period_events),
            budget_remaining=budget_remaining(period_events, contract.objective),
            burn_rates=burn,
            alerts=alerts(burn, contract.period_days),
            apdex={
                "5m": apdex([r.apdex_class for r in five]),
                "1h": apdex_hour,
                "1d": apdex([r.apdex_class for r in day]),
            },
            mos_mean=mean,
            mos_p10={"outbound": mos_p10(mos_out), "inbound": mos_p10(mos_in)},
            attribution=attribution,
            score=score,
            example_trace_id=example,
            slices_total=len(period_events) if length else 0,
            apdex_t_s=contract.apdex_t_s,
        )


# -- baselines ---------------------------------------------------------------------------------


class NaiveBaselines:
    """Median and MAD of each component's last `window` values, kept as plain lists."""

    def __init__(
        self,
        window: int = 32,
        min_samples: int = 8,
        floor_abs: float = 1e-3,
        floor_rel: float = 0.05,
    ) -> None:
        self.window = window
        self.min_samples = min_samples
        self.floor_abs = floor_abs
        self.floor_rel = floor_rel
        self.history: dict[int, list[float]] = {}

    def excess(self, component: int, value: float) -> float:
        """(value - median) / (1.4826·MAD + max(floor_abs, floor_rel·|median|)) above the
        median, 0 at or below it, or NaN."""
        recent = self.history.get(component, [])[-self.window :]
        if len(recent) < self.min_samples or not math.isfinite(value):
            return math.nan
        median = statistics.median(recent)
        mad = statistics.median(abs(v - median) for v in recent)
        spread = 1.4826 * mad + max(self.floor_abs, self.floor_rel * abs(median))
        return max(0.0, (value - median) / spread)

    def score_and_update(
        self,
        ids: Sequence[int],
        values: Sequence[float],
        update: bool = True,
        wanted: Sequence[bool] | None = None,
    ) -> list[float]:
        """Scores each value (NaN where not wanted) before learning it, in order."""
        out = []
        flags = [True] * len(ids) if wanted is None else list(wanted)
        for component, value, flag in zip(ids, values, flags, strict=True):
            out.append(self.excess(int(component), float(value)) if flag else math.nan)
            if update and math.isfinite(value):
                stored = float(np.float32(value))  # the store keeps float32
                self.history.setdefault(int(component), []).append(stored)
        return out


# -- run extraction helpers -------------------------------------------------------------------
def trace_groups(trace_ids: Sequence[tuple[int, int]]) -> list[int]:
    """Row indexes with each trace's rows together: traces by first row, rows in order."""
    first_seen: dict[tuple[int, int], list[int]] = {}
    for row, trace in enumerate(trace_ids):
        first_seen.setdefault(trace, []).append(row)
    return [row for rows in first_seen.values() for row in rows]


def journey_span_kinds(
    resource_series: Sequence[int],
    resource_index: Sequence[int],
    parent_ids: Sequence[int],
    step_hashes: Sequence[int],
    phase_hashes: Sequence[int],
) -> list[tuple[int, int, int]]:
    """(row, series, kind) of every span that takes part in a run; kind 0 root, 1 step, 2 phase.

    A span does when its resource has a series (>= 0) and it is a root (no parent, no step
    name) or names a step; a step span that also names a phase is a phase.
    """
    selected = []
    for row, resource in enumerate(resource_index):
        series = resource_series[resource] if 0 <= resource < len(resource_series) else -1
        if series < 0:
            continue
        if step_hashes[row]:
            selected.append((row, series, 2 if phase_hashes[row] else 1))
        elif parent_ids[row] == 0:
            selected.append((row, series, 0))
    return selected
