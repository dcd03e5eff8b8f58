"""SLO math: burn-rate factors against published values, and every function against naive."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests import naive

from cxj_processors import slo
from cxj_processors.model import WINDOWS, SeriesContract

ROWS = [("page", "1h", "5m"), ("page", "6h", "30m"), ("ticket", "1d", "2h"), ("ticket", "3d", "6h")]


def contract(**changes: object) -> SeriesContract:
    base = {"objective": 0.995, "period_days": 30, "budgeting": "occurrences", "timeslice_s": 0.0,
            "slice_objective": 1.0, "apdex_t_s": 2.0, "weight_availability": 50,
            "weight_responsiveness": 30, "weight_voice": 20}  # fmt: skip
    base.update(changes)
    return SeriesContract(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("period_days", "factors"),
    [
        # Google SRE workbook table, also Sloth's google-30d catalogue: 2 %, 5 %, 10 %, 10 %.
        pytest.param(30, (14.4, 6.0, 3.0, 1.0), id="30d-published"),
        # Sloth's google-28d catalogue keeps the fractions and windows: factor = f·672h/long.
        pytest.param(28, (13.44, 5.6, 2.8, 0.9333333333333333), id="28d-scaled"),
        pytest.param(7, (3.36, 1.4, 0.7, 0.2333333333333333), id="7d-scaled"),
    ],
)
def test_burn_rate_factors_per_period(period_days: int, factors: tuple[float, ...]) -> None:
    rules = slo.burn_rate_rules(period_days)
    assert [(r.severity, r.long_window, r.short_window) for r in rules] == ROWS
    assert [r.factor for r in rules] == pytest.approx(factors, rel=1e-12)
    assert [r.budget_fraction for r in rules] == [0.02, 0.05, 0.10, 0.10]


def test_thresholds_match_the_rules_sloth_generates_for_a_999_objective() -> None:
    # Sloth's getting-started example (30d, 99.9 %) compares error ratios with
    # (14.4 * 0.001), (6 * 0.001), (3 * 0.001) and (1 * 0.001).
    thresholds = [rule.threshold(0.999) for rule in slo.burn_rate_rules(30)]
    assert thresholds == pytest.approx([0.0144, 0.006, 0.003, 0.001], rel=1e-9)


def test_the_page_rule_spends_about_what_pyrras_28d_page_rule_spends() -> None:
    # Pyrra keeps factors fixed (14 over 1h at 28d) and scales windows instead; its page rule
    # spends 14·1h/672h = 2.08 % of the budget, within 0.1 point of our 2 %.
    pyrra_share = 14 * 1 / (28 * 24)
    ours = slo.burn_rate_rules(28)[0]
    assert ours.factor == pytest.approx(13.44)
    assert abs(ours.factor * 1 / (28 * 24) - pyrra_share) < 0.001


@pytest.mark.parametrize("period_days", [1, 7, 14, 28, 30, 90])
def test_factors_equal_the_naive_formula(period_days: int) -> None:
    for rule, (_, long_window, _, fraction) in zip(
        slo.burn_rate_rules(period_days), naive.RULES, strict=True
    ):
        assert rule.factor == pytest.approx(naive.alert_factor(fraction, period_days, long_window))


@given(flags=st.lists(st.booleans(), max_size=200), objective=st.floats(0.5, 0.9999))
def test_ratios_equal_the_naive_reference(flags: list[bool], objective: float) -> None:
    good, total = sum(flags), len(flags)
    assert slo.burn_rate(total - good, total, objective) == pytest.approx(
        naive.burn_rate(flags, objective)
    )
    assert slo.budget_remaining(good, total, objective) == pytest.approx(
        naive.budget_remaining(flags, objective)
    )
    ours, theirs = slo.attainment(good, total), naive.attainment(flags)
    assert (math.isnan(ours) and math.isnan(theirs)) or ours == pytest.approx(theirs)


@pytest.mark.parametrize(
    ("bad", "total", "rate", "remaining"),
    [
        pytest.param(0, 0, 0.0, 1.0, id="no-traffic-burns-nothing"),
        pytest.param(0, 1000, 0.0, 1.0, id="all-good"),
        pytest.param(5, 1000, 1.0, 0.0, id="exactly-the-budget"),
        pytest.param(10, 1000, 2.0, -1.0, id="twice-the-budget-goes-negative"),
        pytest.param(1000, 1000, 200.0, -199.0, id="all-bad"),
    ],
)
def test_burn_rate_and_budget_at_995(bad: int, total: int, rate: float, remaining: float) -> None:
    assert slo.burn_rate(bad, total, 0.995) == pytest.approx(rate)
    assert slo.budget_remaining(total - bad, total, 0.995) == pytest.approx(remaining)


@given(rates=st.fixed_dictionaries({w: st.floats(0, 50) for w in WINDOWS}),
       period=st.sampled_from([1, 7, 28, 30]))  # fmt: skip
def test_alerts_equal_the_naive_reference(rates: dict[str, float], period: int) -> None:
    assert slo.evaluate_alerts(rates, slo.burn_rate_rules(period)) == naive.alerts(rates, period)


@pytest.mark.parametrize(
    ("rates", "expected"),
    [
        pytest.param({"1h": 15, "5m": 15}, {"page": True, "ticket": False}, id="fast-burn-pages"),
        pytest.param(
            {"1h": 15, "5m": 2}, {"page": False, "ticket": False}, id="recovered-short-window"
        ),
        pytest.param({"6h": 7, "30m": 7}, {"page": True, "ticket": False}, id="slow-burn-pages"),
        pytest.param(
            {"1d": 3.5, "2h": 3.5}, {"page": False, "ticket": True}, id="day-burn-tickets"
        ),
        pytest.param({"3d": 1.2, "6h": 1.2}, {"page": False, "ticket": True}, id="3d-burn-tickets"),
        pytest.param(
            {"3d": 1.0, "6h": 1.0}, {"page": False, "ticket": False}, id="exactly-1x-does-not"
        ),
    ],
)
def test_alert_rules_need_both_windows(rates: dict[str, float], expected: dict[str, bool]) -> None:
    burn = dict.fromkeys(WINDOWS, 0.0) | rates
    assert slo.evaluate_alerts(burn, slo.burn_rate_rules(30)) == expected


def test_fastest_burn_rate_names_its_window() -> None:
    burn = dict.fromkeys(WINDOWS, 0.0) | {"5m": 3.0, "1h": 14.4}
    assert slo.fastest_burn_rate(burn) == ("1h", 14.4)


@pytest.mark.parametrize(
    ("good", "runs", "objective", "verdict"),
    [
        pytest.param(19, 20, 0.95, True, id="95pct-of-20-is-19"),
        pytest.param(18, 20, 0.95, False, id="18-of-20-misses-95pct"),
        pytest.param(10, 10, 1.0, True, id="all-good-meets-100pct"),
        pytest.param(9, 10, 1.0, False, id="one-bad-misses-100pct"),
    ],
)
def test_slice_verdicts(good: int, runs: int, objective: float, verdict: bool) -> None:
    assert slo.slice_is_good(good, runs, objective) is verdict
    assert naive.slice_good(good, runs, objective) is verdict


@pytest.mark.parametrize(
    ("timeslice_s", "buckets"),
    [
        pytest.param(60, 1, id="1m"),
        pytest.param(300, 5, id="5m"),
        pytest.param(20, 1, id="shorter-than-a-bucket-rounds-up-to-one"),
        pytest.param(90, 2, id="90s-rounds-to-2m"),
        pytest.param(7200, 60, id="longer-than-an-hour-capped"),
    ],
)
def test_slice_length_in_fine_buckets(timeslice_s: float, buckets: int) -> None:
    c = contract(budgeting="timeslices", timeslice_s=timeslice_s)
    assert slo.slice_buckets(c, 60, 3600) == buckets == naive.slice_length_buckets(c, 60, 3600)
    assert slo.slice_buckets(contract(), 60, 3600) == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"budgeting": "requests"}, "budgeting", id="unknown-budgeting"),
        pytest.param({"budgeting": "timeslices", "timeslice_s": 0.0}, "timeslice_s", id="no-slice"),
        pytest.param({"objective": 1.0}, "objective", id="objective-100pct"),
    ],
)
def test_contracts_that_cannot_be_evaluated_name_the_field(
    changes: dict[str, object], field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        slo.check_budgeting(contract(**changes))
