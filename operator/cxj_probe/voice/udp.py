"""UDP socket plumbing shared by the STAMP sender and reflector: kernel timestamps, TTL, DSCP.

Receive timestamps come from the kernel (SO_TIMESTAMPNS) where Linux offers them, so the
event loop's scheduling delay does not show up as network delay or jitter; elsewhere they
are taken when the datagram is read. The TTL a packet arrived with (IP_RECVTTL /
IPV6_RECVHOPLIMIT) fills STAMP's Session-Sender TTL field.
"""

from __future__ import annotations

import ctypes
import errno
import socket
import struct
import sys
import time
from dataclasses import dataclass

# Linux values, which the socket module does not export.
_SO_TIMESTAMPNS = 35
_IP_RECVTTL = 12
_IP_TTL_CMSG = 2
_TIMESPEC = struct.Struct("@ll")
_INT = struct.Struct("@i")
_ANCILLARY_SPACE = 256
_MAX_DATAGRAM = 65535

_TIME_ERROR = 5  # adjtimex(2): the clock is not synchronized
_TIMEX_SIZE = 512  # larger than struct timex on every Linux ABI

UNKNOWN_TTL = 255


@dataclass(frozen=True)
class Datagram:
    """One received datagram with what the kernel told us about it."""

    data: bytes
    peer: tuple[str, int]
    received_ns: int
    ttl: int


def now_ns() -> int:
    """Wall-clock time in ns since the Unix epoch: the clock STAMP timestamps use."""
    return time.time_ns()


@dataclass(frozen=True)
class ClockState:
    """What the kernel says about the wall clock, for STAMP's error estimate."""

    synchronized: bool
    error_s: float


# With nothing known about the clock, claim no better than one second.
_UNKNOWN_CLOCK = ClockState(synchronized=False, error_s=1.0)


def clock_state() -> ClockState:
    """The clock's synchronization state and estimated error, from adjtimex(2) on Linux.

    Synchronized means adjtimex does not return TIME_ERROR; the error is its `esterror`.
    Other platforms report unsynchronized with a 1 s error, which keeps the S bit honest.
    """
    if sys.platform != "linux":
        return _UNKNOWN_CLOCK
    buffer = ctypes.create_string_buffer(_TIMEX_SIZE)  # modes = 0: read only
    state: int = ctypes.CDLL(None, use_errno=True).adjtimex(buffer)
    if state == -1:
        return _UNKNOWN_CLOCK
    # struct timex: unsigned int modes, then longs offset, freq, maxerror, esterror.
    long_size = ctypes.sizeof(ctypes.c_long)
    esterror_offset = long_size + 3 * long_size  # modes padded to a long's alignment
    esterror_us = int.from_bytes(
        buffer.raw[esterror_offset : esterror_offset + long_size], sys.byteorder, signed=True
    )
    return ClockState(state != _TIME_ERROR, max(esterror_us, 1) / 1_000_000)


def enable_receive_metadata(sock: socket.socket) -> None:
    """Asks the kernel for receive timestamps and arrival TTL, where the platform has them."""
    if sys.platform != "linux":
        return
    sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
    else:
        sock.setsockopt(socket.IPPROTO_IP, _IP_RECVTTL, 1)


def set_dscp(sock: socket.socket, dscp: int) -> str | None:
    """Marks outgoing packets with this DSCP; returns a note instead when not permitted.

    Raises:
        ValueError: for a DSCP outside 0..63.
    """
    if not 0 <= dscp <= 63:
        raise ValueError(f"dscp: a 6-bit code point (0..63), got {dscp}")
    traffic_class = dscp << 2
    try:
        if sock.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, traffic_class)
        else:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, traffic_class)
    except PermissionError:
        return f"DSCP {dscp} not set: this process may not mark packets (EPERM); sent unmarked"
    return None


def receive_all(sock: socket.socket) -> list[Datagram]:
    """Reads every datagram waiting on a non-blocking socket.

    Raises:
        OSError: a pending ICMP error (e.g. ConnectionRefusedError) on a connected socket.
    """
    datagrams: list[Datagram] = []
    while True:
        try:
            data, ancillary, _flags, peer = sock.recvmsg(_MAX_DATAGRAM, _ANCILLARY_SPACE)
        except (BlockingIOError, InterruptedError):
            return datagrams
        received_ns = 0
        ttl = UNKNOWN_TTL
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                seconds, nanoseconds = _TIMESPEC.unpack_from(payload)
                received_ns = seconds * 1_000_000_000 + nanoseconds
            elif (level, kind) in (
                (socket.IPPROTO_IP, _IP_TTL_CMSG),
                (socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT),
            ):
                ttl = _INT.unpack_from(payload)[0]
        # Without a kernel timestamp (non-Linux), the read time is the best there is.
        datagrams.append(Datagram(data, (peer[0], peer[1]), received_ns or now_ns(), ttl))


def send_nowait(sock: socket.socket, data: bytes, peer: tuple[str, int] | None = None) -> bool:
    """Sends one datagram without blocking; False when the socket buffer is full (dropped).

    Raises:
        OSError: ICMP errors reported on a connected socket, and other send failures.
    """
    try:
        if peer is None:
            sock.send(data)
        else:
            sock.sendto(data, peer)
    except (BlockingIOError, InterruptedError):
        return False
    return True


def is_unreachable(error: OSError) -> bool:
    """Whether an error means the peer or its network answered "not here" (ICMP)."""
    return error.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH)
