"""The WindowStore against the naive reference: event-time buckets, late and future runs."""

from __future__ import annotations

import math
import textwrap
from dataclasses import fields
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.harness.python import run_python
from tests.naive import NaiveStore

from cxj_processors.model import (
    OUTCOME_DEGRADED,
    OUTCOME_FAILURE,
    OUTCOME_SUCCESS,
    RunRecords,
    SeriesContract,
    SeriesStatus,
)
from cxj_processors.windows import WindowStore

NOW = 1_749_996_000.0  # a whole hour: bucket edges are easy to reason about below

OCCURRENCES = SeriesContract(0.995, 30, "occurrences", 0, 1.0, 2.0, 50, 30, 20)
FIVE_MINUTE_SLICES = SeriesContract(0.99, 7, "timeslices", 300, 0.9, 1.0, 50, 30, 20)
MINUTE_SLICES_ONE_DAY = SeriesContract(0.9, 1, "timeslices", 60, 1.0, 0.5, 0, 30, 20)
ODD_SLICES_28D = SeriesContract(0.999, 28, "timeslices", 420, 0.5, 3.0, 10, 0, 90)
CONTRACTS = [OCCURRENCES, FIVE_MINUTE_SLICES, MINUTE_SLICES_ONE_DAY, ODD_SLICES_28D]


def records(rows: list[dict[str, Any]]) -> RunRecords:
    """Runs from dicts; unspecified columns get a successful, fast, voiceless run."""

    def column(name: str, default: Any, dtype: Any) -> np.ndarray:
        return np.array([row.get(name, default) for row in rows], dtype=dtype)

    return RunRecords(
        series=column("series", 0, np.int32),
        end_s=column("end_s", NOW, np.float64),
        duration_s=column("duration_s", 0.5, np.float64),
        outcome=column("outcome", OUTCOME_SUCCESS, np.int8),
        layer=column("layer", -1, np.int8),
        mos_out=column("mos_out", math.nan, np.float64),
        mos_in=column("mos_in", math.nan, np.float64),
        trace_hi=column("trace_hi", 0, np.uint64),
        trace_lo=column("trace_lo", 0, np.uint64),
    )


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def differences(ours: SeriesStatus, reference: SeriesStatus) -> list[str]:
    return [
        f"{f.name}: store {getattr(ours, f.name)!r} != naive {getattr(reference, f.name)!r}"
        for f in fields(SeriesStatus)
        if not same(getattr(ours, f.name), getattr(reference, f.name))
    ]


# -- random runs, including out-of-order, late, future and malformed ones ---------------------

EDGES = (5, 30, 60, 120, 360, 420)  # window and ring lengths in minutes: off-by-one territory
OFFSETS = st.one_of(
    st.floats(-3600, 5),  # the last hour, some a little ahead of now
    st.floats(-8 * 3600, 0),  # around the fine span's edge
    st.floats(-4 * 86400, 0),  # coarse only
    st.floats(-31 * 86400, -29 * 86400),  # around the coarse ring's edge: some are late
    st.floats(200, 700),  # ahead of now: within the skew counts at now, beyond is dropped
    # exactly at, or a little around, the edge of a window or ring
    st.builds(
        lambda minutes, nudge: -60.0 * minutes + nudge,
        st.sampled_from(EDGES),
        st.sampled_from([-60.0, -30.0, -0.5, 0.0, 0.5, 30.0, 60.0]),
    ),
    st.builds(
        lambda hours, nudge: -3600.0 * hours + nudge,
        st.sampled_from([1, 24, 72, 720, 721]),
        st.sampled_from([-3600.0, -1.0, 0.0, 1.0, 3599.0]),
    ),
    st.sampled_from([math.nan, math.inf, -NOW - 10]),  # invalid times
)
RUN = st.fixed_dictionaries(
    {
        "series": st.integers(0, len(CONTRACTS) - 1),
        "offset": OFFSETS,
        "duration_s": st.one_of(st.floats(0, 15), st.just(math.nan)),
        "outcome": st.sampled_from([OUTCOME_SUCCESS] * 4 + [OUTCOME_DEGRADED, OUTCOME_FAILURE, 9]),
        "layer": st.integers(-1, 4),
        "mos_out": st.one_of(st.just(math.nan), st.floats(0.5, 5.0)),
        "mos_in": st.one_of(st.just(math.nan), st.floats(1.0, 4.5)),
        "trace_hi": st.integers(0, 3),
        "trace_lo": st.integers(0, 2**64 - 1),
    }
)
BATCH = st.tuples(
    st.sampled_from([0, 7, 60, 290, 3600, 5 * 3600, 86400, 9 * 86400]), st.lists(RUN, max_size=25)
)


STARTS = st.one_of(st.floats(0, 86400), st.integers(0, 1440).map(lambda m: 60.0 * m))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(BATCH, min_size=1, max_size=8), start=STARTS)
def test_every_figure_matches_the_naive_reference(
    batches: list[tuple[int, list[dict[str, Any]]]], start: float
) -> None:
    store, naive = WindowStore(), NaiveStore()
    now = NOW + start
    for advance, rows in batches:
        now += advance
        for row in rows:
            row["end_s"] = now + row.pop("offset")
        batch = records(rows)
        assert store.add(batch, CONTRACTS, now) == naive.add(batch, CONTRACTS, now)
        for series, contract in enumerate(CONTRACTS):
            problems = differences(
                store.evaluate(series, contract, now), naive.evaluate(series, contract, now)
            )
            assert not problems, "\n".join(problems)


# -- documented behaviour, case by case -------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        pytest.param(0.0, (1, 0, 0, 0), id="now"),
        pytest.param(-6 * 3600.0, (1, 0, 0, 0), id="6h-late-fine"),
        pytest.param(-20 * 86400.0, (1, 0, 0, 0), id="20d-late-coarse-only"),
        pytest.param(-31 * 86400.0, (0, 1, 0, 0), id="older-than-30d-dropped-late"),
        pytest.param(299.0, (1, 0, 0, 0), id="within-future-skew"),
        pytest.param(301.0, (0, 0, 1, 0), id="beyond-future-skew"),
        pytest.param(math.nan, (0, 0, 0, 1), id="nan-time-invalid"),
    ],
)
def test_each_run_is_counted_once_as_accepted_late_future_or_invalid(
    offset: float, expected: tuple[int, int, int, int]
) -> None:
    stats = WindowStore().add(records([{"end_s": NOW + offset}]), CONTRACTS, NOW)
    assert (
        stats.accepted,
        stats.late_dropped,
        stats.future_dropped,
        stats.invalid_dropped,
    ) == expected


def test_runs_are_bucketed_by_event_time_not_arrival() -> None:
    store = WindowStore()
    # A failure that ended 2 h ago arrives now, after a success of the last minute.
    store.add(records([{"end_s": NOW - 30}]), CONTRACTS, NOW)
    store.add(records([{"end_s": NOW - 7200 + 30, "outcome": OUTCOME_FAILURE}]), CONTRACTS, NOW)
    status = store.evaluate(0, OCCURRENCES, NOW)
    assert status.burn_rates["1h"] == 0.0
    assert status.burn_rates["6h"] == pytest.approx(0.5 / 0.005)
    assert status.runs_total == 2


def test_a_window_is_its_last_buckets_including_the_current_partial_one() -> None:
    store = WindowStore()
    now = NOW + 30  # half way through a minute bucket
    # 4 min 30 s ago is inside the 5m window (bucket now-4); 5 min ago is bucket now-5: outside.
    store.add(records([{"end_s": now - 270, "outcome": OUTCOME_FAILURE},
                       {"end_s": now - 300, "outcome": OUTCOME_FAILURE},
                       {"end_s": now}]), CONTRACTS, now)  # fmt: skip
    status = store.evaluate(0, OCCURRENCES, now)
    assert status.burn_rates["5m"] == pytest.approx(0.5 / 0.005)
    assert status.burn_rates["30m"] == pytest.approx((2 / 3) / 0.005)


def test_a_reused_ring_slot_forgets_what_it_held_a_turn_ago() -> None:
    store = WindowStore()
    store.add(records([{"end_s": NOW, "outcome": OUTCOME_FAILURE}]), CONTRACTS, NOW)
    later = NOW + 7 * 3600  # same fine slot (420 one-minute slots), one turn later
    store.add(records([{"end_s": later}]), CONTRACTS, later)
    status = store.evaluate(0, OCCURRENCES, later)
    assert status.burn_rates["5m"] == 0.0
    assert status.runs_total == 2  # the coarse ring still holds the failure
    assert status.attainment == 0.5


def test_a_run_just_older_than_the_hour_leaves_the_current_minute_alone() -> None:
    store = WindowStore()
    # Bucket now-60 shares its recent-ring slot with bucket now; it is older than the hour, so
    # it must go to the fine and coarse rings only and never clear the current minute.
    store.add(records([{"end_s": NOW + 1, "duration_s": 0.1}]), CONTRACTS, NOW + 1)
    store.add(records([{"end_s": NOW - 3599, "outcome": OUTCOME_FAILURE}]), CONTRACTS, NOW + 1)
    status = store.evaluate(0, OCCURRENCES, NOW + 1)
    assert status.apdex["5m"] == 1.0
    assert status.score == pytest.approx(100.0)
    assert status.burn_rates["2h"] == pytest.approx(0.5 / 0.005)


def test_a_slice_partly_out_of_the_fine_ring_keeps_its_verdict() -> None:
    store = WindowStore()
    slice_start = NOW  # a 5-minute slice of good runs, judged good
    store.add(records([{"series": 1, "end_s": slice_start + 60 * i} for i in range(5)]),
              CONTRACTS, slice_start + 299)  # fmt: skip
    # 7 h 2 min later the ring keeps only the last three minutes of that slice; a late failure
    # in them must not re-judge the slice from partial data.
    later = slice_start + 7 * 3600 + 120
    late_failure = {"series": 1, "end_s": slice_start + 180, "outcome": OUTCOME_FAILURE}
    store.add(records([late_failure]), CONTRACTS, later)
    status = store.evaluate(1, FIVE_MINUTE_SLICES, later)
    assert (status.slices_total, status.attainment, status.runs_total) == (1, 1.0, 6)


def test_zero_traffic_burns_nothing_and_has_no_attainment() -> None:
    store = WindowStore()
    store.add(records([{"end_s": NOW - 10 * 86400, "outcome": OUTCOME_FAILURE}]), CONTRACTS, NOW)
    status = store.evaluate(0, OCCURRENCES, NOW)
    assert all(rate == 0.0 for name, rate in status.burn_rates.items() if name != "3d")
    assert math.isnan(status.score)
    assert math.isnan(status.apdex["1h"])
    idle = WindowStore().evaluate(0, OCCURRENCES, NOW)
    assert math.isnan(idle.attainment)
    assert idle.budget_remaining == 1.0
    assert idle.alerts == {"page": False, "ticket": False}


def test_a_page_fires_when_the_last_hour_fails() -> None:
    store = WindowStore()
    rows = [{"end_s": NOW - 60 * i, "outcome": OUTCOME_FAILURE, "layer": 1,
             "trace_hi": 0xABC, "trace_lo": i + 1} for i in range(60)]  # fmt: skip
    store.add(records(rows), CONTRACTS, NOW)
    status = store.evaluate(0, OCCURRENCES, NOW)
    assert status.alerts == {"page": True, "ticket": True}
    assert status.attribution == {
        "endpoint": 0.0,
        "network": 1.0,
        "platform": 0.0,
        "dependency": 0.0,
    }
    assert status.example_trace_id == f"{0xABC:016x}{1:016x}"  # the most recent bad run
    assert status.score < 10


def test_runs_that_complete_but_break_a_step_threshold_cost_the_score_as_they_cost_budget() -> None:
    store = WindowStore()
    # Every run of the hour completed fast (Apdex satisfied) but was degraded: a step over
    # its threshold makes a run bad for the SLO, and for the score's availability part too.
    rows = [{"end_s": NOW - 60 * i, "outcome": OUTCOME_DEGRADED, "duration_s": 0.2}
            for i in range(60)]  # fmt: skip
    store.add(records(rows), CONTRACTS, NOW)
    status = store.evaluate(0, OCCURRENCES, NOW)
    assert status.alerts["page"]
    assert status.apdex["1h"] == 1.0
    # availability 0 points (no good run) x 50, responsiveness 100 points x 30, no voice
    assert status.score == pytest.approx(30 * 100 / 80)


def test_timeslices_count_slices_with_runs_and_judge_each_by_its_good_share() -> None:
    store = WindowStore()
    # Three 5-minute slices: 10 of 10 good; 9 of 10 good (meets 90 %); 8 of 10 good.
    rows = []
    for slice_index, bad in enumerate((0, 1, 2)):
        start = NOW - 3600 + slice_index * 300
        outcomes = [OUTCOME_FAILURE] * bad + [OUTCOME_SUCCESS] * (10 - bad)
        rows += [
            {"series": 1, "end_s": start + 20 * i, "outcome": o} for i, o in enumerate(outcomes)
        ]
    store.add(records(rows), CONTRACTS, NOW)
    status = store.evaluate(1, FIVE_MINUTE_SLICES, NOW)
    assert status.slices_total == 3
    assert status.attainment == pytest.approx(2 / 3)
    assert status.runs_total == 30


def test_forget_clears_a_series_and_the_store_grows_on_new_ids() -> None:
    store = WindowStore()
    store.add(records([{"series": 3}]), CONTRACTS, NOW)
    assert store.series_count() == 4
    store.add(records([{"series": 0, "outcome": OUTCOME_FAILURE, "trace_lo": 5}]), CONTRACTS, NOW)
    store.forget(0)
    status = store.evaluate(0, OCCURRENCES, NOW)
    assert status.runs_total == 0
    assert status.example_trace_id == ""
    assert store.evaluate(3, ODD_SLICES_28D, NOW).runs_total == 1
    assert store.evaluate(99, OCCURRENCES, NOW).runs_total == 0  # unknown series: empty


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"fine_bucket_s": 7}, "fine_bucket_s", id="fine-not-dividing-5m"),
        pytest.param({"coarse_bucket_s": 5000}, "coarse_bucket_s", id="coarse-not-dividing-1d"),
        pytest.param({"fine_span_s": 3600}, "fine_span_s", id="fine-span-shorter-than-6h"),
        pytest.param({"max_period_days": 0}, "max_period_days", id="no-period"),
    ],
)
def test_a_bad_geometry_is_refused_naming_the_field(kwargs: dict[str, int], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        WindowStore(**kwargs)


def test_a_period_longer_than_the_store_keeps_is_refused_with_the_fix() -> None:
    long_period = SeriesContract(0.99, 90, "occurrences", 0, 1.0, 2.0, 50, 30, 20)
    with pytest.raises(ValueError, match=r"max_period_days=90"):
        WindowStore().evaluate(0, long_period, NOW)


def test_mismatched_columns_are_refused_naming_the_column() -> None:
    good = records([{}, {}])
    broken = RunRecords(**{**good.__dict__, "outcome": np.zeros(3, dtype=np.int8)})
    with pytest.raises(ValueError, match=r"RunRecords\.outcome"):
        WindowStore().add(broken, CONTRACTS, NOW)


def test_the_store_for_2000_series_over_30_days_stays_under_100_mb() -> None:
    store = WindowStore()
    store.add(records([{"series": 1999}]), [OCCURRENCES] * 2000, NOW)
    assert store.nbytes() < 100 * 2**20


def test_kernels_give_the_same_answers_with_jit_disabled() -> None:
    """The kernels are plain Python under NUMBA_DISABLE_JIT=1: same results as the reference."""
    script = textwrap.dedent(
        """
        import numpy as np
        from tests.unit.test_windows import CONTRACTS, NOW, differences, records
        from cxj_processors.baselines import RobustBaselines
        from cxj_processors.windows import WindowStore
        from tests.naive import NaiveBaselines, NaiveStore
        import numba
        assert numba.config.DISABLE_JIT
        rng = np.random.default_rng(7)
        rows = [{"series": int(rng.integers(0, 4)), "end_s": NOW - float(rng.uniform(-100, 9000)),
                 "outcome": int(rng.integers(0, 3)), "layer": int(rng.integers(-1, 4)),
                 "duration_s": float(rng.uniform(0, 9)), "mos_out": float(rng.uniform(1, 4.5)),
                 "trace_lo": int(rng.integers(0, 9))} for _ in range(120)]
        store, naive = WindowStore(), NaiveStore()
        assert store.add(records(rows), CONTRACTS, NOW) == naive.add(records(rows), CONTRACTS, NOW)
        for series, contract in enumerate(CONTRACTS):
            assert not differences(store.evaluate(series, contract, NOW),
                                   naive.evaluate(series, contract, NOW))
        ids, values = rng.integers(0, 5, 200), rng.lognormal(0, 1, 200)
        ours = RobustBaselines().score_and_update(ids, values)
        theirs = NaiveBaselines().score_and_update(ids.tolist(), values.tolist())
        assert np.allclose(ours, theirs, equal_nan=True, rtol=1e-9)
        print("same")
        """
    )
    assert run_python(script, env={"NUMBA_DISABLE_JIT": "1"}, timeout=300).strip() == "same"


class _Versioned(list[SeriesContract]):
    """Contracts with a version that moves whenever one changes, as the pipeline passes them."""

    version = 0


def test_versioned_contracts_bind_each_series_once_and_again_when_one_changes() -> None:
    assert OCCURRENCES.apdex_t_s != MINUTE_SLICES_ONE_DAY.apdex_t_s
    store = WindowStore()
    contracts = _Versioned([OCCURRENCES, OCCURRENCES])
    contracts.version = 1
    store.add(records([{"series": 0}]), contracts, NOW)  # series 1 known, no run of it yet
    store.add(records([{"series": 1}]), contracts, NOW)  # same version: still bound
    assert store.apdex_t_s[1] == OCCURRENCES.apdex_t_s
    contracts[0] = MINUTE_SLICES_ONE_DAY
    contracts.version = 2
    store.add(records([{"series": 0}]), contracts, NOW)
    assert store.apdex_t_s[0] == MINUTE_SLICES_ONE_DAY.apdex_t_s
    status = store.evaluate(0, MINUTE_SLICES_ONE_DAY, NOW)
    assert status.apdex_t_s == MINUTE_SLICES_ONE_DAY.apdex_t_s


def test_growing_and_restoring_copy_every_row_whatever_the_arrays_empty_value() -> None:
    from cxj_processors.windows import _copy_written_rows

    source = np.zeros((5, 3, 2), dtype=np.uint16)
    source[1, 2, 1], source[4, 0, 0] = 7, 9
    target = np.zeros((8, 3, 2), dtype=np.uint16)
    _copy_written_rows(target, source)
    np.testing.assert_array_equal(target[:5], source)
    assert not target[5:].any()
    ends = np.array([-np.inf, 3.0, -np.inf])
    grown = np.full(6, -np.inf)
    _copy_written_rows(grown, ends)
    np.testing.assert_array_equal(grown, [-np.inf, 3.0, -np.inf, -np.inf, -np.inf, -np.inf])
    _copy_written_rows(target, source[:0])  # nothing to copy
