"""The http step against a real in-process server: phases, headers, redirects, failures."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from tests.harness.step_targets import (
    TRACEPARENT,
    Certificates,
    HttpTarget,
    Route,
    closed_port,
    issue_certificates,
    make_context,
    make_step,
)

from cxj_journey.model import Assertion, Extraction, Header, HttpStep, SecretRef
from cxj_probe.steps.base import StepOutcome
from cxj_probe.steps.http import USER_AGENT, run_http
from cxj_probe.steps.http_exchange import MAX_BODY_BYTES

JSON = (("Content-Type", "application/json"),)
ROUTES = {
    "/": Route(body=b"hello"),
    "/slow": Route(body=b"x" * 4000, header_delay_s=0.05, body_delay_s=0.03),
    "/agents": Route(headers=JSON, body=json.dumps({"agents": [{"state": "ready"}]}).encode()),
    "/session": Route(headers=(*JSON, ("X-Session", "s-42")), body=b'{"session": {"id": "abc"}}'),
    "/not-json": Route(headers=JSON, body=b"<html>oops</html>"),
    "/down": Route(503, body=b"maintenance"),
    "/hop1": Route(302, headers=(("Location", "/hop2"),)),
    "/hop2": Route(301, headers=(("Location", "/agents"),)),
    "/loop": Route(302, headers=(("Location", "/loop"),)),
    "/to-ftp": Route(302, headers=(("Location", "ftp://files.cx.test/x"),)),
    "/see-other": Route(303, headers=(("Location", "/"),)),
    "/big": Route(body=b"a" * (MAX_BODY_BYTES + 5000) + b"TAIL"),
    "/garbage": Route(raw=b"HELLO THERE\r\n\r\n"),
    "/hangup": Route(raw=b""),
    "/truncated": Route(raw=b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"),
    "/hang": Route(hang=True),
    "/echo": Route(body=b"echo"),
}


def http_step(url: str, extract: tuple[Extraction, ...] = (), **fields: Any) -> Any:
    values: dict[str, Any] = {
        "url": url,
        "method": "GET",
        "headers": (),
        "body": None,
        "follow_redirects": True,
        "max_redirects": 10,
        "insecure_skip_verify": False,
        "assertions": (),
    }
    values.update(fields)
    return make_step(HttpStep(**values), kind="http", extract=extract)


def run(step: Any, **context: Any) -> StepOutcome:
    return asyncio.run(run_http(step, make_context(**context)))


def durations_ms(outcome: StepOutcome) -> dict[str, float]:
    return {p.name: (p.end_ns - p.start_ns) / 1e6 for p in outcome.phases}


@pytest.fixture(scope="module")
def target() -> Iterator[HttpTarget]:
    with HttpTarget(ROUTES) as server:
        yield server


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return issue_certificates(tmp_path_factory.mktemp("http-pki"))


@pytest.fixture(scope="module")
def tls_target(certificates: Certificates) -> Iterator[HttpTarget]:
    with HttpTarget(ROUTES, tls=certificates.server_context()) as server:
        yield server


def test_phases_follow_each_other_inside_the_step(target: HttpTarget) -> None:
    outcome = run(http_step(target.url("/slow")))
    assert outcome.ok, outcome.error_message
    assert [p.name for p in outcome.phases] == ["connect", "ttfb", "transfer"]
    previous_end = outcome.start_ns
    for phase in outcome.phases:
        assert previous_end <= phase.start_ns <= phase.end_ns <= outcome.end_ns
        previous_end = phase.end_ns
    timings = durations_ms(outcome)
    assert timings["ttfb"] >= 50.0  # the server waited 50 ms before the response head
    assert timings["transfer"] >= 30.0  # and 30 ms in the middle of the body
    assert outcome.attributes["http.response.body.size"] == 4000


def test_a_host_name_adds_a_dns_phase_an_ip_literal_has_none(target: HttpTarget) -> None:
    by_name = run(http_step(target.url("/", host="localhost")))
    assert by_name.ok, by_name.error_message
    assert [p.name for p in by_name.phases] == ["dns", "connect", "ttfb", "transfer"]
    assert by_name.attributes["server.address"] == "localhost"
    assert by_name.attributes["network.peer.address"] == "127.0.0.1"


def test_request_carries_probe_headers_and_trace_context(target: HttpTarget) -> None:
    outcome = run(http_step(target.url("/echo")))
    assert outcome.ok, outcome.error_message
    seen = next(r for r in reversed(target.received) if r.target == "/echo")
    assert seen.headers["traceparent"] == TRACEPARENT
    assert seen.headers["user-agent"] == USER_AGENT
    assert seen.headers["connection"] == "close"
    assert seen.headers["host"] == f"127.0.0.1:{target.port}"
    assert outcome.attributes == {
        "http.request.method": "GET",
        "url.full": target.url("/echo"),
        "server.address": "127.0.0.1",
        "server.port": target.port,
        "http.response.status_code": 200,
        "network.protocol.version": "1.1",
        "http.response.body.size": 4,
        "network.peer.address": "127.0.0.1",
    }


def test_post_renders_variables_and_secrets_and_sets_content_length(target: HttpTarget) -> None:
    step = http_step(
        target.url("/echo?agent=${agent}"),
        method="POST",
        body='{"agent": "${agent}"}',
        headers=(
            Header("Authorization", secret=SecretRef("crm", "token")),
            Header("X-Agent", "id-${agent}"),
            Header("Content-Type", "application/json"),
        ),
    )
    outcome = run(step, variables={"agent": "a7"}, secrets={("crm", "token"): "Bearer s3cr3t"})
    assert outcome.ok, outcome.error_message
    seen = next(r for r in reversed(target.received) if r.target == "/echo?agent=a7")
    assert seen.method == "POST"
    assert seen.body == b'{"agent": "a7"}'
    assert seen.headers["content-length"] == str(len(b'{"agent": "a7"}'))
    assert seen.headers["authorization"] == "Bearer s3cr3t"
    assert seen.headers["x-agent"] == "id-a7"
    assert "s3cr3t" not in repr(outcome)


def test_url_credentials_become_basic_auth_and_are_redacted(target: HttpTarget) -> None:
    url = f"http://ops:p%40ss@127.0.0.1:{target.port}/echo?sig=abc&page=2"
    outcome = run(http_step(url))
    assert outcome.ok, outcome.error_message
    seen = next(r for r in reversed(target.received) if r.target.startswith("/echo?sig"))
    assert seen.headers["authorization"] == "Basic " + base64.b64encode(b"ops:p@ss").decode()
    assert outcome.attributes["url.full"] == (
        f"http://REDACTED:REDACTED@127.0.0.1:{target.port}/echo?sig=REDACTED&page=2"
    )


@pytest.mark.parametrize(
    ("path", "assertions", "error_type"),
    [
        pytest.param("/down", (), "http_status", id="503-without-status-assertion-fails"),
        pytest.param(
            "/down", (Assertion("status", "equals", value="503"),), None, id="503-asserted-passes"
        ),
        pytest.param("/nowhere", (), "http_status", id="404-fails"),
        pytest.param(
            "/agents",
            (Assertion("jsonPath", "equals", "$.agents[0].state", "ready"),),
            None,
            id="json-path-holds",
        ),
        pytest.param(
            "/agents",
            (Assertion("jsonPath", "equals", "$.agents[0].state", "away"),),
            "assertion",
            id="json-path-differs",
        ),
        pytest.param(
            "/not-json",
            (Assertion("jsonPath", "exists", "$.agents"),),
            "assertion",
            id="json-path-on-html-body",
        ),
        pytest.param(
            "/session",
            (Assertion("header", "equals", "x-session", "s-42"),),
            None,
            id="header-holds",
        ),
        pytest.param(
            "/", (Assertion("body", "contains", value="hello"),), None, id="body-contains"
        ),
        pytest.param(
            "/",
            (
                Assertion("status", "lessThan", value="300"),
                Assertion("body", "matches", None, "^x"),
            ),
            "assertion",
            id="second-assertion-fails",
        ),
    ],
)
def test_status_rule_and_assertions(
    target: HttpTarget, path: str, assertions: tuple[Assertion, ...], error_type: str | None
) -> None:
    outcome = run(http_step(target.url(path), assertions=assertions))
    assert outcome.error_type == error_type, outcome.error_message
    assert "http.response.status_code" in outcome.attributes
    assert [p.name for p in outcome.phases] == ["connect", "ttfb", "transfer"]


def test_extraction_yields_variables(target: HttpTarget) -> None:
    extract = (
        Extraction("session_id", "jsonPath", "$.session.id"),
        Extraction("session_header", "header", "X-Session"),
        Extraction("first_word", "regex", r'"(\w+)"'),
    )
    outcome = run(http_step(target.url("/session"), extract=extract))
    assert outcome.ok, outcome.error_message
    assert outcome.variables == {
        "session_id": "abc",
        "session_header": "s-42",
        "first_word": "session",
    }


def test_missing_extraction_fails_the_step(target: HttpTarget) -> None:
    extract = (Extraction("token", "jsonPath", "$.token"),)
    outcome = run(http_step(target.url("/session"), extract=extract))
    assert outcome.error_type == "extraction"
    assert "token" in (outcome.error_message or "")


def test_redirects_are_followed_and_the_final_request_is_timed(target: HttpTarget) -> None:
    outcome = run(http_step(target.url("/hop1")))
    assert outcome.ok, outcome.error_message
    assert outcome.attributes["http.request.resend_count"] == 2
    assert outcome.attributes["url.full"] == target.url("/agents")
    assert [p.name for p in outcome.phases] == ["connect", "ttfb", "transfer"]
    assert outcome.phases[0].start_ns > outcome.start_ns  # the hops came first


def test_redirect_loop_fails_with_too_many_redirects(target: HttpTarget) -> None:
    outcome = run(http_step(target.url("/loop"), max_redirects=3))
    assert outcome.error_type == "too_many_redirects"
    assert outcome.attributes["http.request.resend_count"] == 3


def test_redirect_to_another_scheme_fails_with_protocol(target: HttpTarget) -> None:
    outcome = run(http_step(target.url("/to-ftp")))
    assert outcome.error_type == "protocol"
    assert "ftp://files.cx.test/x" in (outcome.error_message or "")


def test_redirects_are_not_followed_when_disabled(target: HttpTarget) -> None:
    outcome = run(http_step(target.url("/hop1"), follow_redirects=False))
    assert outcome.ok, outcome.error_message
    assert outcome.attributes["http.response.status_code"] == 302


def test_see_other_after_post_continues_with_get(target: HttpTarget) -> None:
    outcome = run(http_step(target.url("/see-other"), method="POST", body="x=1"))
    assert outcome.ok, outcome.error_message
    assert outcome.attributes["http.request.method"] == "GET"
    assert target.received[-1].method == "GET"
    assert target.received[-1].body == b""


def test_secret_headers_do_not_follow_a_redirect_to_another_origin(target: HttpTarget) -> None:
    with HttpTarget({"/away": Route(302, headers=(("Location", target.url("/echo")),))}) as other:
        step = http_step(other.url("/away"), headers=(Header("X-Key", secret=SecretRef("k", "v")),))
        outcome = run(step, secrets={("k", "v"): "hidden"})
    assert outcome.ok, outcome.error_message
    assert "x-key" in other.received[-1].headers
    assert "x-key" not in target.received[-1].headers


def test_body_is_capped_but_counted(target: HttpTarget) -> None:
    step = http_step(target.url("/big"), assertions=(Assertion("body", "contains", value="TAIL"),))
    outcome = run(step)
    assert outcome.attributes["http.response.body.size"] == MAX_BODY_BYTES + 5004
    assert outcome.error_type == "assertion"  # the tail lies past the cap


@pytest.mark.parametrize(
    ("path", "error_type"),
    [
        pytest.param("/garbage", "protocol", id="not-http"),
        pytest.param("/hangup", "connection_reset", id="closed-without-response"),
        pytest.param("/truncated", "connection_reset", id="closed-mid-body"),
    ],
)
def test_broken_responses(target: HttpTarget, path: str, error_type: str) -> None:
    outcome = run(http_step(target.url(path)))
    assert outcome.error_type == error_type, outcome.error_message
    assert outcome.phases[-1].name in ("ttfb", "transfer")


def test_refused_port_fails_in_the_connect_phase() -> None:
    outcome = run(http_step(f"http://127.0.0.1:{closed_port()}/"))
    assert outcome.error_type == "connection_refused"
    assert [p.name for p in outcome.phases] == ["connect"]


def test_unknown_variable_fails_before_any_traffic(target: HttpTarget) -> None:
    outcome = run(http_step(target.url("/echo?x=${missing}")))
    assert outcome.error_type == "variable"
    assert outcome.phases == []


def test_unresolvable_name_fails_with_name_resolution() -> None:
    # The system resolver would send this query off the machine; a loop whose getaddrinfo
    # answers like glibc for an unknown name keeps the test on 127.0.0.1. The real NXDOMAIN
    # path is covered by the dns step against dnsmasq.
    class NoSuchName(asyncio.SelectorEventLoop):
        async def getaddrinfo(self, *args: Any, **kwargs: Any) -> Any:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    loop = NoSuchName()
    try:
        outcome = loop.run_until_complete(
            run_http(http_step("http://chat.cx.test/"), make_context())
        )
    finally:
        loop.close()
    assert outcome.error_type == "name_resolution"
    assert [p.name for p in outcome.phases] == ["dns"]


def test_cancellation_closes_the_connection(target: HttpTarget) -> None:
    async def cut_short() -> None:
        async with asyncio.timeout(0.3):
            await run_http(http_step(target.url("/hang")), make_context())

    with pytest.raises(TimeoutError):
        asyncio.run(cut_short())
    assert target.hung_closed.acquire(timeout=5), "the probe left the connection open"


def test_https_with_skip_verify_times_the_handshake(tls_target: HttpTarget) -> None:
    outcome = run(http_step(tls_target.url("/agents"), insecure_skip_verify=True))
    assert outcome.ok, outcome.error_message
    assert [p.name for p in outcome.phases] == ["connect", "tls", "ttfb", "transfer"]
    assert outcome.attributes["tls.protocol.version"] == "1.3"
    assert outcome.attributes["tls.cipher"]


def test_https_with_an_untrusted_certificate_fails_with_tls(tls_target: HttpTarget) -> None:
    outcome = run(http_step(tls_target.url("/")))
    assert outcome.error_type == "tls"
    assert "not trusted" in (outcome.error_message or "")
    assert [p.name for p in outcome.phases] == ["connect", "tls"]


def test_https_to_a_plain_port_fails_with_tls(target: HttpTarget) -> None:
    outcome = run(http_step(target.url("/").replace("http://", "https://")))
    assert outcome.error_type == "tls", outcome.error_message
