"""The Helm chart on a real control plane: dry-runs, install, probes, helm test, upgrade, uninstall.

Every render of helm/cxjourney/ci/*-values.yaml passes a server-side dry-run (the
ServiceMonitor against the Prometheus Operator's real CRD from its Go module). The chart is
installed with kwok standing in for the container runtime, so its Deployments become
Available without images. The operator then runs as a local process with a token of the
chart's own ServiceAccount (exactly the chart's RBAC) and the chart's own arguments, and
turns crds/examples/ into probe Deployments.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from tests.harness.kube import ControlPlane, fake_node
from tests.harness.kube import get_json as get
from tests.harness.processes import REPO, Process, free_port, infra_paths, log_tail
from tests.harness.waiting import wait_for

from cxj_journey.model import Location, parse_journey
from cxj_operator.naming import deployment_name

pytestmark = [pytest.mark.kube, pytest.mark.pods]

CHART = REPO / "helm" / "cxjourney"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
EXAMPLES = REPO / "crds" / "examples"
RELEASE, NAMESPACE = "cxj", "cxjh-system"
FULLNAME = f"{RELEASE}-cxjourney"
PROMETHEUS_OPERATOR = "github.com/prometheus-operator/prometheus-operator@v0.85.0"
SERVICEMONITOR_CRD = "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"


# -- helpers -------------------------------------------------------------------------------
@functools.cache
def helm_binary() -> str:
    return str(infra_paths("helm")["helm"] / "helm")


def helm(kube: ControlPlane, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Runs helm against the test control plane as the admin; fails the test with its output."""
    result = subprocess.run(
        [helm_binary(), f"--kubeconfig={kube.kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} failed:\n{result.stderr}\n{result.stdout}")
    return result


def available(kube: ControlPlane, namespace: str, name: str) -> bool:
    deployment = get(kube, "deployment", name, "-n", namespace) or {}
    status = deployment.get("status") or {}
    conditions = {c["type"]: c["status"] for c in status.get("conditions") or ()}
    return (
        conditions.get("Available") == "True"
        and status.get("observedGeneration") == deployment["metadata"]["generation"]
        and status.get("updatedReplicas") == deployment["spec"]["replicas"]
        and status.get("replicas") == deployment["spec"]["replicas"]
    )


@functools.cache
def servicemonitor_crd() -> dict[str, Any]:
    """The Prometheus Operator's ServiceMonitor CRD, from its Go module (as kwok's stages are)."""
    with tempfile.TemporaryDirectory() as work:
        result = subprocess.run(
            ["go", "mod", "download", "-json", PROMETHEUS_OPERATOR],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            env={**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"},
        )
    assert result.returncode == 0, f"go mod download {PROMETHEUS_OPERATOR}:\n{result.stderr}"
    folder = Path(json.loads(result.stdout)["Dir"])
    crd: dict[str, Any] = yaml.safe_load((folder / SERVICEMONITOR_CRD).read_text())
    return crd


def render(kube: ControlPlane, values: Path | None, namespace: str) -> str:
    """helm template for the control plane's version (a helm built without release ldflags
    would otherwise assume Kubernetes v1.20)."""
    version = str(kube.get("/version")["gitVersion"])
    args = [
        helm_binary(),
        "template",
        RELEASE,
        str(CHART),
        "-n",
        namespace,
        "--kube-version",
        version,
    ]
    if values is not None:
        args += ["-f", str(values)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


# -- server-side dry-run of every render -------------------------------------------------
@pytest.fixture(scope="module")
def dry_run_namespace(kube_pods: ControlPlane) -> Iterator[str]:
    crd = servicemonitor_crd()
    kube_pods.kubectl("apply", "--server-side", "-f", "-", input_text=json.dumps(crd))
    kube_pods.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", f"crd/{crd['metadata']['name']}"
    )
    kube_pods.kubectl("create", "namespace", "cxjh-dry-run")
    yield "cxjh-dry-run"
    kube_pods.kubectl("delete", "namespace", "cxjh-dry-run", "--wait=false")


@pytest.mark.parametrize(
    "values", CI_VALUES, ids=[p.name.removesuffix("-values.yaml") for p in CI_VALUES]
)
def test_render_passes_server_side_dry_run(
    kube_pods: ControlPlane, dry_run_namespace: str, values: Path
) -> None:
    text = render(kube_pods, values, dry_run_namespace)
    documents = [d for d in yaml.safe_load_all(text) if d]
    result = kube_pods.kubectl(
        "apply",
        "--dry-run=server",
        "--server-side",
        "--field-manager=cxj-helm-test",
        "-f",
        "-",
        input_text=text,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    applied = [line for line in result.stdout.splitlines() if "serverside-applied" in line]
    assert len(applied) == len(documents), result.stdout


def test_servicemonitor_matches_the_prometheus_operator_schema(kube: ControlPlane) -> None:
    crd = servicemonitor_crd()
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    text = render(kube, CHART / "ci" / "observability-stack-values.yaml", NAMESPACE)
    monitors = [d for d in yaml.safe_load_all(text) if d and d["kind"] == "ServiceMonitor"]
    assert len(monitors) == 1
    jsonschema.validate(monitors[0], schema)
    assert monitors[0]["spec"]["namespaceSelector"] == {"matchNames": ["monitoring"]}


# -- install, operate, test, upgrade, uninstall ------------------------------------------
INSTALL_OUTPUT: dict[str, str] = {}


def restricted_namespace(kube: ControlPlane, name: str) -> None:
    """A namespace enforcing the "restricted" Pod Security Standard: a Pod the chart or the
    operator builds that is not hardened is refused, and its Deployment never gets Available."""
    kube.apply_manifest(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
            },
        }
    )


@pytest.fixture(scope="module")
def installed(kube_pods: ControlPlane) -> Iterator[ControlPlane]:
    """The chart installed with its defaults into its own namespace; uninstalled afterwards."""
    restricted_namespace(kube_pods, NAMESPACE)
    result = helm(
        kube_pods, "install", RELEASE, str(CHART), "-n", NAMESPACE, "--wait", "--timeout=4m"
    )
    INSTALL_OUTPUT["stdout"] = result.stdout
    yield kube_pods
    subprocess.run(
        [
            helm_binary(),
            f"--kubeconfig={kube_pods.kubeconfig}",
            "uninstall",
            RELEASE,
            "-n",
            NAMESPACE,
            "--wait",
            "--timeout=2m",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    kube_pods.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)


def test_install_makes_operator_and_processor_available(installed: ControlPlane) -> None:
    for component in ("operator", "processor"):
        wait_for(
            lambda c=component: available(installed, NAMESPACE, f"{FULLNAME}-{c}"),
            120,
            f"{component} Available",
        )
    notes = INSTALL_OUTPUT["stdout"]
    assert f"kubectl -n {NAMESPACE} rollout status deployment/{FULLNAME}-operator" in notes
    assert "kubectl get cxj -A" in notes
    assert "--set processor.export.endpoint=" in notes
    crds = get(installed, "crd", "cxjourneys.cxjourney.dev")
    assert crds is not None


def test_helm_test_hook_passes(installed: ControlPlane) -> None:
    result = helm(installed, "test", RELEASE, "-n", NAMESPACE, "--timeout=3m")
    assert f"TEST SUITE:     {FULLNAME}-test" in result.stdout
    assert "Phase:          Succeeded" in result.stdout


def operator_kubeconfig(kube: ControlPlane, path: Path) -> Path:
    """A kubeconfig with a fresh token of the chart's operator ServiceAccount."""
    return kube.service_account_kubeconfig(f"{FULLNAME}-operator", NAMESPACE, path, "1h")


def chart_operator_args(kube: ControlPlane) -> list[str]:
    """The operator's arguments exactly as the chart's Deployment runs it."""
    deployment = get(kube, "deployment", f"{FULLNAME}-operator", "-n", NAMESPACE)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["cxj"]
    assert container["args"][0] == "operator"
    return list(container["args"][1:])


def site_labels(location: Location) -> dict[str, str]:
    """Node labels that satisfy a location's nodeSelector and first required affinity term."""
    labels = dict(location.node_selector)
    for term in ((location.node_affinity or {}).get("required") or [])[:1]:
        for expression in term["matchExpressions"]:
            if expression["operator"] == "In":
                labels[expression["key"]] = expression["values"][0]
            elif expression["operator"] == "Exists":
                labels[expression["key"]] = "true"
    return labels


@pytest.fixture
def example_namespace(installed: ControlPlane) -> Iterator[str]:
    """A namespace for crds/examples/, the Secrets they reference, and Nodes in their zones."""
    name = "cxjh-examples"
    restricted_namespace(installed, name)
    journeys = [
        parse_journey(doc, default_namespace=name)
        for path in sorted(EXAMPLES.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc.get("kind") == "CxJourney"
    ]
    for secret in sorted({ref.name for j in journeys for ref in j.secret_refs()}):
        keys = sorted({ref.key for j in journeys for ref in j.secret_refs() if ref.name == secret})
        installed.kubectl(
            "create",
            "secret",
            "generic",
            secret,
            "-n",
            name,
            *(f"--from-literal={key}=test" for key in keys),
        )
    # One fake Node per distinct placement, so every example location has somewhere to run.
    placements = sorted(
        {
            tuple(sorted(site_labels(loc).items()))
            for j in journeys
            for loc in j.locations
            if site_labels(loc)
        }
    )
    nodes = [f"kwok-site-{index}" for index in range(len(placements))]
    for node, labels in zip(nodes, placements, strict=True):
        manifest = fake_node(node)
        manifest["metadata"]["labels"].update(dict(labels))
        installed.apply_manifest(manifest)
    yield name
    installed.kubectl("delete", "namespace", name, "--wait=false")
    for node in nodes:
        installed.kubectl("delete", "node", node, "--wait=false", check=False)


def test_operator_with_the_chart_identity_turns_examples_into_probes(
    installed: ControlPlane, example_namespace: str, tmp_path: Path
) -> None:
    kubeconfig = operator_kubeconfig(installed, tmp_path / "kubeconfig")
    args = [a for a in chart_operator_args(installed) if not a.startswith("--liveness=")]
    operator = Process(
        "operator-helm",
        [
            sys.executable,
            "-m",
            "cxj_operator",
            *args,
            f"--kubeconfig={kubeconfig}",
            f"--namespace={example_namespace}",
            "--identity=helm-test",
            f"--liveness=http://127.0.0.1:{free_port()}/healthz",
        ],
        installed.log_dir,
    )
    operator.log_path.unlink(missing_ok=True)
    operator.start()
    try:
        installed.kubectl("apply", "-n", example_namespace, "-f", str(EXAMPLES))
        journeys = [
            parse_journey(doc, default_namespace=example_namespace)
            for path in sorted(EXAMPLES.glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text())
            if doc and doc.get("kind") == "CxJourney"
        ]
        expected = {deployment_name(j.name, loc.name) for j in journeys for loc in j.locations}
        assert len(expected) >= len(journeys)

        def probes() -> set[str]:
            found = get(
                installed,
                "deployments",
                "-n",
                example_namespace,
                "-l",
                "app.kubernetes.io/managed-by=cxj-operator",
            ) or {"items": []}
            return {d["metadata"]["name"] for d in found["items"]}

        logs = functools.partial(log_tail, operator.log_path, 60)
        wait_for(lambda: probes() == expected, 120, f"probe Deployments {sorted(expected)}", logs)
        for name in sorted(expected):
            wait_for(
                lambda n=name: available(installed, example_namespace, n),
                120,
                f"{name} Available",
                logs,
            )
        probe = get(installed, "deployment", sorted(expected)[0], "-n", example_namespace)
        container = probe["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == "cxjourney/probe:0.1.0"
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == (
            f"http://{FULLNAME}-processor.{NAMESPACE}.svc:4317"
        )
        assert env["OTEL_EXPORTER_OTLP_INSECURE"] == "true"
        lease = get(installed, "lease", "cxj-operator", "-n", NAMESPACE)
        assert lease["spec"]["holderIdentity"] == "helm-test"
    finally:
        operator.stop()


def test_upgrade_rolls_the_changed_deployment_only(installed: ControlPlane) -> None:
    def template(component: str) -> dict[str, Any]:
        deployment = get(installed, "deployment", f"{FULLNAME}-{component}", "-n", NAMESPACE)
        return dict(deployment["spec"]["template"])

    operator_before = template("operator")
    processor_before = get(installed, "deployment", f"{FULLNAME}-processor", "-n", NAMESPACE)
    helm(
        installed,
        "upgrade",
        RELEASE,
        str(CHART),
        "-n",
        NAMESPACE,
        "--reuse-values",
        "--set",
        "processor.evaluationInterval=5",
        "--wait",
        "--timeout=4m",
    )
    processor = get(installed, "deployment", f"{FULLNAME}-processor", "-n", NAMESPACE)
    assert processor["metadata"]["generation"] > processor_before["metadata"]["generation"]
    wait_for(
        lambda: available(installed, NAMESPACE, f"{FULLNAME}-processor"),
        120,
        "processor rolled out",
    )
    env = {
        e["name"]: e.get("value")
        for e in processor["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["CXJ_PROCESSOR_EVALUATION_INTERVAL_S"] == "5"

    def processor_pods_intervals() -> list[str | None]:
        pods = get(
            installed, "pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/component=processor"
        )["items"]
        return [
            {e["name"]: e.get("value") for e in p["spec"]["containers"][0]["env"]}.get(
                "CXJ_PROCESSOR_EVALUATION_INTERVAL_S"
            )
            for p in pods
        ]

    # The old Pod is replaced: only the new template's Pod is left.
    wait_for(
        lambda: processor_pods_intervals() == ["5"],
        120,
        "only the new processor Pod",
        lambda: str(processor_pods_intervals()),
    )
    assert template("operator") == operator_before
    history = json.loads(helm(installed, "history", RELEASE, "-n", NAMESPACE, "-o", "json").stdout)
    assert [h["revision"] for h in history] == [1, 2]
    assert history[-1]["status"] == "deployed"


def test_uninstall_removes_everything_but_the_crds(installed: ControlPlane) -> None:
    helm(installed, "uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout=2m")
    selector = f"app.kubernetes.io/instance={RELEASE}"
    kinds = (
        "deployments,replicasets,services,serviceaccounts,networkpolicies,"
        "poddisruptionbudgets,roles,rolebindings,jobs,configmaps"
    )

    def leftovers() -> list[str]:
        namespaced = get(installed, kinds, "-n", NAMESPACE, "-l", selector)["items"]
        pods = get(installed, "pods", "-n", NAMESPACE, "-l", selector)["items"]
        return [f"{o['kind']}/{o['metadata']['name']}" for o in [*namespaced, *pods]]

    wait_for(lambda: not leftovers(), 120, "every release object gone", lambda: str(leftovers()))
    assert get(installed, "clusterrole", f"{FULLNAME}-operator") is None
    assert get(installed, "clusterrolebinding", f"{FULLNAME}-operator") is None
    for crd in ("cxjourneys.cxjourney.dev", "cxconversationpolicies.cxjourney.dev"):
        assert get(installed, "crd", crd) is not None, f"{crd} must survive helm uninstall"
