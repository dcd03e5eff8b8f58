"""The dns step: one query to a resolver, timed, with assertions on the answer and the rcode.

The probe sends the query itself (dnspython's async query functions) instead of calling a
stub resolver's resolve(): a resolver retries other servers, follows search domains and
turns rcodes into exceptions, while the step must time exactly one exchange and let the
user assert any rcode, NXDOMAIN included.
"""

from __future__ import annotations

import asyncio
import socket

import dns.asyncquery
import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.resolver
from dns.rdtypes.ANY.CNAME import CNAME
from dns.rdtypes.ANY.MX import MX
from dns.rdtypes.ANY.NS import NS
from dns.rdtypes.ANY.TXT import TXT
from dns.rdtypes.IN.SRV import SRV

from cxj_journey.model import Assertion, DnsStep, Step
from cxj_probe.checks import compare
from cxj_probe.steps.base import Phase, StepContext, StepFailure, StepOutcome
from cxj_probe.steps.connection import ip_literal, network_failure
from cxj_probe.steps.timing import StepClock, outcome_of

DNS_PORT = 53
# Per-server budget when more servers remain to try, as a stub resolver would.
_PER_SERVER_TIMEOUT_S = 2.0
_NEGATED = {"notEquals": "equals", "notContains": "contains"}


async def run_dns(step: Step, context: StepContext) -> StepOutcome:
    """Queries the step's name and record type; phase dns is the query's round trip.

    Without an rcode assertion, NXDOMAIN fails with name_resolution and any other rcode
    but NOERROR with dns_rcode; without any assertion, an empty answer fails with
    name_resolution.
    """
    action = step.action
    if not isinstance(action, DnsStep):
        raise TypeError(f"run_dns needs a dns step, got {step.kind} step {step.name!r}")

    async def work(clock: StepClock, outcome: StepOutcome) -> None:
        outcome.attributes.update(
            {
                "dns.question.name": action.query,
                "dns.question.type": action.record_type,
                "network.transport": action.transport,
            }
        )
        try:
            qname = dns.name.from_text(action.query)
        except dns.exception.DNSException as exc:
            raise StepFailure(
                "name_resolution", f"{action.query!r} is not a valid DNS name: {exc}"
            ) from exc
        query = dns.message.make_query(qname, dns.rdatatype.from_text(action.record_type))
        servers = await _servers(action.resolver)
        response = await _ask(
            query,
            servers,
            action.transport,
            context.timeout_s,
            resolver_name=_split_resolver(action.resolver)[0] if action.resolver else None,
            clock=clock,
            outcome=outcome,
        )
        rcode = dns.rcode.to_text(response.rcode())
        answers = [_answer_text(rdata) for rrset in response.answer for rdata in rrset]
        outcome.attributes["dns.response_code"] = rcode
        outcome.attributes["dns.answers"] = len(answers)
        _judge(action, rcode, answers)

    return await outcome_of(work)


async def _servers(resolver: str | None) -> list[tuple[str, int]]:
    """The servers to ask, as (ip, port): the step's resolver, else the system's.

    Raises:
        StepFailure: name_resolution when there is no resolver or its name does not resolve.
    """
    if resolver is None:
        try:
            system = dns.asyncresolver.Resolver()
        except dns.resolver.NoResolverConfiguration as exc:
            raise StepFailure(
                "name_resolution", "the probe has no system resolver; set dns.resolver"
            ) from exc
        return [(str(server), system.port) for server in system.nameservers]
    host, port = _split_resolver(resolver)
    if ip_literal(host) is not None:
        return [(host, port)]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise StepFailure(
            "name_resolution", f"resolver {host} does not resolve: {exc.strerror}"
        ) from exc
    return [(str(info[4][0]), port) for info in infos]


def _split_resolver(resolver: str) -> tuple[str, int]:
    """Splits host, host:port, [v6] or [v6]:port; a bare IPv6 address has no port."""
    if resolver.startswith("["):
        host, _, rest = resolver[1:].partition("]")
        if rest.startswith(":") and rest[1:].isdigit():
            return host, int(rest[1:])
        if rest:
            raise StepFailure("name_resolution", f"resolver {resolver!r}: expected [address]:port")
        return host, DNS_PORT
    if resolver.count(":") == 1:
        host, _, port = resolver.partition(":")
        if not port.isdigit():
            raise StepFailure("name_resolution", f"resolver {resolver!r}: the port is not a number")
        return host, int(port)
    return resolver, DNS_PORT


async def _ask(
    query: dns.message.Message,
    servers: list[tuple[str, int]],
    transport: str,
    budget_s: float,
    *,
    resolver_name: str | None,
    clock: StepClock,
    outcome: StepOutcome,
) -> dns.message.Message:
    """Asks the servers in turn until one answers; the dns phase is the answering exchange.

    server.address is the resolver as configured (a name stays a name); the address the
    query went to is network.peer.address.

    Raises:
        StepFailure: timeout, connection_refused or protocol when no server answers.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget_s
    failure: StepFailure | None = None
    for index, (ip, port) in enumerate(servers):
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        timeout = remaining if index == len(servers) - 1 else min(remaining, _PER_SERVER_TIMEOUT_S)
        outcome.attributes["server.address"] = resolver_name or ip
        outcome.attributes["server.port"] = port
        outcome.attributes["network.peer.address"] = ip
        start = clock.now()
        try:
            if transport == "tcp":
                response = await dns.asyncquery.tcp(query, ip, timeout=timeout, port=port)
            else:
                response, _ = await dns.asyncquery.udp_with_fallback(
                    query, ip, timeout=timeout, port=port, ignore_unexpected=True
                )
        except dns.exception.Timeout:
            failure = StepFailure("timeout", f"no answer from {ip}:{port} within {timeout:.1f}s")
        except OSError as exc:
            failure = network_failure(exc, f"query to {ip}:{port} over {transport}")
        except dns.exception.DNSException as exc:
            failure = StepFailure("protocol", f"malformed answer from {ip}:{port}: {exc}")
        else:
            outcome.phases = [Phase("dns", start, clock.now())]
            return response
        outcome.phases = [Phase("dns", start, clock.now())]
    raise failure or StepFailure("timeout", f"no resolver answered within {budget_s:.1f}s")


def _answer_text(rdata: dns.rdata.Rdata) -> str:
    """A record's data as assertions compare it: names without the final dot, TXT unquoted."""
    if isinstance(rdata, TXT):
        return "".join(part.decode("utf-8", "replace") for part in rdata.strings)
    if isinstance(rdata, CNAME | NS):
        return str(rdata.target.to_text(omit_final_dot=True))
    if isinstance(rdata, MX):
        return f"{rdata.preference} {rdata.exchange.to_text(omit_final_dot=True)}"
    if isinstance(rdata, SRV):
        target = rdata.target.to_text(omit_final_dot=True)
        return f"{rdata.priority} {rdata.weight} {rdata.port} {target}"
    return str(rdata.to_text())


def _judge(action: DnsStep, rcode: str, answers: list[str]) -> None:
    """Applies the default rcode rule, then the step's assertions in order.

    Raises:
        StepFailure: name_resolution, dns_rcode or assertion.
    """
    if not any(a.source == "rcode" for a in action.assertions):
        if rcode == "NXDOMAIN":
            raise StepFailure("name_resolution", f"{action.query} does not exist (NXDOMAIN)")
        if rcode != "NOERROR":
            raise StepFailure(
                "dns_rcode",
                f"{action.query}: the resolver answered {rcode}; assert the rcode if expected",
            )
    if not action.assertions and not answers:
        raise StepFailure(
            "name_resolution", f"{action.query} has no {action.record_type} record (NOERROR)"
        )
    for assertion in action.assertions:
        if not _holds(assertion, rcode, answers):
            expected = "" if assertion.operator == "exists" else f" {assertion.value!r}"
            actual = rcode if assertion.source == "rcode" else (answers or "no records")
            raise StepFailure(
                "assertion", f"{assertion.source} {assertion.operator}{expected}: got {actual}"
            )


def _holds(assertion: Assertion, rcode: str, answers: list[str]) -> bool:
    """Whether an assertion holds for a response.

    An rcode assertion compares the code's name. An answer assertion holds when any record
    matches, and for the negated operators (notEquals, notContains) when no record matches
    the positive one.
    """
    if assertion.source == "rcode":
        expected = assertion.value
        if expected is not None and assertion.operator in ("equals", "notEquals"):
            expected = expected.upper()
        return compare(assertion.operator, rcode, expected)
    if assertion.operator == "exists":
        return bool(answers)
    positive = _NEGATED.get(assertion.operator)
    if positive is not None:
        return not any(compare(positive, answer, assertion.value) for answer in answers)
    return any(compare(assertion.operator, answer, assertion.value) for answer in answers)
