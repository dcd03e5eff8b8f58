"""Voice-path results: target parsing and how one direction's Ta and rating are derived."""

from __future__ import annotations

import pytest

from cxj_probe.voice.emodel import CODECS, rate_codec
from cxj_probe.voice.result import parse_target, rate_direction
from cxj_probe.voice.stats import Arrival, summarise_direction


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("reflector.example", ("reflector.example", 862)),
        ("127.0.0.1:4862", ("127.0.0.1", 4862)),
        ("::1", ("::1", 862)),
        ("[::1]", ("::1", 862)),
        ("[2001:db8::7]:9000", ("2001:db8::7", 9000)),
    ],
    ids=["host", "host-port", "bare-ipv6", "bracketed-ipv6", "ipv6-port"],
)
def test_parse_target(target: str, expected: tuple[str, int]) -> None:
    assert parse_target(target) == expected


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (":862", "no host"),
        ("host:0", "port must be 1..65535"),
        ("host:70000", "port must be 1..65535"),
        ("host:http", "port must be 1..65535"),
        ("[::1]x", r"expected \[ipv6\]:port"),
    ],
    ids=["no-host", "port-zero", "port-too-big", "named-port", "junk-after-bracket"],
)
def test_bad_targets_are_named(target: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"target: .*{message}"):
        parse_target(target)


def test_ta_is_fastest_transit_plus_buffer_plus_codec_side_delay() -> None:
    # 50 packets, transits 30..34 ms, 2 lost, none late for a 40 ms buffer.
    arrivals = [
        Arrival(i, i * 20_000_000, i * 20_000_000 + (30 + i % 5) * 1_000_000)
        for i in range(50)
        if i not in (10, 11)
    ]
    summary = summarise_direction(50, arrivals, {10, 11}, jitter_buffer_ms=40)
    codec = CODECS["g729a"]
    stats = rate_direction(
        summary,
        codec=codec,
        packet_interval_ms=20,
        jitter_buffer_ms=40,
        network_delay_ms=summary.delay_min_ms,
        clock_synchronized=True,
    )
    assert stats.mouth_to_ear_delay_ms == pytest.approx(30 + 40 + 20 + 5)
    assert stats.effective_loss_ratio == pytest.approx(0.04)
    assert stats.burst_ratio == pytest.approx(2 * 0.96)
    expected = rate_codec(
        codec, mouth_to_ear_delay_ms=95, loss_pct=4, burst_ratio=stats.burst_ratio
    )
    assert stats.r == pytest.approx(expected.r)
    assert stats.mos == pytest.approx(expected.mos)
    assert stats.one_way_delay_ms == pytest.approx((50 * 32 - 30 - 31) / 48)
