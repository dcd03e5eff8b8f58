"""A small HTTP/1.1 server on asyncio and h11, with WebSocket upgrades on chosen paths.

The simulated services need real HTTP (keep-alive, request bodies, exact status codes and
a WebSocket endpoint on the same port as the REST API), and nothing beyond what the
project already depends on: h11 frames HTTP, websockets' sans-I/O protocol frames
WebSocket messages once a request asks for the upgrade.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import h11

from cxj_standalone.stack.websocket_channel import WebSocketChannel, accept_upgrade

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
_MAX_HEAD_BYTES = 32 * 1024
_READ_CHUNK = 64 * 1024
# A keep-alive connection that sends nothing for this long is closed, so idle browsers
# and crashed clients cannot pile up connections in a long demo.
IDLE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class HttpRequest:
    """A request as a handler sees it: header names lower-case, the body read in full."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON; an empty body is an empty object.

        Raises:
            HttpError: 400 when the body is not JSON.
        """
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise HttpError(400, f"the request body is not JSON: {error}") from error


@dataclass(frozen=True)
class HttpResponse:
    """A complete response: status, body and any headers beyond Content-Type/-Length."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


class HttpError(Exception):
    """A handler's way to answer with an error status and a JSON message."""

    def __init__(self, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def json_response(
    status: int, document: Any, headers: tuple[tuple[str, str], ...] = ()
) -> HttpResponse:
    """A JSON response, serialised with json's default separators (`"key": value`)."""
    return HttpResponse(
        status, json.dumps(document).encode(), "application/json; charset=utf-8", headers
    )


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]
WebSocketHandler = Callable[[HttpRequest, WebSocketChannel], Awaitable[None]]


@dataclass
class HttpServer:
    """Serves one handler (and WebSocket handlers by path) on one TCP address.

    Use `await start()` / `await stop()`; `port` is the bound port, useful after port 0.
    """

    name: str
    host: str
    port: int
    handler: Handler
    websockets: Mapping[str, WebSocketHandler] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def start(self) -> None:
        """Binds and starts accepting connections.

        Raises:
            OSError: when the address cannot be bound, naming the service and the port.
        """
        try:
            self._server = await asyncio.start_server(self._accept, self.host, self.port)
        except OSError as error:
            raise OSError(
                error.errno,
                f"{self.name}: cannot listen on {self.host}:{self.port}: {error.strerror}; "
                f"free the port or choose another one",
            ) from error
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stops accepting and ends every open connection, WebSockets included."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task, writer in list(self._connections.items()):
            writer.transport.abort()  # a client that stopped reading must not hold up the stop
            task.cancel()
        if self._connections:
            await asyncio.wait(list(self._connections))

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            await self._serve(reader, writer)
        except (ConnectionError, TimeoutError):
            pass  # the client went away or idled out: nothing to answer
        finally:
            self._connections.pop(task, None)
            writer.close()  # sends what is still buffered, then closes

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEAD_BYTES)
        while True:
            try:
                incoming = await _read_request(connection, reader)
            except h11.RemoteProtocolError as error:
                if connection.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    response = _error_response(error.error_status_hint, f"bad request: {error}")
                    await _write(connection, writer, response)
                return
            except _TooLarge:
                await _write(
                    connection, writer, _error_response(413, f"body over {MAX_BODY_BYTES} bytes")
                )
                return
            if incoming is None:
                return
            request = _request_of(incoming.head, incoming.body)
            websocket = self.websockets.get(request.path)
            if websocket is not None and incoming.upgrade:
                trailing, _ = connection.trailing_data
                raw = _raw_head(incoming.head) + trailing
                channel = await accept_upgrade(raw, reader, writer)
                if channel is not None:
                    try:
                        await websocket(request, channel)
                    finally:
                        await channel.close()
                return
            response = await self._respond(request)
            await _write(connection, writer, response, head_only=request.method == "HEAD")
            if connection.our_state is not h11.DONE or connection.their_state is not h11.DONE:
                return
            connection.start_next_cycle()

    async def _respond(self, request: HttpRequest) -> HttpResponse:
        try:
            return await self.handler(request)
        except HttpError as error:
            return _error_response(error.status, error.message, error.headers)
        except Exception:
            # A handler bug answers 500 with the reason in the log, and the server goes on.
            log.exception("%s: %s %s failed", self.name, request.method, request.path)
            return _error_response(500, "internal error; see the stack's log")


class _TooLarge(Exception):
    """A request body over MAX_BODY_BYTES."""


@dataclass(frozen=True)
class _Incoming:
    """A request as read: its head, its body, and whether it asked to switch protocols."""

    head: h11.Request
    body: bytes
    upgrade: bool


async def _read_request(
    connection: h11.Connection, reader: asyncio.StreamReader
) -> _Incoming | None:
    """Reads the next request and its body; None when the client closed cleanly."""
    head: h11.Request | None = None
    body = bytearray()
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            async with asyncio.timeout(IDLE_TIMEOUT_S):
                connection.receive_data(await reader.read(_READ_CHUNK))
        elif isinstance(event, h11.Request):
            head = event
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_BODY_BYTES:
                raise _TooLarge
        elif isinstance(event, h11.EndOfMessage):
            assert head is not None  # h11 yields the head before the end of a message
            # With an Upgrade header h11 stops reading: what follows may be another protocol.
            upgrade = any(name == b"upgrade" for name, _ in head.headers)
            return _Incoming(head, bytes(body), upgrade)
        elif isinstance(event, h11.ConnectionClosed):
            return None


def _request_of(head: h11.Request, body: bytes) -> HttpRequest:
    target = head.target.decode("latin-1")
    path, _, query = target.partition("?")
    headers: dict[str, str] = {}
    for name, value in head.headers:
        key = name.decode("latin-1")
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return HttpRequest(
        method=head.method.decode("ascii"),
        path=urllib.parse.unquote(path),
        query=dict(urllib.parse.parse_qsl(query)),
        headers=headers,
        body=body,
    )


def _raw_head(head: h11.Request) -> bytes:
    """The request head back on the wire, for the WebSocket protocol to read itself."""
    lines = [b"%s %s HTTP/1.1" % (head.method, head.target)]
    lines += [name + b": " + value for name, value in head.headers.raw_items()]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _error_response(
    status: int, message: str, headers: tuple[tuple[str, str], ...] = ()
) -> HttpResponse:
    return json_response(status, {"error": message}, headers)


async def _write(
    connection: h11.Connection,
    writer: asyncio.StreamWriter,
    response: HttpResponse,
    *,
    head_only: bool = False,
) -> None:
    headers = [
        ("Content-Type", response.content_type),
        ("Content-Length", str(len(response.body))),
        ("Cache-Control", "no-store"),
        *response.headers,
    ]
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = ""
    head = h11.Response(status_code=response.status, headers=headers, reason=reason.encode())
    parts = [connection.send(head)]
    if response.body and not head_only:
        parts.append(connection.send(h11.Data(data=response.body)))
    parts.append(connection.send(h11.EndOfMessage()))
    writer.write(b"".join(part for part in parts if part))
    await writer.drain()
