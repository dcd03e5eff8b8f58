"""Pure parts of the websocket and grpcHealth steps: message matching, extraction, errors."""

from __future__ import annotations

import grpc
import pytest

from cxj_journey.model import Expectation, Extraction
from cxj_probe.steps.base import StepFailure
from cxj_probe.steps.grpc_health import error_type_of, serving_status_name, target_of
from cxj_probe.steps.websocket import (
    describe,
    extract_from_messages,
    message_matches,
    redacted_url,
    server_attributes,
)

AGENT = '{"type": "message", "from": "agent", "agent": {"name": "Dana"}, "queue": 3}'


@pytest.mark.parametrize(
    ("expect", "text", "matches"),
    [
        pytest.param(
            Expectation("message", "contains", '"from": "agent"'), AGENT, True, id="contains"
        ),
        pytest.param(Expectation("message", "contains", "bot"), AGENT, False, id="contains-not"),
        pytest.param(Expectation("message", "equals", "pong"), "pong", True, id="equals"),
        pytest.param(Expectation("message", "equals", "pong"), "pong!", False, id="equals-exact"),
        pytest.param(Expectation("message", "matches", r"queue.: [0-9]+"), AGENT, True, id="regex"),
        pytest.param(Expectation("jsonPath", "equals", "agent", "$.from"), AGENT, True, id="path"),
        pytest.param(
            Expectation("jsonPath", "equals", "Dana", "$.agent.name"), AGENT, True, id="nested"
        ),
        pytest.param(Expectation("jsonPath", "equals", "3", "$.queue"), AGENT, True, id="number"),
        pytest.param(
            Expectation("jsonPath", "equals", "bot", "$.from"), AGENT, False, id="other-value"
        ),
        pytest.param(
            Expectation("jsonPath", "equals", "x", "$.missing"), AGENT, False, id="missing"
        ),
        pytest.param(
            Expectation("jsonPath", "equals", "x", "$.from"), "typing...", False, id="not-json"
        ),
    ],
)
def test_expectations(expect: Expectation, text: str, matches: bool) -> None:
    assert message_matches(expect, text) is matches


def test_expectation_in_words() -> None:
    assert describe(Expectation("jsonPath", "equals", "agent", "$.from")) == (
        "jsonPath $.from equals 'agent'"
    )
    assert describe(Expectation("message", "contains", "hi")) == "message contains 'hi'"


def test_extraction_takes_the_newest_matched_message_holding_the_value() -> None:
    matched = ['{"session": "s-1", "from": "bot"}', '{"from": "agent", "session": "s-2"}']
    variables = extract_from_messages(
        (
            Extraction("session", "jsonPath", "$.session"),
            Extraction("greeter", "regex", r'"from": "(bot)"'),
            Extraction("last", "body"),
        ),
        matched,
    )
    assert variables == {"session": "s-2", "greeter": "bot", "last": matched[1]}


def test_extraction_absent_from_every_message_fails_naming_it() -> None:
    with pytest.raises(StepFailure) as failure:
        extract_from_messages((Extraction("ticket", "jsonPath", "$.ticket"),), ['{"a": 1}'])
    assert failure.value.error_type == "extraction"
    assert "ticket" in failure.value.message


@pytest.mark.parametrize(
    ("url", "address", "port"),
    [
        pytest.param("ws://chat.example/ws", "chat.example", 80, id="ws-default"),
        pytest.param("wss://chat.example/ws", "chat.example", 443, id="wss-default"),
        pytest.param("wss://chat.example:8443/ws", "chat.example", 8443, id="port"),
    ],
)
def test_server_attributes(url: str, address: str, port: int) -> None:
    attributes = server_attributes(url)
    assert (attributes["server.address"], attributes["server.port"]) == (address, port)


def test_credentials_in_urls_are_redacted() -> None:
    assert redacted_url("wss://bot:secret@chat.example/ws?x=1") == (
        "wss://REDACTED:REDACTED@chat.example/ws?x=1"
    )


@pytest.mark.parametrize(
    ("code", "details", "expected"),
    [
        pytest.param(grpc.StatusCode.NOT_FOUND, "", "unknown_service", id="not-found"),
        pytest.param(grpc.StatusCode.UNIMPLEMENTED, "", "unknown_service", id="no-health-service"),
        pytest.param(
            grpc.StatusCode.UNAVAILABLE, "Connection refused", "connection_refused", id="refused"
        ),
        pytest.param(
            grpc.StatusCode.UNAVAILABLE,
            "DNS resolution failed for x:1",
            "name_resolution",
            id="dns",
        ),
        pytest.param(
            grpc.StatusCode.UNAVAILABLE,
            "Ssl handshake failed: CERTIFICATE_VERIFY_FAILED",
            "tls",
            id="tls",
        ),
        pytest.param(grpc.StatusCode.DEADLINE_EXCEEDED, "", "timeout", id="deadline"),
        pytest.param(grpc.StatusCode.PERMISSION_DENIED, "", "auth", id="denied"),
        pytest.param(grpc.StatusCode.INTERNAL, "", "protocol", id="other"),
    ],
)
def test_grpc_error_types(code: grpc.StatusCode, details: str, expected: str) -> None:
    assert error_type_of(code, details) == expected


def test_grpc_targets_and_statuses() -> None:
    assert target_of("::1", 50051) == "[::1]:50051"
    assert target_of("bot.example", 50051) == "bot.example:50051"
    assert serving_status_name(2) == "NOT_SERVING"
