"""Each sink's payload against its format's documented shape, dedup keys, and redaction.

The schemas below are written from the formats' public documentation (required fields,
enums, documented length limits), not from our builders:
- Alertmanager API v2 `postableAlerts` (api/v2/openapi.yaml): an array of alerts with
  required `labels` (a labelSet: string to string), optional `annotations` (labelSet),
  `startsAt`/`endsAt` (date-time) and `generatorURL` (uri); label names per the Prometheus
  data model `[a-zA-Z_][a-zA-Z0-9_]*`.
- PagerDuty Events API v2 alert events: `routing_key` (the 32-character integration key),
  `event_action` trigger|acknowledge|resolve, `dedup_key` (at most 255 characters); a trigger
  needs `payload.summary` (at most 1024), `payload.source`, `payload.severity`
  critical|error|warning|info; optional timestamp, component, group, class, custom_details
  (object); `links` items need `href`.
- Slack incoming webhooks: JSON with `text` and/or Block Kit `blocks` (at most 50); header
  text is plain_text up to 150 characters; section text up to 3000, at most 10 fields of up
  to 2000; context at most 10 elements.
- CloudEvents 1.0 JSON format: required `specversion` "1.0", non-empty `id`, `source`
  (URI-reference), non-empty `type`; optional `subject`, `time` (RFC 3339),
  `datacontenttype`; attribute names are lower-case letters and digits.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest

from cxj_alerting.incident import Evaluation, Incident, IncidentTracker, dedup_key
from cxj_alerting.payloads import (
    alertmanager_alerts,
    cloudevent,
    pagerduty_event,
    rfc3339,
    slack_message,
)
from cxj_alerting.sinks import (
    REDACTED,
    SecretUnavailable,
    build_request,
    env_resolver,
    redact,
    wants,
)
from cxj_journey.model import Journey, SecretRef, Sink, parse_journey, secret_env_name

ROUTING_KEY = "R0uT1nGkEy0123456789abcdefABCDEF"  # 32 characters, like an integration key
WEBHOOK = "https://hooks.slack.example/services/T0AAAA/B0BBBB/s3cr3tW3bh00kT0k3n"
T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)

# --- formats, from their documentation ---

LABEL_SET = {
    "type": "object",
    "propertyNames": {"pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"},
    "additionalProperties": {"type": "string"},
}
ALERTMANAGER_POSTABLE_ALERTS = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["labels"],
        "additionalProperties": False,
        "properties": {
            "labels": {**LABEL_SET, "minProperties": 1, "required": ["alertname"]},
            "annotations": LABEL_SET,
            "startsAt": {"type": "string", "format": "date-time"},
            "endsAt": {"type": "string", "format": "date-time"},
            "generatorURL": {"type": "string", "format": "uri"},
        },
    },
}
PAGERDUTY_ALERT_EVENT = {
    "type": "object",
    "required": ["routing_key", "event_action"],
    "additionalProperties": False,
    "properties": {
        "routing_key": {"type": "string", "minLength": 32, "maxLength": 32},
        "event_action": {"enum": ["trigger", "acknowledge", "resolve"]},
        "dedup_key": {"type": "string", "minLength": 1, "maxLength": 255},
        "payload": {
            "type": "object",
            "required": ["summary", "source", "severity"],
            "additionalProperties": False,
            "properties": {
                "summary": {"type": "string", "minLength": 1, "maxLength": 1024},
                "source": {"type": "string", "minLength": 1},
                "severity": {"enum": ["critical", "error", "warning", "info"]},
                "timestamp": {"type": "string", "format": "date-time"},
                "component": {"type": "string"},
                "group": {"type": "string"},
                "class": {"type": "string"},
                "custom_details": {"type": "object"},
            },
        },
        "images": {"type": "array"},
        "links": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["href"],
                "additionalProperties": False,
                "properties": {
                    "href": {"type": "string", "format": "uri"},
                    "text": {"type": "string"},
                },
            },
        },
        "client": {"type": "string"},
        "client_url": {"type": "string", "format": "uri"},
    },
    # A trigger must carry a payload; acknowledge and resolve need the dedup_key instead.
    "if": {"properties": {"event_action": {"const": "trigger"}}},
    "then": {"required": ["payload"]},
    "else": {"required": ["dedup_key"]},
}
SLACK_TEXT: dict[str, Any] = {
    "type": "object",
    "required": ["type", "text"],
    "properties": {"type": {"enum": ["plain_text", "mrkdwn"]}, "text": {"type": "string"}},
}
SLACK_INCOMING_WEBHOOK = {
    "type": "object",
    "anyOf": [{"required": ["text"]}, {"required": ["blocks"]}],
    "properties": {
        "text": {"type": "string", "minLength": 1},
        "blocks": {
            "type": "array",
            "maxItems": 50,
            "items": {
                "type": "object",
                "required": ["type"],
                "oneOf": [
                    {
                        "properties": {
                            "type": {"const": "header"},
                            "text": {
                                **SLACK_TEXT,
                                "properties": {
                                    "type": {"const": "plain_text"},
                                    "text": {"type": "string", "minLength": 1, "maxLength": 150},
                                    "emoji": {"type": "boolean"},
                                },
                            },
                        },
                        "required": ["text"],
                    },
                    {
                        "properties": {
                            "type": {"const": "section"},
                            "text": {
                                **SLACK_TEXT,
                                "properties": {
                                    **SLACK_TEXT["properties"],
                                    "text": {"type": "string", "minLength": 1, "maxLength": 3000},
                                },
                            },
                            "fields": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": 10,
                                "items": {
                                    **SLACK_TEXT,
                                    "properties": {
                                        **SLACK_TEXT["properties"],
                                        "text": {"type": "string", "maxLength": 2000},
                                    },
                                },
                            },
                        },
                        "anyOf": [{"required": ["text"]}, {"required": ["fields"]}],
                    },
                    {
                        "properties": {
                            "type": {"const": "context"},
                            "elements": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": 10,
                                "items": SLACK_TEXT,
                            },
                        },
                        "required": ["elements"],
                    },
                    {"properties": {"type": {"const": "divider"}}},
                ],
            },
        },
    },
}
CLOUDEVENT_STRUCTURED_JSON = {
    "type": "object",
    "required": ["specversion", "id", "source", "type"],
    "propertyNames": {"pattern": "^[a-z0-9]+(_base64)?$"},
    "properties": {
        "specversion": {"const": "1.0"},
        "id": {"type": "string", "minLength": 1},
        "source": {"type": "string", "minLength": 1, "format": "uri-reference"},
        "type": {"type": "string", "minLength": 1},
        "subject": {"type": "string", "minLength": 1},
        "time": {"type": "string", "format": "date-time"},
        "datacontenttype": {"type": "string", "minLength": 1},
        "dataschema": {"type": "string", "format": "uri"},
    },
}

# jsonschema checks date-time and uri only with optional packages; these follow RFC 3339 and
# RFC 3986 closely enough for our payloads, so the formats are checked for real.
FORMATS = jsonschema.FormatChecker()
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE
)


@FORMATS.checks("date-time")
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str) or not _RFC3339.match(value):
        return False
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    parts = urllib.parse.urlsplit(str(value))
    return bool(parts.scheme) and " " not in str(value)


@FORMATS.checks("uri-reference")
def _is_uri_reference(value: object) -> bool:
    return isinstance(value, str) and bool(value) and not re.search(r"\s", value)


def check(schema: dict[str, Any], document: object) -> None:
    """Validates like a receiver would: the JSON text as sent, not the Python objects."""
    jsonschema.Draft202012Validator(schema, format_checker=FORMATS).validate(
        json.loads(json.dumps(document))
    )


def problems(schema: dict[str, Any], document: object) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema, format_checker=FORMATS)
    return [error.message for error in validator.iter_errors(document)]


# --- incidents to render ---


def journey(runbook: str | None = "https://runbooks.example.com/cx/voice-call") -> Journey:
    alerting: dict[str, Any] = {
        "sinks": [
            {"name": "noc", "alertmanager": {"url": "http://alertmanager.monitoring:9093/"}},
            {
                "name": "oncall",
                "severities": ["page"],
                "pagerduty": {"routingKeySecretRef": {"name": "cx-alerting", "key": "pd-key"}},
            },
            {
                "name": "chat",
                "slack": {"webhookSecretRef": {"name": "cx-alerting", "key": "slack-url"}},
            },
            {"name": "bus", "cloudevents": {"url": "https://events.example.com/ingest"}},
        ]
    }
    if runbook:
        alerting["runbookUrl"] = runbook
    return parse_journey(
        {
            "apiVersion": "cxjourney.dev/v1alpha1",
            "kind": "CxJourney",
            "metadata": {"name": "voice-call", "namespace": "contact"},
            "spec": {
                "type": "voice",
                "steps": [{"name": "dial-agent", "http": {"url": "https://pbx.example.com/"}}],
                "locations": [{"name": "eu-west"}, {"name": "us-east"}],
                "alerting": alerting,
            },
        }
    )


DETAILED = Evaluation(
    firing={"page": True, "ticket": True},
    burn_rates={"5m": 21.5, "30m": 9.0, "1h": 15.2, "6h": 6.4, "1d": 3.3, "3d": 1.1},
    locations=("eu-west",),
    suspected_layer="network",
    failing_step="dial-agent",
    example_trace_id="0af7651916cd43dd8448eb211c80319c",
)
BARE = Evaluation(firing={"page": True, "ticket": True})


def notices(
    evaluation: Evaluation, runbook: str | None = "https://runbooks.example.com/x"
) -> dict[str, Incident]:
    """Fire, refresh and resolve notices of the page alert for one evaluation."""
    tracker = IncidentTracker(refresh_s=60)
    subject = journey(runbook)
    fired = tracker.observe(subject, evaluation, T0)[0]
    refreshed = tracker.observe(subject, evaluation, T0 + timedelta(seconds=60))[0]
    resolved = tracker.observe(subject, Evaluation(firing={}), T0 + timedelta(minutes=7))[0]
    return {"fired": fired, "refreshed": refreshed, "resolved": resolved}


CASES = [
    pytest.param(notices(DETAILED)[kind], id=f"detailed-{kind}")
    for kind in ("fired", "refreshed", "resolved")
] + [pytest.param(notices(BARE, None)[kind], id=f"bare-{kind}") for kind in ("fired", "resolved")]


# --- shape ---


@pytest.mark.parametrize("incident", CASES)
def test_alertmanager_alerts_match_postable_alerts(incident: Incident) -> None:
    check(ALERTMANAGER_POSTABLE_ALERTS, alertmanager_alerts(incident))
    check(ALERTMANAGER_POSTABLE_ALERTS, alertmanager_alerts(incident, generator_url="http://x/y"))


@pytest.mark.parametrize("incident", CASES)
def test_pagerduty_events_match_events_api_v2(incident: Incident) -> None:
    event = pagerduty_event(incident, ROUTING_KEY, client_url="http://cxj-processor:8080/")
    check(PAGERDUTY_ALERT_EVENT, event)
    expected = "trigger" if incident.state == "firing" else "resolve"
    assert event["event_action"] == expected


@pytest.mark.parametrize("incident", CASES)
def test_slack_messages_match_incoming_webhook_blocks(incident: Incident) -> None:
    check(SLACK_INCOMING_WEBHOOK, slack_message(incident, link_url="http://cxj:8080/"))


@pytest.mark.parametrize("incident", CASES)
def test_cloudevents_match_structured_json_mode(incident: Incident) -> None:
    event = cloudevent(incident)
    check(CLOUDEVENT_STRUCTURED_JSON, event)
    assert (
        event["type"]
        == f"dev.cxjourney.incident.{'fired' if incident.state == 'firing' else 'resolved'}"
    )
    assert event["datacontenttype"] == "application/json"


@pytest.mark.parametrize(
    ("schema", "bad"),
    [
        pytest.param(
            ALERTMANAGER_POSTABLE_ALERTS, [{"labels": {"cx.journey": "x"}}], id="am-dotted-label"
        ),
        pytest.param(
            ALERTMANAGER_POSTABLE_ALERTS,
            [{"labels": {"alertname": "x"}, "startsAt": "yesterday"}],
            id="am-bad-time",
        ),
        pytest.param(
            PAGERDUTY_ALERT_EVENT,
            {"routing_key": ROUTING_KEY, "event_action": "trigger"},
            id="pd-trigger-no-payload",
        ),
        pytest.param(
            PAGERDUTY_ALERT_EVENT,
            {"routing_key": ROUTING_KEY, "event_action": "resolve"},
            id="pd-resolve-no-key",
        ),
        pytest.param(
            PAGERDUTY_ALERT_EVENT,
            {
                "routing_key": ROUTING_KEY,
                "event_action": "trigger",
                "payload": {"summary": "s", "source": "s", "severity": "page"},
            },
            id="pd-page-is-no-severity",
        ),
        pytest.param(
            SLACK_INCOMING_WEBHOOK,
            {"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}]},
            id="slack-long-header",
        ),
        pytest.param(
            CLOUDEVENT_STRUCTURED_JSON,
            {"id": "1", "source": "/x", "type": "t", "specversion": "0.3"},
            id="ce-old-version",
        ),
        pytest.param(
            CLOUDEVENT_STRUCTURED_JSON,
            {"id": "1", "source": "/x", "type": "t", "specversion": "1.0", "dedupKey": "k"},
            id="ce-camel-attribute",
        ),
    ],
)
def test_the_schemas_refuse_what_the_formats_refuse(schema: dict[str, Any], bad: object) -> None:
    assert problems(schema, bad)


# --- facts a responder needs ---


def test_every_payload_names_the_journey_cause_trace_and_runbook() -> None:
    fired = notices(DETAILED, "https://runbooks.example.com/voice")["fired"]
    texts = {
        "alertmanager": json.dumps(alertmanager_alerts(fired)),
        "pagerduty": json.dumps(pagerduty_event(fired, ROUTING_KEY)),
        "slack": json.dumps(slack_message(fired)),
        "cloudevents": json.dumps(cloudevent(fired)),
    }
    for kind, text in texts.items():
        for fact in (
            "contact/voice-call",
            "eu-west",
            "page",
            "21.5",
            "network",
            "dial-agent",
            "0af7651916cd43dd8448eb211c80319c",
            "https://runbooks.example.com/voice",
        ):
            assert fact in text, f"{kind} payload lacks {fact!r}"


def test_pagerduty_maps_page_to_critical_and_ticket_to_warning() -> None:
    tracker = IncidentTracker()
    page, ticket = tracker.observe(journey(), DETAILED, T0)
    assert pagerduty_event(page, ROUTING_KEY)["payload"]["severity"] == "critical"
    assert pagerduty_event(ticket, ROUTING_KEY)["payload"]["severity"] == "warning"


def test_pagerduty_summary_is_cut_to_the_documented_limit() -> None:
    fired = notices(DETAILED)["fired"]
    long = replace(fired, summary="x" * 5000)
    summary = pagerduty_event(long, ROUTING_KEY)["payload"]["summary"]
    assert len(summary) == 1024
    assert summary.endswith("…")


def test_alertmanager_resolve_ends_in_the_past_and_fire_ends_ahead() -> None:
    sent = notices(DETAILED)
    [firing] = alertmanager_alerts(sent["fired"])
    [resolved] = alertmanager_alerts(sent["resolved"])
    assert datetime.fromisoformat(firing["endsAt"]) > T0
    resolved_end = datetime.fromisoformat(resolved["endsAt"])
    assert resolved_end == sent["resolved"].ended_at
    assert resolved_end <= datetime.now(UTC)
    assert resolved["startsAt"] == firing["startsAt"] == rfc3339(T0)


def test_slack_escapes_mrkdwn_control_characters() -> None:
    fired = replace(notices(DETAILED)["fired"], summary="latency <b> & loss > 5%")
    message = slack_message(fired)
    assert "latency &lt;b&gt; &amp; loss &gt; 5%" in message["blocks"][1]["text"]["text"]


# --- dedup keys ---


def test_dedup_key_is_the_same_for_every_notice_of_one_alert() -> None:
    tracker = IncidentTracker(refresh_s=60)
    subject = journey()
    page_keys = set()
    for minute, firing in enumerate([True, True, True, False, True, False]):
        for notice in tracker.observe(
            subject, Evaluation(firing={"page": firing}), T0 + timedelta(minutes=minute)
        ):
            page_keys.add(notice.dedup_key)
            page_keys.add(pagerduty_event(notice, ROUTING_KEY)["dedup_key"])
            page_keys.add(alertmanager_alerts(notice)[0]["annotations"]["cx_dedup_key"])
    assert page_keys == {"cxj/contact/voice-call/page"}


def test_dedup_keys_differ_by_journey_namespace_and_severity() -> None:
    keys = {
        dedup_key(namespace, name, severity)
        for namespace in ("contact", "sales")
        for name in ("voice-call", "chat")
        for severity in ("page", "ticket")
    }
    assert len(keys) == 8
    assert len(dedup_key("n" * 63, "j" * 63, "ticket")) <= 255  # names are at most 63 long


def test_alertmanager_labels_are_identical_for_fire_refresh_and_resolve() -> None:
    # Alertmanager identifies an alert by its label set: equal labels update one alert.
    label_sets = {
        json.dumps(alertmanager_alerts(n)[0]["labels"], sort_keys=True)
        for n in notices(DETAILED).values()
    }
    assert len(label_sets) == 1


def test_cloudevent_id_is_stable_per_notice_and_new_per_transition() -> None:
    sent = notices(DETAILED)
    assert cloudevent(sent["fired"])["id"] == cloudevent(sent["fired"])["id"]
    assert cloudevent(sent["fired"])["id"] != cloudevent(sent["resolved"])["id"]


# --- routing and secrets ---


def sink(subject: Journey, name: str) -> Sink:
    return next(s for s in subject.alerting.sinks if s.name == name)


def secrets(name: str, key: str) -> str:
    return {("cx-alerting", "pd-key"): ROUTING_KEY, ("cx-alerting", "slack-url"): WEBHOOK}[
        (name, key)
    ]


@pytest.mark.parametrize(
    ("name", "url", "content_type"),
    [
        ("noc", "http://alertmanager.monitoring:9093/api/v2/alerts", "application/json"),
        ("oncall", "https://events.pagerduty.com/v2/enqueue", "application/json"),
        ("chat", WEBHOOK, "application/json"),
        ("bus", "https://events.example.com/ingest", "application/cloudevents+json; charset=utf-8"),
    ],
)
def test_each_sink_posts_to_its_documented_endpoint(name: str, url: str, content_type: str) -> None:
    subject = journey()
    request = build_request(sink(subject, name), notices(DETAILED)["fired"], secrets)
    assert (request.url, request.content_type) == (url, content_type)
    json.loads(request.body)


def test_severity_and_refresh_filters() -> None:
    subject = journey()
    tracker = IncidentTracker(refresh_s=60)
    page, ticket = tracker.observe(subject, DETAILED, T0)
    [_, refreshed_ticket] = tracker.observe(subject, DETAILED, T0 + timedelta(minutes=1))
    assert wants(sink(subject, "oncall"), page)
    assert not wants(sink(subject, "oncall"), ticket)  # severities: [page]
    assert wants(sink(subject, "noc"), refreshed_ticket)  # Alertmanager expires alerts
    assert not wants(sink(subject, "chat"), refreshed_ticket)  # would post a duplicate


def test_routing_key_and_webhook_stay_out_of_repr_and_redacted_text() -> None:
    subject = journey()
    fired = notices(DETAILED)["fired"]
    pd = build_request(sink(subject, "oncall"), fired, secrets)
    slack = build_request(sink(subject, "chat"), fired, secrets)
    assert ROUTING_KEY in pd.body.decode()  # it must reach PagerDuty...
    assert ROUTING_KEY not in repr(pd)
    assert WEBHOOK not in repr(slack)
    echoed = f"400 invalid routing_key {ROUTING_KEY} for POST {WEBHOOK}"
    assert ROUTING_KEY not in pd.redact(echoed)
    assert REDACTED in pd.redact(echoed)
    path_only = "404 no_service for /services/T0AAAA/B0BBBB/s3cr3tW3bh00kT0k3n"
    assert "s3cr3tW3bh00kT0k3n" not in slack.redact(path_only)
    assert redact("nothing secret", ("",)) == "nothing secret"


def test_a_failing_resolver_never_leaks_what_it_read() -> None:
    def leaky(name: str, key: str) -> str:
        raise RuntimeError(f"decode failed for value {ROUTING_KEY}")

    with pytest.raises(SecretUnavailable) as caught:
        build_request(sink(journey(), "oncall"), notices(DETAILED)["fired"], leaky)
    assert "cx-alerting/pd-key" in str(caught.value)
    assert ROUTING_KEY not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        pytest.param("", "is empty", id="empty"),
        pytest.param(
            "hooks.slack.example/services/x", "must hold the webhook's http(s) URL", id="not-a-url"
        ),
    ],
)
def test_unusable_webhook_secret_is_refused_without_quoting_it(stored: str, message: str) -> None:
    with pytest.raises(SecretUnavailable, match=re.escape(message)) as caught:
        build_request(sink(journey(), "chat"), notices(DETAILED)["fired"], lambda n, k: stored)
    if stored:
        assert stored not in str(caught.value)


def test_environment_resolver_reads_cxj_secret_variables() -> None:
    variable = secret_env_name(SecretRef("cx-alerting", "pd-key"))
    assert variable == "CXJ_SECRET_CX_ALERTING_PD_KEY"
    resolve = env_resolver({variable: ROUTING_KEY + "\n"})
    request = build_request(sink(journey(), "oncall"), notices(DETAILED)["fired"], resolve)
    assert json.loads(request.body)["routing_key"] == ROUTING_KEY  # the trailing newline is gone
    with pytest.raises(SecretUnavailable, match="set CXJ_SECRET_CX_ALERTING_PD_KEY"):
        build_request(sink(journey(), "oncall"), notices(DETAILED)["fired"], env_resolver({}))
