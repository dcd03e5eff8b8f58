"""Typed, frozen view of a valid CxJourney: what the probe runs and the operator deploys."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from cxj_journey import schema as crd
from cxj_journey.durations import parse_duration, parse_period_days
from cxj_journey.validate import Problem, validate_document

# The layer a step's slowness and failures are charged to, unless the step says otherwise.
DEFAULT_LAYERS = {
    "dns": "network",
    "tcp": "network",
    "voicePath": "network",
    "tls": "platform",
    "http": "platform",
    "websocket": "platform",
    "grpcHealth": "platform",
    "sip": "platform",
    "wait": "endpoint",
}
STEP_KINDS = tuple(DEFAULT_LAYERS)


class JourneyInvalid(ValueError):
    """A document that is not a valid CxJourney; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(map(str, problems)))
        self.problems = problems


@dataclass(frozen=True)
class SecretRef:
    """A key in a Secret of the journey's namespace."""

    name: str
    key: str


@dataclass(frozen=True)
class Header:
    """A request header: a literal (maybe templated) value or a Secret reference."""

    name: str
    value: str | None = None
    secret: SecretRef | None = None


@dataclass(frozen=True)
class Assertion:
    """One check on a response: source, optional property, operator and expected value."""

    source: str
    operator: str
    property: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class Extraction:
    """A variable captured from a response for later steps."""

    name: str
    source: str
    expression: str | None = None


@dataclass(frozen=True)
class DnsStep:
    """Resolve a name."""

    query: str
    record_type: str
    resolver: str | None
    transport: str
    assertions: tuple[Assertion, ...]


@dataclass(frozen=True)
class TcpStep:
    """Open a TCP connection."""

    host: str
    port: int


@dataclass(frozen=True)
class TlsStep:
    """Complete a TLS handshake."""

    host: str
    port: int
    server_name: str | None
    min_version: str
    min_certificate_days: int
    insecure_skip_verify: bool
    ca_secret: SecretRef | None


@dataclass(frozen=True)
class HttpStep:
    """Send one HTTP request."""

    url: str
    method: str
    headers: tuple[Header, ...]
    body: str | None
    follow_redirects: bool
    max_redirects: int
    insecure_skip_verify: bool
    assertions: tuple[Assertion, ...]


@dataclass(frozen=True)
class Expectation:
    """The message a WebSocket exchange waits for."""

    source: str
    operator: str
    value: str
    property: str | None = None


@dataclass(frozen=True)
class Exchange:
    """Send (optionally) then await a matching WebSocket message."""

    expect: Expectation
    timeout_s: float
    send: str | None = None


@dataclass(frozen=True)
class WebSocketStep:
    """Open a WebSocket and run exchanges."""

    url: str
    subprotocols: tuple[str, ...]
    headers: tuple[Header, ...]
    exchanges: tuple[Exchange, ...]


@dataclass(frozen=True)
class GrpcHealthStep:
    """Call grpc.health.v1.Health/Check."""

    host: str
    port: int
    service: str
    tls: bool


@dataclass(frozen=True)
class VoicePathStep:
    """Measure the voice media path against a STAMP reflector."""

    reflector: str
    codec: str
    duration_s: float
    packet_interval_s: float | None
    jitter_buffer_ms: float
    dscp: int
    min_mos: float | None
    max_jitter_ms: float | None
    max_loss_pct: float | None


@dataclass(frozen=True)
class SipAuth:
    """Digest credentials; the password comes from a Secret."""

    username: str
    password: SecretRef


@dataclass(frozen=True)
class SipStep:
    """An OPTIONS ping or a whole call against a SIP server."""

    target: str
    mode: str
    transport: str
    to: str | None
    from_uri: str
    hold_for_s: float
    expect_code: int
    auth: SipAuth | None


@dataclass(frozen=True)
class WaitStep:
    """Pause."""

    duration_s: float


Action = (
    DnsStep
    | TcpStep
    | TlsStep
    | HttpStep
    | WebSocketStep
    | GrpcHealthStep
    | VoicePathStep
    | SipStep
    | WaitStep
)


@dataclass(frozen=True)
class Step:
    """One step of a journey, with the action its kind performs."""

    name: str
    kind: str
    layer: str
    timeout_s: float
    threshold_s: float | None
    extract: tuple[Extraction, ...]
    action: Action


@dataclass(frozen=True)
class Location:
    """Where the journey is probed from."""

    name: str
    replicas: int
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = ()
    node_affinity: dict[str, Any] | None = None
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Slo:
    """The service-level objective."""

    objective_percent: float
    period_days: int
    budgeting: str
    timeslice_s: float | None
    slice_objective_percent: float

    @property
    def target(self) -> float:
        """The objective as a ratio, e.g. 0.995."""
        return self.objective_percent / 100.0


@dataclass(frozen=True)
class Weights:
    """Relative weights of the experience score's parts."""

    availability: int
    responsiveness: int
    voice_quality: int


@dataclass(frozen=True)
class Experience:
    """How the experience score is computed."""

    apdex_threshold_s: float
    weights: Weights


@dataclass(frozen=True)
class Sink:
    """One alert destination: its kind and that kind's settings."""

    name: str
    kind: str
    severities: tuple[str, ...]
    settings: dict[str, Any]


@dataclass(frozen=True)
class Alerting:
    """Where alerts go."""

    runbook_url: str | None
    sinks: tuple[Sink, ...]


@dataclass(frozen=True)
class Journey:
    """A valid CxJourney with defaults applied."""

    name: str
    namespace: str
    type: str
    description: str
    interval_s: float
    steps: tuple[Step, ...]
    locations: tuple[Location, ...]
    slo: Slo
    experience: Experience
    alerting: Alerting
    spec: dict[str, Any]  # the defaulted spec, as the operator hands it to the probe

    def secret_refs(self) -> tuple[SecretRef, ...]:
        """Every Secret key the journey's probes need, in step order."""
        refs: list[SecretRef] = []
        for step in self.steps:
            action = step.action
            if isinstance(action, HttpStep | WebSocketStep):
                refs.extend(h.secret for h in action.headers if h.secret is not None)
            elif isinstance(action, TlsStep) and action.ca_secret is not None:
                refs.append(action.ca_secret)
            elif isinstance(action, SipStep) and action.auth is not None:
                refs.append(action.auth.password)
        return tuple(dict.fromkeys(refs))


def parse_journey(document: dict[str, Any], default_namespace: str = "default") -> Journey:
    """Validates a CxJourney document and returns its typed form.

    Raises:
        JourneyInvalid: with every problem, when the document is not a valid CxJourney.
    """
    problems = validate_document(document)
    if problems:
        raise JourneyInvalid(problems)
    filled = crd.apply_defaults(document, crd.openapi_schema("CxJourney"))
    metadata, spec = filled["metadata"], filled["spec"]
    slo, experience = spec["slo"], spec["experience"]
    alerting = spec.get("alerting", {})
    return Journey(
        name=metadata["name"],
        namespace=metadata.get("namespace", default_namespace),
        type=spec["type"],
        description=spec.get("description", ""),
        interval_s=parse_duration(spec["interval"]),
        steps=tuple(_step(s, parse_duration(spec["interval"])) for s in spec["steps"]),
        locations=tuple(_location(loc) for loc in spec["locations"]),
        slo=Slo(
            objective_percent=float(slo["objective"]),
            period_days=parse_period_days(slo["period"]),
            budgeting=slo["budgeting"],
            timeslice_s=parse_duration(slo["timeslice"]) if "timeslice" in slo else None,
            slice_objective_percent=float(slo["sliceObjective"]),
        ),
        experience=Experience(
            apdex_threshold_s=parse_duration(experience["apdexThreshold"]),
            weights=Weights(
                availability=experience["weights"]["availability"],
                responsiveness=experience["weights"]["responsiveness"],
                voice_quality=experience["weights"]["voiceQuality"],
            ),
        ),
        alerting=Alerting(
            runbook_url=alerting.get("runbookUrl"),
            sinks=tuple(_sink(s) for s in alerting.get("sinks", [])),
        ),
        spec=spec,
    )


def _secret(ref: dict[str, str] | None) -> SecretRef | None:
    return SecretRef(ref["name"], ref["key"]) if ref else None


def _headers(items: list[dict[str, Any]]) -> tuple[Header, ...]:
    return tuple(
        Header(h["name"], h.get("value"), _secret(h.get("valueFrom", {}).get("secretKeyRef")))
        for h in items
    )


def _assertions(items: list[dict[str, Any]]) -> tuple[Assertion, ...]:
    return tuple(
        Assertion(a["source"], a["operator"], a.get("property"), a.get("value")) for a in items
    )


def _optional_duration(value: str | None) -> float | None:
    return parse_duration(value) if value is not None else None


def _action(kind: str, body: dict[str, Any]) -> Action:  # noqa: PLR0911 - one branch per kind
    if kind == "dns":
        return DnsStep(
            body["query"],
            body["recordType"],
            body.get("resolver"),
            body["transport"],
            _assertions(body.get("assertions", [])),
        )
    if kind == "tcp":
        return TcpStep(body["host"], body["port"])
    if kind == "tls":
        return TlsStep(
            body["host"],
            body["port"],
            body.get("serverName"),
            body["minVersion"],
            body["minCertificateDays"],
            body["insecureSkipVerify"],
            _secret(body.get("caSecretRef")),
        )
    if kind == "http":
        return HttpStep(
            url=body["url"],
            method=body["method"],
            headers=_headers(body.get("headers", [])),
            body=body.get("body"),
            follow_redirects=body["followRedirects"],
            max_redirects=body.get("maxRedirects", 10),
            insecure_skip_verify=body["insecureSkipVerify"],
            assertions=_assertions(body.get("assertions", [])),
        )
    if kind == "websocket":
        exchanges = tuple(
            Exchange(
                expect=Expectation(
                    x["expect"]["source"],
                    x["expect"]["operator"],
                    x["expect"]["value"],
                    x["expect"].get("property"),
                ),
                timeout_s=parse_duration(x["timeout"]),
                send=x.get("send"),
            )
            for x in body["exchanges"]
        )
        return WebSocketStep(
            body["url"],
            tuple(body.get("subprotocols", [])),
            _headers(body.get("headers", [])),
            exchanges,
        )
    if kind == "grpcHealth":
        return GrpcHealthStep(body["host"], body["port"], body["service"], body["tls"])
    if kind == "voicePath":
        return VoicePathStep(
            reflector=body["reflector"],
            codec=body["codec"],
            duration_s=parse_duration(body["duration"]),
            packet_interval_s=_optional_duration(body.get("packetInterval")),
            jitter_buffer_ms=parse_duration(body["jitterBuffer"]) * 1000.0,
            dscp=body["dscp"],
            min_mos=float(body["minMos"]) if "minMos" in body else None,
            max_jitter_ms=(
                parse_duration(body["maxJitter"]) * 1000.0 if "maxJitter" in body else None
            ),
            max_loss_pct=float(body["maxLossPercent"]) if "maxLossPercent" in body else None,
        )
    if kind == "sip":
        auth = body.get("auth")
        return SipStep(
            target=body["target"],
            mode=body["mode"],
            transport=body["transport"],
            to=body.get("to"),
            from_uri=body["from"],
            hold_for_s=_optional_duration(body.get("holdFor")) or 0.0,
            expect_code=body["expectCode"],
            auth=SipAuth(auth["username"], SecretRef(**auth["passwordSecretRef"]))
            if auth
            else None,
        )
    return WaitStep(parse_duration(body["duration"]))


DEFAULT_STEP_TIMEOUT_S = 10.0


def _step(body: dict[str, Any], interval_s: float) -> Step:
    kind = next(k for k in STEP_KINDS if k in body)
    timeout = body.get("timeout")
    return Step(
        name=body["name"],
        kind=kind,
        layer=body.get("layer", DEFAULT_LAYERS[kind]),
        timeout_s=(
            parse_duration(timeout)
            if timeout is not None
            else min(DEFAULT_STEP_TIMEOUT_S, interval_s)
        ),
        threshold_s=_optional_duration(body.get("threshold")),
        extract=tuple(
            Extraction(e["name"], e["source"], e.get("expression")) for e in body.get("extract", [])
        ),
        action=_action(kind, body[kind]),
    )


def _location(body: dict[str, Any]) -> Location:
    return Location(
        name=body["name"],
        replicas=body["replicas"],
        node_selector=dict(body.get("nodeSelector", {})),
        tolerations=tuple(body.get("tolerations", [])),
        node_affinity=body.get("nodeAffinity"),
        attributes=dict(body.get("attributes", {})),
    )


def _sink(body: dict[str, Any]) -> Sink:
    kind = next(k for k in ("alertmanager", "pagerduty", "slack", "cloudevents") if k in body)
    return Sink(body["name"], kind, tuple(body.get("severities", ("page", "ticket"))), body[kind])


def spec_revision(spec: dict[str, Any]) -> str:
    """Returns a short, stable hash of a journey spec: probes and rollouts change with it."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def secret_env_name(ref: SecretRef) -> str:
    """Returns the environment variable a probe reads a Secret key from.

    The operator maps each referenced Secret key to this variable with secretKeyRef, so
    credentials never land in the journey's ConfigMap.
    """
    raw = f"CXJ_SECRET_{ref.name}_{ref.key}"
    return "".join(c if c.isalnum() else "_" for c in raw).upper()
