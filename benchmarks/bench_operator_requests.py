"""What each of the operator's requests costs the apiserver, one kind at a time.

On an otherwise idle test control plane (apiserver and etcd; no controllers, so nothing
else writes), 8 clients send N requests of one kind through the operator's own API
client, as its ServiceAccount, with the bodies its builders and status code produce, and
the apiserver's CPU for them is divided by N (the user's creates go as the admin).
Beside them, for scale: creating a plain Deployment. The sum over one journey's requests
is what the operator adds to a control plane that must roll out its probes anyway (see
bench_operator for the whole picture).

`python -m benchmarks bench_operator_requests` (about a minute). REQUESTS=<n> sets N.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import psutil
from tests.harness.kube import ControlPlane

from benchmarks.bench_operator import (
    BASELINE_NAMESPACE,
    LOCATIONS,
    NAMESPACE,
    _deployment,
    _journey,
    _operator_kubeconfig,
    journey_plane,
)
from cxj_journey.model import parse_journey
from cxj_operator import naming
from cxj_operator.builders import BuildParams, build_children
from cxj_operator.conditions import merge, rfc3339
from cxj_operator.config import ProbeSettings
from cxj_operator.experience_view import (
    UNREACHABLE,
    Reading,
    experience_condition,
    experience_fields,
)
from cxj_operator.journey_status import Experience, compose
from cxj_operator.kube import KubeApi, ObjectRef, load_configuration
from cxj_operator.readiness import HONOURED, Verdict, probe_facts, workload_status

REQUESTS = int(os.environ.get("REQUESTS", "400"))
STATUS_PROGRESSING = "CxJourney status apply (Progressing)"
STATUS_READY = "CxJourney status apply (Ready)"
T = TypeVar("T")


def _status(uid: str, deployments: list[dict[str, Any]]) -> dict[str, Any]:
    """The status body the operator writes for these probe Deployments, the processor
    unreachable."""
    now = rfc3339(datetime.now(UTC))
    probes = {f.location: f for f in map(probe_facts, deployments) if f is not None}
    verdict = Verdict(1, uid, HONOURED, "", tuple((location, 1) for location in probes))
    reading = Reading(UNREACHABLE, detail="connection refused", shared=True)
    (condition,) = merge(None, [experience_condition(reading)], 1, now)
    experience = Experience(experience_fields(reading, "http://cxj-processor:8080", now), condition)
    return compose(workload_status(verdict, probes, None, now), experience)


def _available(deployment: dict[str, Any]) -> dict[str, Any]:
    """The Deployment as the controller-manager reports it once its probe is Ready."""
    replicas = deployment["spec"]["replicas"]
    counts = ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")
    status = {"observedGeneration": deployment["metadata"]["generation"]}
    return {**deployment, "status": status | dict.fromkeys(counts, replicas)}


def main() -> None:
    with journey_plane(pods=False) as plane:
        _run(plane)


def _run(plane: ControlPlane) -> None:
    admin = KubeApi(load_configuration(str(plane.kubeconfig), None))
    # As the operator runs: its ServiceAccount's token, its RBAC.
    api = KubeApi(load_configuration(str(_operator_kubeconfig(plane, plane.root)), None))
    apiserver = plane.processes["kube-apiserver"].popen
    assert apiserver is not None
    process = psutil.Process(apiserver.pid)
    rows: list[tuple[str, float, int]] = []  # label, ms a request, requests a journey

    def measure(
        label: str, send: Callable[[T], Any], items: Sequence[T], per_journey: int
    ) -> list[Any]:
        time.sleep(1)  # let the apiserver settle from the last kind
        before = sum(process.cpu_times()[:2])
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(send, items))
        ms = (sum(process.cpu_times()[:2]) - before) / len(items) * 1000
        rows.append((label, ms, per_journey))
        return answers

    journeys_path = f"/apis/{naming.GROUP}/{naming.VERSION}/namespaces/{NAMESPACE}/cxjourneys"
    journeys = measure(
        "CxJourney create (the user's)",
        lambda body: admin.request("POST", journeys_path, body=body),
        [_journey(i) for i in range(REQUESTS)],
        per_journey=1,
    )
    children = [
        build_children(BuildParams(parse_journey(j), j["metadata"]["uid"], ProbeSettings()))
        for j in journeys
    ]
    for kind in ("ConfigMap", "ServiceAccount"):
        manifests = [m for ms in children for m in ms if m["kind"] == kind]
        measure(f"{kind} server-side apply, creating", api.apply, manifests, per_journey=1)
    # REQUESTS Deployments: both probes of the first REQUESTS / 2 journeys.
    wanted = [m for ms in children for m in ms if m["kind"] == "Deployment"][:REQUESTS]
    applied = measure(
        "Deployment server-side apply, creating", api.apply, wanted, per_journey=len(LOCATIONS)
    )
    measure("Deployment server-side apply, unchanged", api.apply, wanted, per_journey=0)
    probes: dict[str, list[dict[str, Any]]] = {}
    for result in applied:
        owner = result.object["metadata"]["ownerReferences"][0]["uid"]
        probes.setdefault(owner, []).append(result.object)
    owners = [j for j in journeys if j["metadata"]["uid"] in probes]

    def status_apply(ready: bool) -> Callable[[dict[str, Any]], Any]:
        def send(journey: dict[str, Any]) -> Any:
            uid = journey["metadata"]["uid"]
            deployments = [_available(d) if ready else d for d in probes[uid]]
            return api.apply_status(
                NAMESPACE,
                journey["metadata"]["name"],
                _status(uid, deployments),
                naming.FIELD_MANAGER,
            )

        return send

    for ready, label in ((False, STATUS_PROGRESSING), (True, STATUS_READY)):
        measure(label, status_apply(ready), owners, per_journey=1)

    def event(journey: dict[str, Any]) -> None:
        metadata = journey["metadata"]
        about = ObjectRef(
            naming.API_VERSION, naming.KIND, NAMESPACE, metadata["name"], metadata["uid"]
        )
        message = "created ConfigMap a, ServiceAccount b, Deployment c, Deployment d"
        api.post_event(about, "Normal", "Created", message, "bench")

    measure("Event create", event, journeys, per_journey=1)
    measure(
        "plain Deployment create (for scale)",
        lambda body: api.request(
            "POST", f"/apis/apps/v1/namespaces/{BASELINE_NAMESPACE}/deployments", body=body
        ),
        [_deployment(i) for i in range(REQUESTS)],
        per_journey=0,
    )
    print(f"{REQUESTS} requests of each kind, 8 clients, apiserver CPU per request:")
    for label, ms, _ in rows:
        print(f"  {label:42s} {ms:6.2f} ms")
    total = sum(ms * count for _, ms, count in rows)
    status = sum(ms for label, ms, _ in rows if label in (STATUS_PROGRESSING, STATUS_READY))
    print(
        f"one journey with {len(LOCATIONS)} locations, create to Ready: {total:.1f} ms of "
        f"apiserver CPU, of which the 2 status writes {status:.1f} ms"
    )


if __name__ == "__main__":
    main()
