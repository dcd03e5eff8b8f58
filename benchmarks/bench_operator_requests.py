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

import copy
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import psutil
from tests.harness.kube import ControlPlane
from tests.harness.processes import REPO

from benchmarks.bench_operator import NAMESPACE, _deployment, _journey, _operator_kubeconfig
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
from cxj_operator.readiness import HONOURED, ProbeFacts, Verdict, workload_status

REQUESTS = int(os.environ.get("REQUESTS", "400"))
T = TypeVar("T")


def _status(uid: str, probes: dict[str, ProbeFacts]) -> dict[str, Any]:
    """A status body as the operator writes it, the processor unreachable."""
    now = rfc3339(datetime.now(UTC))
    verdict = Verdict(1, uid, HONOURED, "", (("hq", 1), ("edge", 1)))
    reading = Reading(UNREACHABLE, detail="connection refused", shared=True)
    (condition,) = merge(None, [experience_condition(reading)], 1, now)
    experience = Experience(experience_fields(reading, "http://cxj-processor:8080", now), condition)
    return compose(workload_status(verdict, probes, None, now), experience)


def main() -> None:
    plane = ControlPlane().start()
    try:
        plane.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        plane.kubectl(
            "wait", "--for=condition=Established", "--timeout=60s", "crd/cxjourneys.cxjourney.dev"
        )
        for namespace in (NAMESPACE, "bench-baseline"):
            plane.kubectl("create", "namespace", namespace)
        _run(plane)
    finally:
        plane.stop()


def _run(plane: ControlPlane) -> None:
    admin = KubeApi(load_configuration(str(plane.kubeconfig), None))
    # As the operator runs: its ServiceAccount's token, its RBAC.
    api = KubeApi(load_configuration(str(_operator_kubeconfig(plane, plane.root)), None))
    apiserver = plane.processes["kube-apiserver"].popen
    assert apiserver is not None
    process = psutil.Process(apiserver.pid)
    rows: list[tuple[str, float]] = []

    def measure(label: str, send: Callable[[T], Any], items: Sequence[T]) -> list[Any]:
        time.sleep(1)  # let the apiserver settle from the last kind
        before = sum(process.cpu_times()[:2])
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(send, items))
        rows.append((label, (sum(process.cpu_times()[:2]) - before) / len(items) * 1000))
        return answers

    journeys_path = f"/apis/{naming.GROUP}/{naming.VERSION}/namespaces/{NAMESPACE}/cxjourneys"
    journeys = measure(
        "CxJourney create (the user's)",
        lambda body: admin.request("POST", journeys_path, body=body),
        [_journey(i) for i in range(REQUESTS)],
    )
    children = [
        build_children(BuildParams(parse_journey(j), j["metadata"]["uid"], ProbeSettings()))
        for j in journeys
    ]
    for kind in ("ConfigMap", "ServiceAccount", "Deployment"):
        manifests = [m for ms in children for m in ms if m["kind"] == kind][:REQUESTS]
        measure(f"{kind} server-side apply, creating", api.apply, manifests)
    deployments = [m for ms in children for m in ms if m["kind"] == "Deployment"][:REQUESTS]
    measure("Deployment server-side apply, unchanged", api.apply, deployments)

    def status_apply(ready: int) -> Callable[[dict[str, Any]], Any]:
        def send(journey: dict[str, Any]) -> Any:
            name, uid = journey["metadata"]["name"], journey["metadata"]["uid"]
            probes = {
                location: ProbeFacts(
                    location=location,
                    name=f"{name}-probe-{location}",
                    uid=f"{uid}-{location}",
                    owner_uid=uid,
                    desired=1,
                    generation=1,
                    observed_generation=1,
                    replicas=1,
                    updated=1,
                    ready=ready,
                    stalled=False,
                )
                for location in ("hq", "edge")
            }
            status = _status(uid, probes)
            return api.apply_status(NAMESPACE, name, status, naming.FIELD_MANAGER)

        return send

    measure("CxJourney status apply (Progressing)", status_apply(0), journeys)
    measure("CxJourney status apply (Ready)", status_apply(1), journeys)
    measure(
        "Event create",
        lambda j: api.post_event(
            ObjectRef(
                naming.API_VERSION,
                naming.KIND,
                NAMESPACE,
                j["metadata"]["name"],
                j["metadata"]["uid"],
            ),
            "Normal",
            "Created",
            "created ConfigMap a, ServiceAccount b, Deployment c, Deployment d",
            "bench",
        ),
        journeys,
    )
    plain = [copy.deepcopy(_deployment(i)) for i in range(REQUESTS)]
    measure(
        "plain Deployment create (for scale)",
        lambda body: api.request(
            "POST", "/apis/apps/v1/namespaces/bench-baseline/deployments", body=body
        ),
        plain,
    )
    print(f"{REQUESTS} requests of each kind, 8 clients, apiserver CPU per request:")
    for label, ms in rows:
        print(f"  {label:42s} {ms:6.2f} ms")
    per_journey = {
        "CxJourney create (the user's)": 1,
        "ConfigMap server-side apply, creating": 1,
        "ServiceAccount server-side apply, creating": 1,
        "Deployment server-side apply, creating": 2,
        "CxJourney status apply (Progressing)": 1,
        "CxJourney status apply (Ready)": 1,
        "Event create": 1,
    }
    costs = dict(rows)
    total = sum(costs[label] * count for label, count in per_journey.items())
    status = costs["CxJourney status apply (Progressing)"] + costs["CxJourney status apply (Ready)"]
    print(
        f"one journey with 2 locations, create to Ready: {total:.1f} ms of apiserver CPU, "
        f"of which the 2 status writes {status:.1f} ms"
    )


if __name__ == "__main__":
    main()
