"""The reflector's deliberate impairment: its delay, jitter and loss draws have the promised law."""

from __future__ import annotations

import itertools
import statistics

import pytest

from cxj_probe.voice.impairment import Impairment, ImpairmentDraws
from cxj_probe.voice.stats import burst_ratio, loss_runs

DRAWS = 200_000


def drops(impairment: Impairment, count: int = DRAWS) -> list[bool]:
    draws = ImpairmentDraws(impairment)
    return [draws.dropped() for _ in range(count)]


def test_holds_are_uniform_around_the_delay_with_the_injected_rfc3550_jitter() -> None:
    draws = ImpairmentDraws(Impairment(delay_ms=40, jitter_ms=15, seed=3))
    holds = [draws.hold_s() * 1000 for _ in range(DRAWS)]
    assert min(holds) >= 40 - 22.5
    assert max(holds) <= 40 + 22.5
    assert statistics.fmean(holds) == pytest.approx(40, abs=0.2)
    # RFC 3550's J tends to E|X_i - X_(i-1)| for packets kept in order: the injected 15 ms.
    differences = [abs(b - a) for a, b in itertools.pairwise(holds)]
    assert statistics.fmean(differences) == pytest.approx(15, rel=0.01)


def test_no_jitter_holds_exactly_the_delay() -> None:
    draws = ImpairmentDraws(Impairment(delay_ms=25))
    assert {draws.hold_s() for _ in range(10)} == {0.025}


@pytest.mark.parametrize("loss_pct", [1.0, 2.0, 10.0])
def test_random_loss_has_the_rate_and_burst_ratio_one(loss_pct: float) -> None:
    pattern = drops(Impairment(loss_pct=loss_pct, seed=11))
    assert sum(pattern) / DRAWS == pytest.approx(loss_pct / 100, rel=0.06)
    assert burst_ratio(pattern) == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize(("loss_pct", "burst_length"), [(2.0, 4.0), (5.0, 2.0), (10.0, 8.0)])
def test_bursty_loss_has_the_rate_and_mean_burst_length(
    loss_pct: float, burst_length: float
) -> None:
    pattern = drops(Impairment(loss_pct=loss_pct, burst_length=burst_length, seed=5))
    runs = loss_runs(pattern)
    assert sum(pattern) / DRAWS == pytest.approx(loss_pct / 100, rel=0.1)
    assert statistics.fmean(runs) == pytest.approx(burst_length, rel=0.08)
    # G.107's BurstR for this chain: mean run x (1 - loss).
    expected = burst_length * (1 - loss_pct / 100)
    assert burst_ratio(pattern) == pytest.approx(expected, rel=0.08)


def test_a_seed_makes_the_draws_repeat() -> None:
    impairment = Impairment(delay_ms=30, jitter_ms=10, loss_pct=5, burst_length=2, seed=42)
    first, second = ImpairmentDraws(impairment), ImpairmentDraws(impairment)
    assert [(first.dropped(), first.hold_s()) for _ in range(500)] == [
        (second.dropped(), second.hold_s()) for _ in range(500)
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"delay_ms": -1}, "delay_ms: must be a finite number >= 0"),
        ({"jitter_ms": 10, "delay_ms": 10}, "delay_ms must be at least 15"),
        ({"loss_pct": 100}, "loss_pct: must be below 100"),
        ({"loss_pct": 5, "burst_length": 0.5}, "burst_length: a mean run of drops is at least 1"),
        ({"loss_pct": 80, "burst_length": 2}, "mean run of drops must be at least 4"),
        ({"delay_ms": float("nan")}, "delay_ms: must be a finite number"),
    ],
    ids=["negative-delay", "jitter-beyond-delay", "all-lost", "short-burst", "impossible-chain",
         "nan"],
)  # fmt: skip
def test_impossible_impairments_are_refused_by_name(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Impairment(**kwargs)  # type: ignore[arg-type]


def test_json_round_trip_and_errors() -> None:
    impairment = Impairment(delay_ms=40, jitter_ms=15, loss_pct=2, burst_length=3, seed=1)
    assert Impairment.from_json(impairment.to_json()) == impairment
    assert Impairment.from_json({"delay_ms": 10}) == Impairment(delay_ms=10)
    with pytest.raises(ValueError, match="unknown field"):
        Impairment.from_json({"delay": 10})
    with pytest.raises(ValueError, match="delay_ms: a number"):
        Impairment.from_json({"delay_ms": "10"})
    with pytest.raises(ValueError, match="seed: an integer"):
        Impairment.from_json({"seed": 1.5})
    with pytest.raises(ValueError, match="expected a JSON object"):
        Impairment.from_json([1, 2])
