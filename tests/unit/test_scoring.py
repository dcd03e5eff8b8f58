"""Apdex, MOS aggregates and the experience score: published examples, naive, properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests import naive

from cxj_processors import scoring
from cxj_processors.kernels.layout import MOS_BINS


@pytest.mark.parametrize(
    ("satisfied", "tolerating", "frustrated", "expected", "rating"),
    [
        # Worked examples published by Apdex adopters (T = 200 ms, 500 ms, 500 ms).
        pytest.param(8500, 1200, 300, 0.91, "Good", id="published-8500-1200-300-is-0.91"),
        pytest.param(4200, 650, 150, 0.905, "Good", id="published-4200-650-150-is-0.905"),
        pytest.param(40, 200, 48, 140 / 288, "Unacceptable", id="published-40-200-48-is-0.486"),
        # Band edges.
        pytest.param(60, 30, 10, 0.75, "Fair", id="60-30-10-is-0.75"),
        pytest.param(100, 0, 0, 1.0, "Excellent", id="all-satisfied"),
        pytest.param(0, 0, 10, 0.0, "Unacceptable", id="all-frustrated"),
    ],
)
def test_apdex_published_examples(
    satisfied: int, tolerating: int, frustrated: int, expected: float, rating: str
) -> None:
    value = scoring.apdex(satisfied, tolerating, satisfied + tolerating + frustrated)
    assert value == pytest.approx(expected)
    assert scoring.apdex_rating(value) == rating


@pytest.mark.parametrize(
    ("value", "t", "text"),
    [
        pytest.param(0.91, 2.5, "0.91 [2.5]", id="spec-notation"),
        pytest.param(0.905, 2.0, "0.91 [2.0]", id="crd-example"),
        pytest.param(1.0, 0.25, "1.00 [0.25]", id="sub-tenth-threshold"),
        pytest.param(math.nan, 2.0, "NaN [2.0]", id="no-samples"),
    ],
)
def test_apdex_is_reported_with_its_threshold(value: float, t: float, text: str) -> None:
    assert scoring.format_apdex(value, t) == text


@pytest.mark.parametrize(
    ("duration", "failed", "expected"),
    [
        pytest.param(2.0, False, "satisfied", id="at-T-is-satisfied"),
        pytest.param(2.0001, False, "tolerating", id="just-above-T"),
        pytest.param(8.0, False, "tolerating", id="at-4T-is-tolerating"),
        pytest.param(8.0001, False, "frustrated", id="above-4T"),
        pytest.param(0.1, True, "frustrated", id="failed-is-frustrated"),
    ],
)
def test_apdex_zones_at_t_2s(duration: float, failed: bool, expected: str) -> None:
    assert naive.apdex_class(duration, failed, 2.0) == expected


def test_apdex_zone_edges_in_the_store() -> None:
    import numpy as np
    from tests.unit.test_windows import NOW, records

    from cxj_processors.model import OUTCOME_FAILURE, SeriesContract
    from cxj_processors.windows import WindowStore

    contract = SeriesContract(0.99, 30, "occurrences", 0, 1.0, 2.0, 50, 30, 20)
    rows = [{"duration_s": d} for d in (2.0, 2.0001, 8.0, 8.0001)]
    rows.append({"duration_s": 0.1, "outcome": OUTCOME_FAILURE})
    store = WindowStore()
    store.add(records(rows), [contract], NOW)
    status = store.evaluate(0, contract, NOW)
    assert status.apdex["5m"] == pytest.approx((1 + 2 / 2) / 5)
    assert np.isclose(status.apdex["1d"], status.apdex["5m"])
    assert status.apdex_t_s == 2.0


@given(values=st.lists(st.floats(0.5, 5.0), max_size=300))
def test_mos_p10_from_the_histogram_equals_the_naive_order_statistic(values: list[float]) -> None:
    histogram = [0] * MOS_BINS
    for v in values:
        clamped = min(max(v, 1.0), 4.5)
        histogram[min(max(math.floor((clamped - 1.0) * 10.0), 0), MOS_BINS - 1)] += 1
    ours, theirs = scoring.mos_quantile(histogram, 0.10), naive.mos_p10(values)
    assert (math.isnan(ours) and math.isnan(theirs)) or ours == pytest.approx(theirs)
    if values:  # one bin of resolution: within 0.05 of the exact ⌈n/10⌉-th smallest value
        exact = sorted(min(max(v, 1.0), 4.5) for v in values)[(len(values) + 9) // 10 - 1]
        assert abs(ours - exact) <= 0.05 + 1e-9


@pytest.mark.parametrize(
    ("mos", "points"),
    [
        pytest.param(4.5, 100.0, id="above-very-satisfied"),
        pytest.param(4.34, 100.0, id="R90-very-satisfied"),
        pytest.param(4.03, 80.0, id="R80-satisfied"),
        pytest.param(3.60, 60.0, id="R70-some-dissatisfied"),
        pytest.param(3.10, 40.0, id="R60-many-dissatisfied"),
        pytest.param(2.58, 20.0, id="R50-nearly-all-dissatisfied"),
        pytest.param(1.0, 0.0, id="floor"),
    ],
)
def test_voice_points_at_the_g107_band_edges(mos: float, points: float) -> None:
    assert scoring.voice_points(mos) == pytest.approx(points)
    assert naive.voice_points(mos) == pytest.approx(points)


@pytest.mark.parametrize(
    ("success", "objective", "points"),
    [
        pytest.param(1.0, 0.995, 100.0, id="no-failures"),
        pytest.param(0.995, 0.995, 90.0, id="exactly-the-objective"),
        pytest.param(0.9975, 0.995, 95.0, id="half-the-budget"),
        pytest.param(0.0, 0.995, 0.0, id="every-run-failed"),
        pytest.param(0.0, 0.5, 0.0, id="every-run-failed-lax-objective"),
    ],
)
def test_availability_points(success: float, objective: float, points: float) -> None:
    assert scoring.availability_points(success, objective) == pytest.approx(points)


RATIO = st.floats(0.0, 1.0)
OBJECTIVE = st.floats(0.5, 0.9999)
MOS = st.one_of(st.just(math.nan), st.floats(1.0, 4.5))
WEIGHTS = st.tuples(st.integers(0, 100), st.integers(0, 100), st.integers(0, 100))


@given(success=RATIO, objective=OBJECTIVE, apdex=RATIO, mos=MOS, weights=WEIGHTS)
def test_score_equals_the_naive_reference_and_stays_in_0_100(
    *, success: float, objective: float, apdex: float, mos: float, weights: tuple[int, int, int]
) -> None:
    ours = scoring.experience_score(
        good_ratio=success, objective=objective, apdex_value=apdex, voice_mos=mos,
        weight_availability=weights[0], weight_responsiveness=weights[1], weight_voice=weights[2],
    )  # fmt: skip
    theirs = naive.experience_score(success, objective, apdex, mos, weights)
    if math.isnan(theirs):
        assert math.isnan(ours)
    else:
        assert ours == pytest.approx(theirs, abs=1e-9)
        assert 0.0 <= ours <= 100.0


@given(a=RATIO, b=RATIO, objective=OBJECTIVE, apdex=RATIO, mos=MOS, weights=WEIGHTS)
def test_score_never_falls_when_more_runs_succeed(
    *, a: float, b: float, objective: float, apdex: float, mos: float, weights: tuple[int, int, int]
) -> None:
    low, high = sorted((a, b))
    lo, hi = (
        _score(low, objective, apdex, mos, weights),
        _score(high, objective, apdex, mos, weights),
    )
    assert math.isnan(lo) or hi >= lo - 1e-9


@given(a=RATIO, b=RATIO, success=RATIO, objective=OBJECTIVE, mos=MOS, weights=WEIGHTS)
def test_score_never_falls_when_apdex_rises(
    *,
    a: float,
    b: float,
    success: float,
    objective: float,
    mos: float,
    weights: tuple[int, int, int],
) -> None:
    low, high = sorted((a, b))
    lo = _score(success, objective, low, mos, weights)
    hi = _score(success, objective, high, mos, weights)
    assert math.isnan(lo) or hi >= lo - 1e-9


@given(a=st.floats(1.0, 4.5), b=st.floats(1.0, 4.5), success=RATIO, objective=OBJECTIVE,
       apdex=RATIO, weights=WEIGHTS)  # fmt: skip
def test_score_never_falls_when_mos_rises(
    *,
    a: float,
    b: float,
    success: float,
    objective: float,
    apdex: float,
    weights: tuple[int, int, int],
) -> None:
    low, high = sorted((a, b))
    lo = _score(success, objective, apdex, low, weights)
    hi = _score(success, objective, apdex, high, weights)
    assert math.isnan(lo) or hi >= lo - 1e-9


@given(objective=OBJECTIVE, success=RATIO)
def test_meeting_the_objective_scores_at_least_90_and_missing_it_less(
    objective: float, success: float
) -> None:
    points = scoring.availability_points(success, objective)
    if success >= objective:
        assert points >= 90.0 - 1e-9
    else:
        assert points <= 90.0 + 1e-9


def test_voice_is_ignored_without_voice_data_and_no_weight_means_no_score() -> None:
    without_voice = scoring.experience_score(
        good_ratio=1.0, objective=0.99, apdex_value=0.5, voice_mos=math.nan,
        weight_availability=50, weight_responsiveness=50, weight_voice=100,
    )  # fmt: skip
    assert without_voice == pytest.approx(75.0)
    only_voice_weighted = scoring.experience_score(
        good_ratio=1.0, objective=0.99, apdex_value=0.5, voice_mos=math.nan,
        weight_availability=0, weight_responsiveness=0, weight_voice=100,
    )  # fmt: skip
    assert math.isnan(only_voice_weighted)


def _score(
    success: float, objective: float, apdex: float, mos: float, weights: tuple[int, int, int]
) -> float:
    return scoring.experience_score(
        good_ratio=success, objective=objective, apdex_value=apdex, voice_mos=mos,
        weight_availability=weights[0], weight_responsiveness=weights[1], weight_voice=weights[2],
    )  # fmt: skip
