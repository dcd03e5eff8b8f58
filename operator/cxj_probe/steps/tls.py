"""The tls step: a full TLS handshake, the negotiated protocol, and the certificate's expiry."""

from __future__ import annotations

import asyncio
import ssl

from cxj_journey.model import Step, TlsStep
from cxj_probe.steps.base import StepContext, StepFailure, StepOutcome
from cxj_probe.steps.connection import connect, resolve
from cxj_probe.steps.handshake import client_context, handshake, tls_session
from cxj_probe.steps.timing import StepClock, outcome_of

_VERSION_RANK = {"TLSv1": 0, "TLSv1.1": 1, "TLSv1.2": 2, "TLSv1.3": 3}


async def run_tls(step: Step, context: StepContext) -> StepOutcome:
    """Handshakes with host:port and checks the protocol version and certificate lifetime.

    Phases: dns (for a host name), connect, tls. The leaf certificate's remaining validity
    is the measurement tls.certificate.days_remaining; fewer days than minCertificateDays
    fails the step with certificate_expiry, also with insecureSkipVerify.
    """
    action = step.action
    if not isinstance(action, TlsStep):
        raise TypeError(f"run_tls needs a tls step, got {step.kind} step {step.name!r}")

    async def work(clock: StepClock, outcome: StepOutcome) -> None:
        server_name = action.server_name or action.host
        outcome.attributes.update(
            {
                "server.address": action.host,
                "server.port": action.port,
                "tls.client.server_name": server_name,
            }
        )
        tls_context = _context(action, context)
        addresses = await resolve(action.host, action.port, clock, outcome.phases)
        sock = await connect(addresses, clock, outcome.phases)
        loop = asyncio.get_running_loop()
        transport: asyncio.Transport | None = None
        completed = False
        try:
            transport, protocol = await loop.create_connection(asyncio.Protocol, sock=sock)
            outcome.attributes["network.peer.address"] = str(
                transport.get_extra_info("peername")[0]
            )
            transport = await handshake(
                transport, protocol, tls_context, server_name, clock=clock, phases=outcome.phases
            )
            session = tls_session(transport)
            completed = True
        finally:
            if transport is None:
                sock.close()
            elif completed:
                transport.close()  # sends close_notify, as a browser leaving would
            else:
                transport.abort()
        outcome.attributes["tls.protocol.version"] = session.version_number
        outcome.attributes["tls.cipher"] = session.cipher
        days = session.days_remaining(clock.now())
        if days is not None:
            outcome.measurements["tls.certificate.days_remaining"] = days
            outcome.attributes["tls.certificate.days_remaining"] = round(days, 3)
            assert session.not_after is not None
            outcome.attributes["tls.server.not_after"] = session.not_after.isoformat()
        if _VERSION_RANK.get(session.version, -1) < _VERSION_RANK[action.min_version]:
            raise StepFailure(
                "tls_version",
                f"negotiated {session.version}, below minVersion {action.min_version}",
            )
        if days is None:
            raise StepFailure("tls", "the server presented no certificate")
        if days < action.min_certificate_days:
            state = "expired" if days < 0 else "expires"
            raise StepFailure(
                "certificate_expiry",
                f"the certificate {state} {session.not_after:%Y-%m-%d %H:%M} UTC "
                f"({days:.1f} days from now), fewer than minCertificateDays "
                f"{action.min_certificate_days}",
            )

    return await outcome_of(work)


def _context(action: TlsStep, context: StepContext) -> ssl.SSLContext:
    """The client context: system roots plus the CA Secret, unless verification is skipped."""
    ca_pem = None
    ref = action.ca_secret
    if ref is not None and not action.insecure_skip_verify:
        try:
            ca_pem = context.secrets(ref.name, ref.key)
        except (LookupError, OSError, ValueError) as exc:
            raise StepFailure(
                "secret",
                f"caSecretRef: cannot read key {ref.key!r} of Secret {ref.name!r} "
                f"({type(exc).__name__})",
            ) from exc
    try:
        return client_context(verify=not action.insecure_skip_verify, ca_pem=ca_pem)
    except ssl.SSLError as exc:  # only a CA from a Secret can be unusable
        where = f"key {ref.key!r} of Secret {ref.name!r}" if ref is not None else "the CA"
        raise StepFailure("tls", f"caSecretRef: {where} holds no usable PEM certificate") from exc
