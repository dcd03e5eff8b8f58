"""What a voice-path measurement returns, and how one direction is rated: pure.

The session-sender (`sender`) fills these from the STAMP timestamps; `rate_direction`
turns a direction's statistics into R and MOS with the E-model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cxj_probe.voice.codecs import Codec
from cxj_probe.voice.emodel import rate_codec
from cxj_probe.voice.stats import DirectionSummary

DEFAULT_PORT = 862

ErrorType = Literal["name_resolution", "connection_refused", "timeout", "invalid_response"]


class VoicePathError(Exception):
    """The voice path could not be measured; `error_type` says how, `message` what to do."""

    def __init__(self, error_type: ErrorType, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type: ErrorType = error_type
        self.message = message


@dataclass(frozen=True)
class DirectionStats:
    """One direction of the path (outbound: probe to reflector; inbound: back).

    Ratios are fractions in [0, 1]; times are ms. One-way delays come from the STAMP
    timestamps and are absolute only when `clock_synchronized` (both ends report a
    synchronized clock, or they share one clock on loopback).
    """

    packets: int
    lost: int
    late: int
    loss_ratio: float
    late_ratio: float
    effective_loss_ratio: float
    burst_ratio: float
    reordered: int
    one_way_delay_ms: float
    one_way_delay_min_ms: float
    one_way_delay_p50_ms: float
    one_way_delay_p95_ms: float
    one_way_delay_max_ms: float
    jitter_ms: float
    delay_variation_ms: float
    clock_synchronized: bool
    mouth_to_ear_delay_ms: float
    r: float
    mos: float


@dataclass(frozen=True)
class VoicePathResult:
    """What one voice-path measurement found."""

    target: str
    address: str
    port: int
    codec: str
    packet_interval_ms: float
    packet_size: int
    jitter_buffer_ms: float
    dscp: int
    packets_sent: int
    packets_received: int
    unresolved: int
    duplicates: int
    invalid: int
    rtt_ms: float
    rtt_min_ms: float
    rtt_max_ms: float
    outbound: DirectionStats
    inbound: DirectionStats
    notes: tuple[str, ...]


def parse_target(target: str) -> tuple[str, int]:
    """Splits host, host:port, [v6] or [v6]:port (a bare IPv6 address has no port).

    Raises:
        ValueError: naming `target` and what is wrong with it.
    """
    text = target.strip()
    host, port_text = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ValueError(f"target: expected [ipv6]:port, got {target!r}")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    if not host:
        raise ValueError(f"target: no host in {target!r}; use host or host:port")
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"target: port must be 1..65535, got {port_text!r} in {target!r}")
    return host, int(port_text)


def rate_direction(
    summary: DirectionSummary,
    *,
    codec: Codec,
    packet_interval_ms: float,
    jitter_buffer_ms: float,
    network_delay_ms: float,
    clock_synchronized: bool,
) -> DirectionStats:
    """Rates one direction: Ta = network delay + jitter buffer + codec-side delay.

    The network delay is the fastest one-way transit (the playout buffer is anchored on
    it); the codec side is the packet interval plus the codec's look-ahead. Loss fed to the
    E-model is the effective loss (lost or too late for the buffer) with its burst ratio.
    """
    mouth_to_ear = (
        max(0.0, network_delay_ms) + jitter_buffer_ms + codec.sender_delay_ms(packet_interval_ms)
    )
    rating = rate_codec(
        codec,
        mouth_to_ear_delay_ms=mouth_to_ear,
        loss_pct=100 * summary.effective_loss_ratio,
        burst_ratio=summary.burst_ratio,
    )
    return DirectionStats(
        packets=summary.packets,
        lost=summary.lost,
        late=summary.late,
        loss_ratio=summary.loss_ratio,
        late_ratio=summary.late_ratio,
        effective_loss_ratio=summary.effective_loss_ratio,
        burst_ratio=summary.burst_ratio,
        reordered=summary.reordered,
        one_way_delay_ms=summary.delay_mean_ms,
        one_way_delay_min_ms=summary.delay_min_ms,
        one_way_delay_p50_ms=summary.delay_p50_ms,
        one_way_delay_p95_ms=summary.delay_p95_ms,
        one_way_delay_max_ms=summary.delay_max_ms,
        jitter_ms=summary.jitter_ms,
        delay_variation_ms=summary.delay_variation_ms,
        clock_synchronized=clock_synchronized,
        mouth_to_ear_delay_ms=mouth_to_ear,
        r=rating.r,
        mos=rating.mos,
    )
