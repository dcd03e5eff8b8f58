"""The tcp and wait steps: a real connect, a refused port, a pause."""

from __future__ import annotations

import asyncio
import time

from tests.harness.step_targets import HttpTarget, closed_port, make_context, make_step

from cxj_journey.model import TcpStep, WaitStep
from cxj_probe.steps.tcp import run_tcp
from cxj_probe.steps.wait import run_wait


def test_tcp_connect_is_timed() -> None:
    with HttpTarget() as server:
        step = make_step(TcpStep("127.0.0.1", server.port), kind="tcp")
        outcome = asyncio.run(run_tcp(step, make_context()))
    assert outcome.ok, outcome.error_message
    assert [p.name for p in outcome.phases] == ["connect"]
    assert outcome.attributes == {
        "server.address": "127.0.0.1",
        "server.port": server.port,
        "network.transport": "tcp",
        "network.peer.address": "127.0.0.1",
    }


def test_tcp_by_name_resolves_first() -> None:
    with HttpTarget() as server:
        step = make_step(TcpStep("localhost", server.port), kind="tcp")
        outcome = asyncio.run(run_tcp(step, make_context()))
    assert outcome.ok, outcome.error_message
    assert [p.name for p in outcome.phases] == ["dns", "connect"]


def test_tcp_refused_port() -> None:
    port = closed_port()
    outcome = asyncio.run(
        run_tcp(make_step(TcpStep("127.0.0.1", port), kind="tcp"), make_context())
    )
    assert outcome.error_type == "connection_refused"
    assert f"127.0.0.1:{port}" in (outcome.error_message or "")
    assert [p.name for p in outcome.phases] == ["connect"]


def test_wait_pauses_for_its_duration() -> None:
    step = make_step(WaitStep(0.05), kind="wait")
    started = time.perf_counter()
    outcome = asyncio.run(run_wait(step, make_context()))
    assert outcome.ok
    assert time.perf_counter() - started >= 0.05
    assert outcome.duration_s >= 0.05
    assert outcome.phases == []
