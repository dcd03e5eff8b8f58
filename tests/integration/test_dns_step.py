"""The dns step against a real dnsmasq: records, rcodes, transports, timeouts."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from tests.harness.processes import Process, free_port, logs_dir, port_open
from tests.harness.step_targets import closed_port, make_context, make_step

from cxj_journey.model import Assertion, DnsStep, parse_journey
from cxj_probe.steps.base import StepOutcome
from cxj_probe.steps.dns import run_dns

DNSMASQ = "/usr/sbin/dnsmasq"


@pytest.fixture(scope="module")
def resolver() -> Iterator[str]:
    """dnsmasq answering for cx.test only: NXDOMAIN for unknown names there, REFUSED elsewhere."""
    port = free_port()
    process = Process(
        "dnsmasq",
        [
            DNSMASQ,
            "--no-daemon",
            f"--port={port}",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            "--conf-file=/dev/null",
            "--pid-file=",
            "--user=",
            "--log-facility=-",
            "--log-queries",
            "--address=/chat.cx.test/127.0.0.1",
            "--local=/cx.test/",
            "--txt-record=info.cx.test,cx journey probe",
            "--cname=www.cx.test,chat.cx.test",
            "--mx-host=cx.test,mail.cx.test,10",
            "--srv-host=_sip._udp.cx.test,sip.cx.test,5060,0,5",
        ],
        logs_dir(),
    ).start()
    try:
        process.wait_until(lambda: port_open(port), 30, "listening")
        yield f"127.0.0.1:{port}"
    finally:
        process.stop()


def run(
    query: str,
    resolver: str,
    *assertions: Assertion,
    record_type: str = "A",
    transport: str = "udp",
    timeout_s: float = 5.0,
) -> StepOutcome:
    step = make_step(DnsStep(query, record_type, resolver, transport, assertions), kind="dns")
    return asyncio.run(run_dns(step, make_context(timeout_s=timeout_s)))


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_record_is_answered_and_timed(resolver: str, transport: str) -> None:
    outcome = run(
        "chat.cx.test",
        resolver,
        Assertion("answer", "equals", value="127.0.0.1"),
        transport=transport,
    )
    assert outcome.ok, outcome.error_message
    assert [p.name for p in outcome.phases] == ["dns"]
    host, port = resolver.split(":")
    assert outcome.attributes == {
        "dns.question.name": "chat.cx.test",
        "dns.question.type": "A",
        "network.transport": transport,
        "server.address": host,
        "server.port": int(port),
        "network.peer.address": host,
        "dns.response_code": "NOERROR",
        "dns.answers": 1,
    }


@pytest.mark.parametrize(
    ("query", "record_type", "assertion"),
    [
        pytest.param(
            "info.cx.test", "TXT", Assertion("answer", "contains", value="journey"), id="txt"
        ),
        pytest.param(
            "www.cx.test", "A", Assertion("answer", "equals", value="chat.cx.test"), id="cname"
        ),
        pytest.param(
            "cx.test", "MX", Assertion("answer", "equals", value="10 mail.cx.test"), id="mx"
        ),
        pytest.param(
            "_sip._udp.cx.test",
            "SRV",
            Assertion("answer", "matches", value=r"^0 5 5060 sip\.cx\.test$"),
            id="srv",
        ),
    ],
)
def test_record_types(resolver: str, query: str, record_type: str, assertion: Assertion) -> None:
    outcome = run(query, resolver, assertion, record_type=record_type)
    assert outcome.ok, outcome.error_message


def test_nxdomain_fails_with_name_resolution_unless_asserted(resolver: str) -> None:
    failed = run("nobody.cx.test", resolver)
    expected = run("nobody.cx.test", resolver, Assertion("rcode", "equals", value="NXDOMAIN"))
    assert failed.error_type == "name_resolution"
    assert "NXDOMAIN" in (failed.error_message or "")
    assert failed.attributes["dns.response_code"] == "NXDOMAIN"
    assert [p.name for p in failed.phases] == ["dns"]
    assert expected.ok, expected.error_message


def test_refused_rcode_fails_with_dns_rcode(resolver: str) -> None:
    outcome = run("agents.example.org", resolver)
    assert outcome.error_type == "dns_rcode"
    assert "REFUSED" in (outcome.error_message or "")


def test_answer_that_does_not_match_fails_with_assertion(resolver: str) -> None:
    outcome = run("chat.cx.test", resolver, Assertion("answer", "notContains", value="127.0.0"))
    assert outcome.error_type == "assertion"
    assert "127.0.0.1" in (outcome.error_message or "")


def test_resolver_given_by_name(resolver: str) -> None:
    port = resolver.split(":")[1]
    outcome = run("chat.cx.test", f"localhost:{port}")
    assert outcome.ok, outcome.error_message
    assert outcome.attributes["server.address"] == "localhost"
    assert outcome.attributes["network.peer.address"] == "127.0.0.1"


def test_silent_resolver_times_out() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        outcome = run("chat.cx.test", f"127.0.0.1:{port}", timeout_s=0.3)
    assert outcome.error_type == "timeout"
    assert 0.3 <= outcome.duration_s < 2.0
    assert [p.name for p in outcome.phases] == ["dns"]


def test_tcp_to_a_closed_port_is_refused() -> None:
    outcome = run("chat.cx.test", f"127.0.0.1:{closed_port()}", transport="tcp")
    assert outcome.error_type == "connection_refused", outcome.error_message


def test_a_journey_document_runs_its_dns_step(resolver: str) -> None:
    document: dict[str, Any] = {
        "apiVersion": "cxjourney.dev/v1alpha1",
        "kind": "CxJourney",
        "metadata": {"name": "chat-resolves"},
        "spec": {
            "type": "chat",
            "steps": [
                {
                    "name": "resolve-chat",
                    "dns": {
                        "query": "chat.cx.test",
                        "resolver": resolver,
                        "assertions": [
                            {"source": "answer", "operator": "equals", "value": "127.0.0.1"}
                        ],
                    },
                }
            ],
            "locations": [{"name": "hq"}],
        },
    }
    step = parse_journey(document).steps[0]
    outcome = asyncio.run(run_dns(step, make_context(timeout_s=step.timeout_s)))
    assert outcome.ok, outcome.error_message
    assert outcome.attributes["dns.question.type"] == "A"  # the CRD's default
