"""The dns step's pure parts: resolver addresses, answer text, the default rule, assertions."""

from __future__ import annotations

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest

from cxj_journey.model import Assertion, DnsStep
from cxj_probe.steps.base import StepFailure
from cxj_probe.steps.dns import _answer_text, _judge, _split_resolver


@pytest.mark.parametrize(
    ("resolver", "expected"),
    [
        ("10.0.0.2", ("10.0.0.2", 53)),
        ("10.0.0.2:5353", ("10.0.0.2", 5353)),
        ("dns.internal", ("dns.internal", 53)),
        ("dns.internal:5353", ("dns.internal", 5353)),
        ("fd00::53", ("fd00::53", 53)),
        ("[fd00::53]", ("fd00::53", 53)),
        ("[fd00::53]:5353", ("fd00::53", 5353)),
    ],
    ids=str,
)
def test_resolver_addresses(resolver: str, expected: tuple[str, int]) -> None:
    assert _split_resolver(resolver) == expected


@pytest.mark.parametrize("resolver", ["10.0.0.2:dns", "[fd00::53]x"])
def test_malformed_resolver_names_the_problem(resolver: str) -> None:
    with pytest.raises(StepFailure, match="resolver"):
        _split_resolver(resolver)


@pytest.mark.parametrize(
    ("rdtype", "text", "expected"),
    [
        ("A", "127.0.0.1", "127.0.0.1"),
        ("AAAA", "fd00::1", "fd00::1"),
        ("CNAME", "chat.cx.test.", "chat.cx.test"),
        ("NS", "ns1.cx.test.", "ns1.cx.test"),
        ("MX", "10 mail.cx.test.", "10 mail.cx.test"),
        ("SRV", "0 5 5060 sip.cx.test.", "0 5 5060 sip.cx.test"),
        ("TXT", '"v=spf1 " "-all"', "v=spf1 -all"),
    ],
)
def test_answers_read_as_people_write_them(rdtype: str, text: str, expected: str) -> None:
    rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), text)
    assert _answer_text(rdata) == expected


def dns_step(*assertions: Assertion) -> DnsStep:
    return DnsStep("chat.cx.test", "A", "127.0.0.1", "udp", assertions)


ANSWERS = ["10.0.0.7", "10.0.0.8"]


@pytest.mark.parametrize(
    ("assertions", "rcode", "answers", "error_type"),
    [
        pytest.param((), "NOERROR", ANSWERS, None, id="answered"),
        pytest.param((), "NXDOMAIN", [], "name_resolution", id="nxdomain-by-default"),
        pytest.param((), "SERVFAIL", [], "dns_rcode", id="servfail-by-default"),
        pytest.param((), "NOERROR", [], "name_resolution", id="no-records-by-default"),
        pytest.param(
            (Assertion("rcode", "equals", value="nxdomain"),),
            "NXDOMAIN",
            [],
            None,
            id="nxdomain-asserted",
        ),
        pytest.param(
            (Assertion("rcode", "equals", value="NOERROR"),), "NOERROR", [], None, id="nodata-ok"
        ),
        pytest.param(
            (Assertion("answer", "equals", value="10.0.0.8"),),
            "NOERROR",
            ANSWERS,
            None,
            id="any-record-equals",
        ),
        pytest.param(
            (Assertion("answer", "equals", value="10.0.0.9"),),
            "NOERROR",
            ANSWERS,
            "assertion",
            id="no-record-equals",
        ),
        pytest.param(
            (Assertion("answer", "notContains", value="10.0.0.8"),),
            "NOERROR",
            ANSWERS,
            "assertion",
            id="not-contains-means-no-record",
        ),
        pytest.param(
            (Assertion("answer", "notEquals", value="192.0.2.1"),),
            "NOERROR",
            ANSWERS,
            None,
            id="not-equals-holds-for-all",
        ),
        pytest.param(
            (Assertion("answer", "matches", value=r"^10\.0\.0\.\d$"),),
            "NOERROR",
            ANSWERS,
            None,
            id="matches",
        ),
        pytest.param(
            (Assertion("answer", "exists"),), "NOERROR", [], "assertion", id="exists-needs-one"
        ),
        pytest.param(
            (Assertion("answer", "exists"),),
            "REFUSED",
            ANSWERS,
            "dns_rcode",
            id="rcode-checked-before-answers",
        ),
    ],
)
def test_judging_a_response(
    assertions: tuple[Assertion, ...], rcode: str, answers: list[str], error_type: str | None
) -> None:
    failure = None
    try:
        _judge(dns_step(*assertions), rcode, answers)
    except StepFailure as raised:
        failure = raised
    assert (failure.error_type if failure else None) == error_type, failure
