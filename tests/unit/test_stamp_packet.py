"""STAMP (RFC 8762) unauthenticated test packets: layout, timestamps, error estimate, errors."""

from __future__ import annotations

import dataclasses
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxj_probe.voice import stamp
from cxj_probe.voice.stamp import (
    ErrorEstimate,
    ReflectorPacket,
    SenderPacket,
    StampDecodeError,
)

SYNCED = ErrorEstimate(synchronized=True, ptp_format=False, scale=0, multiplier=1)
UNSYNCED = ErrorEstimate(synchronized=False, ptp_format=False, scale=20, multiplier=16)


def test_sender_packet_layout() -> None:
    packet = SenderPacket(sequence=0x01020304, timestamp=0x1112131415161718, error_estimate=SYNCED)
    data = stamp.encode_sender_packet(packet)
    assert len(data) == 44
    assert data[:4] == bytes.fromhex("01020304")
    assert data[4:12] == bytes.fromhex("1112131415161718")
    assert data[12:14] == bytes.fromhex("8001")  # S=1, Z=0, scale 0, multiplier 1
    assert data[14:] == bytes(30)  # MBZ
    assert stamp.decode_sender_packet(data) == packet


def test_reflector_packet_layout() -> None:
    packet = ReflectorPacket(
        sequence=7,
        timestamp=0xA0A0A0A0B0B0B0B0,
        error_estimate=UNSYNCED,
        receive_timestamp=0xA0A0A0A0A0A0A0A0,
        sender_sequence=9,
        sender_timestamp=0x9090909090909090,
        sender_error_estimate=SYNCED,
        sender_ttl=64,
    )
    data = stamp.encode_reflector_packet(packet)
    assert len(data) == 44
    fields = struct.unpack("!IQHHQIQHHB3s", data)
    assert fields == (
        7,
        0xA0A0A0A0B0B0B0B0,
        0x1410,  # S=0, Z=0, scale 20, multiplier 16
        0,
        0xA0A0A0A0A0A0A0A0,
        9,
        0x9090909090909090,
        0x8001,
        0,
        64,
        bytes(3),
    )
    assert stamp.decode_reflector_packet(data) == packet


def test_restamping_replaces_only_the_packets_own_timestamp() -> None:
    sender = SenderPacket(7, 0x1111, SYNCED, b"payload")
    restamped = stamp.restamped(stamp.encode_sender_packet(sender), 0x2222)
    assert stamp.decode_sender_packet(restamped) == SenderPacket(7, 0x2222, SYNCED, b"payload")
    reflector = ReflectorPacket(
        sequence=3,
        timestamp=0x3333,
        error_estimate=UNSYNCED,
        receive_timestamp=0x4444,
        sender_sequence=7,
        sender_timestamp=0x1111,
        sender_error_estimate=SYNCED,
        sender_ttl=64,
    )
    data = stamp.restamped(stamp.encode_reflector_packet(reflector), 0x5555)
    assert stamp.decode_reflector_packet(data) == dataclasses.replace(reflector, timestamp=0x5555)
    with pytest.raises(ValueError, match="at least 44 octets"):
        stamp.restamped(bytes(12), 1)
    with pytest.raises(ValueError, match="64-bit"):
        stamp.restamped(restamped, -1)


def test_extension_bytes_travel_with_the_packet() -> None:
    padding = stamp.extra_padding(172)
    sender = SenderPacket(1, stamp.ntp_from_unix_ns(10**18), SYNCED, padding)
    data = stamp.encode_sender_packet(sender)
    assert len(data) == 172
    assert stamp.decode_sender_packet(data).extension == padding


def test_mbz_octets_are_ignored_on_receipt() -> None:
    data = bytearray(stamp.encode_sender_packet(SenderPacket(5, 123, SYNCED)))
    data[20] = 0xFF
    assert stamp.decode_sender_packet(bytes(data)).sequence == 5


@pytest.mark.parametrize(
    ("unix_ns", "ntp"),
    [
        (0, 2_208_988_800 << 32),
        (500_000_000, (2_208_988_800 << 32) | 0x80000000),
        (1_700_000_000_250_000_000, ((1_700_000_000 + 2_208_988_800) << 32) | 0x40000000),
    ],
    ids=["unix-epoch", "half-second", "2023"],
)
def test_ntp_timestamps(unix_ns: int, ntp: int) -> None:
    assert stamp.ntp_from_unix_ns(unix_ns) == ntp
    assert stamp.unix_ns_from_ntp(ntp) == unix_ns


def test_ntp_era_wrap_in_2036() -> None:
    wrap_unix_s = (1 << 32) - 2_208_988_800  # 2036-02-07T06:28:16Z
    assert stamp.ntp_from_unix_ns(wrap_unix_s * 10**9) == 0
    assert stamp.unix_ns_from_ntp(0) == wrap_unix_s * 10**9
    assert stamp.unix_ns_from_ntp(stamp.ntp_from_unix_ns((wrap_unix_s + 5) * 10**9)) == (
        (wrap_unix_s + 5) * 10**9
    )


@given(st.integers(min_value=0, max_value=4_000_000_000 * 10**9))
def test_ntp_round_trip_within_a_nanosecond(unix_ns: int) -> None:
    assert abs(stamp.unix_ns_from_ntp(stamp.ntp_from_unix_ns(unix_ns)) - unix_ns) <= 1


def test_ptp_format_timestamps_are_read_when_z_is_set() -> None:
    ptp = ErrorEstimate(synchronized=True, ptp_format=True, scale=0, multiplier=1)
    packet = SenderPacket(1, (1_700_000_000 << 32) | 250_000_000, ptp)
    decoded = stamp.decode_sender_packet(stamp.encode_sender_packet(packet))
    assert decoded.timestamp_ns == 1_700_000_000_250_000_000


@pytest.mark.parametrize("seconds", [0.0, 1e-9, 1e-6, 1e-3, 0.25, 16.0, 1e6])
def test_error_estimate_covers_the_error_tightly(seconds: float) -> None:
    estimate = ErrorEstimate.covering(seconds, synchronized=False)
    assert estimate.seconds >= seconds
    assert estimate.seconds <= max(2 * seconds, 2.0**-32)
    assert ErrorEstimate.decode(estimate.encode(), "test") == estimate


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too short: 0 octets"),
        (bytes(43), "too short: 43 octets"),
        (bytes(44), "multiplier is 0"),
    ],
    ids=["empty", "one-octet-short", "zero-multiplier"],
)
def test_malformed_sender_packets_are_rejected_with_the_reason(data: bytes, message: str) -> None:
    with pytest.raises(StampDecodeError, match=message):
        stamp.decode_sender_packet(data)


def valid_reflection() -> bytearray:
    return bytearray(
        stamp.encode_reflector_packet(ReflectorPacket(1, 2, SYNCED, 3, 4, 5, SYNCED, 255, b""))
    )


def test_malformed_reflector_packets_are_rejected_with_the_reason() -> None:
    with pytest.raises(StampDecodeError, match="reflector packet too short: 40 octets"):
        stamp.decode_reflector_packet(bytes(valid_reflection()[:40]))
    broken = valid_reflection()
    broken[37] = 0  # the echoed sender error estimate's multiplier
    with pytest.raises(StampDecodeError, match="sender echo: error estimate multiplier is 0"):
        stamp.decode_reflector_packet(bytes(broken))
    ptp_out_of_range = valid_reflection()
    ptp_out_of_range[12] |= 0x40  # Z = 1: timestamps are PTP
    ptp_out_of_range[8:12] = (2_000_000_000).to_bytes(4, "big")  # nanoseconds >= 10^9
    with pytest.raises(StampDecodeError, match="nanoseconds field"):
        stamp.decode_reflector_packet(bytes(ptp_out_of_range))


def test_encoding_rejects_out_of_range_fields() -> None:
    with pytest.raises(ValueError, match="sequence: sequence numbers are 32-bit"):
        stamp.encode_sender_packet(SenderPacket(1 << 32, 0, SYNCED))
    with pytest.raises(ValueError, match="sender_ttl"):
        stamp.encode_reflector_packet(ReflectorPacket(1, 2, SYNCED, 3, 4, 5, SYNCED, 256))
    with pytest.raises(ValueError, match=r"multiplier must be 1\.\.255"):
        ErrorEstimate(synchronized=False, ptp_format=False, scale=0, multiplier=0)


@pytest.mark.parametrize(
    ("payload", "size"),
    [(160, 172), (20, 44), (24, 44), (32, 44), (33, 48), (35, 48), (36, 48), (480, 492)],
    ids=["g711-20ms", "g729a-20ms", "g723.1-30ms", "exactly-base", "one-over", "three-over",
         "tlv-minimum", "g711-60ms"],
)  # fmt: skip
def test_voice_packet_size_is_rtp_header_plus_payload(payload: int, size: int) -> None:
    assert stamp.voice_packet_size(payload) == size


def test_extra_padding_tlv() -> None:
    tlv = stamp.extra_padding(172)
    assert tlv[:4] == bytes([0, 1]) + (124).to_bytes(2, "big")  # flags, type 1, length
    assert tlv[4:] == bytes(124)
    assert stamp.extra_padding(44) == b""
    with pytest.raises(ValueError, match="use 44 or at least 48"):
        stamp.extra_padding(46)
