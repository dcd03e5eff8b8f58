"""Robust baselines against the naive median/MAD reference, and attribution by largest excess."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.harness.python import run_python
from tests.naive import NaiveBaselines

from cxj_processors.baselines import RobustBaselines, attribute_runs

VALUE = st.one_of(
    st.floats(0.0, 10.0), st.just(math.nan), st.floats(1e3, 1e4), st.sampled_from([0.25, 0.5, 1.0])
)  # the last: ties in the windows


@settings(max_examples=80, deadline=None)
@given(
    batches=st.lists(st.lists(st.tuples(st.integers(0, 4), VALUE), max_size=60), max_size=6),
    sizes=st.sampled_from([(1, 1), (4, 1), (4, 4), (32, 1), (32, 8)]),
)
def test_excess_equals_the_naive_median_and_mad(
    batches: list[list[tuple[int, float]]], sizes: tuple[int, int]
) -> None:
    window, min_samples = sizes
    ours = RobustBaselines(window=window, min_samples=min_samples)
    theirs = NaiveBaselines(window=window, min_samples=min_samples)
    for batch in batches:
        ids = [i for i, _ in batch]
        values = [v for _, v in batch]
        got = ours.score_and_update(np.array(ids, dtype=np.int32), np.array(values))
        want = theirs.score_and_update(ids, values)
        assert np.allclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True)


@settings(max_examples=60, deadline=None)
@given(
    batches=st.lists(
        st.lists(st.tuples(st.integers(0, 3), VALUE, st.booleans()), max_size=50), max_size=5
    )
)
def test_only_wanted_values_are_scored_and_every_value_is_learnt(
    batches: list[list[tuple[int, float, bool]]],
) -> None:
    ours = RobustBaselines(window=8, min_samples=2)
    theirs = NaiveBaselines(window=8, min_samples=2)
    everything = RobustBaselines(window=8, min_samples=2)
    for batch in batches:
        ids = np.array([i for i, _, _ in batch], dtype=np.int64)
        values = np.array([v for _, v, _ in batch])
        wanted = np.array([w for _, _, w in batch], dtype=np.bool_)
        got = ours.score_and_update(ids, values, wanted)
        assert np.allclose(got, theirs.score_and_update(ids, values, wanted=wanted), equal_nan=True)
        full = everything.score_and_update(ids, values)
        assert np.array_equal(got[wanted], full[wanted], equal_nan=True)
        assert np.isnan(got[~wanted]).all()
    np.testing.assert_array_equal(ours.history, everything.history)


def test_a_value_at_or_below_its_median_has_no_excess() -> None:
    baselines = RobustBaselines(min_samples=3)
    baselines.score_and_update(np.zeros(5, dtype=np.int64), np.array([0.1, 0.2, 0.3, 0.4, 0.5]))
    below, at, above = baselines.score(np.zeros(3, dtype=np.int64), np.array([0.05, 0.3, 0.4]))
    assert (below, at) == (0.0, 0.0)
    assert above > 0


def test_mismatched_wanted_flags_are_refused() -> None:
    with pytest.raises(ValueError, match="wanted"):
        RobustBaselines().score_and_update([1, 2], [1.0, 2.0], [True])


def test_nan_until_a_component_has_min_samples() -> None:
    baselines = RobustBaselines(min_samples=8)
    excess = baselines.score_and_update(np.zeros(9, dtype=np.int64), np.full(9, 0.2))
    assert np.isnan(excess[:8]).all()
    assert excess[8] == pytest.approx(0.0, abs=1e-6)  # 0.2 is learnt as float32


def test_a_spike_stands_out_and_scoring_alone_learns_nothing() -> None:
    baselines = RobustBaselines()
    rng = np.random.default_rng(3)
    baselines.score_and_update(np.zeros(32, dtype=np.int64), 0.100 + rng.normal(0, 0.005, 32))
    spike = baselines.score(np.array([0, 0]), np.array([0.400, 0.101]))
    assert spike[0] > 20
    assert abs(spike[1]) < 2
    assert baselines.score(np.array([0]), np.array([0.400]))[0] == spike[0]


def test_the_floor_keeps_a_jitter_free_component_from_exploding() -> None:
    baselines = RobustBaselines()  # floor: max(1 ms, 5 % of the median)
    baselines.score_and_update(np.zeros(10, dtype=np.int64), np.full(10, 0.012))
    assert baselines.score(np.array([0]), np.array([0.013]))[0] == pytest.approx(0.001 / 0.001)


def test_attribution_charges_each_run_to_the_layer_that_moved_most() -> None:
    # run 0: network (layer 1) excess 9 beats platform 3; run 1: only NaN; run 2: endpoint.
    layers = attribute_runs(
        run_of_value=[0, 0, 1, 2],
        excess=[3.0, 9.0, math.nan, -1.0],
        layer_of_value=[2, 1, 3, 0],
        runs=3,
    )
    assert layers.tolist() == [1, -1, 0]


def test_forget_and_growth() -> None:
    baselines = RobustBaselines(min_samples=1)
    baselines.score_and_update([5], [1.0])
    assert baselines.component_count() == 6
    baselines.forget([5])
    assert math.isnan(baselines.score([5], [1.0])[0])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"window": 0}, "window", id="empty-window"),
        pytest.param({"min_samples": 40}, "min_samples", id="more-samples-than-window"),
        pytest.param({"floor_abs": 0.0, "floor_rel": 0.0}, "floor_abs", id="no-floor"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        RobustBaselines(**kwargs)  # type: ignore[arg-type]


def test_mismatched_or_negative_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="values"):
        RobustBaselines().score_and_update([1, 2], [1.0])
    with pytest.raises(ValueError, match="ids"):
        RobustBaselines().score_and_update([-1], [1.0])


def test_baselines_restored_from_their_state_score_like_the_originals() -> None:
    rng = np.random.default_rng(5)
    original = RobustBaselines(window=16, min_samples=4)
    ids = rng.integers(0, 6, 300).astype(np.int32)
    original.score_and_update(ids[:200], rng.gamma(2.0, 0.05, 200))
    restored = RobustBaselines(window=16, min_samples=4)
    restored.load_state_arrays(original.state_arrays())
    later = rng.gamma(2.0, 0.05, 100)
    np.testing.assert_array_equal(
        restored.score_and_update(ids[200:], later), original.score_and_update(ids[200:], later)
    )


def test_median_deviation_equals_numpy_for_every_window_length_with_ties() -> None:
    """The bisecting MAD against NumPy's median of |x - median|, odd and even counts alike."""
    rng = np.random.default_rng(9)
    for trial in range(3000):
        count = int(rng.integers(1, 33))
        if trial % 2:  # few distinct values: ties at and around the median
            values = rng.integers(0, 5, count).astype(np.float32)
        else:
            values = rng.lognormal(0.0, 1.0, count).astype(np.float32)
        baselines = RobustBaselines(window=32, min_samples=count, floor_abs=1.0, floor_rel=0.0)
        baselines.score_and_update(np.zeros(count, dtype=np.int32), values.astype(np.float64))
        window = values.astype(np.float64)
        median = float(np.median(window))
        mad = float(np.median(np.abs(window - median)))
        probe = median + 1.0
        # excess = (probe - median) / (1.4826 * mad + floor), so it gives the MAD back.
        (excess,) = baselines.score([0], [probe])
        assert excess == pytest.approx(1.0 / (1.4826 * mad + 1.0), rel=1e-12), (values, mad)


def test_prefetching_rows_changes_nothing_and_ignores_rows_outside() -> None:
    """On numba's JIT, where the hint is compiled into a kernel (a subprocess: this suite may
    run on the compiled module, which has no numba to compile a new kernel with)."""
    script = textwrap.dedent(
        """
        import numba
        import numpy as np
        from cxj_processors.kernels.memory import prefetch_row

        @numba.njit
        def touch_all(array, rows):
            total = 0.0
            for row in rows:
                prefetch_row(array, row)
                if 0 <= row < array.shape[0]:
                    total += array[row, 0]
            return total

        array = np.arange(40, dtype=np.float32).reshape(5, 8)
        before = array.copy()
        assert touch_all(array, np.array([-1, 0, 4, 5, 1_000_000], dtype=np.int64)) == 32.0
        np.testing.assert_array_equal(array, before)
        assert "llvm.prefetch" in next(iter(touch_all.inspect_llvm().values()))
        print("ok")
        """
    )
    stdout = run_python(script, env={"CXJ_KERNELS": "jit", "NUMBA_DISABLE_JIT": None})
    assert stdout.strip() == "ok"
