"""SIP client transactions (RFC 3261 17.1): retransmission over UDP and response matching."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from cxj_probe.steps.sip.dialog import ack_for_failure
from cxj_probe.steps.sip.message import SipMessage, encode
from cxj_probe.steps.sip.transport import SipTransport

T1 = 0.5  # RTT estimate (RFC 3261 17.1.1.1)
T2 = 4.0  # longest retransmission interval of a non-INVITE request
TRANSACTION_TIMEOUT = 64 * T1  # Timers B and F


class ClientTransaction:
    """One request and its responses.

    Over UDP the request is retransmitted at T1, 2·T1, 4·T1, ... (Timer A for INVITE, until
    any response; Timer E for the rest, capped at T2, then every T2 after a provisional).
    A non-2xx final response to an INVITE is acknowledged here, and again whenever the
    server retransmits it.
    """

    def __init__(self, transport: SipTransport, request: SipMessage) -> None:
        self.request = request
        self.method = request.method or ""
        self.final: SipMessage | None = None
        self.provisional: SipMessage | None = None
        self.retransmissions = 0
        self._transport = transport
        self._data = encode(request)
        self._invite = self.method == "INVITE"
        self._interval = T1
        now = time.monotonic()
        self._next_send = math.inf if transport.reliable else now + T1
        self._expires = now + TRANSACTION_TIMEOUT
        self._ack: bytes | None = None
        self._fresh: list[SipMessage] = []
        transport.send(self._data)

    def matches(self, message: SipMessage) -> bool:
        """Whether a response belongs here: same top Via branch and CSeq method."""
        return (
            not message.is_request
            and message.branch == self.request.branch
            and message.cseq[1] == self.method
        )

    def offer(self, message: SipMessage) -> bool:
        """Takes a received message if it belongs here; returns whether it did."""
        if not self.matches(message):
            return False
        code = message.status_code or 0
        if self.final is not None:
            if self._ack is not None and code >= 300:  # the server missed our ACK
                self._transport.send(self._ack)
            return True
        if code < 200:
            self.provisional = message  # the latest: 180 Ringing tells more than 100 Trying
            if self._invite:
                self._next_send = math.inf
            else:
                self._interval = T2
        else:
            self.final = message
            self._next_send = math.inf
            if self._invite and code >= 300:
                self._ack = encode(ack_for_failure(self.request, message))
                self._transport.send(self._ack)
        self._fresh.append(message)
        return True

    async def next_response(
        self, deadline: float, elsewhere: Callable[[SipMessage], None]
    ) -> SipMessage | None:
        """The next response of this transaction; None at the deadline or Timer B/F.

        Messages for anything else go to elsewhere (in-dialog requests, retransmissions).
        """
        while not self._fresh:
            limit = deadline if self._invite and self.provisional else min(deadline, self._expires)
            now = time.monotonic()
            if now >= limit:
                return None
            message = await self._transport.receive(min(limit, self._next_send) - now)
            if message is None:
                if time.monotonic() >= self._next_send:
                    self._retransmit()
            elif not self.offer(message):
                elsewhere(message)
        return self._fresh.pop(0)

    def _retransmit(self) -> None:
        self._transport.send(self._data)
        self.retransmissions += 1
        self._interval = self._interval * 2 if self._invite else min(self._interval * 2, T2)
        self._next_send = time.monotonic() + self._interval
