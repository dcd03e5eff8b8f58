"""SIP over UDP and TCP with asyncio: send bytes, receive parsed messages, absorb media."""

from __future__ import annotations

import asyncio
import socket
from typing import cast

from cxj_probe.steps.base import StepFailure
from cxj_probe.steps.sip.message import (
    Local,
    SipMessage,
    SipParseError,
    frame_length,
    parse_message,
)

_Item = SipMessage | BaseException


class _Closed(Exception):
    """The server closed the stream."""


class _Receiver(asyncio.Protocol, asyncio.DatagramProtocol):
    """Parses what arrives (datagrams, or a byte stream framed by Content-Length)."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[_Item] = asyncio.Queue()
        self.malformed = 0
        self._buffer = b""

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        """One datagram is one message; RFC 3261 18.3 says to discard malformed ones."""
        if not data.strip():  # a CRLF keep-alive
            return
        try:
            self.inbox.put_nowait(parse_message(data))
        except SipParseError:
            self.malformed += 1

    def error_received(self, exc: Exception) -> None:
        """An ICMP error on the connected UDP socket, e.g. port unreachable."""
        self.inbox.put_nowait(exc)

    def data_received(self, data: bytes) -> None:
        """Frames whole messages out of the TCP stream."""
        self._buffer = (self._buffer + data).lstrip(b"\r\n")  # CRLF keep-alives between
        while self._buffer:
            try:
                length = frame_length(self._buffer)
            except SipParseError as error:
                # A stream cannot be resynchronised after a framing error: end it.
                self.inbox.put_nowait(error)
                self._buffer = b""
                return
            if length is None:
                return
            message, self._buffer = self._buffer[:length], self._buffer[length:].lstrip(b"\r\n")
            try:
                self.inbox.put_nowait(parse_message(message))
            except SipParseError:
                self.malformed += 1

    def eof_received(self) -> bool | None:
        """The server closed its side."""
        self.inbox.put_nowait(_Closed())
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """The socket is gone (reset, or closed by us)."""
        self.inbox.put_nowait(exc if exc is not None else _Closed())


class SipTransport:
    """One socket toward the SIP server: UDP (connected) or TCP."""

    def __init__(
        self,
        kind: str,
        transport: asyncio.BaseTransport,
        receiver: _Receiver,
        remote: tuple[str, int],
    ) -> None:
        self.kind = kind
        self.reliable = kind == "tcp"
        self.remote = remote
        self._transport = transport
        self._receiver = receiver
        host, port = transport.get_extra_info("sockname")[:2]
        self.local = Local(host, port, kind.upper())

    @property
    def malformed(self) -> int:
        """How many received messages could not be parsed and were discarded."""
        return self._receiver.malformed

    def send(self, data: bytes) -> None:
        """Sends one message; never blocks (asyncio buffers)."""
        # Dispatch on the kind: the selector loop's UDP transport is not registered as a
        # DatagramTransport subclass, so isinstance cannot tell.
        if self.reliable:
            cast("asyncio.WriteTransport", self._transport).write(data)
        else:
            cast("asyncio.DatagramTransport", self._transport).sendto(data)

    async def receive(self, timeout_s: float) -> SipMessage | None:
        """The next message from the server, None when none arrives in time.

        Raises:
            StepFailure: connection_refused when nothing listens (ICMP port unreachable),
                closed when the server closed the TCP connection, protocol on bad framing.
        """
        try:
            async with asyncio.timeout(max(timeout_s, 0.0)):
                item = await self._receiver.inbox.get()
        except TimeoutError:
            return None
        if isinstance(item, SipMessage):
            return item
        where = f"{self.kind} {self.remote[0]}:{self.remote[1]}"
        if isinstance(item, ConnectionRefusedError):
            raise StepFailure("connection_refused", f"nothing listens on {where}") from item
        if isinstance(item, SipParseError):
            raise StepFailure("protocol", f"unreadable SIP stream from {where}: {item}") from item
        raise StepFailure("closed", f"the server closed the connection ({where})") from item

    def close(self) -> None:
        """Closes the socket at once; safe to call twice."""
        if self.reliable:
            cast("asyncio.Transport", self._transport).abort()  # no FIN wait when cancelled
        else:
            self._transport.close()


async def _address(host: str, port: int, kind: str) -> tuple[int, tuple[str, int]]:
    loop = asyncio.get_running_loop()
    sock_type = socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
    try:
        infos = await loop.getaddrinfo(host, port, type=sock_type)
    except socket.gaierror as error:
        raise StepFailure("name_resolution", f"cannot resolve {host}: {error}") from error
    family, _, _, _, address = infos[0]
    return family, (str(address[0]), int(address[1]))


async def open_transport(host: str, port: int, kind: str) -> SipTransport:
    """Resolves the server (A/AAAA only) and opens a socket from an ephemeral local port.

    The local address is the one the kernel routes toward the server, so Via and Contact
    carry an address the server can answer.

    Raises:
        StepFailure: name_resolution, or connection_refused when the target cannot be
            reached (TCP refused, no route).
    """
    loop = asyncio.get_running_loop()
    family, remote = await _address(host, port, kind)
    receiver = _Receiver()
    if kind == "tcp":
        try:
            transport, _ = await loop.create_connection(lambda: receiver, *remote)
        except OSError as error:
            raise StepFailure(
                "connection_refused", f"cannot connect to tcp {remote[0]}:{remote[1]}: {error}"
            ) from error
        return SipTransport(kind, transport, receiver, remote)
    try:
        datagram, _ = await loop.create_datagram_endpoint(
            lambda: receiver, remote_addr=remote, family=family
        )
    except OSError as error:  # e.g. no route to the target's network
        raise StepFailure(
            "connection_refused", f"cannot reach udp {remote[0]}:{remote[1]}: {error}"
        ) from error
    return SipTransport(kind, datagram, receiver, remote)


class _Sink(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.packets = 0

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.packets += 1


class MediaSink:
    """The RTP port the SDP offer names: it counts what the far end sends and drops it.

    Listening there keeps the far end's media from drawing ICMP errors, which some
    servers treat as a dead call.
    """

    def __init__(self, transport: asyncio.DatagramTransport, sink: _Sink) -> None:
        self._transport = transport
        self._sink = sink
        self.port: int = transport.get_extra_info("sockname")[1]

    @classmethod
    async def open(cls, host: str) -> MediaSink:
        """Binds an ephemeral UDP port on the signalling address."""
        sink = _Sink()
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: sink, local_addr=(host, 0)
        )
        return cls(transport, sink)

    @property
    def packets(self) -> int:
        """How many media packets arrived."""
        return self._sink.packets

    def close(self) -> None:
        """Releases the port."""
        self._transport.close()
