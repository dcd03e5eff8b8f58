"""Shared fixtures: the real control plane and collector, started once per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.harness.kube import ControlPlane
from tests.harness.processes import REPO, log_tail, stop_servers_on_termination
from tests.harness.telemetry import shut_down_open

CRDS = REPO / "crds"
EXAMPLES = sorted((CRDS / "examples").glob("*.yaml"))

_started: list[ControlPlane] = []

# Property tests draw the same examples on every run, so a red CI run is reproducible and
# never a coin toss; HYPOTHESIS_PROFILE=explore searches afresh each time (for finding new
# counterexamples, e.g. before a release).
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


def pytest_configure(config: pytest.Config) -> None:
    """A terminated run (CI's time limit, `timeout`) stops its servers as Ctrl-C would."""
    stop_servers_on_termination()


@pytest.fixture(autouse=True)
def _telemetry_shut_down() -> Iterator[None]:
    """Providers a test registered (tests.harness.telemetry) are shut down after it."""
    yield
    shut_down_open()


@pytest.fixture(scope="session")
def kube() -> Iterator[ControlPlane]:
    """etcd + kube-apiserver with RBAC on, and the project's CRDs installed and Established."""
    plane = ControlPlane().start()
    _started.append(plane)
    try:
        plane.kubectl("apply", "--server-side", "-f", str(CRDS))
        # A CRD has no status for a moment after creation: wait on the field, not the list.
        for crd in ("cxjourneys.cxjourney.dev", "cxconversationpolicies.cxjourney.dev"):
            plane.kubectl(
                "wait",
                "--for=jsonpath={.status.conditions[?(@.type=='Established')].status}=True",
                "--timeout=60s",
                f"crd/{crd}",
            )
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def kube_pods(kube: ControlPlane) -> ControlPlane:
    """The control plane plus controller-manager, scheduler and kwok with fake Nodes."""
    kube.enable_pods()
    return kube


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failing test that used the control plane, attaches the tails of its process logs."""
    outcome = yield
    report = outcome.get_result()
    if (
        report.failed
        and _started
        and {"kube", "kube_pods"} & set(getattr(item, "fixturenames", ()))
    ):
        for plane in _started:
            for process in plane.processes.values():
                report.sections.append((f"log {process.name}", log_tail(Path(process.log_path))))
