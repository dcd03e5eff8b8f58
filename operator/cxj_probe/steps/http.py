"""The http step: one request (plus redirects) with phase timings, assertions and extraction.

Every run opens a fresh connection and closes it afterwards (Connection: close): a user's
first visit pays for DNS, TCP and TLS, and a probe that reused connections would measure
a warm path no customer sees after a pause.
"""

from __future__ import annotations

import base64
import urllib.parse
from dataclasses import dataclass

from cxj_journey import __version__
from cxj_journey.model import Header, HttpStep, Step
from cxj_probe import checks
from cxj_probe.steps.base import StepContext, StepFailure, StepOutcome, render
from cxj_probe.steps.http_exchange import Request, Response, exchange
from cxj_probe.steps.timing import StepClock, outcome_of

USER_AGENT = f"cxjourney-probe/{__version__}"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Headers the probe owns: framing and connection handling must match what it sends.
_PROBE_OWNED = frozenset({"content-length", "transfer-encoding", "connection"})
# Credentials a browser would not carry to another origin on a redirect.
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
# Query parameters that carry signatures or keys, redacted in url.full (OTel semconv).
_SECRET_QUERY = frozenset({"awsaccesskeyid", "signature", "sig", "x-goog-signature"})
_FORBIDDEN_IN_VALUES = ("\r", "\n", "\0")


@dataclass(frozen=True)
class _Target:
    """A parsed absolute URL."""

    url: str
    scheme: str
    host: str
    port: int
    request_target: str
    userinfo: tuple[str, str] | None

    @property
    def origin(self) -> tuple[str, str, int]:
        """Scheme, host and port: what a redirect must keep for credentials to follow."""
        return self.scheme, self.host, self.port

    @property
    def host_header(self) -> str:
        """The Host header: the host, bracketed if IPv6, with the port unless default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


@dataclass(frozen=True)
class _Header:
    """A header ready to send; from_secret marks values that must never be shown."""

    name: str
    value: str
    from_secret: bool


async def run_http(step: Step, context: StepContext) -> StepOutcome:
    """Sends the step's request, following redirects, and checks the response.

    Phases (dns, connect, tls, ttfb, transfer) are those of the final request; the step's
    duration covers every redirect. Without a status assertion, a status of 400 or more
    fails the step with http_status.
    """
    action = step.action
    if not isinstance(action, HttpStep):
        raise TypeError(f"run_http needs an http step, got {step.kind} step {step.name!r}")

    async def work(clock: StepClock, outcome: StepOutcome) -> None:
        response = await _send_following_redirects(action, context, clock, outcome)
        _judge(step, action, response, outcome)

    return await outcome_of(work)


async def _send_following_redirects(
    action: HttpStep, context: StepContext, clock: StepClock, outcome: StepOutcome
) -> Response:
    url = render(action.url, context.variables)
    method = action.method
    body = render(action.body, context.variables).encode() if action.body is not None else b""
    headers = _user_headers(action.headers, context)
    redirects = 0
    while True:
        target = _parse_url(url)
        _describe_request(outcome, method, target)
        request = Request(
            method=method,
            scheme=target.scheme,
            host=target.host,
            port=target.port,
            target=target.request_target,
            headers=_wire_headers(target, method, body, headers, context),
            body=body,
            verify=not action.insecure_skip_verify,
        )
        outcome.phases = []  # the final request's phases; earlier hops count in the duration
        response = await exchange(request, clock, outcome.phases)
        location = response.header_map().get("location")
        if not (action.follow_redirects and response.status in REDIRECT_STATUSES and location):
            return response
        if redirects >= action.max_redirects:
            raise StepFailure(
                "too_many_redirects",
                f"more than {action.max_redirects} redirects (maxRedirects); the last one, "
                f"{response.status} from {_redacted(target)}, pointed to {location[:200]}",
            )
        redirects += 1
        outcome.attributes["http.request.resend_count"] = redirects
        url = urllib.parse.urljoin(url, location)
        try:
            next_origin = _parse_url(url).origin
        except StepFailure as exc:
            raise StepFailure(
                "protocol", f"{response.status} redirect to {location[:200]!r}, not an http(s) URL"
            ) from exc
        if response.status == 303 or (response.status in (301, 302) and method != "HEAD"):
            # As browsers do: the follow-up is a GET without the body.
            if method != "GET" and body:
                headers = [h for h in headers if h.name.lower() != "content-type"]
            method, body = ("GET" if method != "HEAD" else "HEAD"), b""
        if next_origin != target.origin:
            headers = [
                h
                for h in headers
                if not h.from_secret and h.name.lower() not in _CREDENTIAL_HEADERS
            ]


def _judge(step: Step, action: HttpStep, response: Response, outcome: StepOutcome) -> None:
    """Records the response's attributes, then applies the status rule, assertions, extraction."""
    attributes = outcome.attributes
    attributes["http.response.status_code"] = response.status
    attributes["network.protocol.version"] = response.http_version
    attributes["http.response.body.size"] = response.body_size
    attributes["network.peer.address"] = response.peer_address
    if response.tls is not None:
        attributes["tls.protocol.version"] = response.tls.version_number
        attributes["tls.cipher"] = response.tls.cipher
    if response.status >= 400 and not any(a.source == "status" for a in action.assertions):
        raise StepFailure(
            "http_status",
            f"status {response.status} {response.reason}".rstrip()
            + "; add a status assertion if this status is expected",
        )
    headers = response.header_map()
    text = _decode(response.body, headers.get("content-type", ""))
    checks.check(action.assertions, status=response.status, headers=headers, text=text)
    outcome.variables.update(checks.extract(step.extract, headers=headers, text=text))


def _describe_request(outcome: StepOutcome, method: str, target: _Target) -> None:
    outcome.attributes.update(
        {
            "http.request.method": method,
            "url.full": _redacted(target),
            "server.address": target.host,
            "server.port": target.port,
        }
    )


def _parse_url(url: str) -> _Target:
    """Parses an absolute http(s) URL (after variable substitution).

    Raises:
        StepFailure: variable, when substitution left something that is not such a URL.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise StepFailure("variable", f"url {url!r} is not a valid URL: {exc}") from exc
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise StepFailure(
            "variable", f"url {url!r} is not an absolute http(s) URL after substituting variables"
        )
    path = urllib.parse.quote(parts.path or "/", safe="/%:@!$&'()*+,;=~-._")
    query = urllib.parse.quote(parts.query, safe="/?%:@!$&'()*+,;=~-._")
    userinfo = None
    if parts.username is not None:
        userinfo = (
            urllib.parse.unquote(parts.username),
            urllib.parse.unquote(parts.password or ""),
        )
    return _Target(
        url=url,
        scheme=parts.scheme,
        host=parts.hostname,
        port=port if port is not None else _DEFAULT_PORTS[parts.scheme],
        request_target=f"{path}?{query}" if query else path,
        userinfo=userinfo,
    )


def _redacted(target: _Target) -> str:
    """The URL for url.full: credentials and signature query values replaced by REDACTED."""
    parts = urllib.parse.urlsplit(target.url)
    netloc = parts.netloc
    if target.userinfo is not None:
        netloc = "REDACTED:REDACTED@" + netloc.rpartition("@")[2]
    query = parts.query
    if query:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in _SECRET_QUERY for k, _ in pairs):
            query = urllib.parse.urlencode(
                [(k, "REDACTED" if k.lower() in _SECRET_QUERY else v) for k, v in pairs]
            )
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _user_headers(headers: tuple[Header, ...], context: StepContext) -> list[_Header]:
    """Renders the step's headers: templates with variables, Secret values from the resolver.

    Raises:
        StepFailure: variable (unknown variable, or a value with a line break) or secret.
    """
    rendered: list[_Header] = []
    for header in headers:
        if header.secret is not None:
            ref = header.secret
            try:
                value = context.secrets(ref.name, ref.key)
            except (LookupError, OSError, ValueError) as exc:
                raise StepFailure(
                    "secret",
                    f"header {header.name}: cannot read key {ref.key!r} of Secret "
                    f"{ref.name!r} ({type(exc).__name__})",
                ) from exc
        else:
            value = render(header.value or "", context.variables)
        if any(c in value for c in _FORBIDDEN_IN_VALUES):
            source = "its Secret" if header.secret is not None else "its value after substitution"
            raise StepFailure(
                "secret" if header.secret is not None else "variable",
                f"header {header.name}: {source} contains a line break or NUL byte",
            )
        rendered.append(_Header(header.name, value, header.secret is not None))
    return rendered


def _wire_headers(
    target: _Target, method: str, body: bytes, headers: list[_Header], context: StepContext
) -> tuple[tuple[str, str], ...]:
    """The request's headers: the probe's defaults, then the step's, then trace context."""
    chosen: dict[str, tuple[str, str]] = {
        "host": ("Host", target.host_header),
        "user-agent": ("User-Agent", USER_AGENT),
        "accept": ("Accept", "*/*"),
    }
    if target.userinfo is not None:
        user, password = target.userinfo
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        chosen["authorization"] = ("Authorization", f"Basic {token}")
    for header in headers:
        if header.name.lower() not in _PROBE_OWNED:
            chosen[header.name.lower()] = (header.name, header.value)
    # The probe's traceparent wins over a configured one: the trace must link up.
    for name, value in context.trace_headers.items():
        chosen[name.lower()] = (name, value)
    if body or method in ("POST", "PUT", "PATCH"):
        chosen["content-length"] = ("Content-Length", str(len(body)))
    chosen["connection"] = ("Connection", "close")
    return tuple(chosen.values())


def _decode(body: bytes, content_type: str) -> str:
    """The body as text, in the charset the Content-Type names (UTF-8 otherwise)."""
    charset = "utf-8"
    for parameter in content_type.split(";")[1:]:
        key, _, value = parameter.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip('"')
    try:
        return body.decode(charset, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")
