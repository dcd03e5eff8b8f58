"""The experience summary in status: formatting, the processor client and when it is written."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from tests.harness.processes import free_port

from cxj_operator.config import ExperienceSettings, OperatorConfig
from cxj_operator.experience import ProcessorClient, refresh_experience, sweep
from cxj_operator.experience_view import (
    NO_TELEMETRY,
    NOT_CONFIGURED,
    OK,
    UNREACHABLE,
    Reading,
    experience_condition,
    experience_fields,
)
from cxj_operator.inventory import Inventory
from cxj_operator.readiness import HONOURED, Verdict
from cxj_operator.reconcile import Services, write_workload_status

NOW = "2026-01-01T00:00:00Z"
SUMMARY = {
    "score": 71.6,
    "apdex": 0.912,
    "apdexThreshold": 2.0,
    "sloAttainment": 0.99623,
    "budgetRemaining": 0.731,
    "fastestBurn": {"rate": 14.44, "window": "1h"},
    "firing": ["page"],
    "suspectedLayer": "network",
    "failingStep": "media-path",
    "exampleTraceId": "4bf92f3577b34da6a3ce929d0e0e4736",
}


def test_summary_becomes_the_printer_column_fields() -> None:
    fields = experience_fields(Reading(OK, SUMMARY), "http://proc:8080", NOW)
    assert fields == {
        "source": "processor http://proc:8080",
        "score": 72,
        "apdex": "0.91 [2]",
        "sloAttainment": "99.62%",
        "budgetRemaining": "73%",
        "fastestBurnRate": "14.4x/1h",
        "suspectedLayer": "network",
        "failingStep": "media-path",
        "exampleTraceId": "4bf92f3577b34da6a3ce929d0e0e4736",
        "updatedAt": NOW,
    }


def test_missing_numbers_say_unknown() -> None:
    sparse = {
        "score": None,
        "apdex": None,
        "budgetRemaining": None,
        "fastestBurn": {"rate": None},
        "firing": [],
        "suspectedLayer": "none",
        "failingStep": None,
    }
    fields = experience_fields(Reading(OK, sparse), "http://p", NOW)
    assert "score" not in fields
    assert "apdex" not in fields
    assert "failingStep" not in fields
    assert fields["budgetRemaining"] == fields["fastestBurnRate"] == "unknown"


@pytest.mark.parametrize(
    ("reading", "source", "reason"),
    [
        pytest.param(
            Reading(UNREACHABLE, detail="connection refused"),
            "processor unreachable: connection refused",
            "ProcessorUnreachable",
            id="unreachable",
        ),
        pytest.param(
            Reading(NO_TELEMETRY, detail="404"),
            "processor has no telemetry for this journey yet: 404",
            "NoTelemetry",
            id="no-telemetry",
        ),
        pytest.param(
            Reading(NOT_CONFIGURED),
            "processor not configured: start the operator with --processor-url",
            "ProcessorNotConfigured",
            id="not-configured",
        ),
    ],
)
def test_without_a_summary_the_fields_say_why_instead_of_going_stale(
    reading: Reading, source: str, reason: str
) -> None:
    fields = experience_fields(reading, "http://p", NOW)
    assert fields == {
        "source": source,
        "budgetRemaining": "unknown",
        "fastestBurnRate": "unknown",
        "suspectedLayer": "unknown",
    }
    found = experience_condition(reading)
    assert (found.status, found.reason) == ("Unknown", reason)


def test_firing_alert_means_experience_degraded() -> None:
    found = experience_condition(Reading(OK, SUMMARY))
    assert (found.status, found.reason) == ("True", "BurnRateAlertFiring")
    assert "page" in found.message
    assert "14.4x/1h" in found.message
    assert "network" in found.message
    calm = experience_condition(Reading(OK, {**SUMMARY, "firing": []}))
    assert (calm.status, calm.reason) == ("False", "WithinBudget")


# -- the client against a small fake status API ------------------------------------------
class _StatusApi(BaseHTTPRequestHandler):
    answers: ClassVar[dict[str, tuple[int, bytes]]] = {}

    def log_message(self, *_: Any) -> None:
        pass

    def do_GET(self) -> None:
        code, body = self.answers.get(self.path, (404, b'{"error": "no telemetry yet"}'))
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def status_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StatusApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _StatusApi.answers = {
        "/api/v1/journeys/cc/voice": (200, json.dumps({"summary": SUMMARY}).encode()),
        "/api/v1/journeys/cc/broken": (500, b"boom"),
        "/api/v1/journeys/cc/garbled": (200, b"<html>"),
    }
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_client_reads_summary_404_errors_and_dead_ports(status_api: str) -> None:
    client = ProcessorClient(status_api, timeout_s=2)
    assert client.read("cc", "voice") == Reading(OK, SUMMARY)
    assert client.read("cc", "quiet").outcome == NO_TELEMETRY
    assert "HTTP 500" in client.read("cc", "broken").detail
    assert client.read("cc", "garbled").outcome == UNREACHABLE
    dead = ProcessorClient(f"http://127.0.0.1:{free_port()}", timeout_s=2).read("cc", "voice")
    assert dead.outcome == UNREACHABLE
    assert "refused" in dead.detail.lower()
    assert ProcessorClient(None, 1).read("cc", "voice").outcome == NOT_CONFIGURED


# -- what gets written, and when ----------------------------------------------------------
class FakeApi:
    def __init__(self) -> None:
        self.applied: list[dict[str, Any]] = []
        self.events: list[tuple[str, str]] = []

    def apply_status(
        self, namespace: str, name: str, status: dict[str, Any], manager: str
    ) -> dict[str, Any]:
        self.applied.append({"key": (namespace, name), "status": status, "manager": manager})
        return {}

    def post_event(self, about: Any, kind: str, reason: str, message: str, instance: str) -> None:
        self.events.append((kind, reason))


def _services(api: FakeApi) -> Services:
    inventory = Inventory()
    inventory.observe_journey(
        "ADDED", {"metadata": {"namespace": "cc", "name": "voice", "uid": "u1", "generation": 2}}
    )
    config = OperatorConfig(experience=ExperienceSettings(processor_url="http://p", max_age_s=300))
    return Services(
        api=api,
        config=config,
        inventory=inventory,
        nodes=None,  # type: ignore[arg-type]
        identity="test",
        clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_unchanged_summary_is_not_rewritten_and_flips_post_events() -> None:
    api = FakeApi()
    services = _services(api)
    key = ("cc", "voice")
    refresh_experience(services, key, Reading(OK, {**SUMMARY, "firing": []}))
    refresh_experience(services, key, Reading(OK, {**SUMMARY, "firing": []}))
    assert len(api.applied) == 1
    assert api.applied[0]["manager"] == "cxj-operator"
    (written,) = api.applied[0]["status"]["conditions"]
    assert (written["type"], written["status"], written["observedGeneration"]) == (
        "ExperienceDegraded",
        "False",
        2,
    )
    assert api.events == []

    refresh_experience(services, key, Reading(OK, SUMMARY))
    assert api.events == [("Warning", "ExperienceDegraded")]
    refresh_experience(services, key, Reading(OK, {**SUMMARY, "firing": []}))
    assert api.events[-1] == ("Normal", "ExperienceRecovered")
    assert len(api.applied) == 3


def test_a_dead_processor_costs_one_attempt_per_sweep() -> None:
    api = FakeApi()
    services = _services(api)
    services.inventory.observe_journey(
        "ADDED", {"metadata": {"namespace": "cc", "name": "chat", "uid": "u2", "generation": 1}}
    )

    class Counting(ProcessorClient):
        calls = 0

        def read(self, namespace: str, name: str) -> Reading:
            Counting.calls += 1
            return Reading(UNREACHABLE, detail="timed out")

    assert sweep(services, Counting("http://p", 1)) == 0
    assert Counting.calls == 1
    sources = {a["status"]["experience"]["source"] for a in api.applied}
    assert sources == {"processor unreachable: timed out"}
    assert len(api.applied) == 2


# -- one status apply carries both parts ---------------------------------------------------
def test_an_experience_write_carries_the_reconciles_part_as_status_has_it() -> None:
    api = FakeApi()
    services = _services(api)
    key = ("cc", "voice")
    ready = {"type": "Ready", "status": "True", "reason": "ProbesReady", "message": "ok"}
    services.inventory.observe_journey(
        "MODIFIED",
        {
            "metadata": {"namespace": "cc", "name": "voice", "uid": "u1", "generation": 2},
            "status": {
                "observedGeneration": 2,
                "locations": [{"name": "hq"}],
                "conditions": [ready],
            },
        },
    )
    refresh_experience(services, key, Reading(OK, {**SUMMARY, "firing": []}))
    (written,) = api.applied
    status = written["status"]
    # Leaving the reconcile's fields out of this manager's apply would remove them.
    assert status["observedGeneration"] == 2
    assert status["locations"] == [{"name": "hq"}]
    assert [c["type"] for c in status["conditions"]] == ["Ready", "ExperienceDegraded"]
    assert status["experience"]["score"] == 72


def test_a_dead_processor_is_in_a_new_journeys_first_status_write_and_not_written_again() -> None:
    api = FakeApi()
    services = _services(api)
    services.inventory.observe_journey(
        "DELETED", {"metadata": {"namespace": "cc", "name": "voice", "uid": "u1"}}
    )
    dead = ProcessorClient(f"http://127.0.0.1:{free_port()}", timeout_s=2)
    # No journey yet: the sweep asks the processor's health check instead.
    assert sweep(services, dead) == 0
    shared = services.inventory.shared_reading()
    assert shared is not None
    assert (shared.outcome, shared.shared) == (UNREACHABLE, True)

    key = ("cc", "chat")
    services.inventory.observe_journey(
        "ADDED", {"metadata": {"namespace": "cc", "name": "chat", "uid": "u2", "generation": 1}}
    )
    services.inventory.set_verdict(key, Verdict(1, "u2", HONOURED, "", (("hq", 1),)))
    write_workload_status(services, key)
    (first,) = api.applied
    conditions = {c["type"]: c for c in first["status"]["conditions"]}
    assert conditions["Ready"]["status"] == "False"
    assert conditions["ExperienceDegraded"]["reason"] == "ProcessorUnreachable"
    assert first["status"]["experience"]["source"].startswith("processor unreachable: http://")

    # The next sweep finds the same: nothing to write.
    assert sweep(services, dead) == 0
    assert len(api.applied) == 1


def test_a_workload_write_keeps_the_journeys_last_reading() -> None:
    api = FakeApi()
    services = _services(api)
    key = ("cc", "voice")
    refresh_experience(services, key, Reading(OK, SUMMARY))
    services.inventory.set_verdict(key, Verdict(2, "u1", HONOURED, "", (("hq", 1),)))
    write_workload_status(services, key)
    assert len(api.applied) == 2
    status = api.applied[1]["status"]
    assert status["experience"] == api.applied[0]["status"]["experience"]
    experience = next(c for c in status["conditions"] if c["type"] == "ExperienceDegraded")
    assert (experience["status"], experience["reason"]) == ("True", "BurnRateAlertFiring")
    assert {c["type"] for c in status["conditions"]} == {
        "Ready",
        "Progressing",
        "Degraded",
        "ExperienceDegraded",
    }


def test_after_a_restart_a_workload_write_carries_the_experience_status_has() -> None:
    api = FakeApi()
    services = _services(api)
    key = ("cc", "voice")
    before = {"type": "ExperienceDegraded", "status": "False", "reason": "WithinBudget"}
    services.inventory.observe_journey(
        "MODIFIED",
        {
            "metadata": {"namespace": "cc", "name": "voice", "uid": "u1", "generation": 2},
            "status": {"experience": {"score": 90}, "conditions": [before]},
        },
    )
    services.inventory.set_verdict(key, Verdict(2, "u1", HONOURED, "", (("hq", 1),)))
    write_workload_status(services, key)
    (written,) = api.applied
    assert written["status"]["experience"] == {"score": 90}
    assert before in written["status"]["conditions"]
