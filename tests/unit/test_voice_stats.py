"""Voice-path statistics: RFC 3550 jitter, loss runs, BurstR, reordering, direction split."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxj_probe.voice.stats import (
    Arrival,
    Reflection,
    burst_ratio,
    interarrival_jitter_ms,
    late_positions,
    loss_runs,
    mean_delay_variation_ms,
    percentile,
    reordered_count,
    split_directions,
    summarise_direction,
)

MS = 1_000_000
INTERVAL = 20 * MS


def stream(transits_ms: list[float], order: list[int] | None = None) -> list[Arrival]:
    """Packets sent every 20 ms with these transit times, listed in the given arrival order."""
    arrivals = [
        Arrival(i, i * INTERVAL, i * INTERVAL + round(t * MS)) for i, t in enumerate(transits_ms)
    ]
    return [arrivals[i] for i in order] if order else arrivals


@pytest.mark.parametrize(
    ("transits", "expected"),
    [
        ([5.0], 0.0),
        ([5.0] * 50, 0.0),
        ([0.0, 16.0], 1.0),  # one |D| = 16: J = 16/16
        ([0.0, 16.0, 16.0], 0.9375),  # then |D| = 0: J = 1 + (0 - 1)/16
        ([0.0, 10.0] * 2, 10 * (1 - (15 / 16) ** 3)),  # |D| = 10 three times
    ],
    ids=["one-packet", "constant-transit", "single-step", "step-then-flat", "alternating"],
)
def test_rfc3550_jitter(transits: list[float], expected: float) -> None:
    assert interarrival_jitter_ms(stream(transits)) == pytest.approx(expected, abs=1e-9)


def test_jitter_ignores_a_constant_clock_offset() -> None:
    transits = [3.0, 7.5, 4.0, 9.0, 1.0, 6.0]
    shifted = [t + 1234.5 for t in transits]
    assert interarrival_jitter_ms(stream(shifted)) == pytest.approx(
        interarrival_jitter_ms(stream(transits)), abs=1e-6
    )


def test_jitter_follows_arrival_order_not_sequence_order() -> None:
    # Packet 1 is held 30 ms and overtaken by packet 2: D is taken between arrivals.
    in_order = interarrival_jitter_ms(stream([0.0, 30.0, 0.0]))
    as_arrived = interarrival_jitter_ms(stream([0.0, 30.0, 0.0], order=[0, 2, 1]))
    assert in_order == pytest.approx(30 / 16 + (30 - 30 / 16) / 16)
    assert as_arrived == pytest.approx(30 / 16)


def test_mean_delay_variation_is_the_mean_of_abs_d() -> None:
    assert mean_delay_variation_ms(stream([0.0, 10.0, 0.0, 10.0])) == pytest.approx(10.0)
    assert mean_delay_variation_ms(stream([0.0, 4.0, 4.0])) == pytest.approx(2.0)
    assert mean_delay_variation_ms(stream([1.0])) == 0.0


@pytest.mark.parametrize(
    ("pattern", "runs"),
    [("", []), ("....", []), ("x", [1]), ("x.xx.xxx", [1, 2, 3]), ("..xx..x", [2, 1])],
    ids=["empty", "no-loss", "single", "growing", "trailing"],
)
def test_loss_runs(pattern: str, runs: list[int]) -> None:
    assert loss_runs([c == "x" for c in pattern]) == runs


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("." * 100, 1.0),
        (("x" + "." * 9) * 10, 1.0),  # isolated losses: 1 x 0.9 < 1, reported as random
        ("xxxx" + "." * 96, 4 * 0.96),
        ("xx" + "." * 23 + "xx" + "." * 23, 2 * (1 - 4 / 50)),
        ("xxx.x" + "." * 45, 2 * (1 - 4 / 50)),
    ],
    ids=["no-loss", "isolated", "one-burst-of-4", "two-bursts-of-2", "mixed-runs"],
)
def test_burst_ratio(pattern: str, expected: float) -> None:
    assert burst_ratio([c == "x" for c in pattern]) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("order", "expected"),
    [([0, 1, 2, 3], 0), ([0, 2, 1, 3], 1), ([3, 0, 1, 2], 3), ([1, 0, 3, 2], 2), ([], 0)],
    ids=["in-order", "one-swap", "first-overtakes-all", "two-swaps", "nothing"],
)
def test_reordered_count(order: list[int], expected: int) -> None:
    assert reordered_count(order) == expected


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        (list(range(1, 11)), 0.5, 5),
        (list(range(1, 11)), 0.95, 10),
        (list(range(1, 101)), 0.95, 95),
        ([7.0], 0.99, 7.0),
        ([3, 1, 2], 1.0, 3),
    ],
    ids=["median", "p95-of-10", "p95-of-100", "single", "max"],
)
def test_nearest_rank_percentile(values: list[float], fraction: float, expected: float) -> None:
    assert percentile(values, fraction) == expected


def test_percentile_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)
    with pytest.raises(ValueError, match="fraction"):
        percentile([1.0], 0)


def test_late_packets_are_those_beyond_the_buffer_over_the_fastest() -> None:
    arrivals = stream([10.0, 12.0, 55.0, 11.0, 50.0])
    assert late_positions(arrivals, 40) == {2}
    assert late_positions(arrivals, 39) == {2, 4}
    assert late_positions([], 40) == set()


def test_summary_counts_late_packets_as_effective_loss() -> None:
    # 6 positions: 2 lost in the network (positions 1, 2: one run), 1 late (position 5).
    arrivals = [a for a in stream([10.0] * 5 + [80.0]) if a.position not in (1, 2)]
    summary = summarise_direction(6, arrivals, {1, 2}, jitter_buffer_ms=40)
    assert (summary.lost, summary.late) == (2, 1)
    assert summary.loss_ratio == pytest.approx(2 / 6)
    assert summary.late_ratio == pytest.approx(1 / 6)
    assert summary.effective_loss_ratio == pytest.approx(3 / 6)
    assert summary.burst_ratio == pytest.approx(1.0)  # runs 2 and 1: 1.5 x 0.5 < 1
    assert summary.delay_min_ms == pytest.approx(10.0)
    assert summary.delay_max_ms == pytest.approx(80.0)
    assert summary.delay_mean_ms == pytest.approx(27.5)
    assert summary.delay_p50_ms == pytest.approx(10.0)


def test_summary_needs_an_arrival() -> None:
    with pytest.raises(ValueError, match="no packet arrived"):
        summarise_direction(5, [], {0, 1, 2, 3, 4}, 40)


def reflections(pairs: list[tuple[int, int]]) -> list[Reflection]:
    """Reflections for (sender seq, reflector seq) pairs, in the listed arrival order."""
    return [
        Reflection(s, r, s * INTERVAL, s * INTERVAL + MS, s * INTERVAL + MS, s * INTERVAL + 2 * MS)
        for s, r in pairs
    ]


@pytest.mark.parametrize(
    ("sent", "pairs", "outbound_lost", "inbound_lost", "unresolved"),
    [
        (5, [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4)], set(), set(), 0),
        (5, [(0, 0), (1, 1), (3, 3), (4, 4)], set(), {2}, 0),
        (5, [(0, 0), (1, 1), (3, 2), (4, 3)], {2}, set(), 0),
        (5, [(0, 0), (1, 1), (4, 3)], {2}, {2}, 0),
        (6, [(0, 0), (3, 1), (5, 3)], {1, 2}, {2}, 0),
        (5, [(0, 0), (1, 1), (2, 2)], set(), set(), 2),
        (4, [(1, 0), (2, 1), (3, 2)], {0}, set(), 0),
    ],
    ids=[
        "no-loss",
        "inbound-loss",
        "outbound-loss",
        "both-in-one-gap",
        "outbound-burst-and-inbound",
        "unresolved-tail",
        "first-lost-outbound",
    ],
)
def test_split_directions(
    sent: int,
    pairs: list[tuple[int, int]],
    outbound_lost: set[int],
    inbound_lost: set[int],
    unresolved: int,
) -> None:
    split = split_directions(sent, reflections(pairs))
    assert split.outbound_lost == outbound_lost
    assert split.inbound_lost == inbound_lost
    assert split.unresolved == unresolved
    assert len(split.outbound_lost) + len(split.inbound_lost) + split.unresolved == sent - len(
        pairs
    )


def test_split_keeps_each_direction_in_its_arrival_order() -> None:
    # The reflector got sender packet 1 before 0 (outbound reordering), and the sender got
    # reflector packet 2 before 1 (inbound reordering).
    split = split_directions(3, reflections([(1, 0), (2, 2), (0, 1)]))
    assert [a.position for a in split.outbound_arrivals] == [1, 0, 2]
    assert [a.position for a in split.inbound_arrivals] == [0, 2, 1]
    assert split.outbound_lost == set()
    assert split.inbound_lost == set()


def test_split_rejects_foreign_numbers() -> None:
    with pytest.raises(ValueError, match="out of range"):
        split_directions(3, reflections([(7, 0)]))
    with pytest.raises(ValueError, match="no reflection"):
        split_directions(3, [])


FATES = st.lists(st.sampled_from(["ok", "lost-out", "lost-in"]), min_size=1, max_size=200)


@given(FATES)
def test_split_counts_each_directions_loss_exactly(fates: list[str]) -> None:
    """Without reordering, the per-direction loss counts are exact (placement may not be)."""
    pairs = []
    reflector_sequence = 0
    true_in = set()
    for sender_sequence, fate in enumerate(fates):
        if fate == "lost-out":
            continue
        if fate == "ok":
            pairs.append((sender_sequence, reflector_sequence))
        else:
            true_in.add(reflector_sequence)
        reflector_sequence += 1
    if not pairs:
        return
    split = split_directions(len(fates), reflections(pairs))
    last = pairs[-1][0]
    assert len(split.outbound_lost) == fates[: last + 1].count("lost-out")
    assert split.inbound_lost == {r for r in true_in if r <= pairs[-1][1]}
    assert split.unresolved == len(fates) - 1 - last
    assert split.outbound_lost <= {s for s, fate in enumerate(fates) if fate != "ok"}
