"""TLS for step executors: client contexts, the timed handshake, what it negotiated."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography import x509

from cxj_probe.steps.base import Phase, StepFailure

if TYPE_CHECKING:
    from cxj_probe.steps.timing import StepClock

# A TLS transport that does not see the peer's close_notify within this many seconds is
# aborted; the default (30 s) would keep sockets of misbehaving servers around far longer
# than any step.
TLS_SHUTDOWN_TIMEOUT_S = 2.0

# OpenSSL reasons that mean "no protocol version both sides accept".
_VERSION_REASONS = frozenset(
    {
        "UNSUPPORTED_PROTOCOL",
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "NO_PROTOCOLS_AVAILABLE",
        "VERSION_TOO_LOW",
        "VERSION_TOO_HIGH",
    }
)
_CERT_HAS_EXPIRED = 10  # X509_V_ERR_CERT_HAS_EXPIRED


@functools.lru_cache(maxsize=32)
def client_context(
    *, verify: bool, ca_pem: str | None = None, alpn: tuple[str, ...] = ()
) -> ssl.SSLContext:
    """Returns a TLS client context, cached: loading the system roots costs milliseconds.

    Contexts are shared between steps but sessions are not: a client context never resumes
    a session on its own, so every handshake is a full one, as on a user's first visit.

    Raises:
        ssl.SSLError: when ca_pem holds no usable PEM certificate.
    """
    if verify:
        context = ssl.create_default_context()
        if ca_pem:
            context.load_verify_locations(cadata=ca_pem)
    else:
        # No trust store at all: OpenSSL still builds the chain when told not to verify,
        # and an issuer missing from memory sends it searching the system's certificate
        # directory on every handshake, which would inflate the tls phase.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if alpn:
        context.set_alpn_protocols(list(alpn))
    return context


async def handshake(
    transport: asyncio.Transport,
    protocol: asyncio.BaseProtocol,
    context: ssl.SSLContext,
    server_name: str,
    *,
    clock: StepClock,
    phases: list[Phase],
) -> asyncio.Transport:
    """Upgrades a connected transport to TLS, timing the handshake as the tls phase.

    The server name is sent as SNI (unless it is an IP literal) and checked against the
    certificate when the context verifies. On failure the plain transport is closed.

    Raises:
        StepFailure: tls, tls_version, certificate_expiry, connection_reset or timeout.
    """
    loop = asyncio.get_running_loop()
    start = clock.now()
    try:
        upgraded = await loop.start_tls(
            transport,
            protocol,
            context,
            server_hostname=server_name,
            ssl_shutdown_timeout=TLS_SHUTDOWN_TIMEOUT_S,
        )
    except (ssl.SSLError, ssl.CertificateError) as exc:
        raise tls_failure(exc, f"TLS handshake with {server_name}") from exc
    except (ConnectionError, EOFError) as exc:
        raise StepFailure(
            "tls", f"TLS handshake with {server_name}: the server closed the connection"
        ) from exc
    finally:
        phases.append(Phase("tls", start, clock.now()))
    if upgraded is None:
        raise StepFailure("tls", f"TLS handshake with {server_name} did not complete")
    return upgraded


def tls_failure(exc: Exception, what: str) -> StepFailure:
    """Maps a TLS error to tls, tls_version or certificate_expiry."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code == _CERT_HAS_EXPIRED:
            return StepFailure("certificate_expiry", f"{what}: the certificate has expired")
        return StepFailure(
            "tls",
            f"{what}: certificate not trusted ({exc.verify_message}); trust its CA or set "
            "insecureSkipVerify",
        )
    reason = getattr(exc, "reason", None) or ""
    if reason in _VERSION_REASONS:
        return StepFailure(
            "tls_version", f"{what}: no TLS version both sides accept (at least TLSv1.2)"
        )
    if reason == "WRONG_VERSION_NUMBER":
        return StepFailure("tls", f"{what}: the server did not answer with TLS (plain port?)")
    return StepFailure("tls", f"{what}: {reason or exc}")


@dataclass(frozen=True)
class TlsSession:
    """What a completed handshake negotiated, and the leaf certificate's validity."""

    version: str  # as OpenSSL names it, e.g. TLSv1.3
    cipher: str
    not_after: dt.datetime | None

    @property
    def version_number(self) -> str:
        """The protocol version as OpenTelemetry's tls.protocol.version has it, e.g. 1.3."""
        return self.version.removeprefix("TLSv")

    def days_remaining(self, wall_ns: int) -> float | None:
        """Days (fractional) from a wall-clock instant until the leaf certificate expires."""
        if self.not_after is None:
            return None
        now = dt.datetime.fromtimestamp(wall_ns / 1e9, tz=dt.UTC)
        return (self.not_after - now).total_seconds() / 86400.0


def tls_session(transport: asyncio.BaseTransport, *, certificate: bool = True) -> TlsSession:
    """Reads the negotiated version and cipher, and the leaf certificate's expiry if asked.

    The certificate is taken in DER form, which the TLS stack hands over even when the
    chain was not verified, so the expiry check runs with insecureSkipVerify too. Parsing
    it costs CPU, so callers that do not report expiry skip it.
    """
    ssl_object = transport.get_extra_info("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject):
        raise StepFailure("tls", "the connection has no TLS session")
    cipher = ssl_object.cipher()
    not_after = None
    if certificate:
        der = ssl_object.getpeercert(binary_form=True)
        not_after = x509.load_der_x509_certificate(der).not_valid_after_utc if der else None
    return TlsSession(
        version=ssl_object.version() or "unknown",
        cipher=cipher[0] if cipher else "unknown",
        not_after=not_after,
    )
