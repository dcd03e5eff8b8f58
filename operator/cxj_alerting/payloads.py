"""The wire formats an incident is sent in: pure builders, one per sink kind.

Each builder takes an incident (plus what the format needs besides) and returns plain JSON
data; docs/alerting.md shows an example of each, and the unit tests check them against the
formats' documented required fields and enums.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from cxj_alerting.incident import DEFAULT_REFRESH_S, FIRING, Incident, window_seconds

ALERTNAME = "CxJourneyBurnRate"
# A firing alert sent to Alertmanager ends this far ahead unless re-sent, so a refresh every
# DEFAULT_REFRESH_S keeps it open and an operator that stops cannot leave it stuck firing.
ALERTMANAGER_HOLD_S = 4 * DEFAULT_REFRESH_S
PAGERDUTY_SEVERITY = {"page": "critical", "ticket": "warning"}
PAGERDUTY_SUMMARY_MAX = 1024
CLOUDEVENT_TYPES = {
    FIRING: "dev.cxjourney.incident.fired",
    "resolved": "dev.cxjourney.incident.resolved",
}
SLACK_HEADER_MAX = 150
SLACK_FIELD_MAX = 2000
SLACK_TEXT_MAX = 3000


def rfc3339(moment: datetime) -> str:
    """A UTC timestamp such as 2025-03-01T10:00:00.000Z; naive datetimes are refused."""
    if moment.tzinfo is None:
        raise ValueError("timestamp: must be timezone-aware (UTC), got a naive datetime")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def incident_details(incident: Incident) -> dict[str, Any]:
    """Every fact of the incident as JSON data, with stable keys (null when unknown)."""
    return {
        "journey": incident.journey,
        "namespace": incident.namespace,
        "severity": incident.severity,
        "state": incident.state,
        "summary": incident.summary,
        "locations": list(incident.locations),
        "burn_rates": dict(incident.burn_rates),
        "suspected_layer": incident.suspected_layer,
        "failing_step": incident.failing_step,
        "example_trace_id": incident.example_trace_id,
        "runbook_url": incident.runbook_url,
        "started_at": rfc3339(incident.started_at),
        "ended_at": rfc3339(incident.ended_at) if incident.ended_at else None,
        "dedup_key": incident.dedup_key,
    }


def burn_rates_text(incident: Incident) -> str:
    """Burn rates as `5m=16.2x, 1h=15.0x`, shortest window first."""
    ordered = sorted(incident.burn_rates.items(), key=lambda item: window_seconds(item[0]))
    return ", ".join(f"{window}={rate:.1f}x" for window, rate in ordered)


def alertmanager_alerts(
    incident: Incident, *, generator_url: str | None = None, hold_s: float = ALERTMANAGER_HOLD_S
) -> list[dict[str, Any]]:
    """The body of `POST /api/v2/alerts`: one alert whose labels identify journey and severity.

    Alertmanager deduplicates by label set, so labels hold only what never changes for the
    alert; the details go into annotations. A resolve is the same alert with endsAt at the
    moment it cleared, which is in the past by the time Alertmanager reads it.
    """
    ends = incident.ended_at if incident.state != FIRING else None
    if ends is None:
        ends = incident.observed_at + timedelta(seconds=hold_s)
    annotations = {
        "summary": incident.summary,
        "description": _description(incident),
        "runbook_url": incident.runbook_url,
        "cx_locations": ", ".join(incident.locations) or None,
        "cx_burn_rates": burn_rates_text(incident) or None,
        "cx_suspected_layer": incident.suspected_layer,
        "cx_failing_step": incident.failing_step,
        "cx_example_trace_id": incident.example_trace_id,
        "cx_dedup_key": incident.dedup_key,
    }
    alert: dict[str, Any] = {
        "labels": {
            "alertname": ALERTNAME,
            "severity": incident.severity,
            "namespace": incident.namespace,
            "cx_journey_name": incident.journey,
        },
        "annotations": {k: v for k, v in annotations.items() if v},
        "startsAt": rfc3339(incident.started_at),
        "endsAt": rfc3339(ends),
    }
    if generator_url:
        alert["generatorURL"] = generator_url
    return [alert]


def pagerduty_event(
    incident: Incident, routing_key: str, *, client_url: str | None = None
) -> dict[str, Any]:
    """An Events API v2 alert event: trigger while firing, resolve (key and action only) after."""
    if incident.state != FIRING:
        return {
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": incident.dedup_key,
        }
    payload: dict[str, Any] = {
        "summary": _truncate(incident.summary, PAGERDUTY_SUMMARY_MAX),
        "source": f"{incident.namespace}/{incident.journey}",
        "severity": PAGERDUTY_SEVERITY[incident.severity],
        "timestamp": rfc3339(incident.observed_at),
        "class": "slo-burn-rate",
        "custom_details": incident_details(incident),
    }
    if incident.failing_step:
        payload["component"] = incident.failing_step
    if incident.suspected_layer:
        payload["group"] = incident.suspected_layer
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": incident.dedup_key,
        "payload": payload,
        "client": "cxjourney",
    }
    links = []
    if incident.runbook_url:
        links.append({"href": incident.runbook_url, "text": "Runbook"})
    if client_url:
        event["client_url"] = client_url
        links.append({"href": client_url, "text": "Journey status"})
    if links:
        event["links"] = links
    return event


def slack_message(incident: Incident, *, link_url: str | None = None) -> dict[str, Any]:
    """An incoming-webhook message: plain `text` for notifications, Block Kit for the channel."""
    firing = incident.state == FIRING
    emoji = ":white_check_mark:"
    if firing:
        emoji = ":rotating_light:" if incident.severity == "page" else ":warning:"
    title = f"{'FIRING' if firing else 'RESOLVED'} {incident.severity}: "
    title += f"{incident.namespace}/{incident.journey}"
    facts = [
        ("Journey", f"{incident.namespace}/{incident.journey}"),
        ("Severity", incident.severity),
        ("Locations", ", ".join(incident.locations)),
        ("Burn rates", burn_rates_text(incident)),
        ("Suspected layer", incident.suspected_layer),
        ("Failing step", incident.failing_step),
        ("Example trace", incident.example_trace_id and f"`{incident.example_trace_id}`"),
        ("Started", rfc3339(incident.started_at)),
    ]
    fields = [
        {"type": "mrkdwn", "text": _truncate(f"*{name}*\n{_escape(value)}", SLACK_FIELD_MAX)}
        for name, value in facts
        if value
    ]
    links = [f"dedup key `{_escape(incident.dedup_key)}`"]
    if incident.runbook_url:
        links.insert(0, _link(incident.runbook_url, "Runbook"))
    if link_url:
        links.insert(1 if incident.runbook_url else 0, _link(link_url, "Journey status"))
    return {
        "text": f"{emoji} {incident.summary}",
        "blocks": [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": _truncate(f"{emoji} {title}", SLACK_HEADER_MAX),
                    "emoji": True,
                },
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": _truncate(_escape(incident.summary), SLACK_TEXT_MAX),
                },
            },
            {"type": "section", "fields": fields[:10]},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " | ".join(links)}]},
        ],
    }


def cloudevent(incident: Incident) -> dict[str, Any]:
    """A CloudEvents 1.0 event in structured JSON mode; the id is stable across retries."""
    fingerprint = "|".join(
        (
            incident.dedup_key,
            incident.state,
            rfc3339(incident.started_at),
            rfc3339(incident.observed_at),
        )
    )
    return {
        "specversion": "1.0",
        "id": hashlib.sha256(fingerprint.encode()).hexdigest()[:32],
        "source": f"/namespaces/{incident.namespace}/cxjourneys/{incident.journey}",
        "type": CLOUDEVENT_TYPES[incident.state],
        "subject": incident.severity,
        "time": rfc3339(incident.observed_at),
        "datacontenttype": "application/json",
        "data": incident_details(incident),
    }


def _description(incident: Incident) -> str:
    lines = [incident.summary]
    if incident.example_trace_id:
        lines.append(f"Example trace: {incident.example_trace_id}")
    if incident.runbook_url:
        lines.append(f"Runbook: {incident.runbook_url}")
    return "\n".join(lines)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escape(text: str) -> str:
    # Slack mrkdwn gives &, < and > meaning; everything else is literal.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(url: str, label: str) -> str:
    safe = url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
    return f"<{safe}|{label}>"
