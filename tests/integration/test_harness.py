"""The test harness itself: the real control plane, kwok Pods and the real collector work."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from tests.harness.kube import ControlPlane
from tests.harness.otelcol import Collector, spans
from tests.harness.processes import REPO, strangers


@pytest.mark.kube
def test_crd_is_established_and_get_shows_experience_columns(kube: ControlPlane) -> None:
    crd = kube.get(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/cxjourneys.cxjourney.dev"
    )
    established = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert established["Established"] == "True"

    kube.kubectl("apply", "-f", "crds/examples/minimal.yaml")
    table = kube.kubectl("get", "cxj").stdout.splitlines()
    assert table[0].split() == ["NAME", "TYPE", "SCORE", "BUDGET", "BURN", "CAUSE", "READY", "AGE"]
    assert table[1].split()[:2] == ["desktop-up", "agent-desktop"]
    by_category = kube.kubectl("get", "cx", "-o", "name").stdout.split()
    assert "cxjourney.cxjourney.dev/desktop-up" in by_category
    kube.kubectl("delete", "-f", "crds/examples/minimal.yaml")


@pytest.mark.pods
def test_deployment_becomes_available_with_kwok(kube_pods: ControlPlane) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "harness-check", "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "harness-check"}},
            "template": {
                "metadata": {"labels": {"app": "harness-check"}},
                "spec": {
                    "containers": [{"name": "main", "image": "cxjourney/none:0"}],
                    "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists"}],
                },
            },
        },
    }
    kube_pods.apply_manifest(deployment)
    kube_pods.kubectl("rollout", "status", "deployment/harness-check", "--timeout=90s")
    status = json.loads(kube_pods.kubectl("get", "deployment/harness-check", "-o", "json").stdout)[
        "status"
    ]
    assert status["availableReplicas"] == 2
    pods = json.loads(
        kube_pods.kubectl("get", "pods", "-l", "app=harness-check", "-o", "json").stdout
    )
    assert {pod["spec"]["nodeName"].startswith("kwok-node-") for pod in pods["items"]} == {True}
    kube_pods.kubectl("delete", "deployment/harness-check", "--wait=true")


@pytest.mark.otelcol
def test_span_sent_through_the_collector_lands_in_its_file_exporter() -> None:
    collector = Collector().start()
    try:
        provider = TracerProvider(resource=Resource.create({"service.name": "harness-check"}))
        provider.add_span_processor(
            SimpleSpanProcessor(
                OTLPSpanExporter(endpoint=f"127.0.0.1:{collector.grpc_port}", insecure=True)
            )
        )
        marker = f"harness-{time.time_ns()}"
        with provider.get_tracer("cxj.tests").start_as_current_span(marker):
            pass
        provider.shutdown()
        records = collector.wait_for(lambda r: any(s["name"] == marker for s in spans(r)))
        (span,) = [s for s in spans(records) if s["name"] == marker]
        assert len(span["traceId"]) == 32
    finally:
        collector.stop()


@pytest.mark.otelcol
def test_telemetrygen_load_reaches_the_collector() -> None:
    import subprocess

    from tests.harness.otelcol import telemetrygen_binary

    collector = Collector().start()
    try:
        subprocess.run(
            [
                str(telemetrygen_binary()),
                "traces",
                "--otlp-insecure",
                "--traces=25",
                "--rate=0",
                f"--otlp-endpoint=127.0.0.1:{collector.grpc_port}",
                "--service=harness-load",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        # Each generated trace is a parent and a child span.
        collector.wait_for(lambda r: len(spans(r)) >= 50)
        assert len(spans(collector.records())) == 50
    finally:
        collector.stop()


_INTERRUPTED_RUN = """
import json, signal
from tests.harness.kube import ControlPlane
from tests.harness.processes import stop_servers_on_termination
stop_servers_on_termination()
plane = ControlPlane().start()
pids = [p.popen.pid for p in plane.processes.values()]
print(json.dumps({"pids": pids, "root": str(plane.root)}), flush=True)
signal.pause()  # until the test terminates it
"""


@pytest.mark.kube
def test_a_terminated_run_leaves_no_control_plane_behind() -> None:
    run = subprocess.Popen(
        [sys.executable, "-c", _INTERRUPTED_RUN], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert run.stdout is not None
    started = json.loads(run.stdout.readline())
    assert len(started["pids"]) == 2  # etcd and kube-apiserver
    running = strangers(("etcd", "kube-apiserver"))
    assert all(any(f"({pid})" in s for s in running) for pid in started["pids"])

    run.send_signal(signal.SIGTERM)  # as a CI time limit or `timeout` would
    assert run.wait(60) != 0

    for pid in started["pids"]:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
    assert not Path(started["root"]).exists()
