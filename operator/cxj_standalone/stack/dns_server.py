"""A loopback DNS server for the demo: authoritative for `localhost` and names under it.

Journeys that resolve names (the voice journey resolves its SBC first) can then run
without sending a packet off the machine. Names under `localhost.` answer loopback
addresses (RFC 6761, section 6.3); any other name is REFUSED, as this is no resolver.
"""

from __future__ import annotations

import asyncio
import logging
from typing import cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

log = logging.getLogger(__name__)

LOCALHOST = dns.name.from_text("localhost.")
TTL_S = 60
_LOOPBACK = {dns.rdatatype.A: "127.0.0.1", dns.rdatatype.AAAA: "::1"}


def answer(query: dns.message.Message) -> dns.message.Message:
    """The response to a query: loopback for localhost names, REFUSED for the rest."""
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    response.flags &= ~dns.flags.RA
    for question in query.question:
        if not question.name.is_subdomain(LOCALHOST):
            response.set_rcode(dns.rcode.REFUSED)
            response.flags &= ~dns.flags.AA
            return response
        address = _LOOPBACK.get(question.rdtype)
        if address is not None:  # other types: NOERROR with no records
            records = dns.rrset.from_text(
                question.name, TTL_S, dns.rdataclass.IN, question.rdtype, address
            )
            response.answer.append(records)
    return response


class _Responder(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.malformed = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The event loop's UDP transport implements DatagramTransport without subclassing it.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException as error:
            self.malformed += 1  # nothing to answer: the query's id may not even be readable
            log.debug("dns: ignored a malformed query from %s: %s", addr, error)
            return
        assert self.transport is not None
        self.transport.sendto(answer(query).to_wire(), addr)


class LoopbackDnsServer:
    """The DNS server on one UDP address."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._responder: _Responder | None = None

    async def start(self) -> None:
        """Binds and starts answering.

        Raises:
            OSError: when the address cannot be bound.
        """
        loop = asyncio.get_running_loop()
        try:
            transport, responder = await loop.create_datagram_endpoint(
                _Responder, local_addr=(self.host, self.port)
            )
        except OSError as error:
            raise OSError(
                error.errno,
                f"dns: cannot listen on udp {self.host}:{self.port}: {error.strerror}; "
                f"free the port or choose another one",
            ) from error
        self._responder = responder
        self.port = int(transport.get_extra_info("sockname")[1])

    async def stop(self) -> None:
        """Stops answering."""
        if self._responder is not None and self._responder.transport is not None:
            self._responder.transport.close()
        self._responder = None
