"""SLO math over window totals: attainment, error budget, burn rates and burn-rate alerts.

Pure functions of counts; docs/scoring.md states every formula and the reasons behind them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from cxj_processors.model import BUDGETING_METHODS, WINDOW_SECONDS, WINDOWS, SeriesContract

_WINDOW_S = dict(zip(WINDOWS, WINDOW_SECONDS, strict=True))
REFERENCE_PERIOD_DAYS = 30


@dataclass(frozen=True)
class BurnRateRule:
    """Fire `severity` when both windows burn faster than `factor` (multiwindow, multi-burn-rate).

    `budget_fraction` is the share of the period's error budget the long window spends when it
    burns at exactly `factor`: factor = budget_fraction · period / long window.
    """

    severity: str  # "page" | "ticket"
    long_window: str
    short_window: str
    budget_fraction: float
    factor: float

    def threshold(self, objective: float) -> float:
        """The error ratio the rule compares each window with: factor · (1 - objective)."""
        return self.factor * (1.0 - objective)


# (severity, long window, short window, share of the budget the long window may spend)
_RULE_ROWS = (
    ("page", "1h", "5m", 0.02),
    ("page", "6h", "30m", 0.05),
    ("ticket", "1d", "2h", 0.10),
    ("ticket", "3d", "6h", 0.10),
)


@lru_cache(maxsize=128)
def burn_rate_rules(period_days: int) -> tuple[BurnRateRule, ...]:
    """The four alert rules for an SLO period; at 30 days the factors are 14.4, 6, 3 and 1.

    Windows stay fixed; each factor scales as budget_fraction · period / long window, so every
    rule still means "this share of the budget is gone" whatever the period.
    """
    if period_days < 1:
        raise ValueError(f"period_days: must be at least 1 day, got {period_days}")
    period_s = period_days * 86400
    return tuple(
        BurnRateRule(
            severity=severity,
            long_window=long_window,
            short_window=short_window,
            budget_fraction=fraction,
            factor=fraction * period_s / _WINDOW_S[long_window],
        )
        for severity, long_window, short_window, fraction in _RULE_ROWS
    )


def error_ratio(bad: int, total: int) -> float:
    """Share of bad events; NaN without events."""
    return bad / total if total > 0 else math.nan


def burn_rate(bad: int, total: int, objective: float) -> float:
    """Error ratio over the error budget ratio (1 - objective); 0 when the window saw nothing.

    Zero traffic burns no budget, so an idle window never fires an alert.
    """
    if total <= 0:
        return 0.0
    return (bad / total) / (1.0 - objective)


def attainment(good: int, total: int) -> float:
    """Share of good events (runs or slices) over the period; NaN without events."""
    return good / total if total > 0 else math.nan


def budget_remaining(good: int, total: int, objective: float) -> float:
    """Share of the period's error budget left: 1 - bad / ((1 - objective) · total).

    1.0 without events (nothing spent); negative once more than the budget is spent.
    """
    return 1.0 - burn_rate(total - good, total, objective)


def evaluate_alerts(
    burn_rates: Mapping[str, float], rules: tuple[BurnRateRule, ...]
) -> dict[str, bool]:
    """{"page": …, "ticket": …}: a severity fires when any of its rules has both windows over."""
    fired = {"page": False, "ticket": False}
    for rule in rules:
        if (
            burn_rates[rule.long_window] > rule.factor
            and burn_rates[rule.short_window] > rule.factor
        ):
            fired[rule.severity] = True
    return fired


def fastest_burn_rate(burn_rates: Mapping[str, float]) -> tuple[str, float]:
    """The window burning fastest and its rate (the shortest such window on a tie)."""
    window = max(WINDOWS, key=lambda name: (burn_rates[name], -_WINDOW_S[name]))
    return window, burn_rates[window]


def slice_is_good(good: int, runs: int, slice_objective: float, tolerance: float = 1e-9) -> bool:
    """A slice is good when its share of good runs reaches the slice objective.

    Compared as good ≥ (objective - 1e-9) · runs so that "95" of 20 runs means 19 good runs,
    whatever the rounding of 0.95. A slice without runs is not a slice (callers skip it).
    """
    return good >= (slice_objective - tolerance) * runs


def slice_buckets(contract: SeriesContract, fine_bucket_s: int, coarse_bucket_s: int) -> int:
    """Slice length in fine buckets (0 for occurrences budgeting).

    Rounded to the nearest whole number of fine buckets, at least one and at most one coarse
    bucket: slices are judged from fine buckets, and a verdict must be settled while its
    buckets are still retained.
    """
    check_budgeting(contract)
    if contract.budgeting == "occurrences":
        return 0
    buckets = math.floor(contract.timeslice_s / fine_bucket_s + 0.5)
    return int(min(max(buckets, 1), coarse_bucket_s // fine_bucket_s))


def check_budgeting(contract: SeriesContract) -> None:
    """Raises ValueError naming the field when the contract's budgeting cannot be evaluated."""
    if contract.budgeting not in BUDGETING_METHODS:
        raise ValueError(
            f"budgeting: must be one of {', '.join(BUDGETING_METHODS)}, got {contract.budgeting!r}"
        )
    if contract.budgeting == "timeslices" and not contract.timeslice_s > 0:
        raise ValueError(
            f"timeslice_s: timeslices budgeting needs a slice length above 0 s, "
            f"got {contract.timeslice_s}; set slo.timeslice, e.g. 5m"
        )
    if not 0.0 < contract.objective < 1.0:
        raise ValueError(
            f"objective: must be a ratio above 0 and below 1 (1 leaves no budget), "
            f"got {contract.objective}"
        )
