"""Voice-path statistics from STAMP timestamps: RFC 3550 jitter, loss, burst ratio, reordering.

Pure functions over sequences. A *direction* (outbound: sender → reflector; inbound:
reflector → sender) has positions 0..packets-1 in its send order; each packet that arrived
is an `Arrival` with its send and receive timestamps, listed in arrival order.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

NS_PER_MS = 1_000_000

# RFC 3550 §6.4.1: the estimator's gain, 1/16, "gives a good noise reduction ratio while
# maintaining a reasonable rate of convergence".
JITTER_GAIN = 1 / 16


@dataclass(frozen=True)
class Arrival:
    """One packet that reached the far end of a direction.

    Attributes:
        position: its sequence number in the direction's send order.
        sent_ns: when it was sent (ns since the Unix epoch, sender's clock).
        received_ns: when it arrived (ns since the Unix epoch, receiver's clock).
    """

    position: int
    sent_ns: int
    received_ns: int

    @property
    def transit_ms(self) -> float:
        """One-way transit time; absolute only when both clocks agree."""
        return (self.received_ns - self.sent_ns) / NS_PER_MS


def interarrival_jitter_ms(arrivals: Sequence[Arrival]) -> float:
    """RFC 3550 interarrival jitter J after the last arrival, in ms.

    For each packet in arrival order, D = (Rj - Ri) - (Sj - Si) against the previous
    arrival, i.e. the difference of their transit times, and J += (|D| - J)/16, starting
    from J = 0 as in RFC 3550 Appendix A.8. Clock offsets cancel in D.
    """
    jitter = 0.0
    for previous, current in itertools.pairwise(arrivals):
        difference = abs(current.transit_ms - previous.transit_ms)
        jitter += (difference - jitter) * JITTER_GAIN
    return jitter


def mean_delay_variation_ms(arrivals: Sequence[Arrival]) -> float:
    """Mean |D| over consecutive arrivals: the value RFC 3550's J tracks, over the whole stream.

    J is an exponentially weighted average of |D| (it weights about the last 16 packets),
    so one reading of it is noisy; this mean is the same quantity with every packet counted.
    """
    differences = [
        abs(current.transit_ms - previous.transit_ms)
        for previous, current in itertools.pairwise(arrivals)
    ]
    return sum(differences) / len(differences) if differences else 0.0


def loss_runs(lost: Sequence[bool]) -> list[int]:
    """Lengths of the runs of consecutive lost positions, in order."""
    runs: list[int] = []
    current = 0
    for is_lost in lost:
        if is_lost:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    if current:
        runs.append(current)
    return runs


def burst_ratio(lost: Sequence[bool]) -> float:
    """G.107's BurstR estimated from the observed loss runs.

    BurstR = (mean observed loss-run length) / (mean run length random loss would give).
    Independent loss with probability p gives runs of mean length 1/(1 - p), so
    BurstR = mean_run x (1 - p), which for a two-state Markov loss process equals G.107's
    1/(p_lost|found + p_found|lost). No loss gives 1. A pattern more spread out than
    random (BurstR < 1) is reported as 1, the E-model's floor for random loss.
    """
    runs = loss_runs(lost)
    if not runs:
        return 1.0
    ratio = sum(runs) / len(lost)
    return max(1.0, (sum(runs) / len(runs)) * (1 - ratio))


def reordered_count(positions_in_arrival_order: Sequence[int]) -> int:
    """Packets that arrived after a packet sent later than them (RFC 4737 "reordered")."""
    count = 0
    highest = -1
    for position in positions_in_arrival_order:
        if position < highest:
            count += 1
        else:
            highest = position
    return count


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with at least `fraction` of values ≤ it.

    Raises:
        ValueError: on no values or a fraction outside (0, 1].
    """
    if not values:
        raise ValueError("percentile: no values")
    if not 0 < fraction <= 1:
        raise ValueError(f"percentile: fraction must be in (0, 1], got {fraction}")
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def late_positions(arrivals: Sequence[Arrival], jitter_buffer_ms: float) -> set[int]:
    """Positions that arrived too late for a fixed playout buffer of this depth.

    The buffer plays every packet at (send time + fastest transit + buffer depth), so a
    packet whose transit exceeds the fastest one by more than the depth misses its slot.
    """
    if not arrivals:
        return set()
    fastest = min(arrival.transit_ms for arrival in arrivals)
    return {a.position for a in arrivals if a.transit_ms - fastest > jitter_buffer_ms}


@dataclass(frozen=True)
class DirectionSummary:
    """Statistics of one direction; ratios are fractions in [0, 1], times in ms."""

    packets: int
    lost: int
    late: int
    loss_ratio: float
    late_ratio: float
    effective_loss_ratio: float
    burst_ratio: float
    reordered: int
    delay_min_ms: float
    delay_mean_ms: float
    delay_p50_ms: float
    delay_p95_ms: float
    delay_max_ms: float
    jitter_ms: float
    delay_variation_ms: float


def summarise_direction(
    packets: int,
    arrivals: Sequence[Arrival],
    lost: Collection[int],
    jitter_buffer_ms: float,
) -> DirectionSummary:
    """Summarises a direction: network loss, late loss, their burstiness, delay and jitter.

    Raises:
        ValueError: when nothing arrived (there is no delay to describe).
    """
    if not arrivals or packets <= 0:
        raise ValueError("summarise_direction: no packet arrived in this direction")
    late = late_positions(arrivals, jitter_buffer_ms)
    effective = set(lost) | late
    pattern = [position in effective for position in range(packets)]
    transits = [arrival.transit_ms for arrival in arrivals]
    return DirectionSummary(
        packets=packets,
        lost=len(lost),
        late=len(late),
        loss_ratio=len(lost) / packets,
        late_ratio=len(late) / packets,
        effective_loss_ratio=len(effective) / packets,
        burst_ratio=burst_ratio(pattern),
        reordered=reordered_count([arrival.position for arrival in arrivals]),
        delay_min_ms=min(transits),
        delay_mean_ms=sum(transits) / len(transits),
        delay_p50_ms=percentile(transits, 0.5),
        delay_p95_ms=percentile(transits, 0.95),
        delay_max_ms=max(transits),
        jitter_ms=interarrival_jitter_ms(arrivals),
        delay_variation_ms=mean_delay_variation_ms(arrivals),
    )


@dataclass(frozen=True)
class Reflection:
    """One reflected packet as the session-sender received it (T1..T4 in ns, Unix epoch).

    Attributes:
        sender_sequence: the sender's sequence number echoed by the reflector.
        reflector_sequence: the stateful reflector's own sequence number for this session.
        t1_ns: sender transmit timestamp.
        t2_ns: reflector receive timestamp.
        t3_ns: reflector transmit timestamp.
        t4_ns: sender receive timestamp.
    """

    sender_sequence: int
    reflector_sequence: int
    t1_ns: int
    t2_ns: int
    t3_ns: int
    t4_ns: int

    @property
    def round_trip_ms(self) -> float:
        """Network round trip: (T4 - T1) - (T3 - T2), the reflector's turnaround removed."""
        return ((self.t4_ns - self.t1_ns) - (self.t3_ns - self.t2_ns)) / NS_PER_MS


@dataclass(frozen=True)
class SplitPath:
    """Both directions reconstructed from the reflections (see `split_directions`)."""

    outbound_packets: int
    outbound_arrivals: tuple[Arrival, ...]
    outbound_lost: frozenset[int]
    inbound_packets: int
    inbound_arrivals: tuple[Arrival, ...]
    inbound_lost: frozenset[int]
    unresolved: int


def split_directions(packets_sent: int, reflections: Sequence[Reflection]) -> SplitPath:
    """Splits loss between the directions using the stateful reflector's sequence numbers.

    The reflector numbers the packets it receives 0, 1, 2, ..., so a gap in its numbers
    that reaches us is inbound loss, and a sender number missing between two reflections
    with consecutive reflector numbers was lost outbound. When both directions lose
    packets between the same two reflections, which sender numbers were lost outbound is
    ambiguous; they are taken as the earliest ones of that gap (the count is exact).
    Packets sent after the last one that came back cannot be placed in either direction:
    they are counted as `unresolved` and left out of both.

    Args:
        packets_sent: how many test packets the sender sent (numbers 0..packets_sent-1).
        reflections: unique reflections, in the order the sender received them.

    Raises:
        ValueError: when there is no reflection or a number is out of range.
    """
    if not reflections:
        raise ValueError("split_directions: no reflection to split")
    for item in reflections:
        if not 0 <= item.sender_sequence < packets_sent or item.reflector_sequence < 0:
            raise ValueError(f"split_directions: sequence number out of range in {item}")
    last_sender = max(item.sender_sequence for item in reflections)
    last_reflector = max(item.reflector_sequence for item in reflections)
    seen_reflector = {item.reflector_sequence for item in reflections}
    inbound_lost = frozenset(set(range(last_reflector + 1)) - seen_reflector)
    inbound = tuple(Arrival(r.reflector_sequence, r.t3_ns, r.t4_ns) for r in reflections)

    by_reflector = sorted(reflections, key=lambda item: item.reflector_sequence)
    seen_sender = {item.sender_sequence for item in reflections}
    outbound_lost: set[int] = set()
    previous_sender, previous_reflector = -1, -1
    for item in by_reflector:
        lost_inbound_here = item.reflector_sequence - previous_reflector - 1
        missing = [
            s for s in range(previous_sender + 1, item.sender_sequence) if s not in seen_sender
        ]
        outbound_lost.update(missing[: max(0, len(missing) - lost_inbound_here)])
        previous_sender = max(previous_sender, item.sender_sequence)
        previous_reflector = item.reflector_sequence
    outbound = tuple(Arrival(r.sender_sequence, r.t1_ns, r.t2_ns) for r in by_reflector)
    return SplitPath(
        outbound_packets=last_sender + 1,
        outbound_arrivals=outbound,
        outbound_lost=frozenset(outbound_lost),
        inbound_packets=last_reflector + 1,
        inbound_arrivals=inbound,
        inbound_lost=inbound_lost,
        unresolved=packets_sent - (last_sender + 1),
    )
