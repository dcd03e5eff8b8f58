"""The operator at scale: 1,000 CxJourneys with 2 locations each, created at once.

On the test control plane (apiserver + etcd + controller-manager + scheduler + kwok) it
measures the time until every journey is Ready (2,000 probe Deployments rolled out and
their Pods Ready), the operator's peak RSS, and its CPU once converged. Baselines from
the same run: the admin creating the same number of plain ConfigMaps (what the API alone
costs for 1,000 writes); the admin creating 2,000 plain Deployments and waiting for them
to be available (what the control plane alone needs to roll out that many Pods); and the
admin creating the operator's own 2,000 probe Deployments, as its builders make them, and
waiting for them (what the control plane alone needs to roll out the probes: the rest of
the operator's time is the operator and what it asks of the apiserver).
It also counts the write requests the apiserver served in each phase (from its metrics),
per journey: what the operator adds on top of what the controllers need anyway, and the
CPU every process used in each phase: all of them share the 2 cores, so the wall time
follows their total.

`python -m benchmarks bench_operator` (several minutes). JOURNEYS=<n> scales it down.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from tests.harness.kube import ControlPlane
from tests.harness.processes import REPO, Process, free_port, strangers

from cxj_journey.model import parse_journey
from cxj_operator.builders import BuildParams, build_children
from cxj_operator.config import ProbeSettings

JOURNEYS = int(os.environ.get("JOURNEYS", "1000"))
LOCATIONS = ("hq", "edge")
NAMESPACE = "bench-journeys"
BASELINE_NAMESPACE = "bench-baseline"
SHAPED_NAMESPACE = "bench-probes"
CONVERGE_LIMIT_S = 900.0
IDLE_WINDOW_S = 30.0
WRITES = frozenset({"POST", "PUT", "PATCH", "APPLY", "DELETE"})


def _post_all(plane: ControlPlane, path: str, bodies: list[dict[str, Any]]) -> float:
    """Creates every body with 8 concurrent admin clients; returns the seconds it took."""
    context = plane.ssl_context()

    def post(body: dict[str, Any]) -> None:
        request = urllib.request.Request(
            plane.url + path.format(namespace=body["metadata"]["namespace"]),
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, context=context, timeout=60) as response:
            response.read()

    start = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(post, bodies))
    return time.perf_counter() - start


def _journey(index: int) -> dict[str, Any]:
    return {
        "apiVersion": "cxjourney.dev/v1alpha1",
        "kind": "CxJourney",
        "metadata": {"name": f"journey-{index:04d}", "namespace": NAMESPACE},
        "spec": {
            "type": "agent-desktop",
            "steps": [{"name": "open-desktop", "http": {"url": "http://127.0.0.1:18080/"}}],
            "locations": [{"name": n, "nodeSelector": {"type": "kwok"}} for n in LOCATIONS],
        },
    }


def _deployment(index: int) -> dict[str, Any]:
    labels = {"app": f"plain-{index:04d}"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"plain-{index:04d}", "namespace": BASELINE_NAMESPACE},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": {"type": "kwok"},
                    "containers": [{"name": "main", "image": "cxjourney/none:0"}],
                },
            },
        },
    }


def _probe_children(namespace: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ServiceAccounts and probe Deployments the operator builds for the benchmark's
    journeys, placed in namespace, without owner references (no journey owns them here,
    and garbage collection would delete objects whose owner does not exist)."""
    accounts, deployments = [], []
    for index in range(JOURNEYS):
        journey = _journey(index)
        journey["metadata"]["namespace"] = namespace
        uid = f"00000000-0000-4000-8000-{index:012d}"
        for manifest in build_children(BuildParams(parse_journey(journey), uid, ProbeSettings())):
            manifest["metadata"].pop("ownerReferences", None)
            if manifest["kind"] == "ServiceAccount":
                accounts.append(manifest)
            elif manifest["kind"] == "Deployment":
                deployments.append(manifest)
    return accounts, deployments


def _journey_ready(item: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (item.get("status") or {}).get("conditions") or ()
    )


def _deployment_available(item: dict[str, Any]) -> bool:
    return bool((item.get("status") or {}).get("availableReplicas") == 1)


def _watch_until(
    plane: ControlPlane,
    path: str,
    done: Callable[[dict[str, Any]], bool],
    total: int,
    started: float,
) -> float:
    """Follows a collection with a watch until total objects are done; returns the seconds
    since started. A watch costs the apiserver one event per change, where polling would
    serialise the whole collection again and again."""
    context = plane.ssl_context()
    state: dict[str, bool] = {}
    while time.perf_counter() - started < CONVERGE_LIMIT_S:
        listing = plane.get(path)
        state = {i["metadata"]["name"]: done(i) for i in listing["items"]}
        version = listing["metadata"]["resourceVersion"]
        if sum(state.values()) >= total:
            return time.perf_counter() - started
        url = f"{plane.url}{path}?watch=1&resourceVersion={version}&timeoutSeconds=60"
        with urllib.request.urlopen(url, context=context, timeout=90) as stream:
            for line in stream:
                event = json.loads(line)
                if event["type"] == "ERROR":
                    break  # expired: list again
                item = event["object"]
                state[item["metadata"]["name"]] = event["type"] != "DELETED" and done(item)
                if sum(state.values()) >= total:
                    return time.perf_counter() - started
    raise TimeoutError(f"not converged after {CONVERGE_LIMIT_S:.0f}s")


def _writes(plane: ControlPlane) -> float:
    """Write requests the apiserver has served so far (every client), from its metrics."""
    context = plane.ssl_context()
    with urllib.request.urlopen(plane.url + "/metrics", context=context, timeout=30) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("apiserver_request_total{"):
            verb = re.search(r'verb="([A-Z]+)"', line)
            if verb and verb.group(1) in WRITES:
                total += float(line.rsplit(" ", 1)[1])
    return total


def _cpu_seconds(plane: ControlPlane, extra: dict[str, int]) -> dict[str, float]:
    """User + system CPU so far of every control-plane process, the benchmark and extra."""
    pids = {name: p.popen.pid for name, p in plane.processes.items() if p.popen is not None}
    pids.update(extra)
    pids["benchmark (client)"] = os.getpid()
    seconds = {}
    for name, pid in pids.items():
        try:
            seconds[name] = sum(psutil.Process(pid).cpu_times()[:2])
        except psutil.Error:
            continue
    return seconds


def _cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}


class _Sampler:
    """Samples a process's RSS every 0.25 s in a thread."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _operator_kubeconfig(plane: ControlPlane, folder: Path) -> Path:
    plane.kubectl("apply", "-f", str(REPO / "deploy" / "rbac" / "operator.yaml"))
    return plane.service_account_kubeconfig(
        "cxj-operator", "cxj-system", folder / "operator.kubeconfig"
    )


@contextmanager
def journey_plane(pods: bool) -> Iterator[ControlPlane]:
    """A test control plane with the CRDs established and both benchmark namespaces;
    with pods, also the controller-manager, scheduler and kwok with 3 Nodes."""
    plane = ControlPlane().start()
    try:
        plane.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        plane.kubectl(
            "wait", "--for=condition=Established", "--timeout=60s", "crd/cxjourneys.cxjourney.dev"
        )
        if pods:
            plane.enable_pods(nodes=3)
        for namespace in (NAMESPACE, BASELINE_NAMESPACE, SHAPED_NAMESPACE):
            plane.kubectl("create", "namespace", namespace)
        yield plane
    finally:
        plane.stop()


CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


def main() -> None:
    if others := strangers(CONTROL_PLANE):
        print(f"warning: other control-plane processes share the cores: {', '.join(others)}")
    with journey_plane(pods=True) as plane:
        _run(plane)


@dataclass(frozen=True)
class Phase:
    """One timed phase: its seconds, the writes the apiserver served and every process's CPU."""

    seconds: float
    writes: float
    cpu: dict[str, float]


def _rollout(
    plane: ControlPlane,
    namespace: str,
    deployments: list[dict[str, Any]],
    accounts: list[dict[str, Any]],
) -> Phase:
    """The admin creates the Deployments at once (their ServiceAccounts first, untimed);
    times until every one is available, then deletes the namespace."""
    if accounts:
        # Pods naming a ServiceAccount that does not exist yet are refused.
        _post_all(plane, "/api/v1/namespaces/{namespace}/serviceaccounts", accounts)
        time.sleep(2)
    writes_before = _writes(plane)
    cpu_before = _cpu_seconds(plane, {})
    started = time.perf_counter()
    _post_all(plane, "/apis/apps/v1/namespaces/{namespace}/deployments", deployments)
    seconds = _watch_until(
        plane,
        f"/apis/apps/v1/namespaces/{namespace}/deployments",
        _deployment_available,
        len(deployments),
        started,
    )
    phase = Phase(
        seconds, _writes(plane) - writes_before, _cpu_used(cpu_before, _cpu_seconds(plane, {}))
    )
    plane.kubectl("delete", "namespace", namespace, "--wait=true", "--timeout=600s")
    return phase


@dataclass(frozen=True)
class OperatorRun:
    """The operator phase: the journeys' creation, convergence, RSS and idle CPU."""

    create_s: float
    converged: Phase
    peak_mb: float
    idle_cpu: float


def _operator_phase(plane: ControlPlane) -> OperatorRun:
    kubeconfig = _operator_kubeconfig(plane, plane.root)
    operator = Process(
        "operator-bench",
        [
            sys.executable,
            "-m",
            "cxj_operator",
            f"--kubeconfig={kubeconfig}",
            f"--namespace={NAMESPACE}",
            "--lease-namespace=cxj-system",
            "--identity=bench",
            f"--processor-url=http://127.0.0.1:{free_port()}",
            "--experience-interval=10",
        ],
        plane.log_dir,
    ).start()
    assert operator.popen is not None
    pid = operator.popen.pid
    sampler = _Sampler(pid)
    try:
        time.sleep(3)  # let it take the Lease and start watching
        writes_before = _writes(plane)
        cpu_before = _cpu_seconds(plane, {"operator": pid})
        started = time.perf_counter()
        create_s = _post_all(
            plane,
            "/apis/cxjourney.dev/v1alpha1/namespaces/{namespace}/cxjourneys",
            [_journey(i) for i in range(JOURNEYS)],
        )
        converge_s = _watch_until(
            plane,
            f"/apis/cxjourney.dev/v1alpha1/namespaces/{NAMESPACE}/cxjourneys",
            _journey_ready,
            JOURNEYS,
            started,
        )
        converged = Phase(
            converge_s,
            _writes(plane) - writes_before,
            _cpu_used(cpu_before, _cpu_seconds(plane, {"operator": pid})),
        )
        process = psutil.Process(pid)
        time.sleep(5)  # the last status writes and experience sweep settle
        idle_before = sum(process.cpu_times()[:2])
        time.sleep(IDLE_WINDOW_S)
        idle_cpu = (sum(process.cpu_times()[:2]) - idle_before) / IDLE_WINDOW_S
        return OperatorRun(create_s, converged, sampler.peak / 2**20, idle_cpu)
    finally:
        sampler.stop()
        operator.stop()


def _run(plane: ControlPlane) -> None:
    configmaps = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"plain-{i:04d}", "namespace": BASELINE_NAMESPACE},
            "data": {"journey.yaml": json.dumps(_journey(i))},
        }
        for i in range(JOURNEYS)
    ]
    configmaps_s = _post_all(plane, "/api/v1/namespaces/{namespace}/configmaps", configmaps)
    plain = _rollout(
        plane, BASELINE_NAMESPACE, [_deployment(i) for i in range(JOURNEYS * len(LOCATIONS))], []
    )
    accounts, probes = _probe_children(SHAPED_NAMESPACE)
    shaped = _rollout(plane, SHAPED_NAMESPACE, probes, accounts)
    run = _operator_phase(plane)
    _report(configmaps_s, plain, shaped, run)


def _report(configmaps_s: float, plain: Phase, shaped: Phase, run: OperatorRun) -> None:
    deployments = JOURNEYS * len(LOCATIONS)
    converge_s = run.converged.seconds
    print(f"journeys: {JOURNEYS} x {len(LOCATIONS)} locations = {deployments} probe Deployments")
    print(f"baseline, admin creates {JOURNEYS} ConfigMaps:        {configmaps_s:8.1f} s")
    print(f"baseline, admin's {deployments} plain Deployments available: {plain.seconds:8.1f} s")
    print(f"baseline, admin's {deployments} probe Deployments available: {shaped.seconds:8.1f} s")
    print(f"creating the {JOURNEYS} CxJourneys:                  {run.create_s:8.1f} s")
    print(f"operator: all journeys Ready after:             {converge_s:8.1f} s  (target <= 120 s)")
    print(
        f"apiserver writes per journey (all clients): {run.converged.writes / JOURNEYS:6.1f}  "
        f"(per 2 plain Deployments: {plain.writes / JOURNEYS:6.1f}, "
        f"per 2 probe Deployments: {shaped.writes / JOURNEYS:6.1f})"
    )
    print(
        f"operator peak RSS:                              {run.peak_mb:8.0f} MB (target <= 300 MB)"
    )
    print(f"operator CPU once converged:                    {run.idle_cpu * 100:8.2f} % of a core")
    for label, baseline in (
        ("plain Deployments", plain.seconds),
        ("probe Deployments", shaped.seconds),
        ("ConfigMaps created", configmaps_s),
    ):
        print(f"ratio (operator converge / {label}): {converge_s / baseline:.2f}")
    phases = {"plain Deployments": plain, "probe Deployments": shaped, "operator": run.converged}
    limits = ", ".join(f"{2 * phase.seconds:.0f} s" for phase in phases.values())
    print(f"CPU seconds in each phase (2 cores: at most {limits}):")
    print(f"  {'process':28s}" + "".join(f" {label:>18s}" for label in phases))
    for name in run.converged.cpu:
        cells = (f"{p.cpu[name]:.1f}" if name in p.cpu else "-" for p in phases.values())
        print(f"  {name:28s}" + "".join(f" {cell:>18s}" for cell in cells))
    print(f"  {'total':28s}" + "".join(f" {sum(p.cpu.values()):18.1f}" for p in phases.values()))


if __name__ == "__main__":
    main()
