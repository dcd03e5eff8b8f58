"""Incident delivery to real HTTP receivers on loopback, one per sink format.

Each receiver is an HTTP/1.1 server in this process that records every request and answers
from a script (503s, 429 with Retry-After, 400), so retries, backoff and give-ups are
observed on the wire, not inferred.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tests.harness.pki import make_pki
from tests.harness.processes import free_port

from cxj_alerting import Dispatcher, Evaluation, Incident, IncidentTracker, RetryPolicy
from cxj_journey.model import Journey, parse_journey

ROUTING_KEY = "R0uT1nGkEy0123456789abcdefABCDEF"
SLACK_TOKEN = "s3cr3tW3bh00kT0k3nXYZ"


def _t0() -> datetime:
    """When the test's incidents began: two minutes before the test runs (not before the
    module was collected, which may be many minutes earlier in a full run)."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)


FAST = RetryPolicy(
    max_attempts=4, first_backoff_s=0.05, max_backoff_s=1.0, max_total_s=10.0, jitter=0.0
)
AM_PATH = "/am/api/v2/alerts"
PD_PATH = "/pd/v2/enqueue"
SLACK_PATH = f"/services/T0AAAA/B0BBBB/{SLACK_TOKEN}"
CE_PATH = "/ce"

Reply = tuple[int, dict[str, str], bytes]


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival
    wall: datetime

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A loopback HTTP server standing in for every sink: records requests, answers a script."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Received] = []
        self._script: dict[str, list[Reply]] = {}
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, headers, reply = receiver._next_reply(self.path)
                with receiver._arrived:
                    receiver.requests.append(
                        Received(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            time.monotonic(),
                            datetime.now(UTC),
                        )
                    )
                    receiver._arrived.notify_all()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test asserts on recorded requests, not on stderr

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}{path}"

    def script(self, path: str, *replies: Reply) -> None:
        """Answers the next requests to the path with these replies, then with success."""
        self._script.setdefault(path, []).extend(replies)

    def at(self, path: str) -> list[Received]:
        with self._arrived:
            return [r for r in self.requests if r.path == path]

    def wait_for(self, path: str, count: int, timeout_s: float = 10.0) -> None:
        with self._arrived:
            arrived = self._arrived.wait_for(
                lambda: sum(r.path == path for r in self.requests) >= count, timeout_s
            )
        assert arrived, f"{count} requests to {path} did not arrive within {timeout_s} s"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def _next_reply(self, path: str) -> Reply:
        with self._arrived:
            pending = self._script.get(path)
            if pending:
                return pending.pop(0)
        if path == PD_PATH:
            return 202, {"Content-Type": "application/json"}, b'{"status":"success"}'
        return 200, {"Content-Type": "text/plain"}, b"ok"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every scenario, failures included, must keep the routing key and webhook out of logs."""
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        text = record.getMessage() + str(record.exc_text or "")
        assert ROUTING_KEY not in text, f"routing key logged: {record.name} {record.levelname}"
        assert SLACK_TOKEN not in text, f"webhook URL logged: {record.name} {record.levelname}"


def journey(receiver: Receiver, *kinds: str, ce_url: str | None = None) -> Journey:
    sinks = {
        "alertmanager": {"name": "noc", "alertmanager": {"url": receiver.url("/am")}},
        "pagerduty": {
            "name": "oncall",
            "severities": ["page"],
            "pagerduty": {
                "routingKeySecretRef": {"name": "cx-alerting", "key": "pd-key"},
                "url": receiver.url(PD_PATH),
            },
        },
        "slack": {
            "name": "chat",
            "slack": {"webhookSecretRef": {"name": "cx-alerting", "key": "slack-url"}},
        },
        "cloudevents": {"name": "bus", "cloudevents": {"url": ce_url or receiver.url(CE_PATH)}},
    }
    return parse_journey(
        {
            "apiVersion": "cxjourney.dev/v1alpha1",
            "kind": "CxJourney",
            "metadata": {"name": "voice-call", "namespace": "contact"},
            "spec": {
                "type": "voice",
                "steps": [{"name": "dial-agent", "http": {"url": "https://pbx.example.com/"}}],
                "locations": [{"name": "eu-west"}],
                "alerting": {
                    "runbookUrl": "https://runbooks.example.com/voice",
                    "sinks": [sinks[kind] for kind in kinds or sinks],
                },
            },
        }
    )


def secrets_for(receiver: Receiver) -> dict[tuple[str, str], str]:
    return {
        ("cx-alerting", "pd-key"): ROUTING_KEY,
        ("cx-alerting", "slack-url"): receiver.url(SLACK_PATH),
    }


def dispatcher(receiver: Receiver, **options: Any) -> Dispatcher:
    table = secrets_for(receiver)
    return Dispatcher(lambda name, key: table[(name, key)], policy=FAST, **options)


def fire_and_resolve(subject: Journey) -> tuple[Incident, Incident]:
    tracker = IncidentTracker()
    firing = Evaluation(
        {"page": True},
        burn_rates={"5m": 21.5, "1h": 15.2},
        suspected_layer="network",
        failing_step="dial-agent",
        example_trace_id="0af7651916cd43dd8448eb211c80319c",
    )
    start = _t0()
    [fired] = tracker.observe(subject, firing, start)
    [resolved] = tracker.observe(subject, Evaluation({}), start + timedelta(minutes=1))
    return fired, resolved


async def send(dispatch: Dispatcher, subject: Journey, *incidents: Incident) -> None:
    dispatch.start()
    try:
        for incident in incidents:
            await dispatch.deliver(subject, incident)
        await asyncio.wait_for(dispatch.drain(), timeout=30)
    finally:
        await dispatch.close()


def test_every_sink_receives_the_fire_then_the_resolve(receiver: Receiver) -> None:
    subject = journey(receiver)
    fired, resolved = fire_and_resolve(subject)
    dispatch = dispatcher(receiver)
    asyncio.run(send(dispatch, subject, fired, resolved))

    am = receiver.at(AM_PATH)
    assert [r.json()[0]["labels"]["cx_journey_name"] for r in am] == ["voice-call"] * 2
    assert datetime.fromisoformat(am[0].json()[0]["endsAt"]) > am[0].wall
    assert datetime.fromisoformat(am[1].json()[0]["endsAt"]) <= am[1].wall  # resolved
    pd = [r.json() for r in receiver.at(PD_PATH)]
    assert [e["event_action"] for e in pd] == ["trigger", "resolve"]
    assert {e["routing_key"] for e in pd} == {ROUTING_KEY}
    assert {e["dedup_key"] for e in pd} == {"cxj/contact/voice-call/page"}
    assert pd[0]["payload"]["custom_details"]["example_trace_id"] == fired.example_trace_id
    slack = [r.json()["text"] for r in receiver.at(SLACK_PATH)]
    assert "firing" in slack[0]
    assert "resolved" in slack[1]
    ce = receiver.at(CE_PATH)
    assert {r.headers["content-type"] for r in ce} == {
        "application/cloudevents+json; charset=utf-8"
    }
    assert [r.json()["type"] for r in ce] == [
        "dev.cxjourney.incident.fired",
        "dev.cxjourney.incident.resolved",
    ]
    assert (dispatch.counters.sent, dispatch.counters.retried, dispatch.counters.failed) == (
        8,
        0,
        0,
    )


def test_severities_pick_the_sinks(receiver: Receiver) -> None:
    subject = journey(receiver)
    [ticket] = IncidentTracker().observe(subject, Evaluation({"ticket": True}), _t0())

    async def scenario() -> int:
        dispatch = dispatcher(receiver).start()
        queued = await dispatch.deliver(subject, ticket)
        await dispatch.close()
        return queued

    assert asyncio.run(scenario()) == 3  # the PagerDuty sink takes pages only
    assert receiver.at(PD_PATH) == []


def test_two_503s_then_success_is_delivered_once_after_backoff(receiver: Receiver) -> None:
    subject = journey(receiver, "pagerduty")
    fired, _ = fire_and_resolve(subject)
    busy: Reply = (503, {}, b"upstream unavailable")
    receiver.script(PD_PATH, busy, busy)
    dispatch = dispatcher(receiver)
    asyncio.run(send(dispatch, subject, fired))

    arrivals = receiver.at(PD_PATH)
    assert len(arrivals) == 3
    assert len({r.body for r in arrivals}) == 1  # a retry resends the same event
    [outcome] = dispatch.outcomes
    assert (outcome.delivered, outcome.attempts, outcome.status) == (True, 3, 202)
    assert outcome.waits_s == (0.05, 0.1)  # exponential: first backoff, then double
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(arrivals)]
    assert all(gap >= wait for gap, wait in zip(gaps, outcome.waits_s, strict=True))
    assert (dispatch.counters.sent, dispatch.counters.retried, dispatch.counters.failed) == (
        1,
        2,
        0,
    )


def test_429_waits_as_long_as_retry_after_says(receiver: Receiver) -> None:
    subject = journey(receiver, "cloudevents")
    fired, _ = fire_and_resolve(subject)
    receiver.script(CE_PATH, (429, {"Retry-After": "1"}, b"slow down"))
    dispatch = dispatcher(receiver)
    asyncio.run(send(dispatch, subject, fired))

    first, second = receiver.at(CE_PATH)
    assert second.at - first.at >= 1.0
    [outcome] = dispatch.outcomes
    assert (outcome.delivered, outcome.waits_s) == (True, (1.0,))


def test_400_is_not_retried_and_is_reported_with_the_body(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    subject = journey(receiver, "pagerduty")
    fired, _ = fire_and_resolve(subject)
    refusal = {"status": "invalid event", "errors": [f"routing_key {ROUTING_KEY} is not valid"]}
    receiver.script(
        PD_PATH, (400, {"Content-Type": "application/json"}, json.dumps(refusal).encode())
    )
    dispatch = dispatcher(receiver)
    asyncio.run(send(dispatch, subject, fired))

    assert len(receiver.at(PD_PATH)) == 1
    [outcome] = dispatch.outcomes
    assert (outcome.delivered, outcome.attempts, outcome.status) == (False, 1, 400)
    assert "invalid event" in outcome.detail
    assert "routing_key [REDACTED] is not valid" in outcome.detail
    assert (dispatch.counters.sent, dispatch.counters.retried, dispatch.counters.failed) == (
        0,
        0,
        1,
    )
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("HTTP 400" in e and "invalid event" in e and "not retried" in e for e in errors)


def test_a_resolve_never_overtakes_the_fire_being_retried(receiver: Receiver) -> None:
    subject = journey(receiver, "pagerduty")
    fired, resolved = fire_and_resolve(subject)
    receiver.script(PD_PATH, (503, {}, b""), (502, {}, b""))
    asyncio.run(send(dispatcher(receiver), subject, fired, resolved))
    actions = [r.json()["event_action"] for r in receiver.at(PD_PATH)]
    assert actions == ["trigger", "trigger", "trigger", "resolve"]


def test_connection_refused_is_retried_until_the_attempts_run_out(receiver: Receiver) -> None:
    closed_port_url = f"http://127.0.0.1:{free_port()}/ce"
    subject = journey(receiver, "cloudevents", ce_url=closed_port_url)
    fired, _ = fire_and_resolve(subject)
    dispatch = dispatcher(receiver)
    asyncio.run(send(dispatch, subject, fired))
    [outcome] = dispatch.outcomes
    assert (outcome.delivered, outcome.attempts, outcome.status) == (False, 4, None)
    assert "connection failed" in outcome.detail
    assert "gave up after 4 attempts" in outcome.detail
    assert (dispatch.counters.retried, dispatch.counters.failed) == (3, 1)


def test_retry_after_beyond_the_budget_gives_up_at_once(receiver: Receiver) -> None:
    subject = journey(receiver, "cloudevents")
    fired, _ = fire_and_resolve(subject)
    receiver.script(CE_PATH, (429, {"Retry-After": "3600"}, b""))
    dispatch = dispatcher(receiver)
    asyncio.run(send(dispatch, subject, fired))
    [outcome] = dispatch.outcomes
    assert (outcome.delivered, outcome.attempts) == (False, 1)
    assert "retry budget" in outcome.detail


def test_a_missing_secret_fails_the_sink_without_sending(receiver: Receiver) -> None:
    subject = journey(receiver, "slack")
    fired, _ = fire_and_resolve(subject)
    dispatch = Dispatcher(environ={}, policy=FAST)  # standalone: secrets from the environment
    asyncio.run(send(dispatch, subject, fired))
    assert receiver.at(SLACK_PATH) == []
    [outcome] = dispatch.outcomes
    assert outcome.attempts == 0
    assert "set CXJ_SECRET_CX_ALERTING_SLACK_URL" in outcome.detail


def test_close_abandons_what_cannot_finish_and_counts_it(receiver: Receiver) -> None:
    subject = journey(receiver, "cloudevents")
    fired, _ = fire_and_resolve(subject)
    receiver.script(CE_PATH, (503, {}, b""))
    slow = RetryPolicy(first_backoff_s=30.0, jitter=0.0)

    async def scenario() -> Dispatcher:
        dispatch = Dispatcher(lambda name, key: "", policy=slow).start()
        await dispatch.deliver(subject, fired)
        await asyncio.to_thread(receiver.wait_for, CE_PATH, 1)
        await dispatch.close(timeout_s=0.2)
        return dispatch

    dispatch = asyncio.run(scenario())
    [outcome] = dispatch.outcomes
    assert not outcome.delivered
    assert "abandoned" in outcome.detail
    assert dispatch.counters.failed == 1


def test_tls_is_verified(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    serving = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    serving.load_cert_chain(pki.serving_cert, pki.serving_key)
    server = Receiver(tls=serving)
    try:
        subject = journey(server, "cloudevents")
        fired, _ = fire_and_resolve(subject)
        untrusting = Dispatcher(environ={}, policy=FAST)
        asyncio.run(send(untrusting, subject, fired))
        [refused] = untrusting.outcomes
        assert (refused.delivered, refused.attempts) == (False, 1)
        assert "TLS certificate not trusted" in refused.detail

        trusting = Dispatcher(
            environ={}, policy=FAST, tls=ssl.create_default_context(cafile=str(pki.ca_cert))
        )
        asyncio.run(send(trusting, subject, fired))
        [delivered] = trusting.outcomes
        assert delivered.delivered
        assert len(server.at(CE_PATH)) == 1
    finally:
        server.close()
