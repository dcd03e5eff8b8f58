"""A tiny HTTP control endpoint for a running reflector: read and change its impairment.

GET /impairment returns the impairment as JSON; PUT /impairment with a JSON object replaces
it (omitted fields take their defaults); GET /counters returns what the reflector has done.
One request per connection, bodies up to 64 KiB; meant for loopback, demos and tests.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict
from http import HTTPStatus

from cxj_probe.voice.impairment import Impairment
from cxj_probe.voice.reflector import Reflector

log = logging.getLogger(__name__)

_MAX_HEAD = 8192
_MAX_BODY = 65536
_READ_TIMEOUT_S = 5.0


class _BadRequest(Exception):
    def __init__(self, status: HTTPStatus, message: str, allow: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.allow = allow


class ControlServer:
    """Serves the reflector's impairment over HTTP on one address (start/stop, `address`)."""

    def __init__(self, reflector: Reflector, host: str = "127.0.0.1", port: int = 0) -> None:
        self._reflector = reflector
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port).

        Raises:
            RuntimeError: before `start()`.
        """
        if self._server is None or not self._server.sockets:
            raise RuntimeError("control server: not started")
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def start(self) -> None:
        """Starts listening.

        Raises:
            OSError: when the address cannot be bound.
        """
        self._server = await asyncio.start_server(
            self._handle, self._host, self._port, limit=_MAX_HEAD
        )

    async def stop(self) -> None:
        """Stops listening and waits for open connections to finish."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                status, body = await asyncio.wait_for(self._respond(reader), _READ_TIMEOUT_S)
                allow = None
            except _BadRequest as error:
                status, body, allow = error.status, {"error": str(error)}, error.allow
            except TimeoutError:
                status, body, allow = HTTPStatus.REQUEST_TIMEOUT, {"error": "too slow"}, None
            payload = json.dumps(body).encode() + b"\n"
            head = (
                f"HTTP/1.1 {status.value} {status.phrase}\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\n"
                + (f"Allow: {allow}\r\n" if allow else "")
                + "Connection: close\r\n\r\n"
            )
            writer.write(head.encode() + payload)
            await writer.drain()
        except ConnectionError as error:
            log.debug("control client went away: %s", error)
        finally:
            writer.close()

    async def _respond(self, reader: asyncio.StreamReader) -> tuple[HTTPStatus, object]:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.LimitOverrunError, asyncio.IncompleteReadError) as error:
            raise _BadRequest(
                HTTPStatus.BAD_REQUEST, "request head missing or over 8 KiB"
            ) from error
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest(HTTPStatus.BAD_REQUEST, f"not an HTTP/1.x request line: {lines[0]!r}")
        method, path = parts[0], parts[1].split("?", 1)[0]
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:] if line)
        }
        if path == "/counters":
            if method != "GET":
                raise _BadRequest(HTTPStatus.METHOD_NOT_ALLOWED, "use GET /counters", "GET")
            return HTTPStatus.OK, asdict(self._reflector.counters)
        if path != "/impairment":
            raise _BadRequest(
                HTTPStatus.NOT_FOUND, f"no {path}; use /impairment (GET, PUT) or /counters (GET)"
            )
        if method == "GET":
            return HTTPStatus.OK, self._reflector.impairment.to_json()
        if method != "PUT":
            raise _BadRequest(
                HTTPStatus.METHOD_NOT_ALLOWED, "use GET or PUT /impairment", "GET, PUT"
            )
        document = await self._read_json(reader, headers)
        try:
            impairment = Impairment.from_json(document)
        except ValueError as error:
            raise _BadRequest(HTTPStatus.BAD_REQUEST, str(error)) from error
        self._reflector.set_impairment(impairment)
        return HTTPStatus.OK, impairment.to_json()

    @staticmethod
    async def _read_json(reader: asyncio.StreamReader, headers: dict[str, str]) -> object:
        length_text = headers.get("content-length", "")
        if not length_text.isdigit():
            raise _BadRequest(
                HTTPStatus.LENGTH_REQUIRED, "PUT /impairment needs a Content-Length header"
            )
        length = int(length_text)
        if length > _MAX_BODY:
            raise _BadRequest(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body over 64 KiB")
        try:
            body = await reader.readexactly(length)
            return json.loads(body)
        except asyncio.IncompleteReadError as error:
            raise _BadRequest(HTTPStatus.BAD_REQUEST, "body shorter than Content-Length") from error
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise _BadRequest(HTTPStatus.BAD_REQUEST, f"body is not JSON: {error}") from error
