"""The whole loop: `kubectl apply` a journey, probe Pods run, `kubectl get cxj` shows experience.

Nothing is faked but the container runtime: the control plane, the operator (as its own
ServiceAccount), the processor and the collector are real processes; the test kubelet
runs the probe Pods the operator builds as local processes; the simulated contact center
is the demo's.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from cxj_probe.voice.reflector import Impairment
from cxj_standalone.receiver import IncidentReceiver
from cxj_standalone.stack import ContactCenterStack
from tests.harness.kube import ControlPlane
from tests.harness.kubelet import ProcessKubelet
from tests.harness.otelcol import Collector, spans
from tests.harness.processes import REPO, Process, free_port, logs_dir, port_open
from tests.harness.waiting import wait_for
from tests.integration.test_operator import RBAC, make_kubeconfig

pytestmark = [pytest.mark.pods, pytest.mark.otelcol]
NAMESPACE = "cx-e2e"
EXAMPLES = ("minimal", "voice-call", "chat-escalation", "agent-desktop", "bot-handoff")


class StackThread:
    """The simulated contact center on its own event loop thread, on the examples' ports."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.stack = ContactCenterStack()

    def start(self) -> StackThread:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.stack.start(), self.loop).result(60)
        return self

    def call(self, function: Callable[..., Any], *args: Any) -> None:
        self.loop.call_soon_threadsafe(function, *args)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.stack.stop(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)


def example(name: str, sink_url: str) -> dict[str, Any]:
    """An example journey, sped up for the test, its alerts sent to the local receiver."""
    document: dict[str, Any] = yaml.safe_load(
        (REPO / "crds" / "examples" / f"{name}.yaml").read_text()
    )
    document["metadata"]["namespace"] = NAMESPACE
    spec = document["spec"]
    spec["interval"] = "5s"
    for step in spec["steps"]:
        step["timeout"] = "4s"
        if "voicePath" in step:
            step["voicePath"]["duration"] = "2s"
        if "sip" in step and "holdFor" in step["sip"]:
            step["sip"]["holdFor"] = "500ms"
    spec.get("slo", {}).pop("timeslice", None)
    if spec.get("slo", {}).get("budgeting") == "timeslices":
        spec["slo"]["budgeting"] = "occurrences"
    spec["alerting"] = {"sinks": [{"name": "receiver", "alertmanager": {"url": sink_url}}]}
    return document


def get_journeys(kube: ControlPlane) -> dict[str, dict[str, Any]]:
    items = json.loads(kube.kubectl("get", "cxj", "-n", NAMESPACE, "-o", "json").stdout)["items"]
    return {item["metadata"]["name"]: item for item in items}


def condition(item: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in item.get("status", {}).get("conditions", []) if c["type"] == kind), {})


@pytest.fixture(scope="module")
def loop(
    kube_pods: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    kube = kube_pods
    work = tmp_path_factory.mktemp("loop")
    for node in ("kwok-node-0", "kwok-node-1"):
        kube.kubectl("cordon", node)  # every probe Pod must run as a real process here
    kubelets = [
        ProcessKubelet(
            kube.kubeconfig,
            "proc-lon",
            {"topology.kubernetes.io/zone": "lon-1", "cxjourney.dev/site": "lon"},
        ).start(),
        ProcessKubelet(
            kube.kubeconfig,
            "proc-nyc",
            {"topology.kubernetes.io/zone": "nyc-1", "cxjourney.dev/site": "mnl"},
        ).start(),
    ]
    stack = StackThread().start()
    receiver = IncidentReceiver().start()
    backend = Collector("loop-backend").start()
    grpc_port, status_port = free_port(), free_port()
    processor = Process(
        "loop-processor",
        [
            sys.executable,
            "-m",
            "cxj_cli.main",
            "processor",
            "--grpc-listen",
            f"127.0.0.1:{grpc_port}",
            "--http-listen",
            f"127.0.0.1:{free_port()}",
            "--status-listen",
            f"127.0.0.1:{status_port}",
            "--export-endpoint",
            f"127.0.0.1:{backend.grpc_port}",
            "--passthrough-endpoint",
            f"127.0.0.1:{backend.grpc_port}",
            "--evaluation-interval-s",
            "1",
        ],
        logs_dir() / "loop",
        env={"CXJ_PROCESSOR_TIME_SCALE": "60"},
    ).start()
    processor.wait_until(lambda: port_open(grpc_port), 180, "listening")
    kube.kubectl("apply", "-f", str(RBAC))
    kubeconfig = make_kubeconfig(kube, "cxj-operator", work / "operator.kubeconfig")
    operator = Process(
        "loop-operator",
        [
            sys.executable,
            "-m",
            "cxj_cli.main",
            "operator",
            f"--kubeconfig={kubeconfig}",
            "--lease-namespace=cxj-system",
            "--identity=loop",
            "--experience-interval=1",
            f"--processor-url=http://127.0.0.1:{status_port}",
            f"--otlp-endpoint=http://127.0.0.1:{grpc_port}",
            "--probe-env=OTEL_EXPORTER_OTLP_INSECURE=true",
            "--probe-env=OTEL_METRIC_EXPORT_INTERVAL=2000",
            "--probe-env=OTEL_BSP_SCHEDULE_DELAY=300",
            f"--namespace={NAMESPACE}",
        ],
        logs_dir() / "loop",
    ).start()
    kube.kubectl("create", "namespace", NAMESPACE)
    kube.kubectl(
        "create",
        "secret",
        "generic",
        "desktop-probe-credentials",
        "-n",
        NAMESPACE,
        "--from-literal=authorization=Basic ZTJlOnRlc3Q=",
    )
    state = {
        "kube": kube,
        "stack": stack,
        "receiver": receiver,
        "backend": backend,
        "kubelets": kubelets,
        "status": f"http://127.0.0.1:{status_port}",
        "operator": operator,
        "processor": processor,
    }
    try:
        yield state
    finally:
        kube.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)
        operator.stop()
        for kubelet in kubelets:
            kubelet.stop()
        processor.stop()
        backend.stop()
        receiver.stop()
        stack.stop()
        for node in ("kwok-node-0", "kwok-node-1"):
            kube.kubectl("uncordon", node, check=False)


def diagnose(state: dict[str, Any]) -> Callable[[], str]:
    def text() -> str:
        kube = state["kube"]
        parts = [
            kube.kubectl(
                "get", "cxj,deploy,pods", "-n", NAMESPACE, "-o", "wide", check=False
            ).stdout
        ]
        for kubelet in state["kubelets"]:
            for name, log in kubelet.logs().items():
                parts.append(f"--- {name}\n{log[-1500:]}")
        parts.append(
            "--- operator\n" + state["operator"].log_path.read_text(errors="replace")[-3000:]
        )
        return "\n".join(parts)

    return text


def test_apply_to_experience_and_fault_to_recovery(loop: dict[str, Any]) -> None:
    kube: ControlPlane = loop["kube"]
    for name in EXAMPLES:
        kube.apply_manifest(example(name, loop["receiver"].url))

    def all_scored() -> bool:
        journeys = get_journeys(kube)
        return len(journeys) == len(EXAMPLES) and all(
            condition(j, "Ready").get("status") == "True"
            and j.get("status", {}).get("experience", {}).get("score") is not None
            for j in journeys.values()
        )

    wait_for(all_scored, 240, "every journey Ready with a score", diagnose(loop))
    table = kube.kubectl("get", "cxj", "-n", NAMESPACE).stdout.splitlines()
    assert table[0].split() == ["NAME", "TYPE", "SCORE", "BUDGET", "BURN", "CAUSE", "READY", "AGE"]
    for row in table[1:]:
        columns = row.split()
        assert columns[2].isdigit(), row  # SCORE
        assert columns[6] == "True", row  # READY

    names = {s["name"] for s in spans(loop["backend"].records())}
    assert {"journey voice-call", "journey agent-desktop", "journey desktop-up"} <= names

    # The voice path degrades while everything else stays fast.
    loop["stack"].call(
        loop["stack"].stack.set_voice_impairment,
        Impairment(delay_ms=60.0, jitter_ms=30.0, loss_pct=8.0, burst_length=3.0, seed=9),
    )

    def paging_on_network() -> dict[str, Any] | None:
        summary = _status(loop, "voice-call")
        voice = get_journeys(kube)["voice-call"]
        degraded = condition(voice, "ExperienceDegraded")
        if (
            "page" in summary.get("firing", [])
            and summary.get("suspectedLayer") == "network"
            and degraded.get("status") == "True"
            and "page" in degraded.get("message", "")
        ):
            return voice
        return None

    voice = wait_for(
        paging_on_network, 150, "a page on voice-call charged to the network", diagnose(loop)
    )
    assert voice["status"]["experience"]["suspectedLayer"] == "network"
    events = json.loads(kube.kubectl("get", "events", "-n", NAMESPACE, "-o", "json").stdout)
    assert any(
        e["reason"] == "ExperienceDegraded" and e["involvedObject"]["name"] == "voice-call"
        for e in events["items"]
    )
    assert "page" not in _status(loop, "agent-desktop").get("firing", [])

    def page_delivered() -> bool:
        return any(
            a.get("labels", {}).get("severity") == "page"
            and a.get("labels", {}).get("cx_journey_name") == "voice-call"
            for _, body in loop["receiver"].received
            for a in body
        )

    wait_for(page_delivered, 60, "the page at the incident sink", diagnose(loop))

    # Repaired: the page resolves once the short windows are clean again.
    loop["stack"].call(loop["stack"].stack.clear_faults)
    wait_for(
        lambda: "page" not in _status(loop, "voice-call").get("firing", ["page"]),
        150,
        "the voice-call page resolved",
        diagnose(loop),
    )

    # An edit rolls the probe Pods and the new contract reaches the processor's output.
    before = {p.uid for p in _pods(loop, "desktop-up")}
    kube.kubectl(
        "patch",
        "cxj",
        "desktop-up",
        "-n",
        NAMESPACE,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"interval": "4s", "experience": {"apdexThreshold": "1500ms"}}}),
    )

    def rolled() -> bool:
        now = {p.uid for p in _pods(loop, "desktop-up")}
        return bool(now) and not (now & before)

    wait_for(rolled, 120, "desktop-up probe rolled", diagnose(loop))
    wait_for(
        lambda: _status(loop, "desktop-up").get("apdexThreshold") == 1.5,
        90,
        "the new Apdex threshold in the processor's output",
        diagnose(loop),
    )

    # Deleting a journey stops its Pods.
    processes = _pods(loop, "desktop-up")
    kube.kubectl("delete", "cxj", "desktop-up", "-n", NAMESPACE)
    wait_for(
        lambda: all(p.process.poll() is not None for p in processes),
        90,
        "desktop-up probe processes stopped",
        diagnose(loop),
    )


def _pods(loop: dict[str, Any], journey: str) -> list[Any]:
    """The running probe processes of a journey (Pods of its `<journey>-probe-*` Deployments)."""
    return [
        p
        for k in loop["kubelets"]
        for p in k.pods.values()
        if p.namespace == NAMESPACE and p.name.startswith(f"{journey}-probe-")
    ]


def _status(loop: dict[str, Any], journey: str) -> dict[str, Any]:
    import urllib.request

    try:
        with urllib.request.urlopen(
            f"{loop['status']}/api/v1/journeys/{NAMESPACE}/{journey}", timeout=3
        ) as response:
            summary: dict[str, Any] = json.load(response)["summary"]
            return summary
    except OSError:
        return {}
