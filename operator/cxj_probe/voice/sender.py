"""The voice-path step: a STAMP session-sender streaming at a codec's packet rate.

It sends RFC 8762 test packets, sized like the codec's voice packets, on absolute
deadlines for the stream's duration, collects the stateful reflector's answers, and rates
each direction with the G.107 E-model (see docs/voice.md for every definition).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket

from cxj_probe.voice import stamp, udp
from cxj_probe.voice.codecs import codec_named
from cxj_probe.voice.result import (
    DirectionStats,
    VoicePathError,
    VoicePathResult,
    parse_target,
    rate_direction,
)
from cxj_probe.voice.stats import Reflection, split_directions, summarise_direction

__all__ = [
    "DirectionStats",
    "VoicePathError",
    "VoicePathResult",
    "measure_voice_path",
    "parse_target",
]

# After the last packet, wait this many worst round trips for stragglers (at least
# MIN_DRAIN_S, at most the timeout); a packet later than that is lost to any playout buffer.
DRAIN_ROUND_TRIPS = 3
MIN_DRAIN_S = 0.25


class _Stream:
    """The state of one test session: what was sent, what came back, what went wrong."""

    def __init__(self, sock: socket.socket, target: str, port: int) -> None:
        self.sock = sock
        self.target = target
        self.port = port
        self.sent_ns: list[int] = []
        self.sent_wire: list[int] = []
        self.reflections: list[Reflection] = []
        self.seen: set[int] = set()
        self.duplicates = 0
        self.invalid = 0
        self.last_invalid = ""
        self.local_drops = 0
        self.reflector_synchronized = True
        self.failure: BaseException | None = None
        self.failed = asyncio.Event()
        self.progress = asyncio.Event()

    def on_readable(self) -> None:
        try:
            datagrams = udp.receive_all(self.sock)
        except OSError as error:
            self.fail(error)
            return
        for datagram in datagrams:
            self._accept(datagram)
        self.progress.set()

    def fail(self, error: OSError) -> None:
        if self.failure is None:
            self.failure = self.refused(error) if udp.is_unreachable(error) else error
        self.failed.set()
        self.progress.set()

    def refused(self, error: OSError) -> VoicePathError:
        return VoicePathError(
            "connection_refused",
            f"{self.target}: {error.strerror or error} after {len(self.sent_ns)} packet(s); "
            f"start a STAMP reflector there (cxj reflector --listen HOST:{self.port}) or "
            f"fix the host and port",
        )

    def _accept(self, datagram: udp.Datagram) -> None:
        try:
            packet = stamp.decode_reflector_packet(datagram.data)
        except stamp.StampDecodeError as error:
            self.invalid += 1
            self.last_invalid = str(error)
            return
        sequence = packet.sender_sequence
        if sequence >= len(self.sent_wire) or packet.sender_timestamp != self.sent_wire[sequence]:
            self.invalid += 1
            self.last_invalid = (
                f"reflected packet echoes sender sequence {sequence} and a timestamp this "
                "sender never sent (not a STAMP reflector for this session?)"
            )
            return
        if sequence in self.seen:
            self.duplicates += 1
            return
        self.seen.add(sequence)
        self.reflector_synchronized &= packet.error_estimate.synchronized
        self.reflections.append(
            Reflection(
                sender_sequence=sequence,
                reflector_sequence=packet.sequence,
                t1_ns=self.sent_ns[sequence],
                t2_ns=packet.receive_timestamp_ns,
                t3_ns=packet.timestamp_ns,
                t4_ns=datagram.received_ns,
            )
        )

    def raise_if_failed(self) -> None:
        if self.failure is not None:
            raise self.failure

    def send(self, packet: bytes, sequence: int, error_estimate: stamp.ErrorEstimate) -> None:
        unstamped = stamp.encode_sender_packet(
            stamp.SenderPacket(sequence, 0, error_estimate, packet)
        )
        # T1 is taken last, so that only the send itself follows it.
        sent_ns = udp.now_ns()
        wire = stamp.ntp_from_unix_ns(sent_ns)
        data = stamp.restamped(unstamped, wire)
        self.sent_ns.append(sent_ns)
        self.sent_wire.append(wire)
        try:
            if not udp.send_nowait(self.sock, data):
                self.local_drops += 1
        except OSError as error:
            self.fail(error)

    def timed_out(self, timeout_s: float, sent: int) -> VoicePathError:
        detail = f"; {self.invalid} invalid answer(s): {self.last_invalid}" if self.invalid else ""
        if self.invalid:
            return VoicePathError(
                "invalid_response", f"{self.target}: no valid STAMP reflection{detail}"
            )
        return VoicePathError(
            "timeout",
            f"{self.target}: no reflected packet within {timeout_s:g} s of the first of "
            f"{sent} sent; check that a STAMP reflector runs there and UDP port {self.port} "
            "is open",
        )


async def _resolve(host: str, port: int) -> tuple[socket.AddressFamily, tuple[str, int]]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except socket.gaierror as error:
        raise VoicePathError(
            "name_resolution", f"{host}: cannot resolve ({error.strerror}); check the name"
        ) from error
    family, _, _, _, address = infos[0]
    return family, (str(address[0]), int(address[1]))


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Waits until the event is set or the time is up, whichever comes first."""
    if seconds > 0 and not event.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)


async def measure_voice_path(
    target: str,
    *,
    codec: str = "g711",
    duration_s: float = 5.0,
    packet_interval_s: float | None = None,
    jitter_buffer_ms: float = 40.0,
    dscp: int = 46,
    timeout_s: float = 2.0,
) -> VoicePathResult:
    """Streams STAMP packets to a reflector like a call would and rates both directions.

    Args:
        target: reflector as host or host:port (port 862 by default).
        codec: g711, g711-plc, g729a or g723.1: packet size, delay and E-model values.
        duration_s: how long to stream.
        packet_interval_s: time between packets; None uses the codec's usual interval.
        jitter_buffer_ms: depth of the fixed playout buffer assumed at each end.
        dscp: DiffServ code point to mark packets with (46 = EF, voice).
        timeout_s: give up when nothing comes back this long after the first packet.

    Raises:
        VoicePathError: name_resolution, connection_refused, timeout or invalid_response.
        ValueError: for an argument out of range, naming it.
    """
    chosen = codec_named(codec)
    interval_ms = chosen.interval_ms(
        None if packet_interval_s is None else round(packet_interval_s * 1000, 6)
    )
    for name, value in (("duration_s", duration_s), ("timeout_s", timeout_s)):
        if not value > 0:
            raise ValueError(f"{name}: must be positive, got {value}")
    if jitter_buffer_ms < 0:
        raise ValueError(f"jitter_buffer_ms: must not be negative, got {jitter_buffer_ms}")
    if not 0 <= dscp <= 63:
        raise ValueError(f"dscp: a 6-bit code point (0..63), got {dscp}")
    count = max(1, round(duration_s * 1000 / interval_ms))
    size = stamp.voice_packet_size(chosen.payload_bytes(interval_ms))
    padding = stamp.extra_padding(size)
    host, port = parse_target(target)
    family, address = await _resolve(host, port)

    loop = asyncio.get_running_loop()
    sock = socket.socket(family, socket.SOCK_DGRAM)
    notes: list[str] = []
    stream = _Stream(sock, target, port)
    try:
        sock.setblocking(False)
        note = udp.set_dscp(sock, dscp)
        if note:
            notes.append(note)
        udp.enable_receive_metadata(sock)
        try:
            sock.connect(address)
        except OSError as error:
            if udp.is_unreachable(error):
                raise stream.refused(error) from error
            raise
        loop.add_reader(sock.fileno(), stream.on_readable)
        try:
            await _run(stream, count, interval_ms / 1000, padding, timeout_s)
        finally:
            loop.remove_reader(sock.fileno())
    finally:
        sock.close()

    if stream.local_drops:
        notes.append(f"{stream.local_drops} packet(s) dropped by the local socket (buffer full)")
    if stream.invalid:
        notes.append(f"{stream.invalid} invalid answer(s) ignored: {stream.last_invalid}")
    split = split_directions(count, stream.reflections)
    same_clock = ipaddress.ip_address(address[0].split("%")[0]).is_loopback
    comparable = same_clock or (udp.clock_state().synchronized and stream.reflector_synchronized)
    round_trips = [item.round_trip_ms for item in stream.reflections]
    directions = []
    for packets, arrivals, lost in (
        (split.outbound_packets, split.outbound_arrivals, split.outbound_lost),
        (split.inbound_packets, split.inbound_arrivals, split.inbound_lost),
    ):
        summary = summarise_direction(packets, arrivals, lost, jitter_buffer_ms)
        directions.append(
            rate_direction(
                summary,
                codec=chosen,
                packet_interval_ms=interval_ms,
                jitter_buffer_ms=jitter_buffer_ms,
                network_delay_ms=summary.delay_min_ms if comparable else min(round_trips) / 2,
                clock_synchronized=comparable,
            )
        )
    return VoicePathResult(
        target=target,
        address=address[0],
        port=port,
        codec=chosen.name,
        packet_interval_ms=interval_ms,
        packet_size=size,
        jitter_buffer_ms=jitter_buffer_ms,
        dscp=dscp,
        packets_sent=count,
        packets_received=len(stream.reflections),
        unresolved=split.unresolved,
        duplicates=stream.duplicates,
        invalid=stream.invalid,
        rtt_ms=sum(round_trips) / len(round_trips),
        rtt_min_ms=min(round_trips),
        rtt_max_ms=max(round_trips),
        outbound=directions[0],
        inbound=directions[1],
        notes=tuple(notes),
    )


async def _run(
    stream: _Stream, count: int, interval_s: float, padding: bytes, timeout_s: float
) -> None:
    """Sends `count` packets on absolute deadlines, then waits for the stragglers."""
    loop = asyncio.get_running_loop()
    clock = udp.clock_state()
    estimate = stamp.ErrorEstimate.covering(clock.error_s, synchronized=clock.synchronized)
    start = loop.time()
    for sequence in range(count):
        # Absolute deadlines: a late wake-up shortens the next wait instead of drifting.
        await _wait(stream.failed, start + sequence * interval_s - loop.time())
        stream.raise_if_failed()
        if not stream.reflections and loop.time() - start > timeout_s:
            raise stream.timed_out(timeout_s, sequence)
        stream.send(padding, sequence, estimate)
    last_send = loop.time()
    while len(stream.reflections) < count:
        stream.raise_if_failed()
        if stream.reflections:
            worst_s = max(item.round_trip_ms for item in stream.reflections) / 1000
            grace = min(timeout_s, max(MIN_DRAIN_S, DRAIN_ROUND_TRIPS * worst_s))
            deadline = last_send + grace
        else:
            deadline = start + timeout_s
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        stream.progress.clear()
        await _wait(stream.progress, remaining)
    stream.raise_if_failed()
    if not stream.reflections:
        raise stream.timed_out(timeout_s, count)
