"""The tls step against real TLS servers: versions, trust, certificate lifetime, failures."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.harness.step_targets import (
    Certificates,
    HttpTarget,
    closed_port,
    issue_certificates,
    make_context,
    make_step,
    silent_listener,
)

from cxj_journey.model import SecretRef, TlsStep
from cxj_probe.steps.base import StepOutcome
from cxj_probe.steps.tls import run_tls

CA = SecretRef("support-ca", "ca.crt")


def tls_step(port: int, **fields: Any) -> Any:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "server_name": None,
        "min_version": "TLSv1.2",
        "min_certificate_days": 14,
        "insecure_skip_verify": False,
        "ca_secret": CA,
    }
    values.update(fields)
    return make_step(TlsStep(**values), kind="tls")


def run(step: Any, ca_pem: str | None = None) -> StepOutcome:
    secrets = {(CA.name, CA.key): ca_pem} if ca_pem is not None else {}
    return asyncio.run(run_tls(step, make_context(secrets=secrets)))


@contextlib.contextmanager
def serving(
    certificates: Certificates, maximum_version: ssl.TLSVersion | None = None
) -> Iterator[HttpTarget]:
    with HttpTarget(tls=certificates.server_context(maximum_version)) as server:
        yield server


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return issue_certificates(tmp_path_factory.mktemp("healthy"), valid_days=90)


def test_handshake_reports_version_cipher_and_days_remaining(healthy: Certificates) -> None:
    with serving(healthy) as server:
        outcome = run(tls_step(server.port), healthy.ca_pem)
    assert outcome.ok, outcome.error_message
    assert [p.name for p in outcome.phases] == ["connect", "tls"]
    assert outcome.attributes["tls.protocol.version"] == "1.3"
    assert outcome.attributes["tls.cipher"]
    assert outcome.attributes["tls.client.server_name"] == "127.0.0.1"
    assert 89.9 < outcome.measurements["tls.certificate.days_remaining"] <= 90.0
    assert outcome.attributes["tls.server.not_after"] == healthy.not_after.isoformat()


def test_server_name_is_verified_against_the_certificate(healthy: Certificates) -> None:
    with serving(healthy) as server:
        matching = run(tls_step(server.port, server_name="localhost"), healthy.ca_pem)
        other = run(tls_step(server.port, server_name="chat.example.com"), healthy.ca_pem)
    assert matching.ok, matching.error_message
    assert other.error_type == "tls"
    assert "not trusted" in (other.error_message or "")


def test_untrusted_chain_fails_unless_verification_is_skipped(healthy: Certificates) -> None:
    with serving(healthy) as server:
        untrusted = run(tls_step(server.port, ca_secret=None))
        skipped = run(tls_step(server.port, ca_secret=None, insecure_skip_verify=True))
    assert untrusted.error_type == "tls"
    assert "insecureSkipVerify" in (untrusted.error_message or "")
    assert skipped.ok, skipped.error_message


@pytest.mark.parametrize(
    ("valid_days", "min_days", "skip_verify", "error_type"),
    [
        pytest.param(30, 14, False, None, id="30-days-left-of-14-required"),
        pytest.param(5, 14, False, "certificate_expiry", id="5-days-left-of-14-required"),
        pytest.param(5, 14, True, "certificate_expiry", id="near-expiry-seen-without-verify"),
        pytest.param(5, 0, False, None, id="no-minimum"),
    ],
)
def test_minimum_certificate_days(
    tmp_path: Path, valid_days: float, min_days: int, skip_verify: bool, error_type: str | None
) -> None:
    certificates = issue_certificates(tmp_path, valid_days=valid_days)
    with serving(certificates) as server:
        step = tls_step(
            server.port, min_certificate_days=min_days, insecure_skip_verify=skip_verify
        )
        outcome = run(step, certificates.ca_pem)
    assert outcome.error_type == error_type, outcome.error_message
    days = outcome.measurements["tls.certificate.days_remaining"]
    assert valid_days - 0.01 < days <= valid_days


def test_expired_certificate_fails_with_certificate_expiry(tmp_path: Path) -> None:
    expired = issue_certificates(tmp_path, expired=True)
    with serving(expired) as server:
        verified = run(tls_step(server.port), expired.ca_pem)
        skipped = run(tls_step(server.port, insecure_skip_verify=True))
    assert verified.error_type == "certificate_expiry", verified.error_message
    assert skipped.error_type == "certificate_expiry", skipped.error_message
    assert skipped.measurements["tls.certificate.days_remaining"] < 0
    assert "expired" in (skipped.error_message or "")


def test_minimum_version_is_enforced(healthy: Certificates) -> None:
    with serving(healthy, maximum_version=ssl.TLSVersion.TLSv1_2) as server:
        accepted = run(tls_step(server.port, min_version="TLSv1.2"), healthy.ca_pem)
        refused = run(tls_step(server.port, min_version="TLSv1.3"), healthy.ca_pem)
    assert accepted.ok, accepted.error_message
    assert accepted.attributes["tls.protocol.version"] == "1.2"
    assert refused.error_type == "tls_version"
    assert "TLSv1.2" in (refused.error_message or "")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the server side of this test
def test_server_offering_only_old_versions_fails_with_tls_version(healthy: Certificates) -> None:
    legacy = healthy.server_context(maximum_version=ssl.TLSVersion.TLSv1_1)
    legacy.minimum_version = ssl.TLSVersion.TLSv1
    legacy.set_ciphers("DEFAULT:@SECLEVEL=0")
    with HttpTarget(tls=legacy) as server:
        outcome = run(tls_step(server.port, insecure_skip_verify=True))
    assert outcome.error_type == "tls_version", outcome.error_message


def test_tls_to_a_plain_port_fails_with_tls() -> None:
    with HttpTarget() as plain:
        outcome = run(tls_step(plain.port, ca_secret=None))
    assert outcome.error_type == "tls"
    assert "did not answer with TLS" in (outcome.error_message or "")


def test_refused_port_fails_with_connection_refused() -> None:
    outcome = run(tls_step(closed_port(), ca_secret=None))
    assert outcome.error_type == "connection_refused"
    assert [p.name for p in outcome.phases] == ["connect"]


def test_unusable_ca_secret_fails_with_tls(healthy: Certificates) -> None:
    with serving(healthy) as server:
        outcome = run(tls_step(server.port), "not a certificate")
    assert outcome.error_type == "tls"
    assert "support-ca" in (outcome.error_message or "")


def test_missing_ca_secret_fails_with_secret(healthy: Certificates) -> None:
    with serving(healthy) as server:
        outcome = run(tls_step(server.port))
    assert outcome.error_type == "secret"
    assert outcome.phases == []


def test_cancelled_handshake_closes_the_socket() -> None:
    async def cut_short(port: int) -> None:
        async with asyncio.timeout(0.3):
            await run_tls(tls_step(port, ca_secret=None), make_context())

    with silent_listener() as (port, closed):
        with pytest.raises(TimeoutError):
            asyncio.run(cut_short(port))
        assert closed.acquire(timeout=5), "the probe left the connection open"
