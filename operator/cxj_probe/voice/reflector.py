"""A STAMP stateful Session-Reflector (RFC 8762) that can impair the path on purpose.

The impairment applies to the reflected (inbound) direction. T3 is stamped as the logical
send time, right after the packet is processed, and only then is the packet held or
dropped: to the session-sender the hold is network delay between T3 and T4, and a drop is
inbound loss (the reflector's sequence number is spent, so the gap shows). A packet sent
at once is stamped again just before the send, so a pause of this process between
processing and sending it is not measured as network delay.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from dataclasses import dataclass, field

from cxj_probe.voice import stamp, udp
from cxj_probe.voice.impairment import Impairment, ImpairmentDraws

__all__ = ["DEFAULT_PORT", "Impairment", "Reflector", "ReflectorCounters"]

log = logging.getLogger(__name__)

DEFAULT_PORT = 862
# A session whose sender has been quiet this long starts again from sequence number 0.
SESSION_IDLE_S = 30.0
_SESSIONS_BEFORE_PRUNE = 1024


@dataclass
class ReflectorCounters:
    """What the reflector has done since it started.

    Attributes:
        received: datagrams received.
        reflected: reflections sent.
        dropped: reflections dropped on purpose by the impairment.
        malformed: datagrams that were not STAMP sender packets (not answered).
        send_failures: reflections the socket could not take (buffer full).
        sessions: sessions started (a sender address, or one back after going idle).
        hold_overrun_ms: total time held packets went out later than their hold said
            (event-loop timer granularity and CPU contention); it adds to inbound delay.
    """

    received: int = 0
    reflected: int = 0
    dropped: int = 0
    malformed: int = 0
    send_failures: int = 0
    sessions: int = 0
    hold_overrun_ms: float = 0.0


@dataclass
class _Session:
    next_sequence: int = 0
    last_seen: float = field(default_factory=time.monotonic)


class Reflector:
    """A STAMP stateful session-reflector on one UDP address (unauthenticated mode).

    Use `await start()` / `await stop()`, or `async with`. `address` is the bound
    (host, port), useful after binding port 0.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        impairment: Impairment | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._draws = ImpairmentDraws(impairment or Impairment())
        self._sessions: dict[tuple[str, int], _Session] = {}
        self._pending: set[asyncio.TimerHandle] = set()
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error_estimate = stamp.ErrorEstimate.covering(1.0, synchronized=False)
        self.counters = ReflectorCounters()

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port).

        Raises:
            RuntimeError: before `start()`.
        """
        if self._sock is None:
            raise RuntimeError("reflector: not started")
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    @property
    def impairment(self) -> Impairment:
        """The impairment in force."""
        return self._draws.impairment

    def set_impairment(self, impairment: Impairment) -> None:
        """Changes the impairment for packets processed from now on (random state restarts)."""
        self._draws = ImpairmentDraws(impairment)
        log.info("impairment now %s", impairment)

    async def start(self) -> None:
        """Binds the socket and starts reflecting.

        Raises:
            OSError: when the address cannot be bound (in use, not local, no permission).
        """
        self._loop = asyncio.get_running_loop()
        infos = await self._loop.getaddrinfo(
            self._host, self._port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE
        )
        family, kind, protocol, _, address = infos[0]
        sock = socket.socket(family, kind, protocol)
        try:
            sock.setblocking(False)
            sock.bind(address)
            udp.enable_receive_metadata(sock)
        except OSError:
            sock.close()
            raise
        clock = udp.clock_state()
        self._error_estimate = stamp.ErrorEstimate.covering(
            clock.error_s, synchronized=clock.synchronized
        )
        self._sock = sock
        self._loop.add_reader(sock.fileno(), self._on_readable)

    async def stop(self) -> None:
        """Stops reflecting; packets still held are not sent."""
        for handle in self._pending:
            handle.cancel()
        self._pending.clear()
        if self._sock is not None and self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    async def __aenter__(self) -> Reflector:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def _session(self, peer: tuple[str, int]) -> _Session:
        now = time.monotonic()
        if len(self._sessions) > _SESSIONS_BEFORE_PRUNE:
            self._sessions = {
                key: value
                for key, value in self._sessions.items()
                if now - value.last_seen < SESSION_IDLE_S
            }
        session = self._sessions.get(peer)
        if session is None or now - session.last_seen >= SESSION_IDLE_S:
            session = self._sessions[peer] = _Session()
            self.counters.sessions += 1
        session.last_seen = now
        return session

    def _on_readable(self) -> None:
        assert self._sock is not None
        for datagram in udp.receive_all(self._sock):
            self._reflect(datagram)

    def _reflect(self, datagram: udp.Datagram) -> None:
        self.counters.received += 1
        try:
            request = stamp.decode_sender_packet(datagram.data)
        except stamp.StampDecodeError as error:
            # RFC 8762 leaves malformed packets unanswered; the count shows they came.
            self.counters.malformed += 1
            log.debug("ignored a malformed packet from %s: %s", datagram.peer, error)
            return
        session = self._session(datagram.peer)
        sequence = session.next_sequence
        session.next_sequence = (sequence + 1) & 0xFFFFFFFF
        reply = stamp.encode_reflector_packet(
            stamp.ReflectorPacket(
                sequence=sequence,
                timestamp=stamp.ntp_from_unix_ns(udp.now_ns()),
                error_estimate=self._error_estimate,
                receive_timestamp=stamp.ntp_from_unix_ns(datagram.received_ns),
                sender_sequence=request.sequence,
                sender_timestamp=request.timestamp,
                sender_error_estimate=request.error_estimate,
                sender_ttl=datagram.ttl,
                extension=request.extension,
            )
        )
        if self._draws.dropped():
            self.counters.dropped += 1
            return
        hold = self._draws.hold_s()
        if hold <= 0:
            self._send(stamp.restamped(reply, stamp.ntp_from_unix_ns(udp.now_ns())), datagram.peer)
            return
        loop = self._loop
        assert loop is not None
        due = loop.time() + hold

        def send_held() -> None:
            self._pending.discard(handle)
            self.counters.hold_overrun_ms += max(0.0, loop.time() - due) * 1000
            self._send(reply, datagram.peer)

        handle = loop.call_at(due, send_held)
        self._pending.add(handle)

    def _send(self, reply: bytes, peer: tuple[str, int]) -> None:
        if self._sock is None:
            return
        try:
            sent = udp.send_nowait(self._sock, reply, peer)
        except OSError as error:
            # One peer's unreachable address must not stop reflecting for the others.
            log.warning("could not reflect to %s: %s", peer, error)
            return
        if sent:
            self.counters.reflected += 1
        else:
            self.counters.send_failures += 1
            log.warning("socket buffer full: a reflected packet to %s was dropped", peer)
