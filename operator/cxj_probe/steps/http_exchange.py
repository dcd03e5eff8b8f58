"""One timed HTTP/1.1 request over a fresh connection: dns, connect, tls, ttfb, transfer.

The exchange speaks HTTP through h11 over a bare asyncio protocol rather than through a
client library, because the phases are the product: the first response byte and the last
one are stamped in data_received, the moment the event loop reads them from the socket,
not when a coroutine gets round to looking, so the probe's own load does not leak into
ttfb or transfer.
"""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass

import h11

from cxj_probe.steps.base import Phase, StepFailure
from cxj_probe.steps.connection import connect, network_failure, resolve
from cxj_probe.steps.handshake import TlsSession, client_context, handshake, tls_session
from cxj_probe.steps.timing import StepClock

MAX_BODY_BYTES = 1 << 20  # body kept for assertions and extraction; the rest is counted only
_MAX_HEADER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Request:
    """A request ready for the wire; headers already rendered, including Host."""

    method: str
    scheme: str
    host: str
    port: int
    target: str  # path and query, percent-encoded
    headers: tuple[tuple[str, str], ...]
    body: bytes
    verify: bool


@dataclass(frozen=True)
class Response:
    """What came back, with the body capped at MAX_BODY_BYTES."""

    status: int
    reason: str
    http_version: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    body_size: int  # every body byte received, also past the cap
    peer_address: str
    tls: TlsSession | None

    def header_map(self) -> dict[str, str]:
        """Headers by lower-case name; repeated headers joined with ', '."""
        merged: dict[str, str] = {}
        for name, value in self.headers:
            merged[name] = f"{merged[name]}, {value}" if name in merged else value
        return merged


class _Wire(asyncio.Protocol):
    """Receives bytes and stamps each chunk with perf_counter_ns as it comes off the socket."""

    def __init__(self) -> None:
        self._chunks: collections.deque[tuple[int, bytes]] = collections.deque()
        self._closed_ns: int | None = None
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    def data_received(self, data: bytes) -> None:
        self._chunks.append((time.perf_counter_ns(), data))
        self._wake()

    def eof_received(self) -> bool:
        if self._closed_ns is None:
            self._closed_ns = time.perf_counter_ns()
        self._wake()
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        if self._closed_ns is None:
            self._closed_ns = time.perf_counter_ns()
            self._error = exc
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def read(self) -> tuple[int, bytes]:
        """The next chunk and when it arrived; b'' once the peer has closed.

        Raises:
            OSError: the error that ended the connection, if it did not end cleanly.
        """
        while not self._chunks:
            if self._closed_ns is not None:
                if self._error is not None:
                    raise self._error
                return self._closed_ns, b""
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self._chunks.popleft()


async def exchange(request: Request, clock: StepClock, phases: list[Phase]) -> Response:
    """Sends one request on a new connection and reads the whole response.

    Phases are appended as they complete, so a failure leaves the ones measured so far.
    The connection is closed on return, failure and cancellation alike.

    Raises:
        StepFailure: name_resolution, connection_refused, connection_reset, timeout, tls,
            certificate_expiry or protocol.
    """
    addresses = await resolve(request.host, request.port, clock, phases)
    sock = await connect(addresses, clock, phases)
    loop = asyncio.get_running_loop()
    transport: asyncio.Transport | None = None
    completed = False
    try:
        wire = _Wire()
        transport, _ = await loop.create_connection(lambda: wire, sock=sock)
        session = None
        if request.scheme == "https":
            context = client_context(verify=request.verify, alpn=("http/1.1",))
            transport = await handshake(
                transport, wire, context, request.host, clock=clock, phases=phases
            )
            session = tls_session(transport, certificate=False)
        peer = transport.get_extra_info("peername")
        response = await _converse(transport, wire, request, clock, phases)
        completed = True
        return Response(
            status=response.status_code,
            reason=response.reason.decode("latin-1"),
            http_version=response.http_version.decode("ascii"),
            headers=tuple(
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in response.headers
            ),
            body=response.body,
            body_size=response.body_size,
            peer_address=str(peer[0]) if peer else request.host,
            tls=session,
        )
    finally:
        if transport is None:
            sock.close()
        elif completed:
            transport.close()
        else:
            transport.abort()  # failure or cancellation: drop the connection at once


@dataclass(frozen=True)
class _Received:
    """The response head as h11 parsed it, and the body."""

    status_code: int
    reason: bytes
    http_version: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    body_size: int


async def _converse(
    transport: asyncio.Transport,
    wire: _Wire,
    request: Request,
    clock: StepClock,
    phases: list[Phase],
) -> _Received:
    connection = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEADER_BYTES)
    payload = _encode(connection, request)
    sent_ns = time.perf_counter_ns()
    transport.write(payload)
    first_ns: int | None = None
    last_ns = sent_ns
    eof = False
    head: h11.Response | None = None
    kept: list[bytes] = []
    kept_size = body_size = 0
    try:
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                last_ns, data = await wire.read()
                eof = not data
                if first_ns is None and data:
                    first_ns = last_ns
                connection.receive_data(data)
            elif isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                body_size += len(event.data)
                if kept_size < MAX_BODY_BYTES:
                    kept.append(event.data[: MAX_BODY_BYTES - kept_size])
                    kept_size += len(kept[-1])
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise h11.RemoteProtocolError("closed before the response was complete")
    except h11.RemoteProtocolError as exc:
        _close_phases(phases, clock, sent_ns, first_ns, time.perf_counter_ns())
        if eof and first_ns is None:
            raise StepFailure(
                "connection_reset", "the server closed the connection without responding"
            ) from exc
        if eof:
            raise StepFailure(
                "connection_reset",
                f"the server closed the connection before the response was complete "
                f"({body_size} body bytes received)",
            ) from exc
        raise StepFailure("protocol", f"malformed HTTP response: {exc}") from exc
    except OSError as exc:
        _close_phases(phases, clock, sent_ns, first_ns, time.perf_counter_ns())
        raise network_failure(exc, "reading the response") from exc
    _close_phases(phases, clock, sent_ns, first_ns, last_ns)
    assert head is not None  # h11 yields a Response before EndOfMessage
    return _Received(
        status_code=head.status_code,
        reason=head.reason,
        http_version=head.http_version,
        headers=tuple((name, value) for name, value in head.headers),
        body=b"".join(kept),
        body_size=body_size,
    )


def _close_phases(
    phases: list[Phase], clock: StepClock, sent_ns: int, first_ns: int | None, end_ns: int
) -> None:
    """Appends ttfb and transfer.

    ttfb runs from writing the request to reading the response's first byte; transfer from
    there to its last byte. Without a first byte, ttfb ends at end_ns and there is no
    transfer.
    """
    if first_ns is None:
        phases.append(Phase("ttfb", clock.at(sent_ns), clock.at(end_ns)))
        return
    phases.append(Phase("ttfb", clock.at(sent_ns), clock.at(first_ns)))
    phases.append(Phase("transfer", clock.at(first_ns), clock.at(end_ns)))


def _encode(connection: h11.Connection, request: Request) -> bytes:
    headers = [(n.encode("latin-1"), v.encode("utf-8")) for n, v in request.headers]
    try:
        payload: bytes = connection.send(
            h11.Request(method=request.method, target=request.target, headers=headers)
        )
        if request.body:
            payload += connection.send(h11.Data(data=request.body))
        payload += connection.send(h11.EndOfMessage())
    except h11.LocalProtocolError as exc:
        # h11's message may quote header values, which can be secrets: name the request only.
        raise StepFailure(
            "variable", f"{request.method} {request.target}: not a valid HTTP/1.1 request"
        ) from exc
    return payload
