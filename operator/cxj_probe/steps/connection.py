"""Timed connections for step executors: resolve and TCP connect, socket errors mapped.

Every executor that opens a connection (tcp, tls, http) goes through these functions, so
a phase means the same thing in every step kind and a failure gets the same error.type.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
import ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cxj_probe.steps.base import Phase, StepFailure
from cxj_probe.steps.handshake import tls_failure

if TYPE_CHECKING:  # timing maps stray socket errors with network_failure from here
    from cxj_probe.steps.timing import StepClock

_UNREACHABLE = frozenset({errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL})


@dataclass(frozen=True)
class Address:
    """One address a host name resolved to, ready for connect()."""

    family: int
    sockaddr: tuple[Any, ...]


def ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address when the host is an IP literal, else None."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def resolve(host: str, port: int, clock: StepClock, phases: list[Phase]) -> list[Address]:
    """Resolves a host name with the system resolver, timing it as the dns phase.

    An IP literal needs no lookup: it yields no dns phase at all rather than a zero one.

    Raises:
        StepFailure: name_resolution when the name does not resolve.
    """
    literal = ip_literal(host)
    if literal is not None:
        if literal.version == 6:
            return [Address(socket.AF_INET6, (host, port, 0, 0))]
        return [Address(socket.AF_INET, (host, port))]
    loop = asyncio.get_running_loop()
    start = clock.now()
    try:
        infos = await loop.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except socket.gaierror as exc:
        phases.append(Phase("dns", start, clock.now()))
        raise StepFailure("name_resolution", f"{host} does not resolve: {exc.strerror}") from exc
    except UnicodeError as exc:  # an internationalized name IDNA cannot encode
        phases.append(Phase("dns", start, clock.now()))
        raise StepFailure("name_resolution", f"{host!r} is not a valid host name") from exc
    phases.append(Phase("dns", start, clock.now()))
    if not infos:
        raise StepFailure("name_resolution", f"{host} resolved to no address")
    return [Address(info[0], info[4]) for info in infos]


async def connect(addresses: list[Address], clock: StepClock, phases: list[Phase]) -> socket.socket:
    """Opens a TCP connection to the first address that accepts, timing it as the connect phase.

    Addresses are tried in the resolver's order, as a browser without a happy-eyeballs
    race would; the phase covers every attempt, since the user waits through all of them.
    The caller owns (and must close) the returned socket.

    Raises:
        StepFailure: connection_refused, timeout, unreachable, connection_reset or network.
    """
    start = clock.now()
    failure: OSError | None = None
    for address in addresses:
        sock = socket.socket(address.family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            connected_ns = await _connected(sock, address.sockaddr)
        except OSError as exc:
            sock.close()
            failure = failure or exc
            continue
        except BaseException:
            sock.close()
            raise
        phases.append(Phase("connect", start, clock.at(connected_ns)))
        return sock
    phases.append(Phase("connect", start, clock.now()))
    where = ", ".join(_endpoint(a) for a in addresses)
    if failure is None:  # no address at all; resolve() never returns an empty list
        raise StepFailure("name_resolution", "no address to connect to")
    raise network_failure(failure, f"connect to {where}")


async def _connected(sock: socket.socket, sockaddr: tuple[Any, ...]) -> int:
    """Connects a non-blocking socket; returns perf_counter_ns when the handshake completed.

    The instant is taken in the writability callback, as the event loop learns of it,
    rather than when the awaiting coroutine next runs.

    Raises:
        OSError: the connect error (ConnectionRefusedError and so on).
    """
    try:
        sock.connect(sockaddr)
        return time.perf_counter_ns()
    except (BlockingIOError, InterruptedError):
        pass
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()

    def writable() -> None:
        if not done.done():
            done.set_result(time.perf_counter_ns())

    loop.add_writer(sock.fileno(), writable)
    try:
        connected_ns = await done
    finally:
        loop.remove_writer(sock.fileno())
    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if error:
        raise OSError(error, os.strerror(error))  # OSError picks the subclass for the errno
    return connected_ns


def _endpoint(address: Address) -> str:
    ip, port = address.sockaddr[0], address.sockaddr[1]
    return f"[{ip}]:{port}" if address.family == socket.AF_INET6 else f"{ip}:{port}"


def network_failure(exc: OSError, what: str) -> StepFailure:
    """Maps a socket error to a StepFailure with a low-cardinality error.type."""
    if isinstance(exc, ssl.SSLError):
        return tls_failure(exc, what)
    if isinstance(exc, ConnectionRefusedError):
        return StepFailure(
            "connection_refused", f"{what}: connection refused (nothing listens on that port)"
        )
    if isinstance(exc, TimeoutError) or exc.errno == errno.ETIMEDOUT:
        return StepFailure("timeout", f"{what}: timed out in the network stack")
    if isinstance(exc, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
        return StepFailure("connection_reset", f"{what}: connection reset by the peer")
    if exc.errno in _UNREACHABLE:
        return StepFailure("unreachable", f"{what}: no route to the host ({exc.strerror})")
    return StepFailure("network", f"{what}: {exc.strerror or exc}")
