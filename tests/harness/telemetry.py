"""Telemetry providers built by tests, shut down after each test (see tests/conftest.py).

A provider's batch exporter runs a thread; one left behind by a test keeps running beside
every later test and weighs on timing comparisons.
"""

from __future__ import annotations

from cxj_probe.otel import Telemetry

_OPEN: list[Telemetry] = []


def closed_after_test(telemetry: Telemetry) -> Telemetry:
    """Registers providers to be shut down when the current test ends; returns them."""
    _OPEN.append(telemetry)
    return telemetry


def shut_down_open() -> None:
    """Flushes and shuts down every provider registered since the last call."""
    while _OPEN:
        _OPEN.pop().shutdown(timeout_ms=1000)
