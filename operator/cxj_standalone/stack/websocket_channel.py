"""A server-side WebSocket over an accepted asyncio stream, framed by websockets' sans-I/O layer."""

from __future__ import annotations

import asyncio
import collections

from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

MAX_MESSAGE_BYTES = 64 * 1024
_READ_CHUNK = 64 * 1024


class WebSocketChannel:
    """Text messages in and out of one WebSocket connection.

    Control frames (ping, pong, close) are answered as they arrive; fragmented text
    messages are reassembled; a binary message closes the connection with 1003, as the
    chat speaks JSON text only.
    """

    def __init__(
        self, protocol: ServerProtocol, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._protocol = protocol
        self._reader = reader
        self._writer = writer
        self._messages: collections.deque[str] = collections.deque()
        self._fragments: list[bytes] = []

    @property
    def open(self) -> bool:
        """Whether messages can still be sent."""
        return self._protocol.state is State.OPEN

    async def receive(self) -> str | None:
        """The next text message; None once the connection is closing or closed."""
        while not self._messages:
            if self._protocol.state is not State.OPEN:
                return None
            data = await self._reader.read(_READ_CHUNK)
            if data:
                self._protocol.receive_data(data)
            else:
                self._protocol.receive_eof()
            for event in self._protocol.events_received():
                if isinstance(event, Frame):
                    self._on_frame(event)
            await self.flush()
        return self._messages.popleft()

    async def send(self, text: str) -> bool:
        """Sends a text message; False when the connection has closed meanwhile."""
        if self._protocol.state is not State.OPEN:
            return False
        self._protocol.send_text(text.encode())
        await self.flush()
        return True

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE) -> None:
        """Starts the closing handshake if the connection is still open."""
        if self._protocol.state is State.OPEN:
            self._protocol.send_close(code)
            await self.flush()

    def _on_frame(self, frame: Frame) -> None:
        if frame.opcode is Opcode.BINARY:
            self._protocol.send_close(CloseCode.UNSUPPORTED_DATA, "this channel speaks JSON text")
            return
        if frame.opcode not in (Opcode.TEXT, Opcode.CONT):
            return  # ping, pong and close were answered by the protocol itself
        self._fragments.append(bytes(frame.data))
        if frame.fin:
            payload = b"".join(self._fragments)
            self._fragments.clear()
            self._messages.append(payload.decode("utf-8", "replace"))

    async def flush(self) -> None:
        """Writes what the protocol has queued: messages, control frames, handshake replies."""
        for chunk in self._protocol.data_to_send():
            if chunk:
                self._writer.write(chunk)
            elif self._writer.can_write_eof():
                self._writer.write_eof()
        await self._writer.drain()


async def accept_upgrade(
    raw_request: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> WebSocketChannel | None:
    """Answers an upgrade request; the open channel, or None when the handshake was refused.

    `raw_request` is the request head as received plus any bytes that followed it.
    """
    protocol = ServerProtocol(max_size=MAX_MESSAGE_BYTES)
    protocol.receive_data(raw_request)
    requests = [event for event in protocol.events_received() if isinstance(event, Request)]
    if requests:
        protocol.send_response(protocol.accept(requests[0]))
    else:
        protocol.send_response(protocol.reject(400, "incomplete WebSocket handshake\n"))
    channel = WebSocketChannel(protocol, reader, writer)
    await channel.flush()
    return channel if channel.open else None
