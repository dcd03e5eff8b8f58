"""The operator on the real control plane, authenticated as its own ServiceAccount.

RBAC is on and the operator runs with exactly the rules of deploy/rbac/operator.yaml
(minted token, its own kubeconfig), as a separate process; kwok makes probe Pods Ready.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.harness.kube import ControlPlane
from tests.harness.kube import get_json as get
from tests.harness.processes import REPO, Process, free_port, log_tail, port_open
from tests.harness.waiting import wait_for

RBAC = REPO / "deploy" / "rbac" / "operator.yaml"
OPERATOR_NS = "cxj-system"


# -- helpers ------------------------------------------------------------------------------
def apply(kube: ControlPlane, document: dict[str, Any]) -> None:
    """kubectl apply as the admin (client-side, as a user would)."""
    kube.kubectl("apply", "-f", "-", input_text=json.dumps(document))


def journey(
    name: str,
    namespace: str,
    locations: list[dict[str, Any]] | None = None,
    *,
    interval: str = "60s",
    secret: str | None = None,
    url: str = "http://127.0.0.1:18080/",
) -> dict[str, Any]:
    """A small CxJourney; with secret, its HTTP step sends a header from that Secret."""
    http: dict[str, Any] = {"url": url}
    if secret:
        http["headers"] = [
            {
                "name": "Authorization",
                "valueFrom": {"secretKeyRef": {"name": secret, "key": "token"}},
            }
        ]
    return {
        "apiVersion": "cxjourney.dev/v1alpha1",
        "kind": "CxJourney",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "type": "agent-desktop",
            "interval": interval,
            "steps": [{"name": "open-desktop", "http": http}],
            "locations": locations or [{"name": "hq"}],
        },
    }


def condition(body: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    """A condition of a journey's status, or {}."""
    for entry in ((body or {}).get("status") or {}).get("conditions") or ():
        if entry["type"] == kind:
            return dict(entry)
    return {}


def children(kube: ControlPlane, namespace: str, kind: str, name: str) -> list[dict[str, Any]]:
    """A journey's children of one kind, found by the operator's labels."""
    found = get(kube, kind, "-n", namespace, "-l", f"cxjourney.dev/journey={name}")
    return list(found["items"])


def events(kube: ControlPlane, namespace: str, name: str, reason: str) -> list[dict[str, Any]]:
    """Events about a journey with a reason."""
    found = get(
        kube,
        "events",
        "-n",
        namespace,
        "--field-selector",
        f"involvedObject.kind=CxJourney,involvedObject.name={name},reason={reason}",
    )
    return list(found["items"])


class Operator:
    """`python -m cxj_operator` as a separate process with its ServiceAccount's kubeconfig."""

    def __init__(self, kube: ControlPlane, kubeconfig: Path, name: str, *args: str) -> None:
        self.process = Process(
            f"operator-{name}",
            [
                sys.executable,
                "-m",
                "cxj_operator",
                f"--kubeconfig={kubeconfig}",
                "--probe-image=cxjourney/cxj:test",
                "--probe-env=OTEL_EXPORTER_OTLP_INSECURE=true",
                "--otlp-endpoint=http://otel-collector.monitoring:4317",
                "--unhonourable-retry=2",
                "--experience-interval=1",
                "--lease-namespace=cxj-system",
                f"--identity={name}",
                *args,
            ],
            kube.log_dir,
        )
        self.log_path = self.process.log_path
        self.log_path.unlink(missing_ok=True)

    def start(self) -> Operator:
        self.process.start()
        return self

    def logs(self) -> str:
        return log_tail(self.log_path, 60)

    def stop(self) -> None:
        self.process.stop()

    def kill(self) -> None:
        self.process.kill()


def make_kubeconfig(kube: ControlPlane, service_account: str, path: Path) -> Path:
    """A kubeconfig holding a freshly minted token of a ServiceAccount in cxj-system."""
    return kube.service_account_kubeconfig(service_account, OPERATOR_NS, path)


@pytest.fixture(scope="module")
def operator_kubeconfig(kube_pods: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """deploy/rbac/operator.yaml applied as the admin; a kubeconfig for its ServiceAccount."""
    kube_pods.kubectl("apply", "-f", str(RBAC))
    return make_kubeconfig(
        kube_pods, "cxj-operator", tmp_path_factory.mktemp("operator") / "kubeconfig"
    )


@pytest.fixture
def namespace(kube_pods: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace of the test's own, deleted afterwards."""
    name = "op-" + request.node.name.removeprefix("test_").replace("_", "-")[:40].rstrip("-")
    kube_pods.kubectl("create", "namespace", name)
    yield name
    kube_pods.kubectl("delete", "namespace", name, "--wait=false")


@contextlib.contextmanager
def running(operator: Operator) -> Iterator[Operator]:
    """Runs an operator for the block and stops it after."""
    operator.start()
    try:
        yield operator
    finally:
        operator.stop()


def wait_ready(
    kube: ControlPlane, namespace: str, name: str, operator: Operator, timeout: float = 90
) -> dict[str, Any]:
    """Waits for Ready=True with observedGeneration at the current generation."""

    def ready() -> dict[str, Any] | None:
        body = get(kube, "cxj", name, "-n", namespace)
        if body is None:
            return None
        generation = body["metadata"]["generation"]
        status = body.get("status") or {}
        if (
            condition(body, "Ready").get("status") == "True"
            and status.get("observedGeneration") == generation
            and condition(body, "Ready").get("observedGeneration") == generation
        ):
            return dict(body)
        return None

    result: dict[str, Any] = wait_for(ready, timeout, f"{namespace}/{name} Ready", operator.logs)
    return result


# -- proof points -------------------------------------------------------------------------
@pytest.mark.kube
@pytest.mark.pods
def test_create_makes_children_pods_become_ready_and_journey_ready(
    kube_pods: ControlPlane, operator_kubeconfig: Path, namespace: str
) -> None:
    kube = kube_pods
    kube.kubectl(
        "create", "secret", "generic", "desk-auth", "-n", namespace, "--from-literal=token=s3cr3t"
    )
    locations = [
        {"name": "hq", "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists"}]},
        {"name": "edge", "replicas": 2, "nodeSelector": {"type": "kwok"}},
    ]
    with running(Operator(kube, operator_kubeconfig, "create", f"--namespace={namespace}")) as op:
        apply(kube, journey("desk", namespace, locations, secret="desk-auth"))
        wait_ready(kube, namespace, "desk", op)
        # The experience loop writes its condition on its own schedule (every second here).
        body = wait_for(
            lambda: (
                (b := get(kube, "cxj", "desk", "-n", namespace))
                and condition(b, "ExperienceDegraded")
                and b
            ),
            30,
            "ExperienceDegraded written",
            op.logs,
        )

    uid = body["metadata"]["uid"]
    assert body["status"]["locations"] == [
        {"name": "hq", "replicas": 1, "readyReplicas": 1, "ready": True},
        {"name": "edge", "replicas": 2, "readyReplicas": 2, "ready": True},
    ]
    assert {c["type"]: c["status"] for c in body["status"]["conditions"]} == {
        "Ready": "True",
        "Progressing": "False",
        "Degraded": "False",
        "ExperienceDegraded": "Unknown",
    }
    (config_map,) = children(kube, namespace, "configmaps", "desk")
    (account,) = children(kube, namespace, "serviceaccounts", "desk")
    deployments = {
        d["metadata"]["name"]: d for d in children(kube, namespace, "deployments", "desk")
    }
    assert set(deployments) == {"desk-probe-hq", "desk-probe-edge"}
    for child in (config_map, account, *deployments.values()):
        (owner,) = child["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"], owner["controller"]) == ("CxJourney", uid, True)
    assert "s3cr3t" not in json.dumps(config_map)
    document = yaml.safe_load(config_map["data"]["journey.yaml"])
    assert document["metadata"] == {"name": "desk", "namespace": namespace}

    edge = deployments["desk-probe-edge"]["spec"]["template"]["spec"]
    (container,) = edge["containers"]
    assert edge["nodeSelector"] == {"type": "kwok"}
    assert edge["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    env = {e["name"]: e for e in container["env"]}
    assert env["CXJ_LOCATION"]["value"] == "edge"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == "http://otel-collector.monitoring:4317"
    assert env["CXJ_SECRET_DESK_AUTH_TOKEN"]["valueFrom"] == {
        "secretKeyRef": {"name": "desk-auth", "key": "token"}
    }
    pods = get(kube, "pods", "-n", namespace, "-l", "cxjourney.dev/journey=desk")["items"]
    assert len(pods) == 3
    for pod in pods:
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready["Ready"] == "True"
    assert events(kube, namespace, "desk", "Created")
    table = kube.kubectl("get", "cxj", "desk", "-n", namespace).stdout.splitlines()
    assert table[1].split()[-2] == "True"  # the READY column


@pytest.mark.kube
@pytest.mark.pods
def test_spec_change_rolls_probes_and_removed_location_is_pruned(
    kube_pods: ControlPlane, operator_kubeconfig: Path, namespace: str
) -> None:
    kube = kube_pods
    two = [{"name": "hq"}, {"name": "edge"}]
    for location in two:
        location["tolerations"] = [{"key": "kwok.x-k8s.io/node", "operator": "Exists"}]
    with running(Operator(kube, operator_kubeconfig, "rollout", f"--namespace={namespace}")) as op:
        apply(kube, journey("chat", namespace, two, interval="60s"))
        wait_ready(kube, namespace, "chat", op)
        before = get(kube, "deployment", "chat-probe-hq", "-n", namespace)
        old_hash = before["spec"]["template"]["metadata"]["annotations"][
            "cxjourney.dev/config-hash"
        ]

        apply(kube, journey("chat", namespace, two, interval="30s"))
        body = wait_ready(kube, namespace, "chat", op)
        assert body["metadata"]["generation"] == 2
        after = get(kube, "deployment", "chat-probe-hq", "-n", namespace)
        new_hash = after["spec"]["template"]["metadata"]["annotations"]["cxjourney.dev/config-hash"]
        assert new_hash != old_hash
        replica_sets = get(kube, "replicasets", "-n", namespace, "-l", "cxjourney.dev/location=hq")[
            "items"
        ]
        assert len(replica_sets) == 2  # the rollout made a new ReplicaSet
        (config_map,) = children(kube, namespace, "configmaps", "chat")
        assert "interval: 30s" in config_map["data"]["journey.yaml"]
        assert events(kube, namespace, "chat", "Updated")

        apply(kube, journey("chat", namespace, two[:1], interval="30s"))
        body = wait_ready(kube, namespace, "chat", op)
        wait_for(
            lambda: get(kube, "deployment", "chat-probe-edge", "-n", namespace) is None,
            30,
            "edge Deployment pruned",
            op.logs,
        )
        assert [
            d["metadata"]["name"] for d in children(kube, namespace, "deployments", "chat")
        ] == ["chat-probe-hq"]
        assert [loc["name"] for loc in body["status"]["locations"]] == ["hq"]
        assert events(kube, namespace, "chat", "Pruned")


@pytest.mark.kube
@pytest.mark.pods
def test_deleted_journey_children_are_garbage_collected(
    kube_pods: ControlPlane, operator_kubeconfig: Path, namespace: str
) -> None:
    kube = kube_pods
    with running(Operator(kube, operator_kubeconfig, "delete", f"--namespace={namespace}")) as op:
        apply(kube, journey("gone", namespace, [{"name": "hq", "nodeSelector": {"type": "kwok"}}]))
        wait_ready(kube, namespace, "gone", op)
        kube.kubectl("delete", "cxj", "gone", "-n", namespace)

        def collected() -> bool:
            return not any(
                children(kube, namespace, kind, "gone")
                for kind in ("configmaps", "serviceaccounts", "deployments", "pods")
            )

        wait_for(collected, 60, "children garbage-collected", op.logs)
        body = get(kube, "cxj", "gone", "-n", namespace)
        assert body is None  # no finalizer held the journey back


@pytest.mark.kube
@pytest.mark.pods
def test_unhonourable_spec_is_invalid_and_last_good_children_stay(
    kube_pods: ControlPlane, operator_kubeconfig: Path, namespace: str
) -> None:
    kube = kube_pods
    hq = [{"name": "hq", "nodeSelector": {"type": "kwok"}}]
    with running(Operator(kube, operator_kubeconfig, "invalid", f"--namespace={namespace}")) as op:
        apply(kube, journey("vip", namespace, hq))
        wait_ready(kube, namespace, "vip", op)
        good = get(kube, "deployment", "vip-probe-hq", "-n", namespace)
        good_map = children(kube, namespace, "configmaps", "vip")[0]

        apply(kube, journey("vip", namespace, hq, interval="30s", secret="missing-auth"))

        def invalid() -> dict[str, Any] | None:
            body = get(kube, "cxj", "vip", "-n", namespace)
            ready = condition(body, "Ready")
            if ready.get("reason") == "InvalidSpec" and ready.get("observedGeneration") == 2:
                return dict(body)
            return None

        body = wait_for(invalid, 30, "Ready=False InvalidSpec", op.logs)
        ready = condition(body, "Ready")
        assert ready["status"] == "False"
        assert "Secret" in ready["message"]
        assert "missing-auth" in ready["message"]
        (event,) = events(kube, namespace, "vip", "InvalidSpec")
        assert event["type"] == "Warning"
        assert "missing-auth" in event["message"]
        still = get(kube, "deployment", "vip-probe-hq", "-n", namespace)
        assert still["metadata"]["resourceVersion"] == good["metadata"]["resourceVersion"]
        assert children(kube, namespace, "configmaps", "vip")[0]["data"] == good_map["data"]
        assert body["status"]["locations"] == [
            {"name": "hq", "replicas": 1, "readyReplicas": 1, "ready": True}
        ]

        # An impossible location is refused the same way, naming the location.
        nowhere = [*hq, {"name": "mars", "nodeSelector": {"planet": "mars"}}]
        apply(kube, journey("vip", namespace, nowhere))

        def refused() -> dict[str, Any] | None:
            ready = condition(get(kube, "cxj", "vip", "-n", namespace), "Ready")
            return ready if "mars" in ready.get("message", "") else None

        assert wait_for(refused, 30, "mars refused", op.logs)["reason"] == "InvalidSpec"
        assert get(kube, "deployment", "vip-probe-mars", "-n", namespace) is None

        # Once the Secret exists, the spec is honoured without another edit.
        apply(kube, journey("vip", namespace, hq, secret="missing-auth"))
        kube.kubectl(
            "create", "secret", "generic", "missing-auth", "-n", namespace, "--from-literal=token=t"
        )
        wait_ready(kube, namespace, "vip", op, timeout=60)


@pytest.mark.kube
@pytest.mark.pods
def test_operator_killed_mid_reconcile_converges_without_duplicates(
    kube_pods: ControlPlane, operator_kubeconfig: Path, namespace: str
) -> None:
    kube = kube_pods
    names = [f"j{index:02d}" for index in range(20)]
    sites = [{"name": s, "nodeSelector": {"type": "kwok"}} for s in ("a", "b", "c")]
    for name in names:
        apply(kube, journey(name, namespace, sites))
    first = Operator(kube, operator_kubeconfig, "crash", f"--namespace={namespace}").start()
    # Asked straight from the apiserver, often: the operator makes the 60 Deployments in
    # about a second, and the kill must land while it is still at it.
    wait_for(
        lambda: kube.get(f"/apis/apps/v1/namespaces/{namespace}/deployments?limit=1")["items"],
        60,
        "a first Deployment",
        first.logs,
        interval=0.01,
    )
    first.kill()
    made = len(get(kube, "deployments", "-n", namespace)["items"])
    assert made < len(names) * len(sites), "the kill came too late to interrupt reconciling"

    with running(Operator(kube, operator_kubeconfig, "crash", f"--namespace={namespace}")) as op:
        for name in names:
            wait_ready(kube, namespace, name, op, timeout=120)
    deployments = get(kube, "deployments", "-n", namespace)["items"]
    assert sorted(d["metadata"]["name"] for d in deployments) == sorted(
        f"{n}-probe-{s['name']}" for n in names for s in sites
    )
    assert (
        len(get(kube, "configmaps", "-n", namespace, "-l", "cxjourney.dev/journey")["items"]) == 20
    )
    assert len(get(kube, "replicasets", "-n", namespace)["items"]) == len(deployments)
    pods = get(kube, "pods", "-n", namespace)["items"]
    assert len(pods) == len(deployments)


@pytest.mark.kube
@pytest.mark.pods
def test_apiserver_restart_is_survived(
    kube_pods: ControlPlane, operator_kubeconfig: Path, namespace: str
) -> None:
    kube = kube_pods
    hq = [{"name": "hq", "nodeSelector": {"type": "kwok"}}]
    # A long lease: the leader keeps leading through the apiserver's absence.
    args = (f"--namespace={namespace}", "--lease-duration=90", "--lease-renew-interval=5")
    with running(Operator(kube, operator_kubeconfig, "restart", *args)) as op:
        apply(kube, journey("before", namespace, hq))
        wait_ready(kube, namespace, "before", op)
        kube.start_apiserver_again()
        apply(kube, journey("after", namespace, hq))
        apply(kube, journey("before", namespace, hq, interval="45s"))
        wait_ready(kube, namespace, "after", op, timeout=120)
        body = wait_ready(kube, namespace, "before", op, timeout=120)
        assert body["metadata"]["generation"] == 2
        assert op.process.alive()


def _processor(status: int, grpc: int, log_dir: Path) -> Process:
    return Process(
        "processor-for-operator",
        [
            sys.executable,
            "-m",
            "cxj_cli.main",
            "processor",
            f"--status-listen=127.0.0.1:{status}",
            f"--grpc-listen=127.0.0.1:{grpc}",
            f"--http-listen=127.0.0.1:{free_port()}",
            "--evaluation-interval-s=1",
        ],
        log_dir,
    )


class _Answer(BaseHTTPRequestHandler):
    """The journey's target: answers 200 to everything."""

    def log_message(self, *_: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


@pytest.mark.kube
@pytest.mark.pods
def test_experience_comes_from_the_processor_and_says_when_it_is_unreachable(
    kube_pods: ControlPlane, operator_kubeconfig: Path, namespace: str, tmp_path: Path
) -> None:
    kube = kube_pods
    status_port, grpc_port = free_port(), free_port()
    url = f"http://127.0.0.1:{status_port}"
    args = (f"--namespace={namespace}", f"--processor-url={url}", "--processor-timeout=10")
    target = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    threading.Thread(target=target.serve_forever, daemon=True).start()
    target_url = f"http://127.0.0.1:{target.server_address[1]}/"
    hq = [{"name": "hq", "nodeSelector": {"type": "kwok"}}]
    with running(Operator(kube, operator_kubeconfig, "experience", *args)) as op:
        apply(kube, journey("xp", namespace, hq, url=target_url))
        wait_ready(kube, namespace, "xp", op)

        def experience_source(prefix: str) -> Callable[[], dict[str, Any] | None]:
            def check() -> dict[str, Any] | None:
                body = get(kube, "cxj", "xp", "-n", namespace)
                found = (body.get("status") or {}).get("experience") or {}
                return dict(body) if found.get("source", "").startswith(prefix) else None

            return check

        body = wait_for(experience_source("processor unreachable"), 30, "unreachable", op.logs)
        assert body["status"]["experience"]["budgetRemaining"] == "unknown"
        assert condition(body, "ExperienceDegraded")["reason"] == "ProcessorUnreachable"
        row = kube.kubectl("get", "cxj", "xp", "-n", namespace).stdout.splitlines()[1].split()
        assert row[2:5] == ["unknown", "unknown", "unknown"]  # BUDGET BURN CAUSE

        processor = _processor(status_port, grpc_port, kube.log_dir).start()
        try:
            body = wait_for(
                experience_source("processor has no telemetry"), 60, "reachable", op.logs
            )
            assert condition(body, "ExperienceDegraded")["reason"] == "NoTelemetry"

            # The real probe runs the journey file the operator wrote, exporting to the
            # processor; the summary it derives lands in the journey's status.
            processor.wait_until(lambda: port_open(grpc_port), 240, "accepting OTLP")
            (config_map,) = children(kube, namespace, "configmaps", "xp")
            journey_file = tmp_path / "journey.yaml"
            journey_file.write_text(config_map["data"]["journey.yaml"])
            probe = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "cxj_cli.main",
                    "probe",
                    f"--journey={journey_file}",
                    "--once",
                    "--location=hq",
                ],
                env={
                    **os.environ,
                    "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{grpc_port}",
                    "OTEL_EXPORTER_OTLP_INSECURE": "true",
                },
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert probe.returncode == 0, probe.stderr
            body = wait_for(experience_source("processor http"), 60, "a summary", op.logs)
            experience = body["status"]["experience"]
            assert experience["score"] == 100
            assert experience["budgetRemaining"] == "100%"
            assert experience["suspectedLayer"] == "none"
            assert experience["updatedAt"]
            assert condition(body, "ExperienceDegraded")["reason"] == "WithinBudget"
            row = kube.kubectl("get", "cxj", "xp", "-n", namespace).stdout.splitlines()[1].split()
            assert row[2:4] == ["100", "100%"]  # SCORE BUDGET
        finally:
            processor.stop()
            target.shutdown()
        body = wait_for(
            experience_source("processor unreachable"), 30, "unreachable again", op.logs
        )
        assert "score" not in body["status"]["experience"]


@pytest.mark.kube
@pytest.mark.pods
def test_standby_replica_takes_over_when_the_leader_dies(
    kube_pods: ControlPlane, operator_kubeconfig: Path, namespace: str
) -> None:
    kube = kube_pods
    lease = ("--lease-duration=6", "--lease-renew-interval=2", "--lease-retry-interval=1")
    hq = [{"name": "hq", "nodeSelector": {"type": "kwok"}}]

    def holder() -> str:
        found = get(kube, "lease", "cxj-operator", "-n", OPERATOR_NS)
        return str(((found or {}).get("spec") or {}).get("holderIdentity") or "")

    first = Operator(kube, operator_kubeconfig, "ha-a", f"--namespace={namespace}", *lease)
    second = Operator(kube, operator_kubeconfig, "ha-b", f"--namespace={namespace}", *lease)
    try:
        first.start()
        wait_for(lambda: holder() == "ha-a", 30, "ha-a leading", first.logs)
        second.start()
        wait_for(lambda: "standing by" in second.logs(), 30, "ha-b standing by", second.logs)
        apply(kube, journey("ha1", namespace, hq))
        wait_ready(kube, namespace, "ha1", first)
        assert "ha1" not in second.logs()

        first.kill()
        killed = time.monotonic()
        wait_for(lambda: holder() == "ha-b", 30, "ha-b leading", second.logs)
        took = time.monotonic() - killed
        assert took < 6 + 1 + 5, f"takeover took {took:.1f}s for a 6s lease"
        apply(kube, journey("ha2", namespace, hq))
        wait_ready(kube, namespace, "ha2", second)

        # A graceful stop releases the Lease at once.
        second.stop()
        assert holder() == ""
    finally:
        first.stop()
        second.stop()


@pytest.mark.kube
@pytest.mark.pods
def test_rbac_is_exactly_what_the_operator_needs(
    kube_pods: ControlPlane, operator_kubeconfig: Path, namespace: str, tmp_path: Path
) -> None:
    kube = kube_pods
    subject = f"system:serviceaccount:{OPERATOR_NS}:cxj-operator"
    for verb, resource in (("list", "secrets"), ("get", "pods"), ("update", "deployments")):
        answer = kube.kubectl("auth", "can-i", verb, resource, f"--as={subject}", check=False)
        assert answer.stdout.strip() == "no", f"the operator may {verb} {resource}"

    # The same rules minus `delete` on Deployments: pruning a removed location fails.
    documents = list(yaml.safe_load_all(RBAC.read_text()))
    (role,) = [d for d in documents if d["kind"] == "ClusterRole"]
    for rule in role["rules"]:
        if "deployments" in rule["resources"]:
            rule["verbs"] = [v for v in rule["verbs"] if v != "delete"]
    role["metadata"]["name"] = "cxj-operator-no-delete"
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "cxj-operator-no-delete"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cxj-operator-no-delete",
        },
        "subjects": [
            {"kind": "ServiceAccount", "name": "cxj-operator-no-delete", "namespace": OPERATOR_NS}
        ],
    }
    kube.kubectl("create", "serviceaccount", "cxj-operator-no-delete", "-n", OPERATOR_NS)
    try:
        apply(kube, role)
        apply(kube, binding)
        kubeconfig = make_kubeconfig(kube, "cxj-operator-no-delete", tmp_path / "kubeconfig")
        two = [{"name": s, "nodeSelector": {"type": "kwok"}} for s in ("hq", "edge")]
        args = (f"--namespace={namespace}", "--no-leader-election")
        with running(Operator(kube, kubeconfig, "no-delete", *args)) as op:
            apply(kube, journey("lim", namespace, two))
            wait_ready(kube, namespace, "lim", op)
            apply(kube, journey("lim", namespace, two[:1]))

            def failed() -> dict[str, Any] | None:
                ready = condition(get(kube, "cxj", "lim", "-n", namespace), "Ready")
                return ready if ready.get("reason") == "ApplyFailed" else None

            ready = wait_for(failed, 30, "Ready=False ApplyFailed", op.logs)
            assert "forbidden" in ready["message"]
            assert "deployments" in ready["message"]
            assert get(kube, "deployment", "lim-probe-edge", "-n", namespace) is not None
            assert events(kube, namespace, "lim", "ApplyFailed")
    finally:
        kube.kubectl(
            "delete", "clusterrolebinding,clusterrole", "cxj-operator-no-delete", check=False
        )
        kube.kubectl(
            "delete", "serviceaccount", "cxj-operator-no-delete", "-n", OPERATOR_NS, check=False
        )


@pytest.mark.kube
@pytest.mark.pods
def test_namespaced_rbac_is_enough_for_a_namespaced_operator(
    kube_pods: ControlPlane, operator_kubeconfig: Path, namespace: str, tmp_path: Path
) -> None:
    kube = kube_pods
    account = "cxj-operator-namespaced"
    # deploy/rbac/operator-namespaced.yaml for this test's namespace and its own account.
    documents = [
        d
        for d in yaml.safe_load_all((RBAC.parent / "operator-namespaced.yaml").read_text())
        if d["kind"] not in ("Namespace", "ServiceAccount")
    ]
    for document in documents:
        metadata = document["metadata"]
        metadata["name"] += "-test"
        if metadata.get("namespace") == "contact-center":
            metadata["namespace"] = namespace
        if "roleRef" in document:
            document["roleRef"]["name"] += "-test"
            document["subjects"][0]["name"] = account
    kube.kubectl("create", "serviceaccount", account, "-n", OPERATOR_NS)
    try:
        for document in documents:
            apply(kube, document)
        kubeconfig = make_kubeconfig(kube, account, tmp_path / "kubeconfig")
        subject = f"--as=system:serviceaccount:{OPERATOR_NS}:{account}"
        elsewhere = kube.kubectl(
            "auth", "can-i", "list", "deployments", "-n", "default", subject, check=False
        )
        assert elsewhere.stdout.strip() == "no"
        with running(Operator(kube, kubeconfig, "namespaced", f"--namespace={namespace}")) as op:
            apply(
                kube, journey("ns", namespace, [{"name": "hq", "nodeSelector": {"type": "kwok"}}])
            )
            wait_ready(kube, namespace, "ns", op)
            assert "forbidden" not in op.logs().lower()
    finally:
        for document in reversed(documents):
            kind, name = document["kind"].lower(), document["metadata"]["name"]
            where = (
                ("-n", document["metadata"]["namespace"])
                if "namespace" in document["metadata"]
                else ()
            )
            kube.kubectl("delete", kind, name, *where, check=False)
        kube.kubectl("delete", "serviceaccount", account, "-n", OPERATOR_NS, check=False)


def test_operator_rejects_unusable_settings() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cxj_operator", "--otlp-protocol=carrier-pigeon"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "--otlp-protocol" in result.stderr
    assert "grpc" in result.stderr
