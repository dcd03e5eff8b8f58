"""RFC 8762 STAMP test packets, unauthenticated mode: encode and decode, pure.

Session-Sender packet (44 octets): sequence number, timestamp, error estimate, 30 octets
MBZ. Session-Reflector packet (44 octets): its own sequence number, transmit timestamp,
error estimate, receive timestamp, then the sender's sequence number, timestamp and error
estimate echoed back and the TTL the sender's packet arrived with. Anything after the
44-octet base is carried as `extension` (RFC 8972 TLVs); the sender pads with one RFC 8972
Extra Padding TLV so a test packet has the size of a real voice packet.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

BASE_PACKET_SIZE = 44
TLV_HEADER_SIZE = 4
EXTRA_PADDING_TLV = 1
RTP_HEADER_SIZE = 12

# Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
NTP_UNIX_OFFSET_S = 2_208_988_800
_NS_PER_S = 1_000_000_000

_SENDER = struct.Struct("!IQH30x")
_REFLECTOR = struct.Struct("!IQHxxQIQHxxB3x")
_TLV = struct.Struct("!BBH")
# Sender and reflector packets both carry their own Timestamp in octets 4..11.
_TIMESTAMP = struct.Struct("!Q")
_TIMESTAMP_OFFSET = 4


class StampDecodeError(ValueError):
    """A datagram that is not a well-formed STAMP test packet; the message says why."""


@dataclass(frozen=True)
class ErrorEstimate:
    """RFC 4656 §4.1.2 error estimate: S, Z, Scale and Multiplier in 16 bits.

    Attributes:
        synchronized: S, the clock is synchronized to UTC from an external source.
        ptp_format: Z, timestamps are PTPv2 truncated rather than NTP 64-bit.
        scale: 6-bit exponent.
        multiplier: 8-bit mantissa, never 0; error = multiplier x 2^(scale - 32) s.
    """

    synchronized: bool
    ptp_format: bool
    scale: int
    multiplier: int

    def __post_init__(self) -> None:
        if not 0 <= self.scale <= 63:
            raise ValueError(f"error estimate: scale is 6 bits (0..63), got {self.scale}")
        if not 1 <= self.multiplier <= 255:
            raise ValueError(
                f"error estimate: multiplier must be 1..255 (RFC 4656: never 0), "
                f"got {self.multiplier}"
            )

    @property
    def seconds(self) -> float:
        """The estimated error in seconds."""
        return self.multiplier * 2.0 ** (self.scale - 32)

    @classmethod
    def covering(cls, seconds: float, *, synchronized: bool) -> ErrorEstimate:
        """The most precise NTP-format estimate that is at least `seconds`."""
        for scale in range(64):
            step = 2.0 ** (scale - 32)
            multiplier = max(1, -int(-seconds // step))
            if multiplier <= 255:
                return cls(synchronized, False, scale, multiplier)
        return cls(synchronized, False, 63, 255)

    def encode(self) -> int:
        """The 16-bit wire value."""
        return (
            (int(self.synchronized) << 15)
            | (int(self.ptp_format) << 14)
            | (self.scale << 8)
            | self.multiplier
        )

    @classmethod
    def decode(cls, value: int, field: str) -> ErrorEstimate:
        """Parses the 16-bit wire value.

        Raises:
            StampDecodeError: when the multiplier is 0, which RFC 4656 forbids.
        """
        multiplier = value & 0xFF
        if multiplier == 0:
            raise StampDecodeError(
                f"{field}: error estimate multiplier is 0, which RFC 4656 forbids "
                "(the peer is not a conforming STAMP implementation)"
            )
        return cls(bool(value & 0x8000), bool(value & 0x4000), (value >> 8) & 0x3F, multiplier)


def ntp_from_unix_ns(unix_ns: int) -> int:
    """64-bit NTP timestamp (32-bit seconds since 1900, 32-bit fraction), era wrapped."""
    seconds, nanoseconds = divmod(unix_ns, _NS_PER_S)
    fraction = (nanoseconds << 32) // _NS_PER_S
    return (((seconds + NTP_UNIX_OFFSET_S) & 0xFFFFFFFF) << 32) | fraction


def unix_ns_from_ntp(ntp: int) -> int:
    """Unix ns from a 64-bit NTP timestamp.

    NTP seconds wrap in 2036; as RFC 4330 suggests, a value with its top bit clear is read
    as the next era (2036-2104), so timestamps stay right across the wrap.
    """
    seconds = ntp >> 32
    if not seconds & 0x80000000:
        seconds += 1 << 32
    nanoseconds = ((ntp & 0xFFFFFFFF) * _NS_PER_S + (1 << 31)) >> 32
    return (seconds - NTP_UNIX_OFFSET_S) * _NS_PER_S + nanoseconds


def unix_ns_from_ptp(ptp: int) -> int:
    """Unix ns from a PTPv2 truncated timestamp (32-bit seconds, 32-bit nanoseconds).

    Raises:
        StampDecodeError: when the nanoseconds field is not below one second.
    """
    seconds, nanoseconds = ptp >> 32, ptp & 0xFFFFFFFF
    if nanoseconds >= _NS_PER_S:
        raise StampDecodeError(f"PTP timestamp: nanoseconds field {nanoseconds} ≥ 10^9")
    return seconds * _NS_PER_S + nanoseconds


def wire_to_unix_ns(wire: int, estimate: ErrorEstimate) -> int:
    """Unix ns from a wire timestamp, in the format its error estimate's Z bit names.

    Raises:
        StampDecodeError: for a PTP timestamp whose nanoseconds field is out of range.
    """
    return unix_ns_from_ptp(wire) if estimate.ptp_format else unix_ns_from_ntp(wire)


@dataclass(frozen=True)
class SenderPacket:
    """A Session-Sender test packet.

    Timestamps stay in wire form (64-bit NTP or PTP, as the error estimate's Z bit says),
    so a reflector echoes them bit for bit; the `*_ns` properties convert.

    Attributes:
        sequence: the sender's sequence number.
        timestamp: T1 on the wire.
        error_estimate: the sender's clock error estimate.
        extension: bytes after the base packet (RFC 8972 TLVs such as Extra Padding).
    """

    sequence: int
    timestamp: int
    error_estimate: ErrorEstimate
    extension: bytes = b""

    @property
    def timestamp_ns(self) -> int:
        """T1 in ns since the Unix epoch."""
        return wire_to_unix_ns(self.timestamp, self.error_estimate)


@dataclass(frozen=True)
class ReflectorPacket:
    """A stateful Session-Reflector test packet; timestamps in wire form.

    Attributes:
        sequence: the reflector's own counter for this session (stateful mode).
        timestamp: T3, when the reflector sent it.
        error_estimate: the reflector's clock error estimate (for T2 and T3).
        receive_timestamp: T2, when the reflector received the sender's packet.
        sender_sequence: the sender's sequence number, echoed.
        sender_timestamp: T1, the sender's timestamp, echoed bit for bit.
        sender_error_estimate: the sender's error estimate, echoed.
        sender_ttl: TTL (IPv4) or Hop Limit (IPv6) the sender's packet arrived with.
        extension: bytes after the base packet (RFC 8972 TLVs), echoed.
    """

    sequence: int
    timestamp: int
    error_estimate: ErrorEstimate
    receive_timestamp: int
    sender_sequence: int
    sender_timestamp: int
    sender_error_estimate: ErrorEstimate
    sender_ttl: int
    extension: bytes = b""

    @property
    def timestamp_ns(self) -> int:
        """T3 in ns since the Unix epoch."""
        return wire_to_unix_ns(self.timestamp, self.error_estimate)

    @property
    def receive_timestamp_ns(self) -> int:
        """T2 in ns since the Unix epoch."""
        return wire_to_unix_ns(self.receive_timestamp, self.error_estimate)

    @property
    def sender_timestamp_ns(self) -> int:
        """T1 in ns since the Unix epoch."""
        return wire_to_unix_ns(self.sender_timestamp, self.sender_error_estimate)


def _check_sequence(value: int, field: str) -> None:
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"{field}: sequence numbers are 32-bit unsigned, got {value}")


def _check_timestamp(value: int, field: str) -> None:
    if not 0 <= value <= 0xFFFFFFFFFFFFFFFF:
        raise ValueError(f"{field}: wire timestamps are 64-bit unsigned, got {value}")


def encode_sender_packet(packet: SenderPacket) -> bytes:
    """Wire bytes of a Session-Sender packet (MBZ octets zero)."""
    _check_sequence(packet.sequence, "sequence")
    _check_timestamp(packet.timestamp, "timestamp")
    base = _SENDER.pack(packet.sequence, packet.timestamp, packet.error_estimate.encode())
    return base + packet.extension


def restamped(data: bytes, timestamp: int) -> bytes:
    """A sender or reflector packet with its own Timestamp replaced.

    Senders stamp packets this way just before the send, so a pause of the process between
    building a packet and sending it is not measured as network delay.
    """
    _check_timestamp(timestamp, "timestamp")
    if len(data) < BASE_PACKET_SIZE:
        raise ValueError(f"a STAMP packet has at least {BASE_PACKET_SIZE} octets, got {len(data)}")
    end = _TIMESTAMP_OFFSET + _TIMESTAMP.size
    return data[:_TIMESTAMP_OFFSET] + _TIMESTAMP.pack(timestamp) + data[end:]


def decode_sender_packet(data: bytes) -> SenderPacket:
    """Parses a Session-Sender packet; MBZ octets are ignored as RFC 8762 requires.

    Raises:
        StampDecodeError: when the datagram is too short or its error estimate invalid.
    """
    if len(data) < BASE_PACKET_SIZE:
        raise StampDecodeError(
            f"STAMP sender packet too short: {len(data)} octets, the unauthenticated base "
            f"packet has {BASE_PACKET_SIZE} (RFC 8762 §4.2.1)"
        )
    sequence, timestamp, estimate = _SENDER.unpack_from(data)
    error_estimate = ErrorEstimate.decode(estimate, "sender packet")
    packet = SenderPacket(sequence, timestamp, error_estimate, bytes(data[BASE_PACKET_SIZE:]))
    _ = packet.timestamp_ns  # a PTP timestamp out of range is malformed: say so now
    return packet


def encode_reflector_packet(packet: ReflectorPacket) -> bytes:
    """Wire bytes of a stateful Session-Reflector packet (NTP timestamps, MBZ zero)."""
    _check_sequence(packet.sequence, "sequence")
    _check_sequence(packet.sender_sequence, "sender_sequence")
    if not 0 <= packet.sender_ttl <= 255:
        raise ValueError(f"sender_ttl: one octet (0..255), got {packet.sender_ttl}")
    for field in ("timestamp", "receive_timestamp", "sender_timestamp"):
        _check_timestamp(getattr(packet, field), field)
    base = _REFLECTOR.pack(
        packet.sequence,
        packet.timestamp,
        packet.error_estimate.encode(),
        packet.receive_timestamp,
        packet.sender_sequence,
        packet.sender_timestamp,
        packet.sender_error_estimate.encode(),
        packet.sender_ttl,
    )
    return base + packet.extension


def decode_reflector_packet(data: bytes) -> ReflectorPacket:
    """Parses a Session-Reflector packet.

    Raises:
        StampDecodeError: when the datagram is too short or an error estimate invalid.
    """
    if len(data) < BASE_PACKET_SIZE:
        raise StampDecodeError(
            f"STAMP reflector packet too short: {len(data)} octets, the unauthenticated base "
            f"packet has {BASE_PACKET_SIZE} (RFC 8762 §4.3.1)"
        )
    (sequence, timestamp, estimate, received, sender_sequence, sender_timestamp, sender_estimate,
     ttl) = _REFLECTOR.unpack_from(data)  # fmt: skip
    error_estimate = ErrorEstimate.decode(estimate, "reflector packet")
    sender_error_estimate = ErrorEstimate.decode(sender_estimate, "reflector packet, sender echo")
    packet = ReflectorPacket(
        sequence=sequence,
        timestamp=timestamp,
        error_estimate=error_estimate,
        receive_timestamp=received,
        sender_sequence=sender_sequence,
        sender_timestamp=sender_timestamp,
        sender_error_estimate=sender_error_estimate,
        sender_ttl=ttl,
        extension=bytes(data[BASE_PACKET_SIZE:]),
    )
    # A PTP timestamp out of range is malformed: say so now, not when it is read.
    _ = (packet.timestamp_ns, packet.receive_timestamp_ns, packet.sender_timestamp_ns)
    return packet


def voice_packet_size(payload_bytes: int) -> int:
    """UDP payload size of a test packet standing in for a voice packet.

    A voice packet's UDP payload is the 12-octet RTP header plus the codec payload; a
    STAMP packet cannot be shorter than its 44-octet base, nor padded by fewer than the
    4-octet TLV header, so sizes from 45 to 47 become 48.
    """
    size = RTP_HEADER_SIZE + payload_bytes
    if size <= BASE_PACKET_SIZE:
        return BASE_PACKET_SIZE
    return max(size, BASE_PACKET_SIZE + TLV_HEADER_SIZE)


def extra_padding(packet_size: int) -> bytes:
    """The RFC 8972 Extra Padding TLV (zero-filled) that grows a base packet to this size.

    Raises:
        ValueError: for a size the TLV cannot reach (below 44, or 45 to 47).
    """
    if packet_size == BASE_PACKET_SIZE:
        return b""
    length = packet_size - BASE_PACKET_SIZE - TLV_HEADER_SIZE
    if length < 0 or length > 0xFFFF:
        raise ValueError(
            f"packet size: {packet_size} octets cannot be built from the {BASE_PACKET_SIZE}-octet "
            f"base plus a padding TLV; use {BASE_PACKET_SIZE} or at least "
            f"{BASE_PACKET_SIZE + TLV_HEADER_SIZE}"
        )
    return _TLV.pack(0, EXTRA_PADDING_TLV, length) + bytes(length)
