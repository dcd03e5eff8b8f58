"""Where an incident goes for one sink: the URL, the body, and the secrets never to show.

A sink's secrets (a PagerDuty routing key, a Slack webhook URL) come from a resolver called
as `resolver(secret_name, key)`: in a cluster the operator reads the journey's Secret, in
standalone mode `env_resolver` reads CXJ_SECRET_<NAME>_<KEY>. Every text about a request goes
through `SinkRequest.redact` before it reaches a log line or an exception.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cxj_alerting.incident import Incident
from cxj_alerting.payloads import alertmanager_alerts, cloudevent, pagerduty_event, slack_message
from cxj_journey.model import SecretRef, Sink, secret_env_name

SecretResolver = Callable[[str, str], str]

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
ALERTMANAGER_ALERTS_PATH = "/api/v2/alerts"
JSON = "application/json"
CLOUDEVENTS_JSON = "application/cloudevents+json; charset=utf-8"
REDACTED = "[REDACTED]"
_MIN_REDACTED_PART = 8  # shorter URL parts ("/", "/hooks") are not secret on their own


class SecretUnavailable(LookupError):
    """A sink's Secret key could not be read; the message names the key, never a value."""


@dataclass(frozen=True)
class SinkRequest:
    """One HTTP POST for one sink, ready to send."""

    sink: str
    kind: str
    # The URL, the body and the secrets stay out of repr(): a Slack URL is itself the secret,
    # and a PagerDuty body carries the routing key.
    url: str = field(repr=False)
    body: bytes = field(repr=False)
    content_type: str
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def label(self) -> str:
        """How logs name the destination: kind and sink name, never the URL."""
        return f"{self.kind} sink {self.sink!r}"

    def redact(self, text: str) -> str:
        """Returns the text with every secret (and each secret URL's path) replaced."""
        return redact(text, self.secrets)


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """Replaces each secret in the text, longest first, with [REDACTED]."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def env_resolver(environ: Mapping[str, str]) -> SecretResolver:
    """A resolver reading Secret keys from CXJ_SECRET_<NAME>_<KEY> environment variables."""

    def resolve(name: str, key: str) -> str:
        variable = secret_env_name(SecretRef(name, key))
        if variable not in environ:
            raise SecretUnavailable(f"Secret {name}/{key} is not available: set {variable}")
        return environ[variable]

    return resolve


def wants(sink: Sink, incident: Incident) -> bool:
    """Whether the sink takes this notice: its severity, and refreshes only for Alertmanager.

    Alertmanager expires alerts that are not re-sent; the other kinds would post or log a
    duplicate for every refresh.
    """
    if incident.severity not in sink.severities:
        return False
    return not incident.refresh or sink.kind == "alertmanager"


def build_request(
    sink: Sink,
    incident: Incident,
    resolver: SecretResolver,
    *,
    link_url: str | None = None,
) -> SinkRequest:
    """Renders the request for one sink, reading its secret through the resolver.

    Raises:
        SecretUnavailable: when the sink's Secret key cannot be read or holds no usable value.
        ValueError: for a sink kind this version does not know.
    """
    settings = sink.settings
    if sink.kind == "alertmanager":
        url = settings["url"].rstrip("/")
        if not url.endswith(ALERTMANAGER_ALERTS_PATH):
            url += ALERTMANAGER_ALERTS_PATH
        body: Any = alertmanager_alerts(incident, generator_url=link_url)
        return _request(sink, url, body, JSON, ())
    if sink.kind == "pagerduty":
        routing_key = _secret(sink, settings["routingKeySecretRef"], resolver)
        body = pagerduty_event(incident, routing_key, client_url=link_url)
        return _request(sink, settings.get("url", PAGERDUTY_EVENTS_URL), body, JSON, (routing_key,))
    if sink.kind == "slack":
        webhook = _secret(sink, settings["webhookSecretRef"], resolver)
        parts = urllib.parse.urlsplit(webhook)
        ref = settings["webhookSecretRef"]
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SecretUnavailable(
                f"{sink.kind} sink {sink.name!r}: Secret {ref['name']}/{ref['key']} must hold "
                "the webhook's http(s) URL"
            )
        hidden = (webhook, parts.path) if len(parts.path) >= _MIN_REDACTED_PART else (webhook,)
        return _request(sink, webhook, slack_message(incident, link_url=link_url), JSON, hidden)
    if sink.kind == "cloudevents":
        return _request(sink, settings["url"], cloudevent(incident), CLOUDEVENTS_JSON, ())
    raise ValueError(
        f"alerting.sinks[{sink.name}]: unknown sink kind {sink.kind!r}; "
        "use alertmanager, pagerduty, slack or cloudevents"
    )


def _request(
    sink: Sink, url: str, body: Any, content_type: str, secrets: tuple[str, ...]
) -> SinkRequest:
    encoded = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return SinkRequest(sink.name, sink.kind, url, encoded, content_type, secrets)


def _secret(sink: Sink, ref: Mapping[str, str], resolver: SecretResolver) -> str:
    where = f"{sink.kind} sink {sink.name!r}: Secret {ref['name']}/{ref['key']}"
    try:
        value = resolver(ref["name"], ref["key"])
    except SecretUnavailable as error:
        raise SecretUnavailable(f"{sink.kind} sink {sink.name!r}: {error}") from None
    except Exception as error:
        # The resolver's own message could quote what it read, so only its type is kept.
        raise SecretUnavailable(f"{where} could not be read ({type(error).__name__})") from None
    value = value.strip()  # a Secret written with `echo` ends in a newline
    if not value:
        raise SecretUnavailable(f"{where} is empty; store the value in that key")
    return value
